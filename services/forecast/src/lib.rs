//! The forecast service: the next 72 hours of admissions, discharges (by
//! pathway), occupied G&A beds and occupancy, NCTR and care-home vacancies
//! per site, trust and system, each with 80% and 95% intervals, and the
//! OPEL level they imply, learnt from the event streams.
//!
//! It runs as its own process with its own NATS user (it reads the event
//! streams, publishes forecast alerts, nothing else) and Redis user (sign-in
//! sessions only), so forecasting never slows the live path: it replays the
//! streams from their start ([`replay`]), folds the events into hourly
//! series ([`fold`]), fits every series on a blocking thread
//! ([`board::build`], MSTL + AutoETS from [`pf_forecast_model`]), publishes
//! the board, raises alerts when a forecast crosses a threshold within 24 h
//! ([`alerts`]), and then backtests the system's series over the last
//! weeks ([`backtest`]) for the metrics. It refits every
//! `PF_FORECAST_REFIT_SECS` and as soon as the streams show a rebuild (a
//! stream's first sequence moved or its last went back) or a load of
//! history (`PF_FORECAST_REFIT_EVENTS` new events since the last fit).
//!
//! # Layout
//! - [`config`]: [`ForecastConfig`], from the environment.
//! - [`replay`]: reading the event streams, and where they stand.
//! - [`fold`]: events → hourly series per scope ([`fold::Folded`]).
//! - [`board`]: series → forecasts and implied OPEL ([`board::Board`]).
//! - [`alerts`]: threshold crossings within 24 h → alerts (NATS, webhook).
//! - [`backtest`]: rolling-origin backtests and their metrics.
//! - [`api`]: the JSON API (`/api/v1/forecast…`, `openapi.json`).
//! - [`metrics`]: fit time, series, refits, alerts, backtest scores.
#![forbid(unsafe_code)]

pub mod alerts;
pub mod api;
pub mod backtest;
pub mod board;
pub mod config;
pub mod fold;
pub mod metrics;
pub mod replay;

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use pf_event_log::streams;
use pf_hospital_model::Catalogue;
use pf_opel::OpelConfig;
use pf_runtime::Readiness;
use tokio::sync::{RwLock, mpsc};
use tokio_util::sync::CancellationToken;

pub use config::ForecastConfig;

/// The service's name (NATS connection, logs).
pub const SERVICE: &str = "forecast";

/// The OpenAPI document of the JSON API.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// The latest board and backtest, shared with the API.
#[derive(Clone, Default)]
pub struct Latest {
    /// The board, once the first fit is done.
    pub board: Arc<RwLock<Option<Arc<board::Board>>>>,
    /// The backtest table of the system's series, once run.
    pub backtest: Arc<RwLock<Option<Arc<pf_forecast_model::backtest::Table>>>>,
}

/// Reads the OPEL configuration the way pf-pressure does.
pub fn opel_config(config: &ForecastConfig) -> anyhow::Result<OpelConfig> {
    match &config.opel_config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("failed to read {}", path.display()))?;
            Ok(OpelConfig::from_json(&text)?)
        }
        None => Ok(OpelConfig::llr_defaults()?),
    }
}

/// Runs the service on `listener` until `shutdown` is cancelled.
pub async fn run(
    listener: tokio::net::TcpListener,
    config: ForecastConfig,
    catalogue: Catalogue,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let opel = opel_config(&config)?;
    let registry = prometheus::Registry::new();
    let metrics = metrics::ForecastMetrics::register(&registry)?;
    let readiness = Readiness::new(&["nats", "forecast"]);
    let latest = Latest::default();
    let authenticator = config
        .sign_in
        .authenticator()
        .await
        .context("failed to set up sign-in")?;
    let router = api::router(latest.clone(), Arc::new(authenticator))
        .merge(pf_runtime::ops::router(registry, readiness.clone()));
    tracing::info!(address = %listener.local_addr()?, "forecast listening");
    let server = tokio::spawn(pf_runtime::ops::serve(listener, router, shutdown.clone()));

    let nats = config
        .nats
        .connect(SERVICE)
        .await
        .with_context(|| format!("failed to connect to NATS at {}", config.nats.url))?;
    let jetstream = async_nats::jetstream::new(nats);
    let wanted: Vec<&str> = replay::HISTORY_STREAMS
        .iter()
        .map(|s| s.name)
        .chain([streams::ALERTS.name])
        .collect();
    if !streams::wait_for(&jetstream, &wanted, &shutdown).await {
        return Ok(());
    }
    readiness.set("nats", true);

    let webhook = config.webhook.clone().map(|webhook| {
        let (sender, mut receiver) =
            mpsc::channel::<pf_pressure::Alert>(pf_pressure::webhook::QUEUE);
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let Ok(http) = reqwest::Client::builder().timeout(webhook.timeout).build() else {
                tracing::error!("cannot build the webhook client; forecast alerts go to NATS only");
                return;
            };
            loop {
                let alert = tokio::select! {
                    _ = stop.cancelled() => return,
                    alert = receiver.recv() => match alert { Some(a) => a, None => return },
                };
                alerts::send_webhook(&http, &webhook, &alert).await;
            }
        });
        sender
    });

    let catalogue = Arc::new(catalogue);
    let opel = Arc::new(opel);
    let mut alerter = alerts::Alerter::default();
    let mut fitted_marks: Option<replay::StreamMarks> = None;
    let mut last_fit = Instant::now();
    let mut reason = "start";
    let mut watch = tokio::time::interval(config.watch_every);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = watch.tick() => {}
        }
        let marks = match replay::marks(&jetstream).await {
            Ok(marks) => marks,
            Err(err) => {
                tracing::warn!(cause = %err, "cannot read where the streams stand");
                continue;
            }
        };
        if let Some(previous) = &fitted_marks {
            let rebuilt =
                previous
                    .iter()
                    .zip(&marks)
                    .any(|((first, last), (new_first, new_last))| {
                        new_first != first || new_last < last
                    });
            let grown: u64 = previous
                .iter()
                .zip(&marks)
                .map(|((_, last), (_, new_last))| new_last.saturating_sub(*last))
                .sum();
            reason = if rebuilt || grown >= config.refit_events {
                "rebuild"
            } else if last_fit.elapsed() >= config.refit_every {
                "schedule"
            } else {
                continue;
            };
        }
        let started = Instant::now();
        match refit(&jetstream, &catalogue, &opel, config.history_weeks).await {
            Ok((board, folded)) => {
                metrics.refits.with_label_values(&[reason]).inc();
                metrics.fit_seconds.observe(started.elapsed().as_secs_f64());
                metrics.series.set(board.series_fitted as i64);
                metrics.unavailable.set(
                    board
                        .scopes
                        .iter()
                        .map(|s| s.unavailable.len() as i64)
                        .sum(),
                );
                metrics
                    .last_fit
                    .set(board.generated_at.unix_timestamp() as f64);
                tracing::info!(
                    reason,
                    series = board.series_fitted,
                    events = board.events,
                    seconds = started.elapsed().as_secs_f64(),
                    "forecasts refitted"
                );
                for alert in alerter.review(
                    &board,
                    config.alert_occupancy_pct,
                    time::OffsetDateTime::now_utc(),
                ) {
                    metrics.alerts.with_label_values(&[alert.kind]).inc();
                    if let Err(err) = alerts::publish(&jetstream, &alert).await {
                        tracing::error!(cause = %err, kind = alert.kind, "cannot publish a forecast alert");
                    }
                    if let Some(webhook) = &webhook {
                        let _ = webhook.try_send(alert);
                    }
                }
                *latest.board.write().await = Some(Arc::new(board));
                readiness.set("forecast", true);
                fitted_marks = Some(marks);
                last_fit = Instant::now();
                // The backtest runs after the board is out, off the async threads.
                let series = backtest::system_series(&folded);
                let table = tokio::task::spawn_blocking(move || {
                    let spec = pf_forecast_model::backtest::Spec {
                        min_train: (series.first().map_or(0, |(_, s)| s.len()))
                            .saturating_sub(14 * 24)
                            .max(3 * 168),
                        step: 24,
                        horizon: pf_forecast_model::HORIZON_HOURS,
                    };
                    backtest::table(&series, spec, &[])
                })
                .await;
                if let Ok(table) = table {
                    backtest::record(&table, &metrics);
                    *latest.backtest.write().await = Some(Arc::new(table));
                }
            }
            Err(err) => tracing::error!(cause = %err, "cannot refit the forecasts"),
        }
    }
    server.await??;
    Ok(())
}

/// Replays the streams, folds the last `weeks` weeks and fits every series.
pub async fn refit(
    jetstream: &async_nats::jetstream::Context,
    catalogue: &Arc<Catalogue>,
    opel: &Arc<OpelConfig>,
    weeks: u32,
) -> anyhow::Result<(board::Board, fold::Folded)> {
    let events = replay::read_all(jetstream).await?;
    let catalogue = catalogue.clone();
    let opel = opel.clone();
    tokio::task::spawn_blocking(move || {
        let now = time::OffsetDateTime::now_utc();
        let end = hour_start(now);
        let folded = fold::fold(&catalogue, events, end, weeks as usize * 168);
        let board = board::build(&folded, &opel, now);
        (board, folded)
    })
    .await
    .context("the fit stopped")
}

/// The start of the hour `at` is in.
pub fn hour_start(at: time::OffsetDateTime) -> time::OffsetDateTime {
    let seconds = at.unix_timestamp();
    time::OffsetDateTime::from_unix_timestamp(seconds - seconds.rem_euclid(3600)).unwrap_or(at)
}
