//! The register of care-home sign-in links issued from the administration
//! pages and the API: who got one, for which homes, when it expires,
//! whether it was used, and how it was delivered. The link itself (its
//! token) is never kept: only the sign-in store's hash of it is.
//!
//! One entry per person (the latest link), in one Redis hash under the
//! sign-in prefix (`{prefix}admin-links`), read whole by the pages: a
//! region has a few thousand care-home staff at most.

use pf_runtime::RedisConnection;
use redis::AsyncCommands as _;
use redis::aio::ConnectionManagerConfig;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The register could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// A Redis command failed.
    #[error("the sign-in store is unavailable: {0}")]
    Redis(#[from] redis::RedisError),
    /// An entry could not be written or read back.
    #[error("the register of sign-in links holds unreadable data: {0}")]
    Corrupt(#[from] serde_json::Error),
}

/// The latest sign-in link of one person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedLink {
    /// The person's id.
    pub person_id: String,
    /// Their name.
    pub name: String,
    /// The CQC location ids of their homes.
    pub care_homes: Vec<String>,
    /// When the link was issued (seconds since the epoch).
    pub issued_at: i64,
    /// When it stops working.
    pub expires_at: i64,
    /// The administrator who issued it.
    pub issued_by: String,
    /// When it was used, once it was.
    #[serde(default)]
    pub used_at: Option<i64>,
    /// How it was delivered ("email to …", "text message to …"), when it
    /// was sent rather than shown to copy.
    #[serde(default)]
    pub delivered: Option<String>,
}

/// What became of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkStatus {
    /// Not used yet, still working.
    Pending,
    /// Used to sign in.
    Used,
    /// Not used in time.
    Expired,
    /// Withdrawn (the person's access was withdrawn since it was issued).
    Withdrawn,
}

impl LinkStatus {
    /// The status in words.
    pub fn label(self) -> &'static str {
        match self {
            LinkStatus::Pending => "Pending",
            LinkStatus::Used => "Used",
            LinkStatus::Expired => "Expired",
            LinkStatus::Withdrawn => "Withdrawn",
        }
    }
}

impl IssuedLink {
    /// Its status at `now`, given whether the person is revoked (or had
    /// their links withdrawn) after it was issued.
    pub fn status(&self, now: i64, withdrawn: bool) -> LinkStatus {
        if self.used_at.is_some() {
            LinkStatus::Used
        } else if withdrawn {
            LinkStatus::Withdrawn
        } else if now >= self.expires_at {
            LinkStatus::Expired
        } else {
            LinkStatus::Pending
        }
    }
}

/// The register, in Redis.
#[derive(Clone)]
pub struct LinkRegister {
    connection: RedisConnection,
    key: String,
    withdrawn_key: String,
}

impl LinkRegister {
    /// Connects to Redis; keys under `prefix` (the sign-in store's).
    pub async fn connect(redis_url: &str, prefix: &str) -> Result<Self, RegisterError> {
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(std::time::Duration::from_secs(5)))
            .set_connection_timeout(Some(std::time::Duration::from_secs(5)));
        let connection = RedisConnection::connect(redis_url, config).await?;
        Ok(Self {
            connection,
            key: format!("{prefix}admin-links"),
            withdrawn_key: format!("{prefix}admin-links-withdrawn"),
        })
    }

    /// Records a new link (replacing the person's earlier entry).
    pub async fn issued(&self, link: &IssuedLink) -> Result<(), RegisterError> {
        let mut connection = self.connection.clone();
        let _: () = redis::pipe()
            .hset(&self.key, &link.person_id, serde_json::to_string(link)?)
            .hdel(&self.withdrawn_key, &link.person_id)
            .query_async(&mut connection)
            .await?;
        Ok(())
    }

    /// Records how a person's latest link was delivered.
    pub async fn delivered(&self, person_id: &str, how: &str) -> Result<(), RegisterError> {
        self.update(person_id, |link| link.delivered = Some(how.to_owned()))
            .await
    }

    /// Records that a person's latest link was used.
    pub async fn used(&self, person_id: &str) -> Result<(), RegisterError> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        self.update(person_id, |link| link.used_at = Some(now))
            .await
    }

    /// Records that a person's links were withdrawn (at `at`).
    pub async fn withdrawn(&self, person_id: &str) -> Result<(), RegisterError> {
        let mut connection = self.connection.clone();
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let _: () = connection.hset(&self.withdrawn_key, person_id, now).await?;
        Ok(())
    }

    async fn update(
        &self,
        person_id: &str,
        change: impl FnOnce(&mut IssuedLink),
    ) -> Result<(), RegisterError> {
        let mut connection = self.connection.clone();
        let stored: Option<String> = connection.hget(&self.key, person_id).await?;
        let Some(stored) = stored else {
            return Ok(());
        };
        let mut link: IssuedLink = serde_json::from_str(&stored)?;
        change(&mut link);
        let _: () = connection
            .hset(&self.key, person_id, serde_json::to_string(&link)?)
            .await?;
        Ok(())
    }

    /// One person's latest link.
    pub async fn get(&self, person_id: &str) -> Result<Option<IssuedLink>, RegisterError> {
        let mut connection = self.connection.clone();
        let stored: Option<String> = connection.hget(&self.key, person_id).await?;
        Ok(stored.map(|s| serde_json::from_str(&s)).transpose()?)
    }

    /// Every person's latest link, newest first, with when their links
    /// were withdrawn (if after issue).
    pub async fn all(&self) -> Result<Vec<(IssuedLink, bool)>, RegisterError> {
        let mut connection = self.connection.clone();
        let (stored, withdrawn): (
            std::collections::HashMap<String, String>,
            std::collections::HashMap<String, i64>,
        ) = redis::pipe()
            .hgetall(&self.key)
            .hgetall(&self.withdrawn_key)
            .query_async(&mut connection)
            .await?;
        let mut links = stored
            .values()
            .map(|s| serde_json::from_str::<IssuedLink>(s))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .map(|link| {
                let gone = withdrawn
                    .get(&link.person_id)
                    .is_some_and(|at| *at >= link.issued_at);
                (link, gone)
            })
            .collect::<Vec<_>>();
        links.sort_by_key(|link| std::cmp::Reverse(link.0.issued_at));
        Ok(links)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_is_used_withdrawn_expired_or_pending() {
        let mut link = IssuedLink {
            person_id: "jo".into(),
            name: "Jo".into(),
            care_homes: vec!["1-000000001".into()],
            issued_at: 100,
            expires_at: 200,
            issued_by: "admin".into(),
            used_at: None,
            delivered: None,
        };
        assert_eq!(link.status(150, false), LinkStatus::Pending);
        assert_eq!(link.status(200, false), LinkStatus::Expired);
        assert_eq!(link.status(150, true), LinkStatus::Withdrawn);
        link.used_at = Some(120);
        assert_eq!(link.status(250, true), LinkStatus::Used);
    }
}
