//! Sessions, single-use sign-in links and revocations, kept in Redis.
//!
//! Keys (under a prefix, default `pf-auth:`):
//! - `session:{sha256(id)}`: the session (JSON, without its id), expiring
//!   after the idle timeout and extended on each use, never past the
//!   absolute timeout. Only the hash of the id is stored, as for links: a
//!   copy of Redis, or a service that may list or read sign-in keys, learns
//!   no id it could present as a cookie.
//! - `sessions-of:{principal}`: the hashes of the principal's session ids,
//!   for revocation.
//!
//! Only the identity service writes these keys (its Redis user is the only
//! one allowed to). Every other service that checks sessions only reads a
//! session and refreshes its idle expiry ([`SignInStore::session`], one
//! `GETEX`), and reads whether a person is revoked
//! ([`SignInStore::is_revoked`], one `EXISTS`).
//! - `link:{sha256(token)}`: a sign-in link: its principal and the
//!   principal's link generation when it was issued (JSON); read and deleted
//!   in one step (`GETDEL`), so it works once; expires on its own.
//! - `kiosk-link:{sha256(token)}`: the same for a kiosk's setup link (see
//!   [`LinkPurpose`]); a link of one kind is never found as the other.
//! - `link-generation:{principal}`: a counter, without expiry, raised by
//!   every revocation and reinstatement of the principal and by a kiosk's
//!   new setup link. A link works only while the generation it was issued
//!   in is current, so a link issued before a revocation never works, even
//!   once the principal is reinstated. Absent: generation 0.
//! - `kiosk:{id}`, `kiosks`: the registered kiosks (see [`crate::kiosks`]).
//! - `revoked:{principal}`: the time of the revocation, without expiry: the
//!   principal's sessions, bearer tokens and links are refused until an
//!   administrator reinstates it (deletes the key); a kiosk is never
//!   reinstated.

use std::time::Duration;

use base64::Engine as _;
use pf_access::Principal;
use pf_runtime::RedisConnection;
use rand::RngCore as _;
use redis::AsyncCommands as _;
use redis::aio::ConnectionManagerConfig;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use time::OffsetDateTime;

/// Redis could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A Redis command failed.
    #[error("the sign-in store is unavailable: {0}")]
    Redis(#[from] redis::RedisError),
    /// Stored data could not be read.
    #[error("the sign-in store holds unreadable data: {0}")]
    Corrupt(#[from] serde_json::Error),
}

/// How long sign-in lasts.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// A session unused this long ends (default 30 minutes).
    pub idle: Duration,
    /// A session ends this long after sign-in, used or not (default 12 hours).
    pub absolute: Duration,
    /// A sign-in link works this long (default 24 hours), once.
    pub link: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(30 * 60),
            absolute: Duration::from_secs(12 * 60 * 60),
            link: Duration::from_secs(24 * 60 * 60),
        }
    }
}

/// The timeouts of one session that does not follow the store's
/// [`SessionPolicy`]: a kiosk (a wall screen nobody signs in to) keeps its
/// session for weeks. Kept in the session itself, so every service that
/// reads the session honours them, whatever its own policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionLifetime {
    /// The session ends when unused this many seconds.
    pub idle_secs: u64,
    /// The session ends this many seconds after sign-in, used or not.
    pub absolute_secs: u64,
}

impl SessionLifetime {
    /// A session that lasts `absolute` from sign-in and ends earlier only
    /// when unused for as long (a screen switched off over a holiday keeps
    /// its session).
    pub fn fixed(absolute: Duration) -> Self {
        let secs = absolute.as_secs().max(1);
        Self {
            idle_secs: secs,
            absolute_secs: secs,
        }
    }
}

/// A signed-in browser session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The opaque id in the cookie (256 random bits).
    pub id: String,
    /// Who signed in.
    pub principal: Principal,
    /// The token every form of this session must carry (CSRF protection).
    pub csrf_token: String,
    /// Sign-in time, seconds since the epoch.
    pub created_at: i64,
    /// Timeouts of its own (a kiosk's); `None`: the store's policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime: Option<SessionLifetime>,
}

impl Session {
    /// The idle and absolute timeouts that apply to this session under `policy`.
    fn limits(&self, policy: &SessionPolicy) -> (u64, u64) {
        limits(self.lifetime, policy)
    }
}

fn limits(lifetime: Option<SessionLifetime>, policy: &SessionPolicy) -> (u64, u64) {
    match lifetime {
        Some(own) => (own.idle_secs, own.absolute_secs),
        None => (policy.idle.as_secs(), policy.absolute.as_secs()),
    }
}

/// A session as stored: everything but its id.
#[derive(Debug, Serialize, Deserialize)]
struct StoredSession {
    principal: Principal,
    csrf_token: String,
    created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lifetime: Option<SessionLifetime>,
}

impl StoredSession {
    /// Seconds the session may still stay idle: its idle timeout, but never
    /// past its absolute timeout (0: it has ended).
    fn expiry(&self, policy: &SessionPolicy, now: i64) -> u64 {
        let (idle, absolute) = limits(self.lifetime, policy);
        let ends = self
            .created_at
            .saturating_add(i64::try_from(absolute).unwrap_or(i64::MAX));
        let left = u64::try_from(ends.saturating_sub(now)).unwrap_or(0);
        idle.min(left)
    }
}

/// What a single-use link is for. Each kind has its own keys: a link is
/// redeemed only where it was meant to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    /// Signs a care-home person in (`/sign-in/link/{token}`).
    SignIn,
    /// Sets up a kiosk screen (`/sign-in/kiosk/{token}`).
    KioskSetup,
}

impl LinkPurpose {
    fn key_kind(self) -> &'static str {
        match self {
            LinkPurpose::SignIn => "link",
            LinkPurpose::KioskSetup => "kiosk-link",
        }
    }
}

/// A single-use link as stored: whom it signs in, and the principal's link
/// generation when it was issued (see the module's key list).
#[derive(Debug, Serialize, Deserialize)]
struct StoredLink {
    principal: Principal,
    generation: u64,
}

/// The sign-in store.
#[derive(Clone)]
pub struct SignInStore {
    connection: RedisConnection,
    prefix: String,
    policy: SessionPolicy,
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn digest(token: &str) -> String {
    let hash = sha2::Sha256::digest(token.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hash)
}

impl SignInStore {
    /// Connects to Redis at `url`, keys under `prefix`.
    pub async fn connect(
        url: &str,
        prefix: impl Into<String>,
        policy: SessionPolicy,
    ) -> Result<Self, StoreError> {
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_connection_timeout(Some(Duration::from_secs(5)));
        let connection = RedisConnection::connect(url, config).await?;
        Ok(Self {
            connection,
            prefix: prefix.into(),
            policy,
        })
    }

    /// The timeouts in force.
    pub fn policy(&self) -> SessionPolicy {
        self.policy
    }

    pub(crate) fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}:{id}", self.prefix)
    }

    /// A key of its own under the prefix (no id).
    pub(crate) fn plain_key(&self, kind: &str) -> String {
        format!("{}{kind}", self.prefix)
    }

    /// A connection to Redis (cheap: a handle on the shared one).
    pub(crate) fn connection(&self) -> RedisConnection {
        self.connection.clone()
    }

    /// Starts a session for `principal` under the store's policy (always a
    /// new id: signing in again rotates the session).
    pub async fn create_session(&self, principal: &Principal) -> Result<Session, StoreError> {
        self.start(principal, None).await
    }

    /// Starts a session for `principal` with timeouts of its own (a kiosk's),
    /// which every reader of the session honours.
    pub async fn create_long_session(
        &self,
        principal: &Principal,
        lifetime: SessionLifetime,
    ) -> Result<Session, StoreError> {
        self.start(principal, Some(lifetime)).await
    }

    async fn start(
        &self,
        principal: &Principal,
        lifetime: Option<SessionLifetime>,
    ) -> Result<Session, StoreError> {
        let session = Session {
            id: random_token(),
            principal: principal.clone(),
            csrf_token: random_token(),
            created_at: OffsetDateTime::now_utc().unix_timestamp(),
            lifetime,
        };
        let (idle, absolute) = session.limits(&self.policy);
        let stored = StoredSession {
            principal: session.principal.clone(),
            csrf_token: session.csrf_token.clone(),
            created_at: session.created_at,
            lifetime,
        };
        let hashed = digest(&session.id);
        let mut connection = self.connection.clone();
        let _: () = redis::pipe()
            .set_ex(
                self.key("session", &hashed),
                serde_json::to_string(&stored)?,
                idle,
            )
            .ignore()
            .sadd(self.key("sessions-of", &principal.id), &hashed)
            .ignore()
            .expire(
                self.key("sessions-of", &principal.id),
                i64::try_from(absolute).unwrap_or(i64::MAX),
            )
            .ignore()
            .query_async(&mut connection)
            .await?;
        Ok(session)
    }

    /// The session with this id, if it is still valid; extends its idle
    /// timeout (the session's own, when it has one), never past its
    /// absolute timeout. Reads and refreshes in `GETEX` only: every service
    /// that checks sessions may run it, none but identity may write.
    pub async fn session(&self, id: &str) -> Result<Option<Session>, StoreError> {
        if id.is_empty() || id.len() > 64 {
            return Ok(None);
        }
        let key = self.key("session", &digest(id));
        let mut connection = self.connection.clone();
        let stored: Option<String> = redis::cmd("GETEX")
            .arg(&key)
            .arg("EX")
            .arg(self.policy.idle.as_secs().max(1))
            .query_async(&mut connection)
            .await?;
        let Some(stored) = stored else {
            return Ok(None);
        };
        let stored: StoredSession = serde_json::from_str(&stored)?;
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let expiry = stored.expiry(&self.policy, now);
        if expiry == 0 {
            // Past its absolute timeout: refused, and left to expire.
            let _: Option<String> = redis::cmd("GETEX")
                .arg(&key)
                .arg("EX")
                .arg(1)
                .query_async(&mut connection)
                .await?;
            return Ok(None);
        }
        if expiry != self.policy.idle.as_secs().max(1) {
            // `GETEX` set the policy's idle timeout; the session's own (a
            // kiosk's), or what is left before its absolute timeout, wins.
            let _: Option<String> = redis::cmd("GETEX")
                .arg(&key)
                .arg("EX")
                .arg(expiry)
                .query_async(&mut connection)
                .await?;
        }
        Ok(Some(Session {
            id: id.to_owned(),
            principal: stored.principal,
            csrf_token: stored.csrf_token,
            created_at: stored.created_at,
            lifetime: stored.lifetime,
        }))
    }

    /// Ends a session (sign out). Identity's alone: other services send
    /// people to its sign-out.
    pub async fn end_session(&self, id: &str) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        let _: () = connection.del(self.key("session", &digest(id))).await?;
        Ok(())
    }

    /// Makes a single-use sign-in link token for `principal`; only its hash
    /// is stored.
    pub async fn create_link(&self, principal: &Principal) -> Result<String, StoreError> {
        self.create_link_for(LinkPurpose::SignIn, principal).await
    }

    /// Makes a single-use link token of `purpose` for `principal`, working
    /// for the policy's link lifetime and until the principal is next
    /// revoked or reinstated; only its hash is stored.
    pub async fn create_link_for(
        &self,
        purpose: LinkPurpose,
        principal: &Principal,
    ) -> Result<String, StoreError> {
        let mut connection = self.connection.clone();
        let generation: Option<u64> = connection
            .get(self.key("link-generation", &principal.id))
            .await?;
        self.store_link(purpose, principal, generation.unwrap_or(0))
            .await
    }

    /// Makes a single-use link token of `purpose` for `principal` and voids
    /// every earlier unused link of the principal (a kiosk's new setup
    /// link): of two made at once, only the later works.
    pub async fn reissue_link_for(
        &self,
        purpose: LinkPurpose,
        principal: &Principal,
    ) -> Result<String, StoreError> {
        let mut connection = self.connection.clone();
        let generation: u64 = connection
            .incr(self.key("link-generation", &principal.id), 1)
            .await?;
        self.store_link(purpose, principal, generation).await
    }

    async fn store_link(
        &self,
        purpose: LinkPurpose,
        principal: &Principal,
        generation: u64,
    ) -> Result<String, StoreError> {
        let token = random_token();
        let link = StoredLink {
            principal: principal.clone(),
            generation,
        };
        let mut connection = self.connection.clone();
        let _: () = connection
            .set_ex(
                self.key(purpose.key_kind(), &digest(&token)),
                serde_json::to_string(&link)?,
                self.policy.link.as_secs(),
            )
            .await?;
        Ok(token)
    }

    /// Redeems a sign-in link: its principal, once; `None` when it was used,
    /// expired or never existed.
    pub async fn redeem_link(&self, token: &str) -> Result<Option<Principal>, StoreError> {
        self.redeem_link_for(LinkPurpose::SignIn, token).await
    }

    /// Redeems a link of `purpose`: its principal, once; `None` when it was
    /// used, expired, never existed, is of another purpose, its principal
    /// is revoked, or was revoked or reinstated (or, for a kiosk, given a
    /// new setup link) since the link was issued.
    pub async fn redeem_link_for(
        &self,
        purpose: LinkPurpose,
        token: &str,
    ) -> Result<Option<Principal>, StoreError> {
        if token.len() > 64 {
            return Ok(None);
        }
        let mut connection = self.connection.clone();
        let stored: Option<String> = redis::cmd("GETDEL")
            .arg(self.key(purpose.key_kind(), &digest(token)))
            .query_async(&mut connection)
            .await?;
        let Some(stored) = stored else {
            return Ok(None);
        };
        let link: StoredLink = match serde_json::from_str(&stored) {
            Ok(link) => link,
            // Stored before links carried their generation: whether its
            // principal was revoked since cannot be told, so it is void
            // (the person asks for a new link).
            Err(_) if serde_json::from_str::<Principal>(&stored).is_ok() => return Ok(None),
            Err(err) => return Err(err.into()),
        };
        // The revocation first, then the generation: a reinstatement raises
        // the generation before it lifts the revocation, so a link of the
        // revoked time is refused whichever way the two interleave.
        let (revoked, generation): (bool, Option<u64>) = redis::pipe()
            .exists(self.key("revoked", &link.principal.id))
            .get(self.key("link-generation", &link.principal.id))
            .query_async(&mut connection)
            .await?;
        if revoked || generation.unwrap_or(0) != link.generation {
            return Ok(None);
        }
        Ok(Some(link.principal))
    }

    /// Revokes a principal at once and until it is reinstated: ends every
    /// session it has, refuses its bearer tokens and new sessions, and voids
    /// every link issued to it so far, for good. Returns how many live
    /// sessions were ended.
    pub async fn revoke(&self, principal_id: &str) -> Result<usize, StoreError> {
        let mut connection = self.connection.clone();
        let mut pipe = redis::pipe();
        pipe.set(
            self.key("revoked", principal_id),
            OffsetDateTime::now_utc().unix_timestamp(),
        )
        .ignore()
        .incr(self.key("link-generation", principal_id), 1)
        .ignore();
        let _: () = pipe.query_async(&mut connection).await?;
        self.end_sessions_of(principal_id).await
    }

    /// Ends every session of the principal: how many were live.
    async fn end_sessions_of(&self, principal_id: &str) -> Result<usize, StoreError> {
        let mut connection = self.connection.clone();
        let sessions: Vec<String> = connection
            .smembers(self.key("sessions-of", principal_id))
            .await?;
        let mut pipe = redis::pipe();
        for hashed in &sessions {
            pipe.del(self.key("session", hashed));
        }
        pipe.del(self.key("sessions-of", principal_id)).ignore();
        let ended: Vec<usize> = pipe.query_async(&mut connection).await?;
        Ok(ended.into_iter().sum())
    }

    /// When one of the principal's live sessions was last used (seconds
    /// since the epoch), worked out from the idle timeout each use renews;
    /// `None` when it has no live session.
    pub async fn last_used(&self, principal_id: &str) -> Result<Option<i64>, StoreError> {
        let mut connection = self.connection.clone();
        let hashes: Vec<String> = connection
            .smembers(self.key("sessions-of", principal_id))
            .await?;
        if hashes.is_empty() {
            return Ok(None);
        }
        let mut pipe = redis::pipe();
        for hashed in &hashes {
            pipe.get(self.key("session", hashed))
                .ttl(self.key("session", hashed));
        }
        let found: Vec<(Option<String>, i64)> = pipe.query_async(&mut connection).await?;
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let mut last = None;
        for (stored, ttl) in found {
            let Some(stored) = stored else { continue };
            let session: StoredSession = serde_json::from_str(&stored)?;
            let (idle, _) = limits(session.lifetime, &self.policy);
            let idle = i64::try_from(idle).unwrap_or(i64::MAX);
            if ttl >= 0 {
                let used = (now - (idle - ttl)).max(session.created_at);
                last = last.max(Some(used));
            }
        }
        Ok(last)
    }

    /// Lifts a revocation (access given again): new sign-ins and links
    /// issued from now on work at once; a link issued before, even while
    /// the principal was revoked, stays void, and a session started while
    /// the revocation was being made is ended.
    pub async fn reinstate(&self, principal_id: &str) -> Result<(), StoreError> {
        // The generation before the revocation: see `redeem_link_for`.
        let mut connection = self.connection.clone();
        let _: i64 = connection
            .incr(self.key("link-generation", principal_id), 1)
            .await?;
        self.end_sessions_of(principal_id).await?;
        let _: () = connection.del(self.key("revoked", principal_id)).await?;
        Ok(())
    }

    /// Whether a principal is revoked.
    pub async fn is_revoked(&self, principal_id: &str) -> Result<bool, StoreError> {
        let mut connection = self.connection.clone();
        Ok(connection.exists(self.key("revoked", principal_id)).await?)
    }
}
