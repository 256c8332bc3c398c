//! Sessions, single-use sign-in links and revocations, kept in Redis.
//!
//! Keys (under a prefix, default `pf-auth:`):
//! - `session:{id}`: the session (JSON), expiring after the idle timeout and
//!   extended on each use; refused past the absolute timeout.
//! - `sessions-of:{principal}`: the principal's session ids, for revocation.
//! - `link:{sha256(token)}`: a sign-in link's principal; read and deleted in
//!   one step (`GETDEL`), so it works once; expires on its own.
//! - `revoked:{principal}`: the principal's bearer tokens are refused until
//!   it expires (set for the longest token lifetime).

use std::time::Duration;

use base64::Engine as _;
use pf_access::Principal;
use rand::RngCore as _;
use redis::AsyncCommands as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
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
    /// The longest life of a bearer token any trusted issuer gives; a
    /// revocation refuses tokens for this long (default 1 hour).
    pub token_lifetime: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(30 * 60),
            absolute: Duration::from_secs(12 * 60 * 60),
            link: Duration::from_secs(24 * 60 * 60),
            token_lifetime: Duration::from_secs(60 * 60),
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
}

/// The sign-in store.
#[derive(Clone)]
pub struct SignInStore {
    connection: ConnectionManager,
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
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_connection_timeout(Some(Duration::from_secs(5)));
        let connection = client.get_connection_manager_with_config(config).await?;
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

    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}:{id}", self.prefix)
    }

    /// Starts a session for `principal` (always a new id: signing in again
    /// rotates the session).
    pub async fn create_session(&self, principal: &Principal) -> Result<Session, StoreError> {
        let session = Session {
            id: random_token(),
            principal: principal.clone(),
            csrf_token: random_token(),
            created_at: OffsetDateTime::now_utc().unix_timestamp(),
        };
        let mut connection = self.connection.clone();
        let _: () = redis::pipe()
            .set_ex(
                self.key("session", &session.id),
                serde_json::to_string(&session)?,
                self.policy.idle.as_secs(),
            )
            .ignore()
            .sadd(self.key("sessions-of", &principal.id), &session.id)
            .ignore()
            .expire(
                self.key("sessions-of", &principal.id),
                self.policy.absolute.as_secs() as i64,
            )
            .ignore()
            .query_async(&mut connection)
            .await?;
        Ok(session)
    }

    /// The session with this id, if it is still valid; extends its idle
    /// timeout.
    pub async fn session(&self, id: &str) -> Result<Option<Session>, StoreError> {
        if id.len() > 64 {
            return Ok(None);
        }
        let mut connection = self.connection.clone();
        let stored: Option<String> = redis::cmd("GETEX")
            .arg(self.key("session", id))
            .arg("EX")
            .arg(self.policy.idle.as_secs())
            .query_async(&mut connection)
            .await?;
        let Some(stored) = stored else {
            return Ok(None);
        };
        let session: Session = serde_json::from_str(&stored)?;
        let age = OffsetDateTime::now_utc().unix_timestamp() - session.created_at;
        if age > self.policy.absolute.as_secs() as i64 {
            self.end_session(id).await?;
            return Ok(None);
        }
        Ok(Some(session))
    }

    /// Ends a session (sign out).
    pub async fn end_session(&self, id: &str) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        let _: () = connection.del(self.key("session", id)).await?;
        Ok(())
    }

    /// Makes a single-use sign-in link token for `principal`; only its hash
    /// is stored.
    pub async fn create_link(&self, principal: &Principal) -> Result<String, StoreError> {
        let token = random_token();
        let mut connection = self.connection.clone();
        let _: () = connection
            .set_ex(
                self.key("link", &digest(&token)),
                serde_json::to_string(principal)?,
                self.policy.link.as_secs(),
            )
            .await?;
        Ok(token)
    }

    /// Redeems a sign-in link: its principal, once; `None` when it was used,
    /// expired or never existed.
    pub async fn redeem_link(&self, token: &str) -> Result<Option<Principal>, StoreError> {
        if token.len() > 64 {
            return Ok(None);
        }
        let mut connection = self.connection.clone();
        let stored: Option<String> = redis::cmd("GETDEL")
            .arg(self.key("link", &digest(token)))
            .query_async(&mut connection)
            .await?;
        let Some(stored) = stored else {
            return Ok(None);
        };
        let principal: Principal = serde_json::from_str(&stored)?;
        if self.is_revoked(&principal.id).await? {
            return Ok(None);
        }
        Ok(Some(principal))
    }

    /// Revokes a principal at once: ends every session it has and refuses
    /// its bearer tokens until they would have expired anyway. Returns how
    /// many live sessions were ended.
    pub async fn revoke(&self, principal_id: &str) -> Result<usize, StoreError> {
        let mut connection = self.connection.clone();
        let sessions: Vec<String> = connection
            .smembers(self.key("sessions-of", principal_id))
            .await?;
        let mut pipe = redis::pipe();
        for id in &sessions {
            pipe.del(self.key("session", id));
        }
        pipe.del(self.key("sessions-of", principal_id)).ignore();
        pipe.set_ex(
            self.key("revoked", principal_id),
            OffsetDateTime::now_utc().unix_timestamp(),
            self.policy.token_lifetime.as_secs(),
        )
        .ignore();
        let ended: Vec<usize> = pipe.query_async(&mut connection).await?;
        Ok(ended.into_iter().sum())
    }

    /// Lifts a revocation (access given again); new sign-ins work at once.
    pub async fn reinstate(&self, principal_id: &str) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        let _: () = connection.del(self.key("revoked", principal_id)).await?;
        Ok(())
    }

    /// Whether a principal is revoked.
    pub async fn is_revoked(&self, principal_id: &str) -> Result<bool, StoreError> {
        let mut connection = self.connection.clone();
        Ok(connection.exists(self.key("revoked", principal_id)).await?)
    }
}
