//! The platform's own binaries run as child processes (the fault suite and
//! the wall soak): found in the Cargo target folder of the running test,
//! restartable, killed when dropped, with their output in a log file.

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
