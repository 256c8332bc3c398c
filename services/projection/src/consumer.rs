//! The durable consumer: events in, live state out.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_nats::jetstream;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
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

    // Two stages, so that the projection's CPU work on one batch overlaps
    // Redis's on the one before: decoding and folding here, sending and
    // acknowledging in `apply_in_order`. The queue between them holds a few
    // batches, which the sender takes as one when Redis is the slower (fewer
    // round trips an event); batches are applied strictly in order, and a
    // batch that cannot be applied is retried in place (never skipped: with
    // cumulative acks, acknowledging a later batch would acknowledge it too).
    let (prepared_tx, prepared_rx) = tokio::sync::mpsc::channel::<Prepared>(QUEUED_BATCHES);
    let sender = Sender {
        stream,
        metrics: metrics.clone(),
        readiness: readiness.clone(),
        ack_all,
        shutdown: shutdown.clone(),
    };
    let applying = tokio::spawn(sender.apply_in_order(live.clone(), prepared_rx));
    let preparer = Preparer {
        stream,
        live,
        dead_letters: DeadLetters::new(jetstream),
        metrics,
        readiness,
        shutdown: shutdown.clone(),
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
    let outcome = loop {
        let batch = tokio::select! {
            _ = shutdown.cancelled() => break Ok(()),
            batch = messages.next() => batch,
        };
        let Some(batch) = batch else {
            break Err(anyhow::anyhow!("the consumer's message stream ended"));
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
        let Some(prepared) = preparer.prepare(ready).await else {
            continue;
        };
        if prepared_tx.send(prepared).await.is_err() {
            // The applying stage stopped (only at shutdown).
            break Ok(());
        }
    };
    drop(prepared_tx);
    let _ = applying.await;
    tracing::info!(stream = stream.name, "projection stopped");
    outcome
}

/// Prepared batches that may wait for the sender, and the most it takes
/// as one: Redis then answers one transaction for up to four batches
/// (fewer round trips, counter moves and index members summed over more
/// events).
pub const MERGED_BATCHES: usize = 4;
const QUEUED_BATCHES: usize = MERGED_BATCHES;

/// One batch, decoded and folded, on its way to Redis.
struct Prepared {
    messages: Vec<jetstream::Message>,
    updates: Vec<Update>,
    /// The batch for Redis (the updates and the watermark).
    batch: pf_live_state::PreparedBatch,
    last_sequence: u64,
}

impl Prepared {
    /// Takes a later batch of the same stream into this one.
    fn merge(&mut self, later: Prepared) {
        self.messages.extend(later.messages);
        self.updates.extend(later.updates);
        self.batch.append(later.batch);
        self.last_sequence = self.last_sequence.max(later.last_sequence);
    }
}

/// The first stage: decodes a batch, parks what cannot be used, folds the
/// rest.
struct Preparer {
    stream: &'static StreamSpec,
    live: LiveState,
    dead_letters: DeadLetters,
    metrics: ProjectionMetrics,
    readiness: Readiness,
    shutdown: CancellationToken,
}

impl Preparer {
    /// `None` when there is nothing to apply, or at shutdown while an event
    /// could not be parked (the batch is then redelivered).
    async fn prepare(&self, messages: Vec<jetstream::Message>) -> Option<Prepared> {
        let last_sequence = messages
            .iter()
            .filter_map(|m| m.info().ok().map(|i| i.stream_sequence))
            .max()?;
        let mut updates: Vec<Update> = Vec::with_capacity(messages.len());
        for message in &messages {
            let sequence = message.info().map(|i| i.stream_sequence).unwrap_or(0);
            let stored_at_ms = event::stored_at_ms(message);
            match event::decode(
                self.stream,
                message.subject.as_str(),
                &message.payload,
                stored_at_ms,
            ) {
                Ok(update) => updates.push(update),
                Err(reason) => {
                    // Nothing of this batch may be acknowledged past an event
                    // not yet parked: try again until it is.
                    let mut pause = Duration::from_millis(500);
                    while !self.dead_letter(message, sequence, &reason).await {
                        tokio::select! {
                            _ = self.shutdown.cancelled() => return None,
                            _ = tokio::time::sleep(pause) => {}
                        }
                        pause = (pause * 2).min(Duration::from_secs(5));
                    }
                }
            }
        }
        let batch = loop {
            match self
                .live
                .prepare(&updates, Some((self.stream.name, last_sequence)))
            {
                Ok(Some(batch)) => break batch,
                Ok(None) => return None,
                Err(err) => {
                    // Only an event the fold cannot encode; it will not get
                    // better by waiting, but nothing may be skipped either.
                    self.readiness.set("redis", false);
                    tracing::error!(cause = %err, "could not prepare a batch; will retry");
                    tokio::select! {
                        _ = self.shutdown.cancelled() => return None,
                        _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                    }
                }
            }
        };
        Some(Prepared {
            messages,
            updates,
            batch,
            last_sequence,
        })
    }

    /// Parks an unusable event on the dead-letter subject; `false` when that
    /// failed.
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

/// The second stage: sends each prepared batch to Redis, in order, and
/// acknowledges it once applied.
struct Sender {
    stream: &'static StreamSpec,
    metrics: ProjectionMetrics,
    readiness: Readiness,
    /// One cumulative acknowledgement per batch instead of one per event.
    ack_all: bool,
    shutdown: CancellationToken,
}

impl Sender {
    async fn apply_in_order(
        self,
        mut live: LiveState,
        mut prepared: tokio::sync::mpsc::Receiver<Prepared>,
    ) {
        while let Some(mut batch) = prepared.recv().await {
            // What queued while the last batch was applied goes as one.
            for _ in 1..MERGED_BATCHES {
                let Ok(later) = prepared.try_recv() else {
                    break;
                };
                batch.merge(later);
            }
            if !self.apply(&mut live, batch).await {
                // Shut down while Redis could not be reached: what is not
                // acknowledged is redelivered.
                return;
            }
        }
    }

    /// Applies one batch, retrying in place until Redis takes it; then
    /// acknowledges it. `false` at shutdown before it was applied.
    async fn apply(&self, live: &mut LiveState, prepared: Prepared) -> bool {
        let Prepared {
            messages,
            updates,
            batch,
            last_sequence,
        } = prepared;
        let mut pause = Duration::from_millis(500);
        let outcomes = loop {
            let started = Instant::now();
            let result = live
                .apply_prepared(&batch)
                .instrument(tracing::debug_span!(
                    "apply_batch",
                    stream = self.stream.name,
                    events = updates.len()
                ))
                .await;
            match result {
                Ok(outcomes) => {
                    self.metrics
                        .apply_duration
                        .observe(started.elapsed().as_secs_f64());
                    break outcomes;
                }
                Err(err) => {
                    self.readiness.set("redis", false);
                    tracing::error!(cause = %err, events = updates.len(), "could not apply a batch; will retry");
                    tokio::select! {
                        _ = self.shutdown.cancelled() => return false,
                        _ = tokio::time::sleep(pause) => {}
                    }
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
            }
        };
        self.readiness.set("redis", true);
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
        true
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
