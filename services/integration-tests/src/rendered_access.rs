//! The NATS users and Redis users exactly as they are deployed: rendered by
//! `scripts/start`'s own functions (`scripts/nats-users.sh`,
//! `scripts/redis-users.sh`) and by the Helm chart with a real
//! `helm template`, and read back into [`NatsUser`]s and [`RedisUser`]s so
//! that the access table (`tests/platform/access_table.rs`) can run every row
//! against real servers started with those files and those users'
//! credentials.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the configuration came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renderer {
    /// `scripts/start` (its shell functions).
    StartScript,
    /// The Helm chart, rendered by a real `helm template`.
    HelmChart,
}

/// One NATS user: its password and what it may publish and subscribe to
/// (`None`: no permissions block, full access).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsUser {
    /// Its password, from the rendered file.
    pub password: String,
    /// The subjects it may publish to; `None`: anything.
    pub publish: Option<Vec<String>>,
    /// The subjects it may subscribe to; `None`: anything.
    pub subscribe: Option<Vec<String>>,
}

/// One Redis user: its password (for the chart, set by the test: the chart
/// renders users `off` until the credentials Secret exists) and its rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisUser {
    /// The password to sign in with.
    pub password: String,
    /// Its ACL rules as rendered (after `on`/`off` and the password), split
    /// on spaces outside selectors; a selector `(…)` is one rule.
    pub rules: Vec<String>,
}

/// A rendered configuration: the NATS server's users (the whole file) and
/// the Redis ACL file.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// Which renderer.
    pub renderer: Renderer,
    /// The NATS authorization (variables and `authorization { users }`).
    pub nats_authorization: String,
    /// The NATS users read back from it.
    pub nats_users: BTreeMap<String, NatsUser>,
    /// The Redis ACL file, every user `on` with its password.
    pub redis_acl: String,
    /// The Redis users read back from it.
    pub redis_users: BTreeMap<String, RedisUser>,
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(command: &mut Command, what: &str) -> String {
    let output = command
        .current_dir(repo())
        .output()
        .unwrap_or_else(|err| panic!("cannot run {what}: {err}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap_or_else(|err| panic!("{what} printed non-UTF-8: {err}"))
}

/// Renders both files the way `scripts/start` does, with the passwords it
/// makes under `var/secrets/`.
pub fn from_start_script(var: &Path) -> Rendered {
    std::fs::create_dir_all(var.join("secrets")).expect("make the secrets folder");
    let nats_conf = var.join("nats.conf");
    let acl = var.join("users.acl");
    run(
        Command::new("bash")
            .arg("-c")
            .arg(
                r#". scripts/nats-users.sh && . scripts/redis-users.sh && write_nats_config "$1" 4222 "$2" && write_redis_acl "$3""#,
            )
            .arg("bash")
            .arg(&nats_conf)
            .arg(var.join("store"))
            .arg(&acl)
            .env("VAR", var),
        "scripts/nats-users.sh and scripts/redis-users.sh",
    );
    let nats = std::fs::read_to_string(&nats_conf).expect("read the rendered nats.conf");
    // Only the users: the server's listen address and store are the test's.
    let start = nats
        .find("\nPF_")
        .expect("the permissions come before the users");
    let nats_authorization = nats[start..].to_owned();
    let redis_acl = std::fs::read_to_string(&acl).expect("read the rendered ACL file");
    Rendered::read(Renderer::StartScript, nats_authorization, redis_acl)
}

/// The `helm` binary: `PF_HELM` (scripts/test installs one in `.tools/`
/// and sets it), else the one in `.tools/`, else `helm` on the PATH.
pub fn helm() -> String {
    if let Ok(helm) = std::env::var("PF_HELM") {
        return helm;
    }
    let installed = repo().join(".tools/helm/helm");
    if installed.is_file() {
        return installed.display().to_string();
    }
    "helm".to_owned()
}

/// Renders the chart's NATS authorization and Redis ACL Secrets with a real
/// `helm template` (production values, every optional user on). Without a
/// cluster the chart cannot read the credentials Secret: NATS users get
/// bcrypt hashes of random passwords and Redis users are rendered `off`;
/// the test gives each NATS user the bcrypt hash of a password of its own
/// and turns each Redis user `on` with one, the only changes made to what
/// the chart rendered.
pub fn from_helm_chart() -> Rendered {
    let helm = helm();
    let yaml = run(
        Command::new(&helm).args([
            "template",
            "pf",
            "helm/patient-flow",
            "-f",
            "helm/patient-flow/ci/production-values.yaml",
            "--set",
            "natsAuthorization.loadtestUser=true",
            "--show-only",
            "templates/nats-authorization.yaml",
            "--show-only",
            "templates/redis-acl.yaml",
        ]),
        &format!("{helm} template (set PF_HELM to a helm binary; scripts/test installs one)"),
    );
    let nats_authorization = with_known_nats_passwords(&block_scalar(&yaml, "authorization.conf"));
    let chart_acl = block_scalar(&yaml, "users.acl");
    let mut redis_acl = String::new();
    for line in chart_acl.lines() {
        match line
            .strip_prefix("user ")
            .and_then(|rest| rest.split_once(' '))
        {
            Some((name, rest)) if name != "default" => {
                let rules = rest.strip_prefix("off ").unwrap_or_else(|| {
                    panic!("the chart renders Redis user {name} off without its Secret: {line}")
                });
                redis_acl.push_str(&format!(
                    "user {name} on >{} {rules}\n",
                    test_password(name)
                ));
            }
            _ => {
                redis_acl.push_str(line);
                redis_acl.push('\n');
            }
        }
    }
    let mut rendered = Rendered::read(Renderer::HelmChart, nats_authorization, redis_acl);
    for (name, user) in &mut rendered.nats_users {
        user.password = test_password(name);
    }
    rendered
}

/// The chart renders each NATS password as a bcrypt hash (of a random
/// password without the credentials Secret). Each hash is replaced by
/// Helm's own bcrypt hash of the test's password for that user, so the
/// server checks the same kind of hash the chart renders.
fn with_known_nats_passwords(authorization: &str) -> String {
    let chart = tempfile_dir("pf-bcrypt-chart");
    std::fs::create_dir_all(chart.join("templates")).expect("make a scratch chart");
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: bcrypt\nversion: 0.1.0\n",
    )
    .expect("write Chart.yaml");
    let users: Vec<String> = authorization
        .lines()
        .filter_map(|line| line.split("{ user: \"").nth(1))
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect();
    let template: String = users
        .iter()
        .map(|user| {
            format!(
                "{user}: {{{{ bcrypt {:?} | quote }}}}\n",
                test_password(user)
            )
        })
        .collect();
    std::fs::write(chart.join("templates/hashes.yaml"), template).expect("write the template");
    let hashes = run(
        Command::new(helm()).arg("template").arg(&chart),
        "helm template (bcrypt of the test passwords)",
    );
    let _ = std::fs::remove_dir_all(&chart);
    let mut out = String::new();
    for line in authorization.lines() {
        let user = line
            .split("{ user: \"")
            .nth(1)
            .and_then(|rest| rest.split('"').next());
        match (user, line.split("password: \"").nth(1)) {
            (Some(user), Some(rest)) => {
                let rendered = rest.split('"').next().unwrap_or_default();
                assert!(
                    rendered.starts_with("$2a$") || rendered.starts_with("$2b$"),
                    "the chart renders NATS user {user}'s password in the clear"
                );
                let hash = hashes
                    .lines()
                    .find_map(|l| l.strip_prefix(&format!("{user}: ")))
                    .unwrap_or_else(|| panic!("no test hash for {user}"))
                    .trim_matches('"');
                out.push_str(&line.replacen(rendered, hash, 1));
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// A fresh folder under the system's temporary folder.
fn tempfile_dir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "{prefix}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    ));
    std::fs::create_dir_all(&dir).expect("make a scratch folder");
    dir
}

fn test_password(user: &str) -> String {
    format!("test-password-of-{user}")
}

/// The text of a YAML block scalar `key: |` in rendered manifests.
fn block_scalar(yaml: &str, key: &str) -> String {
    let mut lines = yaml.lines();
    let header = format!("{key}: |");
    let indent_of = |line: &str| line.len() - line.trim_start().len();
    let start = lines
        .by_ref()
        .find(|line| line.trim_end().ends_with(&header))
        .unwrap_or_else(|| panic!("no `{key}` in the rendered chart"));
    let outer = indent_of(start);
    let mut text = String::new();
    let mut inner = None;
    for line in lines {
        if !line.trim().is_empty() && indent_of(line) <= outer {
            break;
        }
        let indent = *inner.get_or_insert_with(|| indent_of(line));
        text.push_str(line.get(indent..).unwrap_or_default());
        text.push('\n');
    }
    text
}

impl Rendered {
    fn read(renderer: Renderer, nats_authorization: String, redis_acl: String) -> Self {
        let nats_users = nats_users(&nats_authorization);
        let redis_users = redis_users(&redis_acl);
        Self {
            renderer,
            nats_authorization,
            nats_users,
            redis_acl,
            redis_users,
        }
    }
}

/// The quoted strings in `text`.
fn quoted(text: &str) -> Vec<String> {
    text.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The text between `{` after `start` and its matching `}`.
fn braced(text: &str, start: usize) -> &str {
    let open = start + text[start..].find('{').expect("a block");
    let mut depth = 0;
    for (i, c) in text[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &text[open + 1..open + i];
                }
            }
            _ => {}
        }
    }
    panic!("an unclosed block in the NATS configuration")
}

/// The `allow` list of `publish` or `subscribe` in a permissions block.
fn allow_list(block: &str, direction: &str) -> Option<Vec<String>> {
    let at = block.find(&format!("{direction}:"))?;
    let inner = braced(block, at);
    assert!(
        !inner.contains("deny"),
        "the access table reads allow lists only; a deny list needs rows of its own"
    );
    let list = &inner[inner.find('[').expect("an allow list")..];
    Some(quoted(&list[..=list.find(']').expect("a closed list")]))
}

/// The users of a rendered NATS authorization, with their permissions
/// resolved from the variables they name.
pub fn nats_users(conf: &str) -> BTreeMap<String, NatsUser> {
    let mut variables = BTreeMap::new();
    for (at, _) in conf.match_indices(" = {") {
        let name_start = conf[..at].rfind(['\n', ' ']).map_or(0, |i| i + 1);
        let name = conf[name_start..at].to_owned();
        let block = braced(conf, at);
        variables.insert(name, block.to_owned());
    }
    let users_at = conf.find("users:").expect("an authorization users list");
    let mut users = BTreeMap::new();
    for line in conf[users_at..].lines() {
        let line = line.trim();
        let Some(entry) = line.strip_prefix("{ user: ") else {
            continue;
        };
        let strings = quoted(entry);
        let (name, password) = (strings[0].clone(), strings[1].clone());
        let permissions = entry
            .split_once("permissions: $")
            .map(|(_, rest)| rest.trim_end_matches('}').trim().to_owned());
        let (publish, subscribe) = match permissions {
            None => (None, None),
            Some(variable) => {
                let block = variables.get(&variable).unwrap_or_else(|| {
                    panic!("user {name} names ${variable}, which is not defined")
                });
                (
                    Some(allow_list(block, "publish").unwrap_or_default()),
                    Some(allow_list(block, "subscribe").unwrap_or_default()),
                )
            }
        };
        users.insert(
            name,
            NatsUser {
                password,
                publish,
                subscribe,
            },
        );
    }
    users
}

/// The users of a Redis ACL file (every one but `default`).
pub fn redis_users(acl: &str) -> BTreeMap<String, RedisUser> {
    let mut users = BTreeMap::new();
    for line in acl.lines() {
        let Some(rest) = line.strip_prefix("user ") else {
            continue;
        };
        let mut words = rest.split(' ');
        let name = words.next().expect("a user name").to_owned();
        if name == "default" {
            continue;
        }
        assert_eq!(words.next(), Some("on"), "user {name} is on");
        let password = words
            .next()
            .and_then(|p| p.strip_prefix('>'))
            .unwrap_or_else(|| panic!("user {name} has a password"))
            .to_owned();
        let mut rules = Vec::new();
        let mut selector: Option<String> = None;
        for word in words {
            match selector.as_mut() {
                Some(open) => {
                    open.push(' ');
                    open.push_str(word);
                    if word.ends_with(')') {
                        rules.extend(selector.take());
                    }
                }
                None if word.starts_with('(') && !word.ends_with(')') => {
                    selector = Some(word.to_owned());
                }
                None => rules.push(word.to_owned()),
            }
        }
        users.insert(name, RedisUser { password, rules });
    }
    users
}

/// Whether a NATS subject matches a subject pattern (`*`: one token, `>`:
/// one or more tokens at the end).
pub fn subject_matches(pattern: &str, subject: &str) -> bool {
    let mut subject = subject.split('.');
    for token in pattern.split('.') {
        match (token, subject.next()) {
            (">", Some(_)) => return true,
            ("*", Some(_)) => {}
            (token, Some(found)) if token == found => {}
            _ => return false,
        }
    }
    subject.next().is_none()
}

/// Whether a Redis key matches a glob-style key pattern (`*` only, as the
/// platform's patterns use).
pub fn key_matches(pattern: &str, key: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == key,
        Some((head, tail)) => {
            key.starts_with(head)
                && key.len() >= head.len() + tail.len()
                && key_matches_rest(tail, &key[head.len()..])
        }
    }
}

fn key_matches_rest(pattern: &str, key: &str) -> bool {
    if pattern.is_empty() {
        return true;
    }
    (0..=key.len()).any(|i| key.is_char_boundary(i) && key_matches(pattern, &key[i..]))
}
