//! `pf-simulator`: drives a believable day of the region (LLR by default)
//! through the hospital-beds API.
//! Configuration: see [`pf_simulator::SimulatorConfig::from_env`].
//!
//! `pf-simulator history [--weeks N] [--seed S]` instead writes N weeks
//! (default 8) of synthetic history straight into the event streams of a
//! fresh platform and exits (see [`pf_simulator::history`]); it connects
//! to NATS as `PF_NATS_USER` (the `simulator-history` user).

use pf_simulator::{SimulatorConfig, run};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        // Colours only on a terminal: log files stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("history") {
        return history(&args[1..]).await;
    }
    let config = SimulatorConfig::from_env()?;
    run(config, shutdown_signal()).await
}

/// `history [--weeks N] [--seed S]`: writes synthetic history and exits.
async fn history(args: &[String]) -> anyhow::Result<()> {
    use anyhow::Context as _;
    use pf_simulator::history::{self, HistoryPlan};
    let mut plan = HistoryPlan {
        weeks: 8,
        seed: 7,
        end: time::OffsetDateTime::now_utc(),
    };
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let value = rest
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--weeks" => {
                plan.weeks = value
                    .parse()
                    .ok()
                    .filter(|w| (3..=104).contains(w))
                    .with_context(|| format!("--weeks must be 3 to 104, not `{value}`"))?;
            }
            "--seed" => {
                plan.seed = value
                    .parse()
                    .with_context(|| format!("--seed must be a whole number, not `{value}`"))?;
            }
            other => anyhow::bail!("unknown option `{other}`: use --weeks N and --seed S"),
        }
    }
    let (files, region) = pf_region::from_env().context("cannot read the region's data set")?;
    let catalogue = pf_hospital_model::Catalogue::load(&files, &region)
        .context("cannot read the region's sites")?;
    let register = pf_care_home_model::Register::load(&files, &region)
        .context("cannot read the region's care homes")?;
    let generated = history::generate(&catalogue, &register, &plan);
    tracing::info!(
        events = generated.events.len(),
        weeks = plan.weeks,
        "history generated"
    );
    let nats = pf_event_log::NatsSettings::from_env()?
        .connect("simulator-history")
        .await
        .context("cannot connect to NATS")?;
    let jetstream = async_nats::jetstream::new(nats);
    let report = history::write(&jetstream, &generated).await?;
    tracing::info!(
        stored = report.stored,
        duplicates = report.duplicates,
        "history written"
    );
    Ok(())
}

/// Completes on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
