//! `/ws/control-room`: a snapshot, then deltas; resumable with `?since=`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::SinkExt as _;
use serde::Deserialize;
use time::OffsetDateTime;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tracing::Instrument as _;

use crate::AppState;
use crate::hub::{Frame, Start};

/// Close code: the gateway is shutting down.
pub(crate) const GOING_AWAY: u16 = 1001;
/// Close code: the client did not keep up.
pub(crate) const TOO_SLOW: u16 = 4008;
/// Close code: the session ended or access was withdrawn.
pub(crate) const SIGNED_OUT: u16 = 4401;

/// Most deltas written to one client with one flush.
const MAX_BATCH: usize = 64;

/// Query of `/ws/control-room`.
#[derive(Debug, Deserialize)]
pub struct WsQuery {
    /// The last version the client applied.
    pub since: Option<u64>,
}

/// Upgrades to a websocket with small buffers (thousands of clients).
pub async fn control_room(
    ws: WebSocketUpgrade,
    Query(query): Query<WsQuery>,
    State(app): State<AppState>,
    ConnectInfo(address): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let pages = [app.config.public_url.as_str()];
    if let Some(refused) = crate::access::refuse_foreign_origin(
        &app,
        &headers,
        Some(address.ip()),
        crate::access::VIEW,
        "control-room",
        &pages,
    )
    .await
    {
        return refused;
    }
    if let Err(denied) = app.viewers.check(&app, &headers, Some(address.ip())).await {
        return crate::access::api_refusal(denied);
    }
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
        .on_upgrade(move |socket| serve_client(socket, app, query.since, headers, address))
}

/// Why a live connection ended.
pub(crate) enum Ended {
    /// The session ended or access was withdrawn.
    SignedOut,
    /// The client closed it.
    ClientLeft,
    /// The client did not take a message in time.
    Slow,
    /// The gateway is shutting down.
    Shutdown,
}

/// A live connection, counted (gauge and limit) while it lasts.
pub(crate) struct Connected<'a>(&'a AppState);

impl<'a> Connected<'a> {
    pub(crate) fn new(app: &'a AppState) -> Self {
        app.clients.fetch_add(1, Ordering::Relaxed);
        app.metrics.clients.inc();
        Self(app)
    }
}

impl Drop for Connected<'_> {
    fn drop(&mut self) {
        self.0.clients.fetch_sub(1, Ordering::Relaxed);
        self.0.metrics.clients.dec();
    }
}

/// Tells the client why its connection ends (a close frame with a code it
/// can act on), unless it left by itself, and counts the reason.
pub(crate) async fn close(socket: &mut WebSocket, app: &AppState, ended: Ended) {
    let (code, text, label) = match ended {
        Ended::ClientLeft => return,
        Ended::Slow => (TOO_SLOW, "too slow: reconnect", "slow"),
        Ended::Shutdown => (
            GOING_AWAY,
            "server restarting: reconnect shortly",
            "shutdown",
        ),
        Ended::SignedOut => (SIGNED_OUT, "signed out: sign in again", "signed_out"),
    };
    app.metrics.disconnects.with_label_values(&[label]).inc();
    let close = Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from_static(text),
    }));
    let _ = tokio::time::timeout(app.config.send_timeout, socket.send(close)).await;
}

async fn serve_client(
    mut socket: WebSocket,
    app: AppState,
    since: Option<u64>,
    headers: HeaderMap,
    address: std::net::SocketAddr,
) {
    let _connected = Connected::new(&app);
    let ended = client_loop(&mut socket, &app, since, &headers, address)
        .instrument(tracing::info_span!("ws_client", since))
        .await;
    close(&mut socket, &app, ended).await;
}

async fn client_loop(
    socket: &mut WebSocket,
    app: &AppState,
    since: Option<u64>,
    headers: &HeaderMap,
    address: std::net::SocketAddr,
) -> Ended {
    let hub = Arc::clone(&app.hub);
    let (start, mut queue) = hub.subscribe(since, OffsetDateTime::now_utc());
    let mut at: Option<u64> = None;
    match start {
        Start::Snapshot(version, json) => {
            if !send(socket, app, json).await {
                return Ended::Slow;
            }
            at = Some(version);
        }
        Start::Resume(frames) => {
            at = since;
            for (version, json) in frames {
                if !send(socket, app, json).await {
                    return Ended::Slow;
                }
                at = Some(version);
            }
        }
        Start::NotReady => {}
    }
    // OPEL levels and alerts are not versioned: the newest view is sent on
    // connecting and after each change (a resuming client may have missed some).
    // Each view is encoded once and its bytes shared by every client.
    let mut opel = app.opel.subscribe();
    let mut opel_open = true;
    let first = app.frames.opel.get(&opel.borrow_and_update());
    // Likewise the occupancy trends (they change every few minutes).
    let mut trends = app.trends.subscribe();
    let mut trends_open = true;
    let second = app.frames.trends.get(&trends.borrow_and_update());
    if !send_all(socket, app, [first, second]).await {
        return Ended::Slow;
    }
    let mut heartbeat = tokio::time::interval(app.config.heartbeat);
    heartbeat.reset();
    loop {
        tokio::select! {
            _ = app.shutdown.cancelled() => return Ended::Shutdown,
            frame = queue.recv() => {
                // Every frame already waiting goes out in one write: under load a
                // client takes several deltas per flush instead of one each.
                let mut batch = Vec::new();
                let mut next = Some(frame);
                let mut resync = None;
                while let Some(frame) = next.take() {
                    match frame {
                        Ok(Frame::Delta { from, to, json }) => match at {
                            Some(version) if to <= version => {}
                            Some(version) if from == version => {
                                batch.push(json);
                                at = Some(to);
                            }
                            _ => {
                                resync = Some("gap");
                                break;
                            }
                        },
                        Ok(Frame::Resync) => {
                            resync = Some("reset");
                            break;
                        }
                        Err(RecvError::Lagged(_)) => {
                            resync = Some("lagged");
                            break;
                        }
                        Err(RecvError::Closed) => return Ended::Shutdown,
                    }
                    if batch.len() < MAX_BATCH {
                        next = match queue.try_recv() {
                            Ok(frame) => Some(Ok(frame)),
                            Err(TryRecvError::Lagged(n)) => Some(Err(RecvError::Lagged(n))),
                            Err(TryRecvError::Closed) => Some(Err(RecvError::Closed)),
                            Err(TryRecvError::Empty) => None,
                        };
                    }
                }
                if !send_all(socket, app, batch).await {
                    return Ended::Slow;
                }
                let Some(resync) = resync else { continue };
                if let Start::Snapshot(version, json) = hub.snapshot(OffsetDateTime::now_utc()) {
                    app.metrics.resyncs.with_label_values(&[resync]).inc();
                    if !send(socket, app, json).await {
                        return Ended::Slow;
                    }
                    at = Some(version);
                }
            }
            changed = opel.changed(), if opel_open => {
                if changed.is_err() {
                    opel_open = false; // the board is gone: only at shutdown
                    continue;
                }
                let message = app.frames.opel.get(&opel.borrow_and_update());
                if !send(socket, app, message).await {
                    return Ended::Slow;
                }
            }
            changed = trends.changed(), if trends_open => {
                if changed.is_err() {
                    trends_open = false;
                    continue;
                }
                let message = app.frames.trends.get(&trends.borrow_and_update());
                if !send(socket, app, message).await {
                    return Ended::Slow;
                }
            }
            _ = heartbeat.tick() => {
                // Access is checked again on every heartbeat: a revoked or
                // expired sign-in stops the feed within two intervals (the
                // check is shared by the connections with the same sign-in).
                if app.viewers.check(app, headers, Some(address.ip())).await.is_err() {
                    return Ended::SignedOut;
                }
                if let Some(version) = at {
                    let beat = app.frames.heartbeats.at(version, OffsetDateTime::now_utc());
                    if !send(socket, app, beat).await {
                        return Ended::Slow;
                    }
                }
            }
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Ended::ClientLeft,
                Some(Ok(_)) => {} // pings are answered by the library; clients send nothing else
            },
        }
    }
}

/// Sends several messages with one flush, giving up on a client that does
/// not take them all in time.
pub(crate) async fn send_all(
    socket: &mut WebSocket,
    app: &AppState,
    messages: impl IntoIterator<Item = Utf8Bytes>,
) -> bool {
    let mut sent = 0;
    let sending = async {
        for json in messages {
            socket.feed(Message::Text(json)).await?;
            sent += 1;
        }
        if sent > 0 {
            socket.flush().await?;
        }
        Ok::<_, axum::Error>(())
    };
    match tokio::time::timeout(app.config.send_timeout, sending).await {
        Ok(Ok(())) => {
            app.metrics.messages_sent.inc_by(sent);
            true
        }
        _ => false,
    }
}

/// Sends one message, giving up on a client that does not take it in time.
pub(crate) async fn send(socket: &mut WebSocket, app: &AppState, json: Utf8Bytes) -> bool {
    match tokio::time::timeout(app.config.send_timeout, socket.send(Message::Text(json))).await {
        Ok(Ok(())) => {
            app.metrics.messages_sent.inc();
            true
        }
        _ => false,
    }
}
