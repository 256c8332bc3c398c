//! Overdue actions raise an alert through the platform's alert path: JSON
//! on `pf.alerts.action_overdue` (the `PF_ALERTS` stream, which the wall's
//! alert banner and other systems follow), in the shape pf-pressure's
//! alerts have (`alert_id`, `kind`, `severity`, `scope`, `title`, `at`,
//! `details`).
//!
//! Each action is alerted once per due time: the alert's `Nats-Msg-Id` is
//! `action-overdue-{item}-{due}`, so two sweeps (or two instances) within
//! JetStream's duplicate window store it once, and the sweep remembers
//! what it alerted since it started. A new due time can be alerted again.

use std::collections::HashSet;

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
    let mut alerted: HashSet<(String, i64)> = HashSet::new();
    let mut every = tokio::time::interval(state.config.sweep_every);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        if let Err(cause) = sweep_once(&state, &jetstream, &mut alerted).await {
            tracing::warn!(%cause, "could not look for overdue actions; will retry");
        }
    }
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
