//! `pf-loadtest` binary: parses the arguments, runs the load test, prints the report.

use std::process::ExitCode;

use clap::Parser;
use pf_loadtest::config::Args;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,async_nats=warn")),
        )
        .with_writer(std::io::stderr)
        .init();

    let report = match pf_loadtest::run(&args).await {
        Ok(report) => report,
        Err(err) => {
            // The whole cause chain on one line, without a backtrace.
            eprintln!("error: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(json) => println!("{json}"),
            Err(err) => {
                eprintln!("error: failed to write the report as JSON: {err}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        println!("{report}");
    }
    ExitCode::SUCCESS
}
