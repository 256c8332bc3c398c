//! Idempotency keys: a form sent twice (a double tap, a browser resend, a
//! phone that lost the answer and sends again when back online) is applied
//! once, and every resend gets the first answer.
//!
//! A key is claimed in Redis with `SET NX` before anything is published; the
//! answer replaces the claim once JetStream acknowledged the event. A claim
//! expires by itself after a short while (a crashed request frees its key);
//! an answer is kept for days. A key sent again with a different update is
//! refused: it is a client bug, and silently applying either would be wrong.

use std::time::Duration;

use pf_runtime::RedisConnection;
use redis::AsyncCommands as _;
use redis::aio::ConnectionManagerConfig;
use serde::{Deserialize, Serialize};

/// How long a claim lasts without an answer.
const CLAIM_TTL: Duration = Duration::from_secs(30);

/// A key as sent: 8 to 128 letters, digits, `-` or `_` (a UUID fits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

/// The key is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the idempotency key must be 8 to 128 letters, digits, '-' or '_' (a UUID is ideal)")]
pub struct BadKey;

impl IdempotencyKey {
    /// Parses a key.
    pub fn parse(value: &str) -> Result<Self, BadKey> {
        let value = value.trim();
        if (8..=128).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            Ok(Self(value.to_owned()))
        } else {
            Err(BadKey)
        }
    }

    /// A new random key (a UUIDv7).
    pub fn new_random() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The answer kept for a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// Digest of the update the key was first used for.
    pub fingerprint: String,
    /// The stored event's id.
    pub event_id: String,
    /// Its type.
    pub event_type: String,
    /// The home's version after it.
    pub entity_version: u64,
    /// When it was accepted (RFC 3339).
    pub recorded_at: String,
}

/// What claiming a key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is new and now claimed: go on, then [`IdempotencyStore::answer`].
    New,
    /// The key was answered before.
    Answered(Answer),
    /// Another request with this key is being saved right now.
    Busy,
}

/// Redis could not be used.
#[derive(Debug, thiserror::Error)]
#[error("the idempotency store is unavailable: {0}")]
pub struct StoreError(String);

/// Keys in Redis under one prefix.
#[derive(Clone)]
pub struct IdempotencyStore {
    connection: RedisConnection,
    prefix: String,
    ttl: Duration,
}

const CLAIMED: &str = "claimed";

impl IdempotencyStore {
    /// Connects to Redis at `url`; keys under `prefix`, answers kept `ttl`.
    pub async fn connect(url: &str, prefix: &str, ttl: Duration) -> Result<Self, StoreError> {
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_connection_timeout(Some(Duration::from_secs(5)));
        let connection = RedisConnection::connect(url, config)
            .await
            .map_err(|e| StoreError(e.to_string()))?;
        Ok(Self {
            connection,
            prefix: prefix.to_owned(),
            ttl,
        })
    }

    fn key(&self, home: &str, key: &IdempotencyKey) -> String {
        format!("{}idempotency:{home}:{}", self.prefix, key.as_str())
    }

    /// Claims `key` for an update of `home`.
    pub async fn claim(&self, home: &str, key: &IdempotencyKey) -> Result<Claim, StoreError> {
        let name = self.key(home, key);
        let mut connection = self.connection.clone();
        let claimed: bool = redis::cmd("SET")
            .arg(&name)
            .arg(CLAIMED)
            .arg("NX")
            .arg("PX")
            .arg(CLAIM_TTL.as_millis() as u64)
            .query_async::<Option<String>>(&mut connection)
            .await
            .map_err(|e| StoreError(e.to_string()))?
            .is_some();
        if claimed {
            return Ok(Claim::New);
        }
        match self.answer_of(home, key).await? {
            Some(answer) => Ok(Claim::Answered(answer)),
            None => Ok(Claim::Busy),
        }
    }

    /// The answer kept for `key`, if it was answered.
    pub async fn answer_of(
        &self,
        home: &str,
        key: &IdempotencyKey,
    ) -> Result<Option<Answer>, StoreError> {
        let mut connection = self.connection.clone();
        let value: Option<String> = connection
            .get(self.key(home, key))
            .await
            .map_err(|e| StoreError(e.to_string()))?;
        Ok(value
            .filter(|v| v != CLAIMED)
            .and_then(|v| serde_json::from_str(&v).ok()))
    }

    /// Keeps the answer for `key`.
    pub async fn answer(
        &self,
        home: &str,
        key: &IdempotencyKey,
        answer: &Answer,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(answer).map_err(|e| StoreError(e.to_string()))?;
        let mut connection = self.connection.clone();
        let _: () = connection
            .set_ex(self.key(home, key), json, self.ttl.as_secs())
            .await
            .map_err(|e| StoreError(e.to_string()))?;
        Ok(())
    }

    /// Frees a claimed key whose update was not saved, so that it can be sent again.
    pub async fn release(&self, home: &str, key: &IdempotencyKey) -> Result<(), StoreError> {
        let name = self.key(home, key);
        let mut connection = self.connection.clone();
        // Only a claim is freed, never an answer.
        let value: Option<String> = connection
            .get(&name)
            .await
            .map_err(|e| StoreError(e.to_string()))?;
        if value.as_deref() == Some(CLAIMED) {
            let _: () = connection
                .del(&name)
                .await
                .map_err(|e| StoreError(e.to_string()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_bounded_plain_tokens() {
        assert!(IdempotencyKey::parse("0192f3c4-aaaa-7bbb-8ccc-0123456789ab").is_ok());
        assert!(IdempotencyKey::parse("short").is_err());
        assert!(IdempotencyKey::parse("has space in it").is_err());
        assert!(IdempotencyKey::parse(&"x".repeat(129)).is_err());
        assert!(IdempotencyKey::parse("pf:other:key").is_err());
    }
}
