//! The container images: `scripts/images` builds one (pf-streams) with
//! buildah from the Containerfile, and its binary runs inside it, as user
//! 10001, against a real nats-server and creates the platform's streams.
//!
//! Takes a minute or two (a few more the first time on a machine, when the
//! Debian base is made with mmdebstrap); `scripts/images` installs buildah
//! and mmdebstrap from Debian's packages when they are missing. The binary
//! is the one the test suite built (`cargo build -p pf-streams`), put where
//! `scripts/images` takes release binaries from, so that no release build
//! runs here.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use pf_integration_tests::binaries::bin_dir;
use pf_test_support::NatsServer;

fn repo() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs buildah (vfs storage, as scripts/images does); its stdout.
fn buildah(args: &[&str]) -> String {
    let output = Command::new("buildah")
        .arg("--storage-driver")
        .arg("vfs")
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("cannot run buildah: {err}"));
    assert!(
        output.status.success(),
        "buildah {args:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Removes the test's container and image however the test ends.
struct Cleanup {
    image: String,
    container: Option<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(container) = &self.container {
            let _ = Command::new("buildah")
                .args(["--storage-driver", "vfs", "rm", container])
                .output();
        }
        let _ = Command::new("buildah")
            .args(["--storage-driver", "vfs", "rmi", &self.image])
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_built_by_scripts_images_runs_its_service() {
    let _turn = crate::one_at_a_time().await;
    let binary = bin_dir("PF_TEST_BIN_DIR").join("pf-streams");
    assert!(
        binary.is_file(),
        "{} is missing: cargo build -p pf-streams first (scripts/test does)",
        binary.display()
    );
    let target = tempfile::tempdir().expect("a scratch target folder");
    std::fs::create_dir_all(target.path().join("release")).expect("release folder");
    std::fs::copy(&binary, target.path().join("release/pf-streams")).expect("copy the binary");

    let tag = format!("test-{}", std::process::id());
    let image = format!("localhost/pf-test/pf-streams:{tag}");
    let mut cleanup = Cleanup {
        image: image.clone(),
        container: None,
    };
    let output = Command::new("bash")
        .arg("scripts/images")
        .arg("pf-streams")
        .current_dir(repo())
        .env("CARGO_TARGET_DIR", target.path())
        .env("PF_IMAGE_BUILD", "0")
        .env("PF_IMAGE_REGISTRY", "localhost/pf-test")
        .env("PF_IMAGE_TAG", &tag)
        .output()
        .expect("run scripts/images");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "scripts/images failed ({}):\n{stdout}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.lines().any(|l| l == image),
        "scripts/images did not name {image}:\n{stdout}"
    );

    // What the image says about itself: its OCI configuration, from the
    // whole of `buildah inspect` (Debian's buildah 1.28 has no `json`
    // template function for --format).
    let inspected = buildah(&["inspect", "--type", "image", &image]);
    let inspected: serde_json::Value =
        serde_json::from_str(&inspected).expect("buildah inspect prints JSON");
    let config = inspected["OCIv1"]["config"].clone();
    assert!(
        config.is_object(),
        "no OCI configuration in buildah inspect: {inspected}"
    );
    assert_eq!(
        config["User"], "10001:10001",
        "the image runs as root: {config}"
    );
    assert_eq!(config["Entrypoint"][0], "/usr/local/bin/pf-service");
    let labels = &config["Labels"];
    for label in [
        "title",
        "version",
        "revision",
        "created",
        "source",
        "licenses",
        "base.name",
    ] {
        let value = labels[format!("org.opencontainers.image.{label}")]
            .as_str()
            .unwrap_or_default();
        assert!(
            !value.is_empty(),
            "no org.opencontainers.image.{label} label: {labels}"
        );
    }
    assert_eq!(labels["org.opencontainers.image.title"], "pf-streams");

    // Its binary runs inside it (chroot isolation: the host's network, so
    // the test's nats-server on loopback) and creates the streams.
    let nats = NatsServer::start();
    let container = buildah(&["from", "--quiet", &image]);
    cleanup.container = Some(container.clone());
    let run = Command::new("buildah")
        .args(["--storage-driver", "vfs", "run", "--isolation", "chroot"])
        .arg("--env")
        .arg(format!("PF_NATS_URL={}", nats.url()))
        .args([&container, "--", "/usr/local/bin/pf-service"])
        .output()
        .expect("buildah run");
    assert!(
        run.status.success(),
        "pf-streams failed inside the image ({}):\n{}{}",
        run.status,
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let client = async_nats::connect(nats.url())
        .await
        .expect("connect to NATS");
    let jetstream = async_nats::jetstream::new(client);
    for stream in ["PF_BEDS", "PF_CARE_HOMES", "PF_AUDIT"] {
        jetstream
            .get_stream(stream)
            .await
            .unwrap_or_else(|err| panic!("the image's pf-streams did not create {stream}: {err}"));
    }
    // As the user the image names, not root: a file it writes into a
    // mounted folder is owned by 10001 on the host. (A file, not `id -u` on
    // stdout, which `buildah run` without a terminal now and then drops.)
    let out = tempfile::tempdir().expect("a folder to mount");
    std::fs::set_permissions(out.path(), std::fs::Permissions::from_mode(0o777))
        .expect("let any user write the folder");
    buildah(&[
        "run",
        "--isolation",
        "chroot",
        "-v",
        &format!("{}:/out", out.path().display()),
        &container,
        "--",
        "/bin/sh",
        "-c",
        "id -u > /out/uid",
    ]);
    let written = out.path().join("uid");
    let owner = std::fs::metadata(&written)
        .expect("the container wrote /out/uid")
        .uid();
    assert_eq!(owner, 10001, "the container runs as {owner}");
    let id = std::fs::read_to_string(&written).expect("read uid");
    assert_eq!(id.trim(), "10001");
}
