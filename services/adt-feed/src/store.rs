//! What the feed remembers in Redis, under its own prefix and ACL user:
//!
//! - `{prefix}ack:{feed}:{control id}`: the ACK sent for a message (MSH-10 is
//!   the idempotency key per sending system), kept at least 7 days, so that a
//!   resend hours later gets the same ACK and changes nothing. A short claim
//!   (`SET NX`) stops two copies being applied at once.
//! - `{prefix}visit:{feed}:{visit number}`: the visit index, visit number →
//!   bed, previous bed and status, nothing about the patient, expiring a set
//!   time after the visit's last message.
//! - `{prefix}ed:{feed}:{visit number}`: the site of the visit's ED
//!   attendance, from its arrival to its departure (only when the feed
//!   records ED events), expiring like the visit index.

use std::time::Duration;

use pf_hl7_adt::rules::VisitEntry;
use pf_runtime::RedisConnection;
use redis::AsyncCommands as _;
use redis::aio::ConnectionManagerConfig;

/// How long a claim lasts without an ACK (a crashed worker frees it).
const CLAIM_TTL: Duration = Duration::from_secs(30);
const CLAIMED: &str = "claimed";

/// Redis could not be used.
#[derive(Debug, thiserror::Error)]
#[error("the feed's store is unavailable: {0}")]
pub struct StoreError(String);

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

/// What claiming a control id found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// New: go on, then [`FeedStore::answer`].
    New,
    /// Answered before: send this ACK again.
    Answered(String),
    /// Another copy is being handled right now.
    Busy,
}

/// The feed's keys in Redis.
#[derive(Clone)]
pub struct FeedStore {
    connection: RedisConnection,
    prefix: String,
    control_id_kept: Duration,
    visit_kept: Duration,
}

impl FeedStore {
    /// Connects.
    pub async fn connect(
        url: &str,
        prefix: &str,
        control_id_kept: Duration,
        visit_kept: Duration,
    ) -> Result<Self, StoreError> {
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_connection_timeout(Some(Duration::from_secs(5)));
        let connection = RedisConnection::connect(url, config).await.map_err(err)?;
        Ok(Self {
            connection,
            prefix: prefix.to_owned(),
            control_id_kept,
            visit_kept,
        })
    }

    fn ack_key(&self, feed: &str, control_id: &str) -> String {
        format!("{}ack:{feed}:{control_id}", self.prefix)
    }

    fn visit_key(&self, feed: &str, visit: &str) -> String {
        format!("{}visit:{feed}:{visit}", self.prefix)
    }

    fn ed_key(&self, feed: &str, visit: &str) -> String {
        format!("{}ed:{feed}:{visit}", self.prefix)
    }

    /// The site of the visit's open ED attendance, if the feed saw it arrive
    /// and not leave.
    pub async fn ed_attendance(
        &self,
        feed: &str,
        visit: &str,
    ) -> Result<Option<String>, StoreError> {
        let mut connection = self.connection.clone();
        connection.get(self.ed_key(feed, visit)).await.map_err(err)
    }

    /// Records (or, with `None`, forgets) the visit's open ED attendance.
    pub async fn set_ed_attendance(
        &self,
        feed: &str,
        visit: &str,
        site: Option<&str>,
    ) -> Result<(), StoreError> {
        let key = self.ed_key(feed, visit);
        let mut connection = self.connection.clone();
        let _: () = match site {
            Some(site) => connection
                .set_ex(key, site, self.visit_kept.as_secs())
                .await
                .map_err(err)?,
            None => connection.del(key).await.map_err(err)?,
        };
        Ok(())
    }

    /// Claims a control id.
    pub async fn claim(&self, feed: &str, control_id: &str) -> Result<Claim, StoreError> {
        let key = self.ack_key(feed, control_id);
        let mut connection = self.connection.clone();
        let claimed = redis::cmd("SET")
            .arg(&key)
            .arg(CLAIMED)
            .arg("NX")
            .arg("PX")
            .arg(CLAIM_TTL.as_millis() as u64)
            .query_async::<Option<String>>(&mut connection)
            .await
            .map_err(err)?
            .is_some();
        if claimed {
            return Ok(Claim::New);
        }
        let value: Option<String> = connection.get(&key).await.map_err(err)?;
        Ok(match value {
            Some(v) if v != CLAIMED => Claim::Answered(v),
            _ => Claim::Busy,
        })
    }

    /// Keeps the ACK sent for a control id.
    pub async fn answer(&self, feed: &str, control_id: &str, ack: &str) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        let _: () = connection
            .set_ex(
                self.ack_key(feed, control_id),
                ack,
                self.control_id_kept.as_secs(),
            )
            .await
            .map_err(err)?;
        Ok(())
    }

    /// Frees a claim whose message was not answered for good (it may be sent again).
    pub async fn release(&self, feed: &str, control_id: &str) -> Result<(), StoreError> {
        let key = self.ack_key(feed, control_id);
        let mut connection = self.connection.clone();
        let value: Option<String> = connection.get(&key).await.map_err(err)?;
        if value.as_deref() == Some(CLAIMED) {
            let _: () = connection.del(&key).await.map_err(err)?;
        }
        Ok(())
    }

    /// The visit index's entry for a visit.
    pub async fn visit(&self, feed: &str, visit: &str) -> Result<Option<VisitEntry>, StoreError> {
        let mut connection = self.connection.clone();
        let value: Option<String> = connection
            .get(self.visit_key(feed, visit))
            .await
            .map_err(err)?;
        Ok(value.and_then(|v| serde_json::from_str(&v).ok()))
    }

    /// Records (or, with `None`, forgets) a visit.
    pub async fn set_visit(
        &self,
        feed: &str,
        visit: &str,
        entry: Option<&VisitEntry>,
    ) -> Result<(), StoreError> {
        let key = self.visit_key(feed, visit);
        let mut connection = self.connection.clone();
        match entry {
            Some(entry) => {
                let json = serde_json::to_string(entry).map_err(err)?;
                let _: () = connection
                    .set_ex(key, json, self.visit_kept.as_secs())
                    .await
                    .map_err(err)?;
            }
            None => {
                let _: () = connection.del(key).await.map_err(err)?;
            }
        }
        Ok(())
    }
}
