//! Settings the service refuses at start, with the reason.

use std::process::Command;

#[test]
fn a_patient_retention_under_one_day_is_refused_at_start_with_the_reason() {
    // Zero or negative days would destroy patients' details the moment
    // they leave the list; the service must not start on such a typo.
    for value in ["0", "-30", "thirty"] {
        let out = Command::new(env!("CARGO_BIN_EXE_pf-discharges"))
            .env("PF_PATIENT_RETENTION_DAYS", value)
            .env("PF_DISCHARGES_ADDR", "127.0.0.1:0")
            // Nothing listens on port 1: should the setting pass, the
            // service fails later, for another reason.
            .env("PF_NATS_URL", "nats://127.0.0.1:1")
            .env("PF_REDIS_URL", "redis://127.0.0.1:1")
            .output()
            .expect("the service binary runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{value}: started\n{stderr}");
        assert!(
            stderr.contains("PF_PATIENT_RETENTION_DAYS"),
            "{value}: the reason names the setting\n{stderr}"
        );
    }
}
