//! `/ws/control-room`: a snapshot, then deltas; resumable with `?since=`.
//!
//! Thousands of walls stay connected at once, so each connection is kept
//! small: the socket is upgraded here (not through axum's `WebSocket`) so
//! that a message larger than [`FRAGMENT`] (the snapshot) is written as
//! fragments of that size. A websocket's write buffer keeps the capacity of
//! the largest frame it ever held; with whole snapshots that was the
//! snapshot's size for every client, now it is at most a fragment or two.
//! Every frame is the hub's shared bytes (a reference count, not a copy).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt as _, StreamExt as _};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use time::OffsetDateTime;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::Frame as WireFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self as ts, Bytes};
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
/// Largest frame written to a control-room client: longer messages go as
/// fragments (continuation frames) of this size.
pub const FRAGMENT: usize = 2 * 1024;

/// A control-room client's connection.
type Socket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// The websocket settings of a control-room connection: clients send
/// nothing but close and pong frames, so the read buffer is small; frames
/// are written out as soon as a fragment's worth is buffered.
fn socket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(1024)
        .write_buffer_size(FRAGMENT)
        .max_message_size(Some(4 * 1024))
        .max_frame_size(Some(4 * 1024))
}

/// Query of `/ws/control-room`.
#[derive(Debug, Deserialize)]
pub struct WsQuery {
    /// The last version the client applied.
    pub since: Option<u64>,
}

/// The `Sec-WebSocket-Key` of a websocket handshake (HTTP/1.1 `GET` with
/// `Connection: upgrade`, `Upgrade: websocket`, version 13), or why the
/// request is not one.
fn handshake_key(headers: &HeaderMap) -> Result<&HeaderValue, &'static str> {
    let has = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|value| {
            value.to_str().is_ok_and(|v| {
                v.split(',')
                    .any(|part| part.trim().eq_ignore_ascii_case(token))
            })
        })
    };
    if !has(header::CONNECTION, "upgrade") || !has(header::UPGRADE, "websocket") {
        return Err("this address is a websocket: open it with a websocket client");
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v.as_bytes() != b"13")
    {
        return Err("only websocket version 13 is spoken here");
    }
    headers
        .get(header::SEC_WEBSOCKET_KEY)
        .ok_or("the websocket handshake has no Sec-WebSocket-Key")
}

/// Upgrades to a websocket with small buffers (thousands of clients).
pub async fn control_room(
    Query(query): Query<WsQuery>,
    State(app): State<AppState>,
    ConnectInfo(address): ConnectInfo<std::net::SocketAddr>,
    mut request: Request,
) -> Response {
    let accept = match handshake_key(request.headers()) {
        Ok(key) => ts::handshake::derive_accept_key(key.as_bytes()),
        Err(why) => return (StatusCode::BAD_REQUEST, why).into_response(),
    };
    let Some(upgrade) = request
        .extensions_mut()
        .remove::<hyper::upgrade::OnUpgrade>()
    else {
        return (
            StatusCode::UPGRADE_REQUIRED,
            "this connection cannot be upgraded to a websocket",
        )
            .into_response();
    };
    let headers = std::mem::take(request.headers_mut());
    drop(request);
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
    // A new connection is always checked in full: a person revoked a moment
    // ago must not ride on another connection's recent check. Only the
    // heartbeat's re-checks of open connections are shared (`app.viewers`).
    if let Err(denied) =
        crate::access::control_room_viewer(&app, &headers, Some(address.ip())).await
    {
        return crate::access::api_refusal(denied);
    }
    if app.clients.load(Ordering::Relaxed) >= app.config.max_clients {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many live connections; try again shortly",
        )
            .into_response();
    }
    // Only what the heartbeat's sign-in check and its audit record read is
    // kept for the connection's life.
    let headers = kept_headers(headers);
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else {
            return;
        };
        let socket = WebSocketStream::from_raw_socket(
            TokioIo::new(upgraded),
            Role::Server,
            Some(socket_config()),
        )
        .await;
        serve_client(socket, app, query.since, headers, address).await;
    });
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = response.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(accept) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    response
}

/// The headers a live connection keeps: those the sign-in check and a
/// refusal's audit record read (credentials, user agent, forwarding).
fn kept_headers(headers: HeaderMap) -> HeaderMap {
    let mut kept = HeaderMap::new();
    for (name, value) in &headers {
        let keep = name == header::AUTHORIZATION
            || name == header::COOKIE
            || name == header::USER_AGENT
            || name == header::FORWARDED
            || name.as_str().starts_with("x-forwarded-")
            || name.as_str() == "x-real-ip";
        if keep {
            kept.append(name.clone(), value.clone());
        }
    }
    kept
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

impl Ended {
    /// The close frame's code and text, and the metric's label; none when
    /// the client left by itself.
    fn close(&self) -> Option<(u16, &'static str, &'static str)> {
        match self {
            Ended::ClientLeft => None,
            Ended::Slow => Some((TOO_SLOW, "too slow: reconnect", "slow")),
            Ended::Shutdown => Some((
                GOING_AWAY,
                "server restarting: reconnect shortly",
                "shutdown",
            )),
            Ended::SignedOut => Some((SIGNED_OUT, "signed out: sign in again", "signed_out")),
        }
    }
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
    let Some((code, text, label)) = ended.close() else {
        return;
    };
    app.metrics.disconnects.with_label_values(&[label]).inc();
    let close = Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from_static(text),
    }));
    let _ = tokio::time::timeout(app.config.send_timeout, socket.send(close)).await;
}

/// [`close`] for a control-room connection.
async fn close_client(socket: &mut Socket, app: &AppState, ended: Ended) {
    let Some((code, text, label)) = ended.close() else {
        return;
    };
    app.metrics.disconnects.with_label_values(&[label]).inc();
    let close = ts::Message::Close(Some(ts::protocol::CloseFrame {
        code: CloseCode::from(code),
        reason: ts::Utf8Bytes::from_static(text),
    }));
    let _ = tokio::time::timeout(app.config.send_timeout, socket.send(close)).await;
}

async fn serve_client(
    mut socket: Socket,
    app: AppState,
    since: Option<u64>,
    headers: HeaderMap,
    address: std::net::SocketAddr,
) {
    let _connected = Connected::new(&app);
    let ended = client_loop(&mut socket, &app, since, &headers, address)
        .instrument(tracing::info_span!("ws_client", since))
        .await;
    close_client(&mut socket, &app, ended).await;
}

async fn client_loop(
    socket: &mut Socket,
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
            if !send_all(socket, app, [json]).await {
                return Ended::Slow;
            }
            at = Some(version);
        }
        Start::Resume(frames) => {
            at = since;
            for (version, json) in frames {
                if !send_all(socket, app, [json]).await {
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
                    if !send_all(socket, app, [json]).await {
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
                if !send_all(socket, app, [message]).await {
                    return Ended::Slow;
                }
            }
            changed = trends.changed(), if trends_open => {
                if changed.is_err() {
                    trends_open = false;
                    continue;
                }
                let message = app.frames.trends.get(&trends.borrow_and_update());
                if !send_all(socket, app, [message]).await {
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
                    if !send_all(socket, app, [beat]).await {
                        return Ended::Slow;
                    }
                }
            }
            incoming = socket.next() => match incoming {
                None | Some(Err(_)) | Some(Ok(ts::Message::Close(_))) => return Ended::ClientLeft,
                Some(Ok(_)) => {} // pings are answered by the library; clients send nothing else
            },
        }
    }
}

/// Sends several messages with one flush, giving up on a client that does
/// not take them all in time. A message longer than [`FRAGMENT`] goes as
/// fragments.
async fn send_all(
    socket: &mut Socket,
    app: &AppState,
    messages: impl IntoIterator<Item = Utf8Bytes>,
) -> bool {
    let mut sent = 0;
    let sending = async {
        for json in messages {
            for frame in fragments(Bytes::from(json)) {
                socket.feed(ts::Message::Frame(frame)).await?;
            }
            sent += 1;
        }
        if sent > 0 {
            socket.flush().await?;
        }
        Ok::<_, ts::Error>(())
    };
    match tokio::time::timeout(app.config.send_timeout, sending).await {
        Ok(Ok(())) => {
            app.metrics.messages_sent.inc_by(sent);
            true
        }
        _ => false,
    }
}

/// One text message as frames of at most [`FRAGMENT`] bytes: a text frame,
/// then continuation frames, the last one final. The pieces are slices of
/// the shared bytes (no copy); a fragment may end inside a UTF-8 character,
/// which websocket allows (the whole message is what must be UTF-8).
pub fn fragments(message: Bytes) -> impl Iterator<Item = WireFrame> {
    let count = message.len().div_ceil(FRAGMENT).max(1);
    (0..count).map(move |i| {
        let start = i * FRAGMENT;
        let end = (start + FRAGMENT).min(message.len());
        let opcode = if i == 0 {
            OpCode::Data(Data::Text)
        } else {
            OpCode::Data(Data::Continue)
        };
        WireFrame::message(message.slice(start..end), opcode, i + 1 == count)
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_message_goes_as_fragments_no_longer_than_the_limit() {
        let text = "é".repeat(FRAGMENT) + "end";
        let frames: Vec<WireFrame> = fragments(Bytes::from(text.clone())).collect();
        assert_eq!(frames.len(), (text.len()).div_ceil(FRAGMENT));
        assert!(frames.iter().all(|f| f.payload().len() <= FRAGMENT));
        assert_eq!(frames[0].header().opcode, OpCode::Data(Data::Text));
        assert!(
            frames[1..]
                .iter()
                .all(|f| f.header().opcode == OpCode::Data(Data::Continue))
        );
        assert!(
            frames[..frames.len() - 1]
                .iter()
                .all(|f| !f.header().is_final)
        );
        assert!(frames[frames.len() - 1].header().is_final);
        let joined: Vec<u8> = frames.iter().flat_map(|f| f.payload().to_vec()).collect();
        assert_eq!(joined, text.as_bytes());
        // A short message is one final text frame.
        let one: Vec<WireFrame> = fragments(Bytes::from_static(b"{}")).collect();
        assert_eq!(one.len(), 1);
        assert!(one[0].header().is_final);
        assert_eq!(one[0].header().opcode, OpCode::Data(Data::Text));
    }

    #[test]
    fn a_connection_keeps_only_the_headers_its_checks_read() {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer t"));
        headers.insert(header::COOKIE, HeaderValue::from_static("pf_session=x"));
        headers.insert(header::USER_AGENT, HeaderValue::from_static("wall"));
        headers.insert("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
        headers.insert(header::SEC_WEBSOCKET_KEY, HeaderValue::from_static("k"));
        headers.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static("en-GB"));
        let kept = kept_headers(headers);
        assert_eq!(kept.len(), 4);
        assert!(kept.get(header::SEC_WEBSOCKET_KEY).is_none());
    }

    #[test]
    fn only_a_websocket_handshake_is_upgraded() {
        let mut headers = HeaderMap::new();
        assert!(handshake_key(&headers).is_err());
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        assert!(handshake_key(&headers).is_err());
        headers.insert(
            header::SEC_WEBSOCKET_KEY,
            HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="),
        );
        let key = handshake_key(&headers).expect("a handshake");
        assert_eq!(
            ts::handshake::derive_accept_key(key.as_bytes()),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
