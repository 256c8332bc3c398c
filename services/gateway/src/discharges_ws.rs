//! `/ws/discharges`: live notifications for discharge coordinators.
//!
//! Only notifications, never patient-identifiable data: a discharge of one
//! of the caller's organisations changed (`{"type":"discharge",
//! "discharge_id","status"}`), a hold their organisations placed changed
//! or ended (`{"type":"hold","discharge_id","hold_id","state","cqc"}`),
//! some home's figures changed (`{"type":"care_homes"}`), or notices were
//! missed (`{"type":"resync"}`). The page re-reads what it shows from the
//! discharges service, which checks access again.
//!
//! The discharge pages are served by the discharges service on another
//! origin, so the `Origin` of a browser's upgrade must be one of the
//! configured page origins (the discharges service's and the gateway's
//! own): a page elsewhere cannot use a coordinator's session cookie here.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::sync::broadcast::error::RecvError;

use crate::AppState;
use crate::access::{self, FOLLOW_DISCHARGES};
use crate::ws::{Connected, Ended, close, send};
use tracing::Instrument as _;

/// Upgrades a discharge coordinator's connection.
pub async fn discharges(
    ws: WebSocketUpgrade,
    State(app): State<AppState>,
    ConnectInfo(address): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let pages = [
        app.config.discharges_public_url.as_str(),
        app.config.public_url.as_str(),
    ];
    if let Some(refused) = access::refuse_foreign_origin(
        &app,
        &headers,
        Some(address.ip()),
        FOLLOW_DISCHARGES,
        "discharges",
        &pages,
    )
    .await
    {
        return refused;
    }
    let organisations =
        match access::discharge_coordinator(&app, &headers, Some(address.ip())).await {
            Ok((_, organisations)) => organisations,
            Err(denied) => return access::api_refusal(denied),
        };
    if app.clients.load(Ordering::Relaxed) >= app.config.max_clients {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many live connections; try again shortly",
        )
            .into_response();
    }
    ws.read_buffer_size(4 * 1024)
        .write_buffer_size(16 * 1024)
        .max_message_size(4 * 1024)
        .max_frame_size(4 * 1024)
        .on_upgrade(move |socket| serve_client(socket, app, organisations, headers, address))
}

async fn serve_client(
    mut socket: WebSocket,
    app: AppState,
    organisations: BTreeSet<String>,
    headers: HeaderMap,
    address: std::net::SocketAddr,
) {
    let _connected = Connected::new(&app);
    let ended = client_loop(&mut socket, &app, &organisations, &headers, address)
        .instrument(tracing::info_span!("discharges_ws_client"))
        .await;
    close(&mut socket, &app, ended).await;
}

async fn client_loop(
    socket: &mut WebSocket,
    app: &AppState,
    organisations: &BTreeSet<String>,
    headers: &HeaderMap,
    address: std::net::SocketAddr,
) -> Ended {
    let mut queue = app.hub.subscribe_notices();
    let mut heartbeat = tokio::time::interval(app.config.heartbeat);
    heartbeat.reset();
    loop {
        tokio::select! {
            _ = app.shutdown.cancelled() => return Ended::Shutdown,
            batch = queue.recv() => match batch {
                Ok(notices) => {
                    for notice in notices.iter() {
                        let Some(message) = notice.message_for(organisations) else {
                            continue;
                        };
                        let Ok(json) = serde_json::to_string(&message) else {
                            continue;
                        };
                        if !send(socket, app, json.into()).await {
                            return Ended::Slow;
                        }
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    app.metrics.resyncs.with_label_values(&["lagged"]).inc();
                    if !send(socket, app, Utf8Bytes::from_static(r#"{"type":"resync"}"#)).await {
                        return Ended::Slow;
                    }
                }
                Err(RecvError::Closed) => return Ended::Shutdown,
            },
            _ = heartbeat.tick() => {
                // Access is checked again on every heartbeat: a revoked or
                // expired sign-in stops the notifications within one interval.
                if access::discharge_coordinator(app, headers, Some(address.ip()))
                    .await
                    .is_err()
                {
                    return Ended::SignedOut;
                }
                if !send(socket, app, Utf8Bytes::from_static(r#"{"type":"heartbeat"}"#)).await {
                    return Ended::Slow;
                }
            }
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Ended::ClientLeft,
                Some(Ok(_)) => {} // clients send nothing else
            },
        }
    }
}
