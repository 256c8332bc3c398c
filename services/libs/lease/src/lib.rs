//! Active/standby for the services that must run exactly once at a time
//! (the projection, the only writer of the live state; pressure, the only
//! publisher of OPEL levels and alerts): two or more copies run, one holds
//! a lease and works, the others wait on standby and take over when the
//! lease lapses.
//!
//! The lease is a key (the service's name) in the JetStream key-value
//! bucket `pf-leases`, whose entries live for the bucket's `max_age` (the
//! lease's time to live, `PF_LEASE_TTL_MS`, default 3 s). A copy acquires
//! the lease by creating the key (JetStream refuses a create when the key
//! exists) and renews it by compare-and-set on the key's revision (refused
//! when anyone else wrote it since). The revision only ever grows, so it is
//! a fencing token: each renewal's revision is newer than every earlier
//! holder's.
//!
//! The holder stops working on its own before anyone else can take over:
//! it counts its lease from the moment it *sent* the last renewal that was
//! confirmed, for three quarters of the time to live, while the server
//! counts the entry's life from when it *stored* it, for the whole time to
//! live. When a renewal is refused, or none was confirmed in time, the
//! holder cancels its work token and the service exits (to come back as a
//! standby). On a clean shutdown it deletes the key, so the standby takes
//! over at once instead of after the time to live.
//!
//! # Layout
//! - [`ensure_bucket`]: creates the bucket's stream (`pf-streams` does; the
//!   async-nats client cannot create a key-value bucket on nats-server
//!   2.9, so the stream is created as the server would).
//! - [`Lease`]: one service's lease; [`Lease::acquire`] waits on standby
//!   until it holds it.
//! - [`Held`]: a held lease, renewed in the background; its work token is
//!   cancelled when it is lost.
//! - [`wait_for_turn`]: what a service's `main` calls: connects, serves
//!   `/healthz` and `/readyz` (`"role": "standby"`) while waiting, and
//!   returns once the lease is held.
#![forbid(unsafe_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::jetstream::{self, kv, stream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The bucket of every lease.
pub const BUCKET: &str = "pf-leases";
/// The bucket's stream.
pub const STREAM: &str = "KV_pf-leases";
/// The time to live of a lease unless configured (`PF_LEASE_TTL_MS`).
pub const DEFAULT_TTL: Duration = Duration::from_secs(3);

/// A lease could not be set up or read.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// The bucket's stream could not be created or updated.
    #[error("cannot create the lease bucket {STREAM}: {0}")]
    Bucket(String),
    /// NATS could not be reached.
    #[error("cannot connect to NATS for the {name} lease: {cause}")]
    Connect {
        /// Whose lease.
        name: &'static str,
        /// Why.
        cause: async_nats::ConnectError,
    },
    /// The bucket could not be opened.
    #[error("cannot open the lease bucket {BUCKET}: {0}")]
    Open(String),
    /// The operational endpoint could not serve.
    #[error("cannot serve the standby's operational endpoint: {0}")]
    Serve(std::io::Error),
}

/// The time to live of every lease (the bucket's `max_age`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTtl(pub Duration);

impl Default for LeaseTtl {
    fn default() -> Self {
        Self(DEFAULT_TTL)
    }
}

/// The time to live of a lease, from `PF_LEASE_TTL_MS` (at least 1 s).
pub fn ttl_from_env() -> Result<LeaseTtl, pf_runtime::ConfigError> {
    let millis: u64 = pf_runtime::env_or(
        "PF_LEASE_TTL_MS",
        u64::try_from(DEFAULT_TTL.as_millis()).unwrap_or(3_000),
    )?;
    if millis < 1_000 {
        return Err(pf_runtime::ConfigError {
            name: "PF_LEASE_TTL_MS".to_owned(),
            value: millis.to_string(),
            cause: "a lease must live at least 1000 ms".to_owned(),
        });
    }
    Ok(LeaseTtl(Duration::from_millis(millis)))
}

/// Creates the lease bucket's stream, or brings its replicas and time to
/// live in line. Idempotent.
pub async fn ensure_bucket(
    context: &jetstream::Context,
    replicas: usize,
    LeaseTtl(ttl): LeaseTtl,
) -> Result<(), LeaseError> {
    let config = stream::Config {
        name: STREAM.to_owned(),
        subjects: vec![format!("$KV.{BUCKET}.>")],
        max_messages_per_subject: 1,
        max_age: ttl,
        // A re-sent renewal must not be stored twice, and the window may
        // not be longer than the entries live.
        duplicate_window: ttl,
        storage: stream::StorageType::File,
        num_replicas: replicas,
        discard: stream::DiscardPolicy::New,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        ..Default::default()
    };
    match context.get_stream(STREAM).await {
        Ok(mut existing) => {
            let info = existing
                .info()
                .await
                .map_err(|e| LeaseError::Bucket(e.to_string()))?;
            if info.config.max_age != ttl || info.config.num_replicas != replicas {
                context
                    .update_stream(config)
                    .await
                    .map_err(|e| LeaseError::Bucket(e.to_string()))?;
            }
            Ok(())
        }
        Err(_) => context
            .create_stream(config)
            .await
            .map(|_| ())
            .map_err(|e| LeaseError::Bucket(e.to_string())),
    }
}

/// One service's lease.
#[derive(Clone)]
pub struct Lease {
    store: kv::Store,
    name: &'static str,
    holder: String,
    ttl: Duration,
}

impl Lease {
    /// Opens `name`'s lease for `holder` (a name for this process in logs
    /// and in the key's value), waiting until the bucket exists;
    /// `None` when `shutdown` comes first.
    pub async fn open(
        context: &jetstream::Context,
        name: &'static str,
        holder: String,
        shutdown: &CancellationToken,
    ) -> Result<Option<Self>, LeaseError> {
        if !pf_event_log::streams::wait_for(context, &[STREAM], shutdown).await {
            return Ok(None);
        }
        let store = context
            .get_key_value(BUCKET)
            .await
            .map_err(|e| LeaseError::Open(e.to_string()))?;
        let ttl = store
            .stream
            .cached_info()
            .config
            .max_age
            .max(Duration::from_secs(1));
        Ok(Some(Self {
            store,
            name,
            holder,
            ttl,
        }))
    }

    /// The lease's time to live (the bucket's).
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Waits on standby until this process holds the lease; `None` when
    /// `shutdown` comes first. The returned lease is renewed in the
    /// background; its [`Held::work`] token is a child of `shutdown`,
    /// cancelled as well when the lease is lost.
    pub async fn acquire(&self, shutdown: &CancellationToken) -> Option<Held> {
        let pause = self.ttl / 4;
        let mut waiting_logged = false;
        loop {
            let sent = Instant::now();
            let attempt = tokio::select! {
                () = shutdown.cancelled() => return None,
                attempt = self.store.create(self.name, self.holder.clone().into()) => attempt,
            };
            match attempt {
                Ok(revision) => {
                    tracing::info!(
                        lease = self.name,
                        holder = %self.holder,
                        token = revision,
                        "holding the lease: active"
                    );
                    return Some(Held::start(self.clone(), revision, sent, shutdown));
                }
                Err(err) if err.kind() == kv::CreateErrorKind::AlreadyExists => {
                    if !waiting_logged {
                        tracing::info!(lease = self.name, "another copy holds the lease: standby");
                        waiting_logged = true;
                    }
                }
                Err(err) => {
                    tracing::warn!(lease = self.name, cause = %err, "cannot reach the lease bucket");
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return None,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// How long after sending a confirmed renewal the holder still counts
    /// itself the holder: three quarters of the time to live, the rest a
    /// margin for the renewal's trip and the two clocks' rates.
    fn valid_for(&self) -> Duration {
        self.ttl * 3 / 4
    }
}

/// A held lease, renewed in the background until released or lost.
pub struct Held {
    lease: Lease,
    token: Arc<AtomicU64>,
    work: CancellationToken,
    lost: CancellationToken,
    renewing: tokio::task::JoinHandle<()>,
}

impl Held {
    fn start(lease: Lease, revision: u64, sent: Instant, shutdown: &CancellationToken) -> Self {
        let token = Arc::new(AtomicU64::new(revision));
        let work = shutdown.child_token();
        let lost = CancellationToken::new();
        let renewing = tokio::spawn(renew(
            lease.clone(),
            token.clone(),
            sent,
            work.clone(),
            lost.clone(),
        ));
        Self {
            lease,
            token,
            work,
            lost,
            renewing,
        }
    }

    /// The fencing token: the revision of the newest confirmed renewal,
    /// greater than any earlier holder's.
    pub fn token(&self) -> u64 {
        self.token.load(Ordering::SeqCst)
    }

    /// Cancelled on shutdown and when the lease is lost: hand it to the
    /// work the lease guards.
    pub fn work(&self) -> CancellationToken {
        self.work.clone()
    }

    /// Whether the lease was lost (refused or not renewed in time).
    pub fn is_lost(&self) -> bool {
        self.lost.is_cancelled()
    }

    /// Stops renewing and, unless it was lost, deletes the key so a
    /// standby takes over at once.
    pub async fn release(self) {
        self.renewing.abort();
        if self.lost.is_cancelled() {
            return;
        }
        let revision = self.token();
        match self
            .lease
            .store
            .delete_expect_revision(self.lease.name, Some(revision))
            .await
        {
            Ok(()) => tracing::info!(lease = self.lease.name, "released the lease"),
            Err(err) => {
                tracing::warn!(lease = self.lease.name, cause = %err, "cannot release the lease; it lapses by itself");
            }
        }
    }
}

/// Renews the lease every quarter of its time to live; cancels `work` and
/// `lost` when a renewal is refused or none is confirmed in time.
async fn renew(
    lease: Lease,
    token: Arc<AtomicU64>,
    mut confirmed_sent: Instant,
    work: CancellationToken,
    lost: CancellationToken,
) {
    let every = lease.ttl / 4;
    loop {
        let valid_until = confirmed_sent + lease.valid_for();
        tokio::select! {
            () = work.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        let sent = Instant::now();
        let revision = token.load(Ordering::SeqCst);
        let update = lease
            .store
            .update(lease.name, lease.holder.clone().into(), revision);
        match tokio::time::timeout_at(valid_until, update).await {
            Ok(Ok(revision)) => {
                token.store(revision, Ordering::SeqCst);
                confirmed_sent = sent;
            }
            Ok(Err(err)) if err.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                tracing::error!(lease = lease.name, "another copy took the lease: stopping");
                break;
            }
            Ok(Err(err)) if Instant::now() < valid_until => {
                tracing::warn!(lease = lease.name, cause = %err, "cannot renew the lease; retrying");
            }
            Ok(Err(_)) | Err(_) => {
                tracing::error!(
                    lease = lease.name,
                    "the lease was not renewed in time: stopping"
                );
                break;
            }
        }
    }
    lost.cancel();
    work.cancel();
}

/// What a service's `main` calls before it starts its work: connects to
/// NATS, and while another copy holds `name`'s lease serves `/healthz` and
/// `/readyz` (ready, `"role": "standby"`) on `listener`; returns once this
/// copy holds the lease (with the role `active`), or `None` when `shutdown`
/// comes first. The listener is handed back for the service's own
/// endpoint.
pub async fn wait_for_turn(
    nats: &pf_event_log::NatsSettings,
    name: &'static str,
    listener: std::net::TcpListener,
    shutdown: &CancellationToken,
) -> Result<Option<(Held, std::net::TcpListener)>, LeaseError> {
    pf_runtime::ops::set_role("standby");
    let standby_listener = listener
        .try_clone()
        .and_then(|l| {
            l.set_nonblocking(true)?;
            tokio::net::TcpListener::from_std(l)
        })
        .map_err(LeaseError::Serve)?;
    let standing_by = shutdown.child_token();
    let ops = pf_runtime::ops::router(prometheus::Registry::new(), pf_runtime::Readiness::new(&[]));
    let server = tokio::spawn(pf_runtime::ops::serve(
        standby_listener,
        ops,
        standing_by.clone(),
    ));
    let holder = format!(
        "{}:{}",
        std::env::var("HOSTNAME").unwrap_or_else(|_| "local".to_owned()),
        std::process::id()
    );
    let outcome = async {
        let client = nats
            .connect(&format!("pf-{name}-lease"))
            .await
            .map_err(|cause| LeaseError::Connect { name, cause })?;
        let context = jetstream::new(client);
        let Some(lease) = Lease::open(&context, name, holder, shutdown).await? else {
            return Ok(None);
        };
        Ok(lease.acquire(shutdown).await)
    }
    .await;
    standing_by.cancel();
    match server.await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => return Err(LeaseError::Serve(err)),
        Err(err) => tracing::warn!(cause = %err, "the standby's endpoint task failed"),
    }
    match outcome? {
        Some(held) => {
            pf_runtime::ops::set_role("active");
            Ok(Some((held, listener)))
        }
        None => Ok(None),
    }
}
