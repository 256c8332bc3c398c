//! The JSON API: the board, one scope's forecasts, the backtest.

use std::sync::Arc;

use axum::extract::{FromRef, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use pf_access::Action;
use pf_sign_in::{Authenticated, Authenticator};
use pf_web::ErrorBody;
use serde::Serialize;

use crate::Latest;
use crate::board::OpelAt;
use crate::fold::ScopeKind;

#[derive(Clone)]
struct Api {
    latest: Latest,
    authenticator: Arc<Authenticator>,
}

impl FromRef<Api> for Arc<Authenticator> {
    fn from_ref(api: &Api) -> Self {
        api.authenticator.clone()
    }
}

/// The routes.
pub fn router(latest: Latest, authenticator: Arc<Authenticator>) -> Router {
    Router::new()
        .route("/api/v1/forecast", get(summary))
        .route("/api/v1/forecast/backtest", get(backtest))
        .route("/api/v1/forecast/{scope}", get(scope))
        .route(
            pf_web::OPENAPI_PATH,
            get(|| async { pf_web::openapi_document(crate::OPENAPI) }),
        )
        .with_state(Api {
            latest,
            authenticator,
        })
}

fn refuse(status: StatusCode, error: String) -> Response {
    ErrorBody::<()> {
        error,
        problems: Vec::new(),
    }
    .answer(status, None)
}

fn no_store(body: impl Serialize) -> Response {
    (
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(body),
    )
        .into_response()
}

/// `None` when the caller may see the control room, else the refusal.
fn refused(caller: &Authenticated) -> Option<Response> {
    caller
        .principal
        .permits(&Action::ViewControlRoom)
        .require()
        .err()
        .map(|refused| refuse(StatusCode::FORBIDDEN, refused.reason))
}

const NOT_YET: &str = "The first forecast is still being fitted; try again in a minute.";

/// One scope in the summary.
#[derive(Serialize)]
struct ScopeSummary<'a> {
    code: &'a str,
    name: &'a str,
    kind: ScopeKind,
    opel_tomorrow_0800: Option<&'a OpelAt>,
    series: Vec<&'a str>,
}

/// `GET /api/v1/forecast`: every scope, its series and the OPEL level
/// forecast for tomorrow 08:00.
async fn summary(State(api): State<Api>, caller: Authenticated) -> Response {
    if let Some(refused) = refused(&caller) {
        return refused;
    }
    let Some(board) = api.latest.board.read().await.clone() else {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, NOT_YET.to_owned());
    };
    let scopes: Vec<ScopeSummary> = board
        .scopes
        .iter()
        .map(|s| ScopeSummary {
            code: &s.scope.code,
            name: &s.scope.name,
            kind: s.scope.kind,
            opel_tomorrow_0800: s.opel.as_ref().and_then(|o| o.tomorrow_0800.as_ref()),
            series: s.series.keys().map(String::as_str).collect(),
        })
        .collect();
    no_store(serde_json::json!({
        "generated_at": board.generated_at.unix_timestamp(),
        "forecast_from": board.forecast_from.unix_timestamp(),
        "history_from": board.history_from.unix_timestamp(),
        "horizon_hours": board.horizon_hours,
        "events": board.events,
        "synthetic_events": board.synthetic_events,
        "fit_seconds": board.fit_seconds,
        "series_fitted": board.series_fitted,
        "opel_note": crate::board::OPEL_NOTE,
        "scopes": scopes,
    }))
}

/// `GET /api/v1/forecast/{scope}`: a site's, trust's or the system's
/// forecasts in full.
async fn scope(
    State(api): State<Api>,
    caller: Authenticated,
    Path(code): Path<String>,
) -> Response {
    if let Some(refused) = refused(&caller) {
        return refused;
    }
    let Some(board) = api.latest.board.read().await.clone() else {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, NOT_YET.to_owned());
    };
    match board.scopes.iter().find(|s| s.scope.code == code) {
        Some(found) => no_store(serde_json::json!({
            "generated_at": board.generated_at.unix_timestamp(),
            "forecast_from": board.forecast_from.unix_timestamp(),
            "horizon_hours": board.horizon_hours,
            "scope": found,
        })),
        None => refuse(
            StatusCode::NOT_FOUND,
            format!(
                "There is no forecast for `{}`: use a site or trust code from /api/v1/forecast, or `system`.",
                code.chars().take(40).collect::<String>()
            ),
        ),
    }
}

/// `GET /api/v1/forecast/backtest`: the latest backtest of the system's
/// series.
async fn backtest(State(api): State<Api>, caller: Authenticated) -> Response {
    if let Some(refused) = refused(&caller) {
        return refused;
    }
    let Some(table) = api.latest.backtest.read().await.clone() else {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, NOT_YET.to_owned());
    };
    let rows: Vec<serde_json::Value> = table
        .rows
        .iter()
        .flat_map(|row| {
            [
                ("usual", &row.evaluation.usual),
                ("regime_change", &row.evaluation.marked),
            ]
            .into_iter()
            .flat_map(move |(windows, bands)| {
                bands
                    .iter()
                    .zip(pf_forecast_model::backtest::HORIZON_BANDS)
                    .filter(|(b, _)| b.n > 0)
                    .map(move |(b, (_, last))| {
                        serde_json::json!({
                            "series": row.series,
                            "method": row.method,
                            "windows": windows,
                            "horizon_hours": last,
                            "mae": b.mae(),
                            "mase": b.mase(),
                            "coverage_80": b.coverage_80(),
                            "coverage_95": b.coverage_95(),
                            "points": b.n,
                        })
                    })
            })
        })
        .collect();
    no_store(serde_json::json!({ "rows": rows }))
}
