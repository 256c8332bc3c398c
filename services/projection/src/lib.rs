//! The projection: folds events into the live state in Redis.
//!
//! A durable JetStream consumer per event stream reads events in batches,
//! turns each into a live-state update and applies the batch in one Redis
//! round trip (each update atomic and idempotent: see `pf-live-state`), then
//! acknowledges the batch. An event that cannot be used goes to the
//! dead-letter subject with its reason and is acknowledged; a Redis failure
//! leaves the batch unacknowledged, so JetStream delivers it again.
//! Discharge records go under the patient prefix (`PF_REDIS_PATIENT_PREFIX`),
//! apart from the counts and summaries the wall and pressure read.
//!
//! # Layout
//! - [`config`]: settings from the environment.
//! - [`bed_event`], [`care_home_event`], [`discharge_event`], [`task_event`],
//!   [`urgent_care_event`]: an envelope to a live-state update,
//!   or the reason it cannot be used; [`event`] picks one by stream.
//! - [`consumer`]: the durable consumer loop.
//! - [`replay`]: rebuilding state by replaying a stream from its start.
//! - [`metrics`]: what the projection counts.
//! - [`run`]: the service: readiness, metrics endpoint, consumer.
#![forbid(unsafe_code)]

pub mod bed_event;
pub mod care_home_event;
pub mod config;
pub mod consumer;
pub mod discharge_event;
pub mod event;
pub mod metrics;
pub mod replay;
pub mod task_event;
pub mod urgent_care_event;
pub mod watchdog;

use anyhow::Context as _;
use pf_event_log::streams::EVENT_STREAMS;
use pf_live_state::{Keys, LiveState};
use pf_runtime::Readiness;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::ProjectionConfig;

/// Connects to NATS and waits until the streams the projection reads and
/// writes exist (`pf-streams` creates them); `None` when `shutdown` comes
/// first.
pub async fn connect_jetstream(
    config: &ProjectionConfig,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<async_nats::jetstream::Context>> {
    let client = config
        .nats
        .connect("pf-projection")
        .await
        .with_context(|| format!("failed to connect to NATS at {}", config.nats.url))?;
    let jetstream = async_nats::jetstream::new(client);
    let used: Vec<&str> = EVENT_STREAMS
        .iter()
        .chain([&pf_event_log::streams::DEAD_LETTERS])
        .map(|spec| spec.name)
        .collect();
    if !pf_event_log::streams::wait_for(&jetstream, &used, shutdown).await {
        return Ok(None);
    }
    Ok(Some(jetstream))
}

/// Connects to Redis.
pub async fn connect_live_state(config: &ProjectionConfig) -> anyhow::Result<LiveState> {
    Ok(LiveState::connect(
        &config.redis_url,
        Keys::new(config.redis_prefix.clone())
            .with_patient_prefix(config.redis_patient_prefix.clone()),
        config.redis_timeout,
    )
    .await
    .with_context(|| {
        format!(
            "failed to connect to Redis at {}",
            pf_runtime::redact_url(&config.redis_url)
        )
    })?
    .with_changes_max_len(config.changes_max_len)
    .with_trends(config.trends))
}

/// The live state's watermark of `stream`, waiting while Redis is still
/// loading its data after a restart (it answers `LOADING` until then).
async fn watermark(
    live: &mut LiveState,
    stream: &str,
    shutdown: &CancellationToken,
) -> anyhow::Result<u64> {
    let mut attempts = 0;
    loop {
        match live.applied_through(stream).await {
            Ok(applied) => return Ok(applied.unwrap_or(0)),
            Err(err) if attempts < 120 && !shutdown.is_cancelled() => {
                attempts += 1;
                tracing::info!(cause = %err, "waiting for Redis to be ready");
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
            Err(err) => return Err(err).context("failed to read the live state's watermark"),
        }
    }
}

/// Runs the projection until `shutdown` is cancelled: the operational
/// endpoints on `listener`, and the consumer. With `rebuild`, or when Redis
/// lost state, or when the state is in an older key layout, first wipes the
/// live state and replays every stream from its start.
pub async fn run(
    listener: TcpListener,
    config: ProjectionConfig,
    rebuild: bool,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let registry = prometheus::Registry::new();
    let metrics =
        metrics::ProjectionMetrics::register(&registry).context("failed to register metrics")?;
    let mut checks = vec!["nats", "redis"];
    checks.extend(EVENT_STREAMS.iter().map(|s| s.name));
    let readiness = Readiness::new(&checks);
    let ops = pf_runtime::ops::router(registry, readiness.clone());
    let server = tokio::spawn(pf_runtime::ops::serve(listener, ops, shutdown.clone()));

    let Some(jetstream) = connect_jetstream(&config, &shutdown).await? else {
        return Ok(());
    };
    readiness.set("nats", true);
    let mut live = connect_live_state(&config).await?;
    readiness.set("redis", true);

    let mut consumers = Vec::with_capacity(EVENT_STREAMS.len());
    let mut lost = false;
    for spec in EVENT_STREAMS {
        let consumer = consumer::durable(&jetstream, &config, spec).await?;
        let acknowledged = consumer
            .get_info()
            .await
            .context("failed to read the consumer's position")?
            .ack_floor
            .stream_sequence;
        let applied = watermark(&mut live, spec.name, &shutdown).await?;
        if applied < acknowledged {
            tracing::warn!(
                stream = spec.name,
                applied,
                acknowledged,
                "the live state is behind what the projection acknowledged (Redis lost data); rebuilding"
            );
            lost = true;
        }
        consumers.push((spec, consumer));
    }
    let old_layout = live
        .layout_is_old()
        .await
        .context("failed to read the live state's key layout")?;
    if old_layout {
        tracing::warn!(
            layout = pf_live_state::LAYOUT,
            "the live state is in an older key layout (discharge records beside the counts); rebuilding"
        );
    }
    if rebuild || lost || old_layout {
        let report = replay::rebuild(&jetstream, &mut live, config.batch_size).await?;
        tracing::info!(
            events = report.events,
            applied = report.applied,
            "live state rebuilt from the streams"
        );
    }
    live.mark_layout()
        .await
        .context("failed to mark the live state's key layout")?;

    watchdog::spawn(&jetstream, &live, &config, &shutdown);
    let mut running = tokio::task::JoinSet::new();
    for (spec, consumer) in consumers {
        let (jetstream, live, config, metrics, readiness, shutdown) = (
            jetstream.clone(),
            live.clone(),
            config.clone(),
            metrics.clone(),
            readiness.clone(),
            shutdown.clone(),
        );
        running.spawn(async move {
            consumer::run(
                spec, jetstream, consumer, live, &config, metrics, readiness, shutdown,
            )
            .await
        });
    }
    // The first consumer to fail stops the others: the service exits and is
    // restarted whole, rather than running half-blind.
    let mut result = Ok(());
    while let Some(finished) = running.join_next().await {
        let outcome = finished.context("a consumer task failed").and_then(|r| r);
        if let Err(err) = outcome {
            if result.is_ok() {
                result = Err(err);
            }
            shutdown.cancel();
        }
    }
    shutdown.cancel();
    match server.await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => tracing::warn!(cause = %err, "operational endpoint failed"),
        Err(err) => tracing::warn!(cause = %err, "operational endpoint task failed"),
    }
    result
}
