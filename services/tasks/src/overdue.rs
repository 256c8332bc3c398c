//! Overdue actions raise an alert through the platform's alert path: JSON
//! on `pf.alerts.action_overdue` (the `PF_ALERTS` stream, which the wall's
//! alert banner and other systems follow), in the shape pf-pressure's
//! alerts have (`alert_id`, `kind`, `severity`, `scope`, `title`, `at`,
//! `details`).
//!
//! Each action is alerted once per due time: before its first look, the
//! sweep reads back the overdue alerts `PF_ALERTS` already holds (a
//! restarted instance or a second replica raises none of them again), then
//! remembers what it alerts; the alert's `Nats-Msg-Id` is
//! `action-overdue-{item}-{due}`, so two instances alerting at once store
//! it once. A new due time can be alerted again.

use std::collections::HashSet;

use async_nats::jetstream::consumer;
use futures::StreamExt as _;
use pf_task_model::{Item, ItemKind};
use serde::Serialize;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::state::AppState;

/// The alert kind.
pub const KIND: &str = "action_overdue";

/// An overdue action's alert.
#[derive(Debug, Clone, Serialize)]
pub struct OverdueAlert {
    /// UUIDv7.
    pub alert_id: String,
    /// [`KIND`].
    pub kind: &'static str,
    /// `warning`.
    pub severity: &'static str,
    /// The owner's organisation.
    pub scope: String,
    /// One line for the banner.
    pub title: String,
    /// When it was raised.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The action.
    pub details: serde_json::Value,
}

impl OverdueAlert {
    /// The alert of an overdue `action`, raised `at`.
    pub fn of(action: &Item, at: OffsetDateTime) -> Self {
        Self {
            alert_id: uuid::Uuid::now_v7().to_string(),
            kind: KIND,
            severity: "warning",
            scope: action.owner.organisation.clone(),
            title: format!("Action overdue: {} ({})", action.text, action.owner.display),
            at,
            details: serde_json::json!({
                "item_id": action.item_id,
                "text": action.text,
                "owner": action.owner,
                "due_ms": action.due_ms,
            }),
        }
    }
}

/// Looks for overdue actions every `sweep_every` until shutdown.
pub async fn sweep(
    state: AppState,
    jetstream: async_nats::jetstream::Context,
    shutdown: CancellationToken,
) {
    // Read back once, before the first look: nothing is alerted until then.
    let mut alerted: Option<HashSet<(String, i64)>> = None;
    let mut every = tokio::time::interval(state.config.sweep_every);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        let alerted = match &mut alerted {
            Some(alerted) => alerted,
            None => match already_alerted(&jetstream).await {
                Ok(found) => alerted.insert(found),
                Err(cause) => {
                    tracing::warn!(%cause, "could not read the overdue alerts already raised; will retry");
                    continue;
                }
            },
        };
        match sweep_once(&state, &jetstream, alerted).await {
            Ok(()) => state.overdue_sweeps.inc(),
            Err(cause) => tracing::warn!(%cause, "could not look for overdue actions; will retry"),
        }
    }
}

/// The overdue alerts `PF_ALERTS` holds, as (item, due time), read to the
/// newest (through an ephemeral consumer, deleted after).
#[tracing::instrument(skip_all)]
pub async fn already_alerted(
    jetstream: &async_nats::jetstream::Context,
) -> Result<HashSet<(String, i64)>, String> {
    let mut alerted = HashSet::new();
    let stream = jetstream
        .get_stream(pf_event_log::streams::ALERTS.name)
        .await
        .map_err(|e| e.to_string())?;
    let mut reader = stream
        .create_consumer(consumer::pull::Config {
            filter_subject: pf_event_log::streams::alert_subject(KIND),
            deliver_policy: consumer::DeliverPolicy::All,
            ack_policy: consumer::AckPolicy::None,
            inactive_threshold: std::time::Duration::from_secs(30),
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    let name = reader.cached_info().name.clone();
    if reader.info().await.map_err(|e| e.to_string())?.num_pending > 0 {
        let mut messages = reader.messages().await.map_err(|e| e.to_string())?;
        while let Some(message) = messages.next().await {
            let message = message.map_err(|e| e.to_string())?;
            if let Ok(alert) = serde_json::from_slice::<serde_json::Value>(&message.payload) {
                let details = &alert["details"];
                if let (Some(item), Some(due)) =
                    (details["item_id"].as_str(), details["due_ms"].as_i64())
                {
                    alerted.insert((item.to_owned(), due));
                }
            }
            if message.info().map_err(|e| e.to_string())?.pending == 0 {
                break;
            }
        }
    }
    // It would go by itself once idle; it is of no further use.
    let _ = stream.delete_consumer(&name).await;
    Ok(alerted)
}

#[tracing::instrument(skip_all)]
async fn sweep_once(
    state: &AppState,
    jetstream: &async_nats::jetstream::Context,
    alerted: &mut HashSet<(String, i64)>,
) -> Result<(), String> {
    let now = OffsetDateTime::now_utc();
    let now_ms = i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
    let items = state
        .live
        .clone()
        .all_items()
        .await
        .map_err(|e| e.to_string())?;
    for action in items
        .iter()
        .filter(|i| i.kind == ItemKind::SystemAction && i.overdue(now_ms))
    {
        let key = (action.item_id.clone(), action.due_ms);
        if alerted.contains(&key) {
            continue;
        }
        let alert = OverdueAlert::of(action, now);
        let body = serde_json::to_vec(&alert).map_err(|e| e.to_string())?;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(
            "Nats-Msg-Id",
            format!("action-overdue-{}-{}", action.item_id, action.due_ms).as_str(),
        );
        let ack = jetstream
            .publish_with_headers(
                pf_event_log::streams::alert_subject(KIND),
                headers,
                body.into(),
            )
            .await
            .map_err(|e| e.to_string())?;
        ack.await.map_err(|e| e.to_string())?;
        state.overdue_alerts.inc();
        tracing::info!(item = %action.item_id, owner = %action.owner.display, "action overdue: alert raised");
        alerted.insert(key);
    }
    Ok(())
}
