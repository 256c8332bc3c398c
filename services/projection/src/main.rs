//! `pf-projection`: folds the event streams into the live state in Redis.
//!
//! - `pf-projection` runs the projection: one copy at a time, the others
//!   on standby until its lease lapses (`pf-lease`).
//! - `pf-projection --rebuild` first wipes the live state and replays the streams.
//! - `pf-projection check` replays the streams into a scratch copy and
//!   reports every difference from the live state (exit code 1 if any).

use anyhow::Context as _;
use clap::{Parser, Subcommand};

/// Events are decoded, folded and written as many small allocations, freed
/// on other threads than made them; glibc's malloc spent a third of the
/// projection's CPU on them (`loadtest/README.md`, "pf-bench").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    version,
    about = "Folds Patient Flow events into the live state in Redis"
)]
struct Cli {
    /// Wipe the live state and replay every stream before consuming.
    #[arg(long)]
    rebuild: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Compare the live state with a fresh replay of the streams.
    Check,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    pf_runtime::telemetry::init("projection");
    let cli = Cli::parse();
    let config = pf_projection::ProjectionConfig::from_env()?;
    match cli.command {
        Some(Command::Check) => check(config).await,
        None => {
            let listener = std::net::TcpListener::bind(config.listen)
                .with_context(|| format!("failed to listen on {}", config.listen))?;
            let shutdown = pf_runtime::shutdown::on_signal();
            // One copy writes the live state; the others wait on standby.
            let Some((lease, listener)) =
                pf_lease::wait_for_turn(&config.nats, "projection", listener, &shutdown).await?
            else {
                return Ok(());
            };
            listener.set_nonblocking(true)?;
            let listener = tokio::net::TcpListener::from_std(listener)?;
            let outcome = pf_projection::run(listener, config, cli.rebuild, lease.work()).await;
            let lost = lease.is_lost();
            lease.release().await;
            anyhow::ensure!(
                !lost,
                "the projection's lease passed to another copy; stopped writing"
            );
            outcome
        }
    }
}

async fn check(config: pf_projection::ProjectionConfig) -> anyhow::Result<()> {
    let stop = pf_runtime::shutdown::on_signal();
    let Some(jetstream) = pf_projection::connect_jetstream(&config, &stop).await? else {
        return Ok(());
    };
    let mut live = pf_projection::connect_live_state(&config).await?;
    let mut scratch_config = config.clone();
    // Beside the live prefix, never under it; the patient-level copy beside
    // that (`pf-check-7:` and `pf-check-7-patient:`: both under the
    // projection's `pf-check-*` in Redis's ACL).
    scratch_config.redis_prefix = format!(
        "{}-check-{}:",
        config.redis_prefix.trim_end_matches(':'),
        std::process::id()
    );
    scratch_config.redis_patient_prefix = pf_live_state::Keys::new(&scratch_config.redis_prefix)
        .patient_prefix()
        .to_owned();
    let mut scratch = pf_projection::connect_live_state(&scratch_config).await?;
    let report =
        pf_projection::replay::check(&jetstream, &mut live, &mut scratch, config.batch_size)
            .await?;
    let replay = report.replay;
    println!(
        "replayed {} events ({} applied, {} stale, {} unusable)",
        replay.events, replay.applied, replay.stale, replay.unusable
    );
    if report.differences.is_empty() {
        println!(
            "the live state matches the streams ({} keys compared)",
            report.keys
        );
        return Ok(());
    }
    for line in &report.differences {
        println!("{line}");
    }
    anyhow::bail!(
        "{} differences between the live state and the streams",
        report.differences.len()
    )
}
