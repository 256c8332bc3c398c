//! The Helm chart (`helm/patient-flow`) deploys what `scripts/start` runs:
//! `helm/check-chart.py` compares the chart with the scripts (services,
//! ports, NATS and Redis users and permissions, settings and their defaults)
//! and checks its templates. Running it here keeps the chart from falling
//! behind the services unnoticed.
//!
//! Needs `python3` with PyYAML (Debian: `python3-yaml`); no servers.

use std::path::Path;
use std::process::Command;

#[test]
fn the_chart_matches_the_services_scripts_start_runs() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let output = Command::new("python3")
        .arg("helm/check-chart.py")
        .current_dir(&repo)
        .output()
        .unwrap_or_else(|err| panic!("cannot run python3 helm/check-chart.py: {err}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let hint = if stderr.contains("No module named 'yaml'") {
        "\n(the check needs PyYAML: apt-get install python3-yaml)"
    } else {
        ""
    };
    assert!(
        output.status.success(),
        "python3 helm/check-chart.py failed ({}):\n{stdout}{stderr}{hint}",
        output.status
    );
    assert!(
        stdout.contains("chart check: 0 problem(s)"),
        "python3 helm/check-chart.py exited 0 without saying it found no problem:\n{stdout}{stderr}"
    );
}
