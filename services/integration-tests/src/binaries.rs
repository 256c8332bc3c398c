//! The platform's own binaries run as child processes (the fault suite and
//! the wall soak): found in the Cargo target folder of the running test,
//! restartable, killed when dropped, with their output in a log file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The folder of the binaries: `$override_var` when set, else the target
/// folder the running test binary was built into (`scripts/test` builds the
/// services there first).
pub fn bin_dir(override_var: &str) -> PathBuf {
    if let Ok(dir) = std::env::var(override_var) {
        return PathBuf::from(dir);
    }
    // target/{profile}/deps/{test}-… → target/{profile}
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.parent()
        .and_then(Path::parent)
        .expect("the test binary is in target/{profile}/deps")
        .to_path_buf()
}

/// Loopback ports for services run as child processes, and the settings
/// that tell each where it and the others listen.
pub struct Ports(BTreeMap<&'static str, u16>);

impl Ports {
    /// A free port for each named service (`identity`, `gateway`, …).
    pub fn new(services: &[&'static str]) -> Self {
        Self(
            services
                .iter()
                .map(|name| (*name, pf_test_support::free_port()))
                .collect(),
        )
    }

    /// `http://127.0.0.1:{port}` of a service.
    pub fn url(&self, service: &str) -> String {
        format!("http://127.0.0.1:{}", self.0[service])
    }

    /// The services, by name.
    pub fn services(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.0.keys().copied()
    }

    fn addr(&self, service: &str) -> String {
        format!("127.0.0.1:{}", self.0[service])
    }

    /// The settings every service needs: the servers, each service's
    /// address, the others' URLs, sign-in through identity with the demo
    /// client `secret`, and the pages in `dashboards`. The set must include
    /// identity, hospital-beds, care-homes, projection and gateway;
    /// discharges is optional.
    pub fn environment(
        &self,
        nats_url: String,
        redis_url: String,
        dashboards: &Path,
        secret: &str,
    ) -> Vec<(String, String)> {
        let url = |name: &str| self.url(name);
        let mut return_origins = vec![url("gateway"), url("care-homes")];
        let mut env = vec![
            ("PF_NATS_URL", nats_url),
            ("PF_REDIS_URL", redis_url),
            ("PF_HOSPITAL_BEDS_URL", url("hospital-beds")),
            ("PF_CARE_HOMES_PUBLIC_URL", url("care-homes")),
            ("PF_CARE_HOMES_URL", url("care-homes")),
            ("PF_DASHBOARDS_DIR", dashboards.display().to_string()),
            ("PF_PUBLIC_URL", url("identity")),
            ("PF_IDENTITY_URL", url("identity")),
            ("PF_OIDC_ISSUER", url("identity")),
            ("PF_SIGN_IN_URL", format!("{}/sign-in", url("identity"))),
            ("PF_SIGN_OUT_URL", format!("{}/sign-out", url("identity"))),
            ("PF_GATEWAY_PUBLIC_URL", url("gateway")),
            (
                "PF_GATEWAY_WS_URL",
                url("gateway").replacen("http", "ws", 1),
            ),
            ("PF_HOME_URL", url("gateway")),
            ("PF_DEMO_CLIENT_SECRET", secret.to_owned()),
            ("RUST_LOG", "info,async_nats=warn".to_owned()),
        ];
        if self.0.contains_key("discharges") {
            env.push(("PF_DISCHARGES_PUBLIC_URL", url("discharges")));
            env.push(("PF_DISCHARGES_URL", url("discharges")));
            return_origins.push(url("discharges"));
        }
        // The simulator sends ED and ambulance events only where an urgent-care service runs here,
        // never to the default local port (another platform may be listening there).
        env.push((
            "PF_URGENT_CARE_URL",
            if self.0.contains_key("urgent-care") {
                url("urgent-care")
            } else {
                "off".to_owned()
            },
        ));
        env.push(("PF_RETURN_ORIGINS", return_origins.join(",")));
        let mut env: Vec<(String, String)> = env
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect();
        for service in self.0.keys() {
            let name = format!("PF_{}_ADDR", service.to_uppercase().replace('-', "_"));
            env.push((name, self.addr(service)));
        }
        env
    }
}

/// A service binary (`pf-{name}`) run as a child process.
pub struct Service {
    /// Its name without `pf-`.
    pub name: &'static str,
    binary: PathBuf,
    env: Vec<(String, String)>,
    log: PathBuf,
    child: Option<Child>,
}

impl Service {
    /// `pf-{name}` from `bin_dir`, with `env`, logging to `logs/{name}.log`
    /// (not started yet).
    pub fn new(
        name: &'static str,
        bin_dir: &Path,
        env: Vec<(String, String)>,
        logs: &Path,
    ) -> Self {
        let binary = bin_dir.join(format!("pf-{name}"));
        assert!(
            binary.is_file(),
            "{} is missing: build the services first (`cargo build -p pf-{name}` …; scripts/test does)",
            binary.display()
        );
        Self {
            name,
            binary,
            env,
            log: logs.join(format!("{name}.log")),
            child: None,
        }
    }

    /// Starts it (appending to its log).
    pub fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("the service's log file");
        let child = Command::new(&self.binary)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(log.try_clone().expect("the service's log file"))
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("the service starts");
        self.child = Some(child);
    }

    /// Runs the binary once more, apart, with its environment plus `env`
    /// (e.g. `pf-projection check`), and returns what it printed.
    pub fn run_once(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
        Command::new(&self.binary)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs(env.iter().copied())
            .output()
            .expect("the binary runs")
    }

    /// SIGKILL, and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether it is not running (it exited by itself, or never started).
    pub fn exited(&mut self) -> bool {
        match &mut self.child {
            Some(child) => child.try_wait().ok().flatten().is_some(),
            None => true,
        }
    }

    /// Its process id while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The last 15 lines of its log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}
