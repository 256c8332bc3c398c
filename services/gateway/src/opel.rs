//! OPEL levels and alerts for the wall, read from JetStream.
//!
//! pf-pressure publishes each level change on `pf.system.opel.{scope}`
//! (stream `PF_SYSTEM`) and each alert as JSON on `pf.alerts.{kind}`
//! (stream `PF_ALERTS`). Two ordered consumers follow them: the newest
//! event per scope (then every new one), and the alerts of the last day
//! (then every new one), keeping the newest [`RECENT`] in memory.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use futures::StreamExt as _;
use pf_proto::v1::{EventEnvelope, event_envelope::Payload};
use serde::Serialize;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

/// Alerts kept for the banner's list.
pub const RECENT: usize = 20;

/// One scope's current level.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LevelView {
    /// 1 to 4.
    pub level: u32,
    /// In words.
    pub words: String,
    /// The score that set it.
    pub score: f64,
    /// Why it is at this level, e.g. "G&A occupancy 99% (≥ 98%)" (empty
    /// from a pf-pressure that did not say).
    pub reason: String,
}

impl LevelView {
    /// The level an `opel_level_changed` event sets.
    pub fn of_event(changed: &pf_proto::v1::OpelLevelChanged) -> Self {
        Self {
            level: changed.to_level,
            words: changed.words.clone(),
            score: changed.score,
            reason: changed.reason.clone(),
        }
    }
}

/// One alert as the wall shows it (no patient data reaches alerts).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AlertView {
    /// Alert id.
    pub alert_id: String,
    /// Kind (`opel_level_changed`, …).
    pub kind: String,
    /// `info`, `warning` or `critical`.
    pub severity: String,
    /// The line shown.
    pub title: String,
    /// RFC 3339.
    pub at: String,
    /// "HH:MM", UK time.
    pub at_hhmm: String,
}

/// Levels by scope (site code or `system`) and recent alerts, newest first.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct OpelView {
    /// By scope.
    pub levels: BTreeMap<String, LevelView>,
    /// Newest first.
    pub alerts: VecDeque<AlertView>,
}

/// Shared between the followers, the pages and the websocket clients (who
/// are told of each change).
pub type OpelBoard = tokio::sync::watch::Sender<Arc<OpelView>>;

/// A board with no levels or alerts yet.
pub fn board() -> OpelBoard {
    tokio::sync::watch::Sender::new(Arc::default())
}

/// Follows both streams until `shutdown`, retrying while they do not exist yet.
pub async fn follow(js: jetstream::Context, board: OpelBoard, shutdown: CancellationToken) {
    let levels = follow_levels(js.clone(), board.clone(), shutdown.clone());
    let alerts = follow_alerts(js, board, shutdown);
    tokio::join!(levels, alerts);
}

async fn follow_levels(js: jetstream::Context, board: OpelBoard, shutdown: CancellationToken) {
    let config = consumer::pull::OrderedConfig {
        filter_subject: "pf.system.opel.>".to_owned(),
        deliver_policy: consumer::DeliverPolicy::LastPerSubject,
        ..Default::default()
    };
    follow_stream(
        &js,
        pf_event_log::streams::SYSTEM.name,
        config,
        &shutdown,
        |payload| {
            let Ok(envelope) = EventEnvelope::decode_checked(payload) else {
                return;
            };
            if let Some(Payload::OpelLevelChanged(changed)) = envelope.payload {
                let level = LevelView::of_event(&changed);
                board.send_if_modified(|view| {
                    if view.levels.get(&changed.scope) == Some(&level) {
                        return false;
                    }
                    Arc::make_mut(view).levels.insert(changed.scope, level);
                    true
                });
            }
        },
    )
    .await;
}

async fn follow_alerts(js: jetstream::Context, board: OpelBoard, shutdown: CancellationToken) {
    let since = OffsetDateTime::now_utc() - time::Duration::days(1);
    let config = consumer::pull::OrderedConfig {
        filter_subject: "pf.alerts.>".to_owned(),
        deliver_policy: consumer::DeliverPolicy::ByStartTime { start_time: since },
        ..Default::default()
    };
    follow_stream(
        &js,
        pf_event_log::streams::ALERTS.name,
        config,
        &shutdown,
        |payload| {
            let Ok(alert) = serde_json::from_slice::<serde_json::Value>(payload) else {
                return;
            };
            let text = |key: &str| alert[key].as_str().unwrap_or_default().to_owned();
            let at = text("at");
            let at_hhmm =
                OffsetDateTime::parse(&at, &time::format_description::well_known::Rfc3339)
                    .map(pf_web::uk_time::hh_mm)
                    .unwrap_or_default();
            let view = AlertView {
                alert_id: text("alert_id"),
                kind: text("kind"),
                severity: text("severity"),
                title: text("title"),
                at,
                at_hhmm,
            };
            board.send_modify(|board| {
                let board = Arc::make_mut(board);
                board.alerts.push_front(view);
                board.alerts.truncate(RECENT);
            });
        },
    )
    .await;
}

async fn follow_stream(
    js: &jetstream::Context,
    stream: &str,
    config: consumer::pull::OrderedConfig,
    shutdown: &CancellationToken,
    mut apply: impl FnMut(&[u8]),
) {
    // Warned once: a gateway whose NATS user may not read these streams
    // (or a platform without pf-pressure) keeps serving the rest.
    let mut warned = false;
    while !shutdown.is_cancelled() {
        let messages = match js.get_stream(stream).await {
            Ok(found) => match found.create_consumer(config.clone()).await {
                Ok(consumer) => consumer.messages().await.ok(),
                Err(err) => {
                    if !warned {
                        tracing::warn!(stream, cause = %err, "cannot follow; retrying quietly");
                        warned = true;
                    }
                    None
                }
            },
            Err(err) => {
                tracing::debug!(stream, cause = %err, "stream not there yet");
                None
            }
        };
        let Some(mut messages) = messages else {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(2)) => continue,
            }
        };
        loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => return,
                next = messages.next() => next,
            };
            match next {
                Some(Ok(message)) => apply(&message.payload),
                Some(Err(err)) => {
                    tracing::warn!(stream, cause = %err, "lost the stream; following again");
                    break;
                }
                None => break,
            }
        }
    }
}

/// The snapshot as JSON with each site's and the system's `opel` level added
/// and the recent `alerts`, for the page's template.
pub fn page_context(snapshot: serde_json::Value, view: &OpelView) -> serde_json::Value {
    let mut context = snapshot;
    if let Some(system) = context.get_mut("system").and_then(|s| s.as_object_mut())
        && let Some(level) = view.levels.get("system")
    {
        system.insert("opel".to_owned(), serde_json::json!(level));
    }
    if let Some(sites) = context.get_mut("sites").and_then(|s| s.as_array_mut()) {
        for site in sites {
            let level = site["code"]
                .as_str()
                .and_then(|code| view.levels.get(code))
                .cloned();
            if let (Some(site), Some(level)) = (site.as_object_mut(), level) {
                site.insert("opel".to_owned(), serde_json::json!(level));
            }
        }
    }
    if let Some(object) = context.as_object_mut() {
        object.insert("alerts".to_owned(), serde_json::json!(view.alerts));
    }
    context
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wall shows why a level is what it is: the reason pf-pressure
    /// published with the change reaches the board.
    #[test]
    fn a_level_carries_the_reason_it_was_published_with() {
        let changed = pf_proto::v1::OpelLevelChanged {
            scope: "RWEAA".into(),
            to_level: 3,
            score: 2.5,
            words: "Severe pressure".into(),
            reason: "G&A occupancy 99% (≥ 98%)".into(),
            drivers: vec!["ga_occupancy_pct".into()],
            ..Default::default()
        };
        let view = LevelView::of_event(&changed);
        assert_eq!(view.level, 3);
        assert_eq!(view.reason, "G&A occupancy 99% (≥ 98%)");
        let json = serde_json::to_value(&view).expect("json");
        assert_eq!(json["reason"], "G&A occupancy 99% (≥ 98%)");
    }
}
