//! The MLLP listener: many connections at once, one message in flight on
//! each (the sender waits for the ACK), a bounded message size, an idle
//! timeout, and a cap on open connections.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

use crate::ingest::Ingest;
use crate::mllp::{FrameError, MllpCodec};

/// Limits of each connection.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest message.
    pub max_message_bytes: usize,
    /// Close a connection silent for this long.
    pub idle_timeout: Duration,
    /// Connections open at once; more wait in the kernel's backlog.
    pub max_connections: usize,
}

/// Accepts connections until `shutdown`; connections then finish the
/// message in hand and close.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    ingest: Ingest,
    limits: Limits,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let connections = tokio_util::task::TaskTracker::new();
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "could not accept an MLLP connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let ingest = ingest.clone();
        let shutdown = shutdown.clone();
        let tls = tls.clone();
        connections.spawn(async move {
            let _permit = permit;
            ingest.metrics.connections.inc();
            let span = tracing::info_span!("mllp_connection", %peer);
            let served = async {
                let _ = stream.set_nodelay(true);
                let Some(acceptor) = tls else {
                    return connection(stream, &ingest, limits, shutdown).await;
                };
                // The handshake gets the idle timeout too.
                match tokio::time::timeout(limits.idle_timeout, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => connection(stream, &ingest, limits, shutdown).await,
                    Ok(Err(e)) => {
                        ingest
                            .metrics
                            .frames_refused
                            .with_label_values(&["tls"])
                            .inc();
                        tracing::warn!(error = %e, "TLS handshake failed; closing");
                        Ok(())
                    }
                    Err(_) => {
                        ingest
                            .metrics
                            .frames_refused
                            .with_label_values(&["idle"])
                            .inc();
                        Ok(())
                    }
                }
            };
            let _ = tracing::Instrument::instrument(served, span).await;
            ingest.metrics.connections.dec();
        });
    }
    connections.close();
    connections.wait().await;
}

async fn connection<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    ingest: &Ingest,
    limits: Limits,
    shutdown: CancellationToken,
) -> Result<(), FrameError> {
    let mut framed = Framed::new(stream, MllpCodec::new(limits.max_message_bytes));
    loop {
        let next = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            next = tokio::time::timeout(limits.idle_timeout, framed.next()) => next,
        };
        let frame = match next {
            Err(_) => {
                ingest
                    .metrics
                    .frames_refused
                    .with_label_values(&["idle"])
                    .inc();
                tracing::info!("closing a connection that sent nothing for the idle timeout");
                return Ok(());
            }
            Ok(None) => return Ok(()),
            Ok(Some(Err(e))) => {
                let reason = match e {
                    FrameError::TooLong(_) => "too_long",
                    FrameError::OutsideFrame => "outside_frame",
                    FrameError::Truncated => "truncated",
                    FrameError::Io(_) => "io",
                };
                ingest
                    .metrics
                    .frames_refused
                    .with_label_values(&[reason])
                    .inc();
                tracing::warn!(error = %e, "closing the connection");
                return Err(e);
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let ack = ingest.handle(&frame).await;
        framed.send(ack).await?;
    }
}
