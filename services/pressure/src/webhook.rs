//! The outgoing webhook: each alert as JSON, signed, retried with backoff.
//!
//! Headers: `Pf-Timestamp` (Unix seconds when sent), `Pf-Alert-Id`, and
//! `Pf-Signature: sha256=<hex>`, the HMAC-SHA256 of the body with the shared
//! secret. A receiver recomputes it over the raw body and compares in
//! constant time; the alert id lets it drop a repeat.

use std::time::Duration;

use hmac::{KeyInit as _, Mac as _};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::WebhookConfig;
use crate::engine::Alert;
use crate::metrics::PressureMetrics;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Alerts waiting to be sent; beyond this many the newest are dropped (and counted).
pub const QUEUE: usize = 1_000;

/// `sha256=<hex>` of `body` under `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let mut mac = match HmacSha256::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut hex = String::with_capacity(7 + digest.len() * 2);
    hex.push_str("sha256=");
    for byte in digest {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

/// Sends queued alerts one by one until `shutdown`.
pub async fn deliver(
    config: WebhookConfig,
    mut queue: mpsc::Receiver<Alert>,
    metrics: PressureMetrics,
    shutdown: CancellationToken,
) {
    let http = match reqwest::Client::builder().timeout(config.timeout).build() {
        Ok(http) => http,
        Err(err) => {
            tracing::error!(cause = %err, "cannot build the webhook client; alerts go to NATS only");
            return;
        }
    };
    loop {
        let alert = tokio::select! {
            _ = shutdown.cancelled() => return,
            alert = queue.recv() => match alert { Some(alert) => alert, None => return },
        };
        let outcome = send(&http, &config, &alert, &shutdown).await;
        metrics
            .webhook_deliveries
            .with_label_values(&[outcome])
            .inc();
    }
}

async fn send(
    http: &reqwest::Client,
    config: &WebhookConfig,
    alert: &Alert,
    shutdown: &CancellationToken,
) -> &'static str {
    let body = match serde_json::to_vec(alert) {
        Ok(body) => body,
        Err(err) => {
            tracing::error!(cause = %err, "cannot encode an alert");
            return "failed";
        }
    };
    let mut pause = config.backoff;
    for attempt in 1..=config.attempts.max(1) {
        let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
        let result = http
            .post(&config.url)
            .header("content-type", "application/json")
            .header("Pf-Timestamp", timestamp.to_string())
            .header("Pf-Alert-Id", alert.alert_id.as_str())
            .header("Pf-Signature", signature(&config.secret, &body))
            .body(body.clone())
            .send()
            .await;
        let retry = match result {
            Ok(response) if response.status().is_success() => return "delivered",
            Ok(response) => {
                let status = response.status();
                tracing::warn!(%status, attempt, alert = %alert.alert_id, "webhook refused an alert");
                // A 4xx other than time-out / too many requests will not get better.
                status.is_server_error()
                    || status == reqwest::StatusCode::REQUEST_TIMEOUT
                    || status == reqwest::StatusCode::TOO_MANY_REQUESTS
            }
            Err(err) => {
                tracing::warn!(cause = %err, attempt, alert = %alert.alert_id, "webhook unreachable");
                true
            }
        };
        if !retry {
            return "refused";
        }
        if attempt < config.attempts {
            tokio::select! {
                _ = shutdown.cancelled() => return "abandoned",
                _ = tokio::time::sleep(pause) => {}
            }
            pause = (pause * 2).min(Duration::from_secs(60));
        }
    }
    "failed"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_like_rfc_4231_test_case_2() {
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
