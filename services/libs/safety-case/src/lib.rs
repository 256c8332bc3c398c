//! The clinical safety case's hazard log as data (DCB0129).
//!
//! `docs/clinical-safety/hazard-log.toml` is the one source of truth; the
//! markdown (`hazard-log.md`) is rendered from it by [`render`] and the test
//! `tests/hazard_log.rs` fails when the two differ (run it with
//! `PF_BLESS=1` to write the markdown again), when a control names a test
//! function that no longer exists in its file (or is no longer a test: no
//! `#[test]`/`#[tokio::test]` attribute, or commented out), when a hazard has neither a
//! traced control nor a written justification, or when a stated risk does not
//! follow from the DCB0129 matrix.
//!
//! Adding a trace is a one-line edit: append `"path/to/file.rs::test_name"`
//! to a control's `tests`.
//!
//! # Layout
//! - [`Severity`], [`Likelihood`], [`risk`]: the DCB0129 5 × 5 matrix.
//! - [`HazardLog`], [`Hazard`], [`Control`], [`Assessment`]: the log.
//! - [`HazardLog::problems`]: what makes the log unfit to sign off.
//! - [`render`]: the markdown mirror.
#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::path::Path;

use serde::Deserialize;

/// The consequence of a hazard (DCB0129 severity categories).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Minor injury or inconvenience, no lasting harm.
    Minor,
    /// Minor injury to several patients or short-term harm.
    Significant,
    /// Severe injury or incapacity, recovery expected.
    Considerable,
    /// Death or permanent incapacity of one patient; severe to several.
    Major,
    /// Death or permanent incapacity of several patients.
    Catastrophic,
}

/// How likely the harm is (DCB0129 likelihood categories).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Likelihood {
    /// Negligible, or nearly impossible.
    VeryLow,
    /// Could happen, but rarely.
    Low,
    /// Might happen or recur occasionally.
    Medium,
    /// Will probably happen, not a persistent issue.
    High,
    /// Certain or almost certain; highly likely to occur often.
    VeryHigh,
}

impl Severity {
    /// As the standard writes it.
    pub fn label(self) -> &'static str {
        match self {
            Severity::Minor => "Minor",
            Severity::Significant => "Significant",
            Severity::Considerable => "Considerable",
            Severity::Major => "Major",
            Severity::Catastrophic => "Catastrophic",
        }
    }
}

impl Likelihood {
    /// As the standard writes it.
    pub fn label(self) -> &'static str {
        match self {
            Likelihood::VeryLow => "Very low",
            Likelihood::Low => "Low",
            Likelihood::Medium => "Medium",
            Likelihood::High => "High",
            Likelihood::VeryHigh => "Very high",
        }
    }
}

/// The clinical risk (1 to 5) of a severity and a likelihood, by the DCB0129
/// risk matrix.
pub fn risk(severity: Severity, likelihood: Likelihood) -> u8 {
    // Rows: likelihood very low .. very high; columns: severity minor .. catastrophic.
    const MATRIX: [[u8; 5]; 5] = [
        [1, 1, 2, 2, 3],
        [1, 2, 2, 3, 4],
        [2, 2, 3, 3, 4],
        [2, 3, 3, 4, 5],
        [3, 4, 4, 5, 5],
    ];
    MATRIX[likelihood as usize][severity as usize]
}

/// What a risk level asks for (DCB0129's acceptability).
pub fn acceptability(risk: u8) -> &'static str {
    match risk {
        1 => "Acceptable, no further action required",
        2 => "Acceptable where further risk reduction is impractical",
        3 => "Undesirable: acceptable only where further reduction is impractical",
        _ => "Unacceptable: must be reduced",
    }
}

/// Severity × likelihood → risk, as the log states it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assessment {
    /// Consequence.
    pub severity: Severity,
    /// Likelihood.
    pub likelihood: Likelihood,
    /// The stated risk, checked against the matrix.
    pub risk: u8,
}

/// A control (a mitigation in the design, the code or the training).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Control {
    /// What it does.
    pub description: String,
    /// Where it lives (code, configuration or document): a path from the
    /// repository's root, optionally followed by a note after a space.
    #[serde(default)]
    pub evidence: Vec<String>,
    /// `path/to/file.rs::test_function` proving it.
    #[serde(default)]
    pub tests: Vec<String>,
    /// Why it has no test (a procedure, training, a deployment duty).
    #[serde(default)]
    pub justification: Option<String>,
}

/// One hazard.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hazard {
    /// `H01` ….
    pub id: String,
    /// Short name.
    pub title: String,
    /// What can go wrong in the system.
    pub cause: String,
    /// What the user sees or does as a result.
    pub effect: String,
    /// How a patient could be harmed.
    pub harm: String,
    /// Before the controls.
    pub initial: Assessment,
    /// The controls.
    pub controls: Vec<Control>,
    /// After the controls.
    pub residual: Assessment,
    /// Open or closed, and why.
    pub status: String,
    /// Remaining actions, for the deploying organisation (DCB0160) or us.
    #[serde(default)]
    pub actions: Vec<String>,
}

/// The whole log.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HazardLog {
    /// Version of the log.
    pub version: String,
    /// Which hazards must be there (ids), so none is dropped silently.
    pub required: Vec<String>,
    /// The hazards.
    pub hazards: Vec<Hazard>,
}

/// Why the log cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// Not TOML of the expected shape.
    #[error("hazard log: {0}")]
    Parse(#[from] toml::de::Error),
}

impl HazardLog {
    /// Reads the TOML text.
    pub fn parse(text: &str) -> Result<Self, LogError> {
        Ok(toml::from_str(text)?)
    }

    /// Every problem that makes the log unfit to sign off: a hazard without
    /// a traced control or a justification, a stated risk the matrix does not
    /// give, a residual risk above the initial one, a required hazard
    /// missing, a test named that does not exist in the sources under `root`,
    /// evidence that names a path that does not exist.
    pub fn problems(&self, root: &Path) -> Vec<String> {
        let mut problems = Vec::new();
        for id in &self.required {
            if !self.hazards.iter().any(|h| &h.id == id) {
                problems.push(format!("required hazard {id} is missing"));
            }
        }
        for h in &self.hazards {
            for (when, a) in [("initial", &h.initial), ("residual", &h.residual)] {
                let expected = risk(a.severity, a.likelihood);
                if a.risk != expected {
                    problems.push(format!(
                        "{}: {when} risk is {} but {} × {} gives {expected}",
                        h.id,
                        a.risk,
                        a.severity.label(),
                        a.likelihood.label()
                    ));
                }
            }
            if h.residual.risk > h.initial.risk {
                problems.push(format!("{}: residual risk above the initial risk", h.id));
            }
            if h.controls.is_empty() {
                problems.push(format!("{}: no control", h.id));
            }
            for (n, c) in h.controls.iter().enumerate() {
                if c.tests.is_empty()
                    && c.justification
                        .as_deref()
                        .is_none_or(|j| j.trim().is_empty())
                {
                    problems.push(format!(
                        "{} control {}: no test and no justification",
                        h.id,
                        n + 1
                    ));
                }
                for evidence in &c.evidence {
                    let path = evidence.split(' ').next().unwrap_or_default();
                    if !root.join(path).exists() {
                        problems.push(format!(
                            "{} control {}: evidence {path} does not exist",
                            h.id,
                            n + 1
                        ));
                    }
                }
                for test in &c.tests {
                    if let Some(problem) = missing_test(root, test) {
                        problems.push(format!("{} control {}: {problem}", h.id, n + 1));
                    }
                }
            }
        }
        problems
    }
}

/// `None` when `file.rs::name` names a test function (`#[test]`,
/// `#[tokio::test]`, …) that exists in that file, not commented out.
fn missing_test(root: &Path, test: &str) -> Option<String> {
    let Some((file, name)) = test.rsplit_once("::") else {
        return Some(format!("`{test}` is not `path/to/file.rs::function`"));
    };
    let Ok(text) = std::fs::read_to_string(root.join(file)) else {
        return Some(format!("`{test}`: {file} does not exist"));
    };
    let mut found_but_not_a_test = false;
    for (at, m) in text.match_indices(&format!("fn {name}")) {
        let follows = text[at + m.len()..].chars().next();
        if !follows.is_some_and(|c| c == '(' || c == '<') {
            continue; // another function whose name starts the same
        }
        let line_start = text[..at].rfind('\n').map_or(0, |n| n + 1);
        if text[line_start..at].contains("//") {
            continue; // commented out
        }
        if is_test(&text[..line_start]) {
            return None;
        }
        found_but_not_a_test = true;
    }
    Some(if found_but_not_a_test {
        format!("`{test}`: {name} in {file} is not a test function (no #[test] attribute)")
    } else {
        format!("`{test}`: no function {name} in {file}")
    })
}

/// Whether the lines just above a function (its attributes and doc
/// comments, `before` ending at the function's line) mark it as a test.
fn is_test(before: &str) -> bool {
    for line in before.lines().rev().map(str::trim) {
        if line.starts_with("#[") {
            let attribute = line.replace("cfg(test)", "");
            if attribute.contains("test") {
                return true;
            }
        } else if line.is_empty()
            || line.ends_with('{')
            || line.ends_with('}')
            || line.ends_with(';')
        {
            return false;
        }
        // A doc comment or an attribute's continuation line: keep looking.
    }
    false
}

/// The markdown mirror of the log.
pub fn render(log: &HazardLog) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<!-- Rendered from hazard-log.toml by pf-safety-case; do not edit by hand.\n     \
         Edit the TOML, then: PF_BLESS=1 cargo test -p pf-safety-case -->\n"
    );
    let _ = writeln!(out, "# Hazard log (DCB0129)\n");
    let _ = writeln!(
        out,
        "Version {}. Risk = severity × likelihood by the DCB0129 matrix (see \
         [clinical-risk-management-plan.md](clinical-risk-management-plan.md)). Each control names the \
         test functions that prove it; `cargo test -p pf-safety-case` fails if one is missing.\n",
        log.version
    );
    let _ = writeln!(
        out,
        "| id | hazard | initial risk | residual risk | status |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    for h in &log.hazards {
        let _ = writeln!(
            out,
            "| [{id}](#{anchor}) | {title} | {ir} ({is}, {il}) | {rr} ({rs}, {rl}) | {status} |",
            id = h.id,
            anchor = h.id.to_lowercase(),
            title = h.title,
            ir = h.initial.risk,
            is = h.initial.severity.label(),
            il = h.initial.likelihood.label(),
            rr = h.residual.risk,
            rs = h.residual.severity.label(),
            rl = h.residual.likelihood.label(),
            status = first_words(&h.status),
        );
    }
    for h in &log.hazards {
        let _ = writeln!(out, "\n## {}\n", h.id);
        let _ = writeln!(out, "**{}**\n", h.title);
        let _ = writeln!(out, "- **Cause:** {}", h.cause);
        let _ = writeln!(out, "- **Effect:** {}", h.effect);
        let _ = writeln!(out, "- **Possible harm:** {}", h.harm);
        let _ = writeln!(
            out,
            "- **Initial risk:** {} × {} → **{}** ({})",
            h.initial.severity.label(),
            h.initial.likelihood.label(),
            h.initial.risk,
            acceptability(h.initial.risk)
        );
        let _ = writeln!(out, "\n| # | control | evidence | proved by |");
        let _ = writeln!(out, "|---|---|---|---|");
        for (n, c) in h.controls.iter().enumerate() {
            let evidence = c
                .evidence
                .iter()
                .map(|e| format!("`{e}`"))
                .collect::<Vec<_>>()
                .join("<br>");
            let proof = if c.tests.is_empty() {
                format!("no test: {}", c.justification.clone().unwrap_or_default())
            } else {
                c.tests
                    .iter()
                    .map(|t| format!("`{t}`"))
                    .collect::<Vec<_>>()
                    .join("<br>")
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                n + 1,
                c.description.replace('|', "\\|"),
                evidence,
                proof.replace('|', "\\|")
            );
        }
        let _ = writeln!(
            out,
            "\n- **Residual risk:** {} × {} → **{}** ({})",
            h.residual.severity.label(),
            h.residual.likelihood.label(),
            h.residual.risk,
            acceptability(h.residual.risk)
        );
        let _ = writeln!(out, "- **Status:** {}", h.status);
        for a in &h.actions {
            let _ = writeln!(out, "- **Action:** {a}");
        }
    }
    out
}

fn first_words(text: &str) -> &str {
    text.split_once(':').map_or(text, |(head, _)| head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_matrix_is_dcb0129s() {
        assert_eq!(risk(Severity::Minor, Likelihood::VeryLow), 1);
        assert_eq!(risk(Severity::Catastrophic, Likelihood::VeryHigh), 5);
        assert_eq!(risk(Severity::Major, Likelihood::Low), 3);
        assert_eq!(risk(Severity::Considerable, Likelihood::Medium), 3);
        assert_eq!(risk(Severity::Catastrophic, Likelihood::VeryLow), 3);
        assert_eq!(risk(Severity::Minor, Likelihood::VeryHigh), 3);
        assert_eq!(risk(Severity::Significant, Likelihood::High), 3);
    }

    #[test]
    fn a_hazard_without_a_traced_control_or_justification_is_a_problem() {
        let log = HazardLog::parse(
            r#"
version = "t"
required = ["H01", "H02"]
[[hazards]]
id = "H01"
title = "t"
cause = "c"
effect = "e"
harm = "h"
initial = { severity = "major", likelihood = "medium", risk = 3 }
residual = { severity = "major", likelihood = "low", risk = 2 }
status = "open"
[[hazards.controls]]
description = "untraced"
[[hazards.controls]]
description = "gone"
tests = ["src/lib.rs::no_such_test_function"]
[[hazards.controls]]
description = "a helper, not a test"
tests = ["src/lib.rs::first_words"]
[[hazards.controls]]
description = "a test"
tests = ["src/lib.rs::the_matrix_is_dcb0129s"]
"#,
        )
        .expect("parses");
        let problems = log.problems(Path::new(env!("CARGO_MANIFEST_DIR")));
        let text = problems.join("\n");
        assert!(text.contains("required hazard H02 is missing"), "{text}");
        assert!(
            text.contains("H01: residual risk is 2 but Major × Low gives 3"),
            "{text}"
        );
        assert!(
            text.contains("H01 control 1: no test and no justification"),
            "{text}"
        );
        assert!(
            text.contains("no function no_such_test_function in src/lib.rs"),
            "{text}"
        );
        assert!(
            text.contains("first_words in src/lib.rs is not a test function"),
            "{text}"
        );
        assert_eq!(problems.len(), 5, "{text}");
    }

    #[test]
    fn a_test_commented_out_or_without_its_attribute_no_longer_counts() {
        let dir = tempfile::tempdir().expect("temporary directory");
        std::fs::write(
            dir.path().join("t.rs"),
            "#[test]\n// fn commented_out() {}\n\n\
             #[tokio::test(flavor = \"multi_thread\")]\n/// Proves it.\nasync fn async_test() {}\n\n\
             fn helper() {}\n\n#[cfg(test)]\nfn only_in_tests() {}\n\n\
             #[test]\nfn plain_test_with_a_longer_name() {}\n",
        )
        .expect("written");
        let missing = |name: &str| missing_test(dir.path(), &format!("t.rs::{name}"));
        assert_eq!(missing("async_test"), None);
        assert_eq!(missing("plain_test_with_a_longer_name"), None);
        for name in ["commented_out", "helper", "only_in_tests", "plain_test"] {
            assert!(missing(name).is_some(), "{name} is not a test");
        }
        assert!(missing_test(dir.path(), "gone.rs::async_test").is_some());
    }
}
