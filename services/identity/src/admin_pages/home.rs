//! `/admin`: the administrator's home page, with what needs attention:
//! care homes that have never reported or whose figures are stale (the
//! control room's threshold), wall screens not seen for a day, sign-in links about to expire unused,
//! and how full the audit trail's stream is against its bound.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::json;

use super::{care_homes, guard, kiosks, links};
use crate::caller::Source;
use crate::pages;
use crate::state::AppState;

/// The page's path.
pub const PATH: &str = "/admin";

/// The audit stream's bytes used and bound (0: unbounded), if it can be
/// read.
async fn audit_usage(app: &AppState) -> Option<(u64, i64)> {
    let mut stream = app
        .jetstream
        .get_stream(pf_audit::stream::STREAM)
        .await
        .map_err(|err| tracing::warn!(cause = %err, "could not read the audit stream"))
        .ok()?;
    let info = stream
        .info()
        .await
        .map_err(|err| tracing::warn!(cause = %err, "could not read the audit stream"))
        .ok()?;
    Some((info.state.bytes, info.config.max_bytes))
}

/// Bytes in words a person reads (`1.2 GB`).
fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `GET /admin`.
pub async fn show(State(app): State<AppState>, source: Source, headers: HeaderMap) -> Response {
    let admin = match guard::admin(&app, &headers, &source, PATH).await {
        Ok(admin) => admin,
        Err(answer) => return answer,
    };
    let screens = match kiosks::rows(&app).await {
        Ok(rows) => rows,
        Err(err) => {
            tracing::error!(cause = %err, "could not list the kiosks");
            Vec::new()
        }
    };
    let screens: Vec<_> = screens.into_iter().filter(|k| k.needs_attention).collect();
    let expiring: Vec<_> = match links::rows(&app).await {
        Ok(rows) => rows.into_iter().filter(|l| l.expiring).collect(),
        Err(cause) => {
            tracing::error!(%cause, "could not list sign-in links");
            Vec::new()
        }
    };
    let homes = match care_homes::needing_attention(&app).await {
        Ok(rows) => Some(rows),
        Err(cause) => {
            tracing::error!(%cause, "could not read the care-home register");
            None
        }
    };
    let audit = audit_usage(&app).await.map(|(used, max)| {
        let bound = u64::try_from(max).ok().filter(|m| *m > 0);
        let percent = bound.map(|m| (used as f64 * 100.0 / m as f64).round() as u64);
        json!({
            "used": size(used),
            "bound": bound.map(size),
            "percent": percent,
            "warning": percent.is_some_and(|p| p as f64 >= pf_audit::usage::WARN_FRACTION * 100.0),
        })
    });
    pages::render(
        &app.templates,
        StatusCode::OK,
        "admin/home.html",
        json!({
            "nav": "home",
            "person": admin.principal.name,
            "csrf_token": admin.csrf_token,
            "homes": homes,
            "stale_hours": app.config.care_home_stale_after.as_secs() / 3600,
            "screens": screens,
            "expiring": expiring,
            "audit": audit,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_say_them() {
        assert_eq!(size(512), "512 bytes");
        assert_eq!(size(1_500_000), "1.5 MB");
        assert_eq!(size(20 * 1024 * 1024 * 1024), "21.5 GB");
    }
}
