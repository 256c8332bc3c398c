//! Secrets stay where they belong: the demo client secret reaches only the
//! processes that need it when `scripts/start` runs the platform, and a
//! Redis password never appears in what a service prints when it cannot
//! start.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)] // test code: fail loudly

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pf_integration_tests::binaries::{Service, bin_dir};
use pf_test_support::NatsServer;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn write_executable(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    let status = Command::new("chmod").arg("+x").arg(path).status().unwrap();
    assert!(status.success());
}

/// The services `scripts/start` runs, as the names of their binaries.
const STARTED: [&str; 11] = [
    "projection",
    "identity",
    "hospital-beds",
    "care-homes",
    "discharges",
    "pressure",
    "gateway",
    "adt-feed",
    "fhir",
    "tasks",
    "simulator",
];

/// Runs the real `scripts/start` with stand-ins for the servers, the
/// build and the services (each records its environment and waits), and
/// checks which processes got the demo client secret.
#[test]
fn scripts_start_gives_the_demo_client_secret_only_to_identity_the_simulator_and_the_adt_feed() {
    let (dir, envs) = run_scripts_start(&[]);
    let secret_file = dir.path().join("var/secrets/demo-client-secret");
    let secret = std::fs::read_to_string(&secret_file).unwrap();
    assert!(secret.trim().len() >= 16);
    for service in STARTED.iter().chain(&["streams"]) {
        let env = std::fs::read_to_string(envs.join(format!("{service}.env"))).unwrap();
        let has_value = env.contains(secret.trim());
        let has_file = env.contains("demo-client-secret");
        match *service {
            "identity" => {
                assert!(!has_value, "identity reads the secret from its file");
                assert!(env.contains("PF_DEMO_CLIENT_SECRET_FILE="), "{env}");
            }
            "simulator" => {
                assert!(!has_value);
                assert!(env.contains("PF_CLIENT_SECRET_FILE="), "{env}");
            }
            // Its machine identity, to join A03/A13 to the discharge list.
            "adt-feed" => {
                assert!(!has_value && !env.contains("PF_DEMO_CLIENT_SECRET"));
                assert!(env.contains("PF_ADT_CLIENT_SECRET_FILE="), "{env}");
                assert!(env.contains("PF_ADT_DISCHARGES_URL=http://"), "{env}");
            }
            other => {
                assert!(
                    !has_value && !has_file && !env.contains("PF_DEMO_CLIENT_SECRET"),
                    "{other} got the demo client secret"
                );
            }
        }
    }
}

/// `PF_SIM_ADT=1` sends the simulator's admissions and discharges over
/// MLLP to the ADT feed `scripts/start` runs; without it, through the API.
#[test]
fn scripts_start_with_pf_sim_adt_points_the_simulator_at_the_feed() {
    let (_dir, envs) = run_scripts_start(&[("PF_SIM_ADT", "1".to_owned())]);
    let simulator = std::fs::read_to_string(envs.join("simulator.env")).unwrap();
    assert!(
        simulator.contains("PF_SIM_ADT_MLLP=127.0.0.1:"),
        "{simulator}"
    );
    let (_dir, envs) = run_scripts_start(&[]);
    let simulator = std::fs::read_to_string(envs.join("simulator.env")).unwrap();
    assert!(!simulator.contains("PF_SIM_ADT_MLLP="), "{simulator}");
}

/// With a trust's provider given, `scripts/start` signs staff in with it
/// (identity alone gets its client id, secret file, scopes, client
/// authentication, redirect and claim mapping), every service trusts it
/// beside the built-in issuer, and the machine identities keep the
/// built-in issuer and the demo secret.
#[test]
fn scripts_start_takes_an_external_provider_and_keeps_the_machine_issuer() {
    let outside = tempfile::tempdir().unwrap();
    let provider_secret = outside.path().join("provider-secret");
    std::fs::write(&provider_secret, "s3cret+from/the%provider").unwrap();
    let mapping = outside.path().join("cis2.json");
    std::fs::write(&mapping, r#"{"roles": "nhsid_nrbac_roles"}"#).unwrap();
    let issuer = "https://login.example-trust.nhs.uk/oidc";
    let (_dir, envs) = run_scripts_start(&[
        ("PF_OIDC_ISSUER", issuer.to_owned()),
        ("PF_OIDC_CLIENT_ID", "patient-flow-rwe".to_owned()),
        (
            "PF_OIDC_CLIENT_SECRET_FILE",
            provider_secret.display().to_string(),
        ),
        (
            "PF_OIDC_SCOPES",
            "openid profile nationalrbacaccess associatedorgs selectedrole".to_owned(),
        ),
        ("PF_OIDC_CLIENT_AUTH", "client_secret_post".to_owned()),
        (
            "PF_OIDC_REDIRECT_URL",
            "https://pf.example/sign-in/oidc/callback".to_owned(),
        ),
        ("PF_OIDC_CLAIMS_FILE", mapping.display().to_string()),
        ("PF_OIDC_JWKS_URL", format!("{issuer}/jwks")),
    ]);
    let var = |env: &str, name: &str| -> Option<String> {
        env.lines()
            .find_map(|line| line.strip_prefix(&format!("{name}=")))
            .map(str::to_owned)
    };
    let identity = std::fs::read_to_string(envs.join("identity.env")).unwrap();
    for (name, value) in [
        ("PF_STAFF_ISSUER", issuer.to_owned()),
        ("PF_OIDC_CLIENT_ID", "patient-flow-rwe".to_owned()),
        (
            "PF_OIDC_CLIENT_SECRET_FILE",
            provider_secret.display().to_string(),
        ),
        (
            "PF_OIDC_SCOPES",
            "openid profile nationalrbacaccess associatedorgs selectedrole".to_owned(),
        ),
        ("PF_OIDC_CLIENT_AUTH", "client_secret_post".to_owned()),
        (
            "PF_OIDC_REDIRECT_URL",
            "https://pf.example/sign-in/oidc/callback".to_owned(),
        ),
        ("PF_STAFF_CLAIMS_FILE", mapping.display().to_string()),
    ] {
        assert_eq!(var(&identity, name), Some(value), "identity: {name}");
    }
    assert!(var(&identity, "PF_DEMO_CLIENT_SECRET_FILE").is_some());
    for service in STARTED.iter().filter(|s| **s != "simulator") {
        let env = std::fs::read_to_string(envs.join(format!("{service}.env"))).unwrap();
        // The built-in issuer of the machine identities, and the staff provider beside it.
        let built_in = var(&env, "PF_PUBLIC_URL").unwrap();
        assert_eq!(var(&env, "PF_OIDC_ISSUER"), Some(built_in), "{service}");
        assert_eq!(var(&env, "PF_OIDC_JWKS_URL"), None, "{service}");
        assert_eq!(
            var(&env, "PF_STAFF_ISSUER").as_deref(),
            Some(issuer),
            "{service}"
        );
        assert_eq!(
            var(&env, "PF_STAFF_JWKS_URL"),
            Some(format!("{issuer}/jwks")),
            "{service}"
        );
        assert_eq!(
            var(&env, "PF_STAFF_AUDIENCE").as_deref(),
            Some("patient-flow-rwe"),
            "{service}"
        );
        if *service != "identity" {
            assert!(
                !env.contains("provider-secret") && !env.contains("PF_OIDC_CLIENT_ID"),
                "{service} got the provider's client settings"
            );
        }
    }
    let simulator = std::fs::read_to_string(envs.join("simulator.env")).unwrap();
    assert_eq!(
        var(&simulator, "PF_CLIENT_ID").as_deref(),
        Some("simulator")
    );
    assert!(!simulator.contains("provider-secret"));
}

/// Runs the real `scripts/start` with stand-ins for the servers, the build
/// and the services, with `extra` in its environment; stops it once every
/// service has recorded its environment (in the returned folder).
fn run_scripts_start(extra: &[(&str, String)]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    let stubs = dir.path().join("bin");
    let envs = dir.path().join("env");
    let release = root.join("target/release");
    for folder in [
        &root.join("scripts"),
        &stubs,
        &envs,
        &release,
        &root.join("dashboards/node_modules/nhsuk-frontend"),
    ] {
        std::fs::create_dir_all(folder).unwrap();
    }
    for script in ["start", "lib.sh", "nats-users.sh", "redis-users.sh"] {
        std::fs::copy(
            repo().join("scripts").join(script),
            root.join("scripts").join(script),
        )
        .unwrap();
    }
    // The NATS and Redis users' permissions, which the scripts read.
    let files = root.join("helm/patient-flow/files");
    std::fs::create_dir_all(&files).unwrap();
    for file in ["nats-permissions.conf", "redis-acl.rules"] {
        std::fs::copy(
            repo().join("helm/patient-flow/files").join(file),
            files.join(file),
        )
        .unwrap();
    }
    std::fs::write(root.join("dashboards/package-lock.json"), "{}").unwrap();
    std::fs::write(
        root.join("dashboards/node_modules/.package-lock.json"),
        "{}",
    )
    .unwrap();
    // Servers that only hold their port; the build, npm and curl succeed.
    let listen = "#!/bin/sh\nexec python3 -c 'import socket,sys,time\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind((\"127.0.0.1\",int(sys.argv[1])))\ns.listen()\ntime.sleep(600)' \"$PORT_VAR\"\n";
    write_executable(
        &stubs.join("nats-server"),
        &listen.replace("$PORT_VAR", "$PF_NATS_PORT"),
    );
    write_executable(
        &stubs.join("redis-server"),
        &listen.replace("$PORT_VAR", "$PF_REDIS_PORT"),
    );
    write_executable(&stubs.join("redis-cli"), "#!/bin/sh\necho PONG\n");
    for ok in ["cargo", "curl", "npm", "node"] {
        write_executable(&stubs.join(ok), "#!/bin/sh\nexit 0\n");
    }
    for service in STARTED {
        write_executable(
            &release.join(format!("pf-{service}")),
            &format!("#!/bin/sh\nenv > \"$PF_TEST_ENV_DIR/{service}.env\"\nexec sleep 600\n"),
        );
    }
    // pf-streams runs once, before the services.
    write_executable(
        &release.join("pf-streams"),
        "#!/bin/sh\nenv > \"$PF_TEST_ENV_DIR/streams.env\"\nexit 0\n",
    );

    let mut command = Command::new("bash");
    command
        .arg(root.join("scripts/start"))
        .env(
            "PATH",
            format!("{}:{}", stubs.display(), std::env::var("PATH").unwrap()),
        )
        .env("PF_VAR_DIR", dir.path().join("var"))
        .env("PF_TEST_ENV_DIR", &envs)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .envs(extra.iter().map(|(k, v)| (*k, v.as_str())));
    for name in [
        "PF_NATS_PORT",
        "PF_REDIS_PORT",
        "PF_GATEWAY_PORT",
        "PF_HOSPITAL_BEDS_PORT",
        "PF_PROJECTION_PORT",
        "PF_IDENTITY_PORT",
        "PF_CARE_HOMES_PORT",
        "PF_DISCHARGES_PORT",
        "PF_PRESSURE_PORT",
        "PF_ADT_FEED_PORT",
        "PF_ADT_MLLP_PORT",
        "PF_FHIR_PORT",
        "PF_TASKS_PORT",
    ] {
        command.env(name, pf_test_support::free_port().to_string());
    }
    let mut start = command.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while STARTED
        .iter()
        .any(|s| !envs.join(format!("{s}.env")).is_file())
    {
        if Instant::now() >= deadline || start.try_wait().unwrap().is_some() {
            let _ = start.kill();
            let output = start.wait_with_output().unwrap();
            panic!(
                "scripts/start did not start every service: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Stopped as Ctrl-C stops it: the script stops what it started.
    Command::new("kill")
        .arg("-TERM")
        .arg(start.id().to_string())
        .status()
        .unwrap();
    start.wait().unwrap();
    (dir, envs)
}

/// A service that cannot reach Redis says so, naming the server but never
/// the password in its URL.
#[test]
fn a_redis_password_never_appears_when_a_service_cannot_start() {
    const PASSWORD: &str = "Pw-that-must-not-leak-5f1c";
    let nats = NatsServer::start();
    // The services wait for their streams before they reach Redis.
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(pf_integration_tests::create_streams(&nats.url()));
    let bin = bin_dir("PF_TEST_BIN_DIR");
    let logs = tempfile::tempdir().unwrap();
    let closed = pf_test_support::free_port();
    for (service, user) in [
        ("discharges", "discharges"),
        ("projection", "projection"),
        ("identity", "identity"),
        ("tasks", "tasks"),
    ] {
        let env = vec![
            ("PF_NATS_URL".to_owned(), nats.url()),
            (
                "PF_REDIS_URL".to_owned(),
                format!("redis://{user}:{PASSWORD}@127.0.0.1:{closed}"),
            ),
            (
                "PF_DASHBOARDS_DIR".to_owned(),
                repo().join("dashboards").display().to_string(),
            ),
            (
                format!("PF_{}_ADDR", service.to_uppercase()),
                "127.0.0.1:0".to_owned(),
            ),
            ("RUST_LOG".to_owned(), "debug".to_owned()),
        ];
        let output = Service::new(service, &bin, env, logs.path()).run_once(&[], &[]);
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(!output.status.success(), "{service} started: {printed}");
        assert!(
            printed.contains("Redis"),
            "{service} does not say what failed: {printed}"
        );
        assert!(
            !printed.contains(PASSWORD),
            "{service} printed the Redis password: {printed}"
        );
    }
}
