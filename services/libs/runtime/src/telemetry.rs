//! Logging and tracing set-up.

use tracing_subscriber::{EnvFilter, fmt};

/// Installs the global `tracing` subscriber: the filter comes from
/// `RUST_LOG` (default `info`), the format from `PF_LOG_FORMAT` (`json` for
/// one JSON object a line, anything else for text). Safe to call twice.
pub fn init(service: &'static str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("PF_LOG_FORMAT").is_ok_and(|f| f == "json");
    let result = if json {
        fmt()
            .json()
            .with_env_filter(filter)
            .with_current_span(true)
            .try_init()
    } else {
        // Colours only on a terminal: log files stay plain text.
        let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
        fmt().with_env_filter(filter).with_ansi(ansi).try_init()
    };
    if result.is_ok() {
        tracing::info!(service, "starting");
    }
}
