//! Alerts when a forecast crosses a threshold within the next 24 hours,
//! on the same paths as pf-pressure's: JSON on `pf.alerts.{kind}` (kept in
//! `PF_ALERTS`, shown on the wall) and, when configured, the same signed
//! webhook (`Pf-Signature: sha256=…`, see `pf_pressure::webhook`).

use std::collections::BTreeSet;
use std::time::Duration;

use pf_opel::Level;
use pf_pressure::{Alert, WebhookConfig};
use serde_json::json;
use time::OffsetDateTime;

use crate::board::Board;

/// Alerts look this many hours ahead.
pub const WITHIN_HOURS: usize = 24;

/// The kind of alert for forecast occupancy.
pub const OCCUPANCY: &str = "forecast_occupancy_threshold";
/// The kind of alert for a forecast OPEL level of 3 or 4.
pub const OPEL: &str = "forecast_opel_level";

/// Which scopes are already alerted, so a forecast that stays over a
/// threshold alerts once, and again only after it fell back below.
#[derive(Debug, Default)]
pub struct Alerter {
    occupancy: BTreeSet<String>,
    opel: BTreeSet<String>,
}

impl Alerter {
    /// The alerts a new board raises.
    pub fn review(&mut self, board: &Board, threshold_pct: f64, now: OffsetDateTime) -> Vec<Alert> {
        let mut alerts = Vec::new();
        for scope in &board.scopes {
            let code = &scope.scope.code;
            let crossing = scope.series.get("ga_occupancy_pct").and_then(|s| {
                s.points
                    .iter()
                    .take(WITHIN_HOURS)
                    .find(|p| p.value >= threshold_pct)
                    .cloned()
            });
            match crossing {
                Some(point) if self.occupancy.insert(code.clone()) => alerts.push(Alert {
                    alert_id: uuid::Uuid::now_v7().to_string(),
                    kind: OCCUPANCY,
                    severity: "warning",
                    scope: code.clone(),
                    title: format!(
                        "{}: G&A occupancy forecast to reach {:.0}% by {} (threshold {threshold_pct:.0}%)",
                        scope.scope.name,
                        point.value,
                        pf_web::uk_time::hh_mm(point.at),
                    ),
                    at: now,
                    details: json!({
                        "forecast_at": point.at.unix_timestamp(),
                        "value": point.value,
                        "lower_80": point.lower_80,
                        "upper_80": point.upper_80,
                        "threshold_pct": threshold_pct,
                    }),
                }),
                Some(_) => {}
                None => {
                    self.occupancy.remove(code);
                }
            }
            let severe = scope.opel.as_ref().and_then(|o| {
                o.hourly
                    .iter()
                    .take(WITHIN_HOURS)
                    .find(|h| h.implied.level >= Level::Three)
                    .cloned()
            });
            match severe {
                Some(at) if self.opel.insert(code.clone()) => alerts.push(Alert {
                    alert_id: uuid::Uuid::now_v7().to_string(),
                    kind: OPEL,
                    severity: if at.implied.level == Level::Four {
                        "critical"
                    } else {
                        "warning"
                    },
                    scope: code.clone(),
                    title: format!(
                        "{}: forecast implies OPEL {} by {}",
                        scope.scope.name,
                        at.implied.level.number(),
                        pf_web::uk_time::hh_mm(at.at),
                    ),
                    at: now,
                    details: json!({
                        "forecast_at": at.at.unix_timestamp(),
                        "level": at.implied.level.number(),
                        "score": at.implied.score,
                        "parameters": at.implied.parameters,
                        "held_at_latest": at.implied.held_at_latest,
                    }),
                }),
                Some(_) => {}
                None => {
                    self.opel.remove(code);
                }
            }
        }
        alerts
    }
}

/// Publishes an alert on `pf.alerts.{kind}` and waits for JetStream.
pub async fn publish(
    jetstream: &async_nats::jetstream::Context,
    alert: &Alert,
) -> Result<(), String> {
    let body = serde_json::to_vec(alert).map_err(|e| e.to_string())?;
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", alert.alert_id.as_str());
    let ack = jetstream
        .publish_with_headers(
            pf_event_log::streams::alert_subject(alert.kind),
            headers,
            body.into(),
        )
        .await
        .map_err(|e| e.to_string())?;
    ack.await.map(|_| ()).map_err(|e| e.to_string())
}

/// Sends an alert to the webhook, signed as pf-pressure signs, retrying
/// with backoff up to the configured attempts.
pub async fn send_webhook(http: &reqwest::Client, config: &WebhookConfig, alert: &Alert) -> bool {
    let Ok(body) = serde_json::to_vec(alert) else {
        return false;
    };
    let mut pause = config.backoff;
    for attempt in 1..=config.attempts.max(1) {
        let sent = http
            .post(&config.url)
            .header("content-type", "application/json")
            .header(
                "Pf-Timestamp",
                OffsetDateTime::now_utc().unix_timestamp().to_string(),
            )
            .header("Pf-Alert-Id", alert.alert_id.as_str())
            .header(
                "Pf-Signature",
                pf_pressure::webhook::signature(&config.secret, &body),
            )
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => return true,
            Ok(response) if response.status().is_client_error() => {
                tracing::warn!(status = %response.status(), alert = %alert.alert_id, "webhook refused a forecast alert");
                return false;
            }
            Ok(_) | Err(_) => {
                tracing::warn!(attempt, alert = %alert.alert_id, "webhook did not take a forecast alert");
            }
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(60));
    }
    false
}
