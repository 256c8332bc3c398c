//! What a new copy of pressure picks up from the alerts already published
//! (`PF_ALERTS`), so that taking over from a copy that died, or starting
//! again, does not raise an alert a second time: each site's last
//! occupancy alert (which thresholds were alerted), the last NCTR surge,
//! and the alerts that hold while their condition lasts
//! ([`crate::engine::HOLDING_KINDS`]) raised and not cleared since.
//! The levels themselves are resumed from `PF_SYSTEM` (see `run`).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, consumer};
use futures::StreamExt as _;
use pf_event_log::streams;
use serde::Deserialize;
use time::OffsetDateTime;

use crate::engine::{Engine, HOLDING_KINDS};

/// The longest the alerts are read for at start; past it the copy starts
/// without them (and may repeat an alert rather than not run).
const READ_FOR: Duration = Duration::from_secs(10);

/// The parts of a published alert read back.
#[derive(Deserialize)]
struct Published {
    scope: String,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    #[serde(default)]
    details: serde_json::Value,
}

/// The alerts already published, as far as a new copy needs them.
#[derive(Debug, Default, PartialEq)]
pub struct Raised {
    /// Per site, the threshold of its last occupancy alert.
    pub occupancy: BTreeMap<String, f64>,
    /// When the last NCTR surge was alerted.
    pub last_surge: Option<OffsetDateTime>,
    /// (kind, scope) of the holding alerts whose last notice raised them
    /// (not cleared).
    pub holding: std::collections::BTreeSet<(String, String)>,
}

impl Raised {
    /// Hands what was raised to the engine.
    pub fn resume(&self, engine: &mut Engine) {
        for (scope, threshold) in &self.occupancy {
            engine.resume_occupancy_alert(scope, *threshold);
        }
        if let Some(at) = self.last_surge {
            engine.resume_surge(at);
        }
        for (kind, scope) in &self.holding {
            engine.resume_holding(kind, scope);
        }
    }
}

/// Reads the alerts already published; an unreadable one is skipped.
pub async fn raised(context: &jetstream::Context) -> anyhow::Result<Raised> {
    let mut raised = Raised::default();
    for alert in read(context, "occupancy_threshold").await? {
        if let Some(threshold) = alert.details["threshold_pct"].as_f64() {
            raised.occupancy.insert(alert.scope, threshold);
        }
    }
    raised.last_surge = read(context, "nctr_surge")
        .await?
        .into_iter()
        .map(|alert| alert.at)
        .max();
    for kind in HOLDING_KINDS {
        let mut last: BTreeMap<String, bool> = BTreeMap::new();
        for alert in read(context, kind).await? {
            let cleared = alert.details["cleared"].as_bool().unwrap_or(false);
            last.insert(alert.scope, cleared);
        }
        raised.holding.extend(
            last.into_iter()
                .filter(|(_, cleared)| !cleared)
                .map(|(scope, _)| (kind.to_owned(), scope)),
        );
    }
    Ok(raised)
}

/// Every alert of `kind` in `PF_ALERTS`, oldest first.
async fn read(context: &jetstream::Context, kind: &str) -> anyhow::Result<Vec<Published>> {
    let subject = streams::alert_subject(kind);
    let stream = context
        .get_stream(streams::ALERTS.name)
        .await
        .context("cannot read PF_ALERTS")?;
    let reader = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: subject.clone(),
            ..Default::default()
        })
        .await
        .with_context(|| format!("cannot read {subject}"))?;
    let pending = reader.cached_info().num_pending;
    let mut alerts = Vec::new();
    if pending == 0 {
        return Ok(alerts);
    }
    let mut messages = reader
        .messages()
        .await
        .with_context(|| format!("cannot read {subject}"))?;
    let reading = async {
        while let Some(message) = messages.next().await {
            let message = message.with_context(|| format!("cannot read {subject}"))?;
            match serde_json::from_slice::<Published>(&message.payload) {
                Ok(alert) => alerts.push(alert),
                Err(err) => tracing::warn!(cause = %err, %subject, "an unreadable alert; skipped"),
            }
            let left = message.info().map(|info| info.pending).unwrap_or(0);
            if left == 0 {
                break;
            }
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(READ_FOR, reading)
        .await
        .with_context(|| format!("reading {subject} took longer than {READ_FOR:?}"))??;
    Ok(alerts)
}
