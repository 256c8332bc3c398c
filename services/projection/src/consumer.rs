//! The durable consumer: events in, live state out.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use async_nats::jetstream::{self, AckKind};
use futures::StreamExt as _;
use pf_event_log::streams::BEDS;
use pf_event_log::{DeadLetters, StreamSpec};
use pf_live_state::{Applied, LiveState, Update};
use pf_runtime::Readiness;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::config::ProjectionConfig;
use crate::event;
use crate::metrics::ProjectionMetrics;

/// The durable consumer's name on `stream`: the configured name on the bed
/// stream, `{name}-{stream}` on the others.
pub fn consumer_name(config: &ProjectionConfig, stream: &StreamSpec) -> String {
    if stream.name == BEDS.name {
        config.consumer_name.clone()
    } else {
        format!("{}-{}", config.consumer_name, stream.name)
    }
}

/// Opens (creating it the first time) the projection's durable consumer on
/// `stream`. New consumers acknowledge cumulatively (`AckPolicy::All`:
/// one acknowledgement per batch); one created with explicit acks keeps them.
pub async fn durable(
    jetstream: &jetstream::Context,
    config: &ProjectionConfig,
    spec: &StreamSpec,
) -> anyhow::Result<jetstream::consumer::PullConsumer> {
    let stream = jetstream
        .get_stream(spec.name)
        .await
        .with_context(|| format!("failed to open stream {}", spec.name))?;
    let name = consumer_name(config, spec);
    stream
        .get_or_create_consumer(
            &name,
            pull::Config {
                durable_name: Some(name.clone()),
                description: Some("Patient Flow projection into Redis".into()),
                ack_policy: AckPolicy::All,
                ack_wait: Duration::from_secs(30),
                deliver_policy: DeliverPolicy::All,
                max_ack_pending: 20_000,
                ..Default::default()
            },
        )
        .await
        .context("failed to create the projection's durable consumer")
}

/// Consumes `stream` until `shutdown`, applying every event.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    stream: &'static StreamSpec,
    jetstream: jetstream::Context,
    consumer: jetstream::consumer::PullConsumer,
    live: LiveState,
    config: &ProjectionConfig,
    metrics: ProjectionMetrics,
    readiness: Readiness,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let ack_all = consumer.cached_info().config.ack_policy == AckPolicy::All;
    tokio::spawn(watch_pending(
        stream,
        consumer.clone(),
        metrics.clone(),
        readiness.clone(),
        shutdown.clone(),
    ));

    let mut applier = Applier {
        stream,
        live,
        dead_letters: DeadLetters::new(jetstream),
        metrics,
        readiness,
        ack_all,
    };
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(config.batch_size)
        .heartbeat(Duration::from_secs(5))
        .messages()
        .await
        .context("failed to start consuming")?
        .ready_chunks(config.batch_size);
    tracing::info!(stream = stream.name, consumer = %consumer_name(config, stream), ack_all, "projection consuming");
    loop {
        let batch = tokio::select! {
            _ = shutdown.cancelled() => break,
            batch = messages.next() => batch,
        };
        let Some(batch) = batch else {
            anyhow::bail!("the consumer's message stream ended");
        };
        let mut ready = Vec::with_capacity(batch.len());
        for message in batch {
            match message {
                Ok(message) => ready.push(message),
                Err(err) => {
                    tracing::warn!(cause = %err, "consumer hiccup; JetStream will redeliver")
                }
            }
        }
        applier.apply(ready).await;
    }
    tracing::info!(stream = stream.name, "projection stopped");
    Ok(())
}

struct Applier {
    stream: &'static StreamSpec,
    live: LiveState,
    dead_letters: DeadLetters,
    metrics: ProjectionMetrics,
    readiness: Readiness,
    /// One cumulative acknowledgement per batch instead of one per event.
    ack_all: bool,
}

impl Applier {
    /// Applies one batch; acknowledges it once all of it is done (applied or
    /// dead-lettered), or leaves all of it for redelivery.
    async fn apply(&mut self, messages: Vec<jetstream::Message>) {
        let Some(last_sequence) = messages
            .iter()
            .filter_map(|m| m.info().ok().map(|i| i.stream_sequence))
            .max()
        else {
            return;
        };
        let mut usable: Vec<Update> = Vec::with_capacity(messages.len());
        let mut parked = Vec::new();
        for message in &messages {
            let sequence = message.info().map(|i| i.stream_sequence).unwrap_or(0);
            let stored_at_ms = event::stored_at_ms(message);
            match event::decode(
                self.stream,
                message.subject.as_str(),
                &message.payload,
                stored_at_ms,
            ) {
                Ok(update) => usable.push(update),
                Err(reason) => {
                    if !self.dead_letter(message, sequence, &reason).await {
                        // Nothing of this batch may be acknowledged past an event not yet parked.
                        self.retry_later(&messages).await;
                        return;
                    }
                    parked.push(message);
                }
            }
        }
        let updates = usable;
        let started = Instant::now();
        let result = self
            .live
            .apply_through(&updates, Some((self.stream.name, last_sequence)))
            .instrument(tracing::debug_span!(
                "apply_batch",
                stream = self.stream.name,
                events = updates.len()
            ))
            .await;
        let outcomes = match result {
            Ok(outcomes) => outcomes,
            Err(err) => {
                self.readiness.set("redis", false);
                tracing::error!(cause = %err, events = updates.len(), "could not apply a batch; will retry");
                self.retry_later(&messages).await;
                return;
            }
        };
        self.readiness.set("redis", true);
        self.metrics
            .apply_duration
            .observe(started.elapsed().as_secs_f64());
        self.metrics.batch_size.observe(updates.len() as f64);
        for (update, outcome) in updates.iter().zip(outcomes) {
            let label = match outcome {
                Applied::Changed(_) => "applied",
                Applied::Stale => "stale",
            };
            self.metrics
                .applied
                .with_label_values(&[label, self.stream.name])
                .inc();
            tracing::trace!(
                event_id = %update.event_id(),
                entity_version = update.entity_version(),
                outcome = label,
                "event applied"
            );
        }
        let to_ack: Vec<&jetstream::Message> = if self.ack_all {
            messages
                .iter()
                .filter(|m| m.info().map(|i| i.stream_sequence).ok() == Some(last_sequence))
                .take(1)
                .collect()
        } else {
            messages.iter().collect()
        };
        for message in to_ack {
            if let Err(err) = message.ack().await {
                tracing::warn!(cause = %err, "ack failed; the events will be redelivered and skipped as stale");
            }
        }
    }

    async fn retry_later(&self, messages: &[jetstream::Message]) {
        for message in messages {
            let _ = message
                .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
                .await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    /// Parks an unusable event on the dead-letter subject; `false` when that
    /// failed (the batch is then retried).
    async fn dead_letter(
        &self,
        message: &jetstream::Message,
        sequence: u64,
        reason: &event::Unusable,
    ) -> bool {
        let label = reason.label();
        let reason_text = reason.to_string();
        match self
            .dead_letters
            .park(
                self.stream.name,
                message.subject.as_str(),
                sequence,
                message.payload.clone(),
                &reason_text,
            )
            .await
        {
            Ok(()) => {
                tracing::warn!(sequence, reason = %reason_text, "event dead-lettered");
                self.metrics.dead_lettered.with_label_values(&[label]).inc();
                true
            }
            Err(err) => {
                tracing::error!(cause = %err, sequence, "could not dead-letter an event; will retry");
                false
            }
        }
    }
}

/// Publishes how many events wait to be applied, and says the projection is
/// ready once it has caught up with the stream for the first time.
async fn watch_pending(
    stream: &'static StreamSpec,
    consumer: jetstream::consumer::PullConsumer,
    metrics: ProjectionMetrics,
    readiness: Readiness,
    shutdown: CancellationToken,
) {
    let mut caught_up = false;
    loop {
        match consumer.get_info().await {
            Ok(info) => {
                let pending = info.num_pending + info.num_ack_pending as u64;
                metrics
                    .pending
                    .with_label_values(&[stream.name])
                    .set(i64::try_from(pending).unwrap_or(i64::MAX));
                if !caught_up && pending == 0 {
                    caught_up = true;
                    readiness.set(stream.name, true);
                    tracing::info!(stream = stream.name, "projection caught up with the stream");
                }
                readiness.set("nats", true);
            }
            Err(err) => {
                readiness.set("nats", false);
                tracing::warn!(cause = %err, "cannot read the consumer's state");
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}
