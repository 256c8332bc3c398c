//! Reading the event streams from their start: the forecast's history.

use anyhow::Context as _;
use async_nats::jetstream::{self, consumer::pull};
use futures::StreamExt as _;
use pf_event_log::streams;
use pf_proto::v1::EventEnvelope;

use crate::fold::Timed;

/// The streams the forecasts learn from: beds, care homes and discharges.
/// Only these (and `PF_ALERTS`) are open to the forecast's NATS user, so the
/// service must neither wait for nor read any other event stream.
pub const HISTORY_STREAMS: &[streams::StreamSpec] =
    &[streams::BEDS, streams::CARE_HOMES, streams::DISCHARGES];

/// The header that marks synthetic history.
pub const SYNTHETIC_HEADER: &str = "Pf-Synthetic";

/// Where each event stream stands: (first sequence, last sequence).
pub type StreamMarks = Vec<(u64, u64)>;

/// The first and last sequence of each event stream.
pub async fn marks(jetstream: &jetstream::Context) -> anyhow::Result<StreamMarks> {
    let mut marks = Vec::new();
    for spec in HISTORY_STREAMS {
        let mut stream = jetstream
            .get_stream(spec.name)
            .await
            .with_context(|| format!("failed to open stream {}", spec.name))?;
        let info = stream
            .info()
            .await
            .context("failed to read a stream's state")?;
        marks.push((info.state.first_sequence, info.state.last_sequence));
    }
    Ok(marks)
}

/// Every event of the event streams up to their last event now, with
/// whether it was synthetic history. Events that cannot be read are
/// skipped (the projection dead-letters them).
pub async fn read_all(jetstream: &jetstream::Context) -> anyhow::Result<Vec<Timed>> {
    let mut events = Vec::new();
    for spec in HISTORY_STREAMS {
        let mut stream = jetstream
            .get_stream(spec.name)
            .await
            .with_context(|| format!("failed to open stream {}", spec.name))?;
        let last = stream
            .info()
            .await
            .context("failed to read a stream's state")?
            .state
            .last_sequence;
        if last == 0 {
            continue;
        }
        let consumer = stream
            .create_consumer(pull::OrderedConfig {
                deliver_policy: jetstream::consumer::DeliverPolicy::All,
                ..Default::default()
            })
            .await
            .context("failed to create a replay consumer")?;
        let mut messages = consumer
            .messages()
            .await
            .context("failed to start the replay")?;
        while let Some(message) = messages.next().await {
            let message = message.context("replay interrupted")?;
            let sequence = message.info().map(|i| i.stream_sequence).unwrap_or(0);
            let synthetic = message
                .headers
                .as_ref()
                .is_some_and(|h| h.get(SYNTHETIC_HEADER).is_some());
            if let Ok(event) = EventEnvelope::decode_checked(&message.payload) {
                events.push(Timed::new(event, synthetic));
            }
            if sequence >= last {
                break;
            }
        }
    }
    Ok(events)
}
