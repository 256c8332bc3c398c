//! One machine that stays up: `scripts/start` runs every server and service
//! under a supervisor. A service killed under it is started again (with a
//! line saying so) while everything else keeps running, and only SIGTERM
//! (or Ctrl-C) stops the lot.
//!
//! The real `scripts/start` with the real nats-server and redis-server; the
//! build, npm and the services are stand-ins that record each start and
//! then wait, so the test is about the supervisor and not about the
//! services' start-up time.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The services `scripts/start` runs (the names of their binaries).
const SERVICES: [&str; 10] = [
    "projection",
    "identity",
    "hospital-beds",
    "care-homes",
    "discharges",
    "pressure",
    "adt-feed",
    "gateway",
    "fhir",
    "simulator",
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn write_executable(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write a stand-in");
    let status = Command::new("chmod")
        .arg("+x")
        .arg(path)
        .status()
        .expect("chmod");
    assert!(status.success());
}

/// The pids a stand-in service was started with, one line per start.
fn starts(dir: &Path, service: &str) -> Vec<i32> {
    std::fs::read_to_string(dir.join(format!("{service}.starts")))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.trim().parse().ok())
        .collect()
}

fn alive(pid: i32) -> bool {
    Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn signal(pid: i32, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{name} {pid}");
}

/// Waits (at most `limit`) until `done` holds; the script must still be running.
fn wait_until(start: &mut Child, limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        if let Some(status) = start.try_wait().expect("try_wait") {
            panic!("scripts/start exited ({status}) while waiting until {what}");
        }
        assert!(Instant::now() < deadline, "gave up waiting until {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_service_is_started_again_and_only_sigterm_stops_everything() {
    let _turn = crate::one_at_a_time().await;
    let dir = tempfile::tempdir().expect("a scratch folder");
    let root = dir.path().join("repo");
    let stubs = dir.path().join("bin");
    let record = dir.path().join("starts");
    let release = root.join("target/release");
    let var = dir.path().join("var");
    for folder in [
        &root.join("scripts"),
        &root.join("helm/patient-flow/files"),
        &root.join("dashboards/node_modules/nhsuk-frontend"),
        &stubs,
        &record,
        &release,
    ] {
        std::fs::create_dir_all(folder).expect("make a folder");
    }
    for script in ["start", "lib.sh", "nats-users.sh", "redis-users.sh"] {
        std::fs::copy(
            repo().join("scripts").join(script),
            root.join("scripts").join(script),
        )
        .expect("copy a script");
    }
    for file in ["nats-permissions.conf", "redis-acl.rules"] {
        std::fs::copy(
            repo().join("helm/patient-flow/files").join(file),
            root.join("helm/patient-flow/files").join(file),
        )
        .expect("copy the users' permissions");
    }
    std::fs::write(root.join("dashboards/package-lock.json"), "{}").expect("lock");
    std::fs::write(
        root.join("dashboards/node_modules/.package-lock.json"),
        "{}",
    )
    .expect("lock");
    // The build, npm and the readiness checks succeed at once.
    for ok in ["cargo", "npm", "node", "curl"] {
        write_executable(&stubs.join(ok), "#!/bin/sh\nexit 0\n");
    }
    for service in SERVICES {
        write_executable(
            &release.join(format!("pf-{service}")),
            &format!(
                "#!/bin/sh\necho $$ >> \"$PF_TEST_STARTS/{service}.starts\"\nexec sleep 600\n"
            ),
        );
    }
    write_executable(&release.join("pf-streams"), "#!/bin/sh\nexit 0\n");

    let mut command = Command::new("bash");
    command
        .arg(root.join("scripts/start"))
        .env(
            "PATH",
            format!(
                "{}:{}",
                stubs.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("PF_VAR_DIR", &var)
        .env("PF_TEST_STARTS", &record)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
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
    ] {
        command.env(name, pf_test_support::free_port().to_string());
    }
    let mut start = command.spawn().expect("run scripts/start");
    let script = i32::try_from(start.id()).expect("a pid");

    wait_until(
        &mut start,
        Duration::from_secs(120),
        "every service has started",
        || SERVICES.iter().all(|s| starts(&record, s).len() == 1),
    );
    let first: Vec<(&str, i32)> = SERVICES
        .iter()
        .map(|s| (*s, starts(&record, s)[0]))
        .collect();
    let projection = starts(&record, "projection")[0];

    // A crash: the projection is killed outright.
    signal(projection, "KILL");
    wait_until(
        &mut start,
        Duration::from_secs(60),
        "the projection is started again",
        || starts(&record, "projection").len() == 2,
    );
    let again = starts(&record, "projection")[1];
    assert_ne!(again, projection);
    assert!(alive(again), "the new projection {again} is running");
    let log = std::fs::read_to_string(var.join("log/supervisor.log")).unwrap_or_default();
    assert!(
        log.contains("projection stopped (exit status 137); restarting in 1s"),
        "no line says the projection was restarted:\n{log}"
    );
    // Nothing else was stopped or started again.
    for (service, pid) in &first {
        if *service != "projection" {
            assert_eq!(
                starts(&record, service).len(),
                1,
                "{service} was started again"
            );
            assert!(alive(*pid), "{service} ({pid}) stopped with the projection");
        }
    }

    // SIGTERM stops everything, and the script says it stopped cleanly.
    signal(script, "TERM");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = start.try_wait().expect("try_wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "scripts/start did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        status.success(),
        "scripts/start stopped with {status} on SIGTERM"
    );
    for service in SERVICES {
        for pid in starts(&record, service) {
            assert!(!alive(pid), "{service} ({pid}) still runs after SIGTERM");
        }
    }
}
