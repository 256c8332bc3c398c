//! The hazard log (`docs/clinical-safety/hazard-log.toml`) is fit to sign
//! off: every hazard the issue names is there, every control is traced to a
//! test function that exists (or justified), every risk follows from the
//! DCB0129 matrix, and `hazard-log.md` is its rendering.

use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../..")
}

fn log() -> pf_safety_case::HazardLog {
    let path = root().join("docs/clinical-safety/hazard-log.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    pf_safety_case::HazardLog::parse(&text).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_hazard_has_controls_traced_to_tests_that_exist() {
    let problems = log().problems(&root());
    assert!(
        problems.is_empty(),
        "the hazard log is not fit to sign off:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_markdown_hazard_log_is_rendered_from_the_toml() {
    let rendered = pf_safety_case::render(&log());
    let path = root().join("docs/clinical-safety/hazard-log.md");
    if std::env::var_os("PF_BLESS").is_some() {
        std::fs::write(&path, &rendered).unwrap_or_else(|e| panic!("{e}"));
    }
    let stored = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        stored == rendered,
        "{} differs from hazard-log.toml: run `PF_BLESS=1 cargo test -p pf-safety-case`",
        path.display()
    );
}
