//! Connecting to Redis: one server, or whichever server the Sentinels name
//! as the primary.
//!
//! `PF_REDIS_URL` takes either form:
//!
//! - `redis://user:password@host:6379/0`: one server; the connection
//!   reconnects to that address by itself (a Kubernetes Service in front of
//!   it, or `scripts/start`'s one Redis).
//! - `redis+sentinel://user:password@sentinel-1:26379,sentinel-2:26379/primary-name`
//!   (optionally `?db=N`): ask the Sentinels for the primary named
//!   `primary-name`, and ask again whenever a command fails in a way that
//!   says the primary is gone (connection refused, dropped or timed out) or
//!   is no longer the primary (`READONLY`, `MASTERDOWN`). The user and
//!   password are used for the Sentinels and for the Redis servers alike.
//!
//! [`RedisConnection`] is a [`ConnectionLike`], so commands, pipelines and
//! scripts run on it as on a [`ConnectionManager`]. A command that fails
//! while the primary changes is not retried here: its error goes back to
//! the caller, which retries as it already does after a dropped connection,
//! and the next command goes to the new primary.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use ::redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use ::redis::sentinel::{Sentinel, SentinelNodeConnectionInfo};
use ::redis::{
    AsyncConnectionConfig, Client, Cmd, ErrorKind, IntoConnectionInfo, Pipeline, RedisError,
    RedisFuture, RedisResult, ServerErrorKind, Value,
};

/// The scheme of the Sentinel form of `PF_REDIS_URL`.
pub const SENTINEL_SCHEME: &str = "redis+sentinel://";

/// Where a service's Redis is, as `PF_REDIS_URL` says.
#[derive(Debug, Clone)]
pub enum RedisTarget {
    /// One server at this URL.
    Single(String),
    /// The primary the Sentinels name.
    Sentinel {
        /// The Sentinels' URLs (`redis://user:password@host:port`).
        sentinels: Vec<String>,
        /// The primary's name in the Sentinels' configuration.
        primary: String,
        /// The URL whose user, password and database the Redis servers are
        /// connected with (its address is not used).
        node: String,
    },
}

impl RedisTarget {
    /// Reads either form of `PF_REDIS_URL`; an error says what is wrong with it.
    pub fn parse(url: &str) -> RedisResult<Self> {
        let Some(rest) = url.strip_prefix(SENTINEL_SCHEME) else {
            // Checked now so that a wrong URL is refused at start.
            let _ = url.into_connection_info()?;
            return Ok(Self::Single(url.to_owned()));
        };
        let invalid = |why: &'static str| RedisError::from((ErrorKind::InvalidClientConfig, why));
        let (authority, path) = rest.split_once('/').ok_or_else(|| {
            invalid("a redis+sentinel URL needs the primary's name after the Sentinels' addresses")
        })?;
        let (path, query) = match path.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (path, None),
        };
        let primary = path.trim_end_matches('/');
        if primary.is_empty() || primary.contains('/') {
            return Err(invalid(
                "a redis+sentinel URL ends with the primary's name: redis+sentinel://host:26379/name",
            ));
        }
        let (userinfo, hosts) = match authority.rsplit_once('@') {
            Some((userinfo, hosts)) => (Some(userinfo), hosts),
            None => (None, authority),
        };
        let prefix = userinfo.map(|u| format!("{u}@")).unwrap_or_default();
        let sentinels: Vec<String> = hosts
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(|h| format!("redis://{prefix}{h}"))
            .collect();
        let Some(first) = sentinels.first() else {
            return Err(invalid(
                "a redis+sentinel URL needs at least one Sentinel address",
            ));
        };
        for sentinel in &sentinels {
            let _ = sentinel.as_str().into_connection_info()?;
        }
        let db = match query {
            None | Some("") => String::new(),
            Some(query) => {
                let db = query
                    .split('&')
                    .find_map(|pair| pair.strip_prefix("db="))
                    .ok_or_else(|| invalid("a redis+sentinel URL takes only `?db=N`"))?;
                db.parse::<u32>()
                    .map_err(|_| invalid("`db` in a redis+sentinel URL is a number"))?;
                format!("/{db}")
            }
        };
        let node = format!("{first}{db}");
        let _ = node.as_str().into_connection_info()?;
        Ok(Self::Sentinel {
            sentinels,
            primary: primary.to_owned(),
            node,
        })
    }
}

/// A connection to Redis that reconnects by itself and, in the Sentinel
/// form, follows the primary when the Sentinels promote another server.
/// Cheap to clone: clones share the connection.
#[derive(Clone)]
pub struct RedisConnection {
    inner: Inner,
}

#[derive(Clone)]
enum Inner {
    Single(ConnectionManager),
    Sentinel(Arc<Follower>),
}

/// The Sentinel form's state: the connection to the primary it last found,
/// and how to find it again.
struct Follower {
    current: RwLock<Current>,
    /// Held while asking the Sentinels, so one failure asks once.
    sentinel: tokio::sync::Mutex<Sentinel>,
    primary: String,
    node: SentinelNodeConnectionInfo,
    config: ConnectionManagerConfig,
    generation: AtomicU64,
}

#[derive(Clone)]
struct Current {
    address: String,
    generation: u64,
    connection: ConnectionManager,
}

impl RedisConnection {
    /// Connects as `url` says (either form of `PF_REDIS_URL`), each
    /// connection made with `config`.
    pub async fn connect(url: &str, config: ConnectionManagerConfig) -> RedisResult<Self> {
        match RedisTarget::parse(url)? {
            RedisTarget::Single(url) => {
                let client = Client::open(url)?;
                let connection = client.get_connection_manager_with_config(config).await?;
                Ok(Self {
                    inner: Inner::Single(connection),
                })
            }
            RedisTarget::Sentinel {
                sentinels,
                primary,
                node,
            } => {
                let (sentinel, node, client) = ask_sentinels(sentinels, &primary, &node).await?;
                let address = client.get_connection_info().addr().to_string();
                let connection = ConnectionManager::new_with_config(client, config.clone()).await?;
                tracing::info!(primary = %primary, address = %address, "connected to the Redis primary named by the Sentinels");
                Ok(Self {
                    inner: Inner::Sentinel(Arc::new(Follower {
                        current: RwLock::new(Current {
                            address,
                            generation: 0,
                            connection,
                        }),
                        sentinel: tokio::sync::Mutex::new(sentinel),
                        primary,
                        node,
                        config,
                        generation: AtomicU64::new(0),
                    })),
                })
            }
        }
    }

    /// The address of the server commands go to now (`host:port`), for
    /// logs and tests; `None` in the one-server form.
    pub fn primary_address(&self) -> Option<String> {
        match &self.inner {
            Inner::Single(_) => None,
            Inner::Sentinel(follower) => Some(follower.current().address),
        }
    }
}

/// Asks the Sentinels for the primary named `primary`: the Sentinels'
/// client, the node settings (user, password, database) and a client of
/// the primary.
async fn ask_sentinels(
    sentinels: Vec<String>,
    primary: &str,
    node: &str,
) -> RedisResult<(Sentinel, SentinelNodeConnectionInfo, Client)> {
    let mut sentinel = Sentinel::build(sentinels)?;
    let node = SentinelNodeConnectionInfo::default()
        .set_redis_connection_info(node.into_connection_info()?.redis_settings().clone());
    let client = sentinel.async_master_for(primary, Some(&node)).await?;
    Ok((sentinel, node, client))
}

/// One connection of its own to the server `url` names (either form of
/// `PF_REDIS_URL`; in the Sentinel form, the primary the Sentinels name
/// now), which never reconnects by itself: once it fails, every later
/// command on it fails too, and the caller connects again. For what must
/// not silently move to a new connection between two round trips (a
/// `WATCH` and the transaction it guards).
pub async fn connect_once(
    url: &str,
    config: &AsyncConnectionConfig,
) -> RedisResult<MultiplexedConnection> {
    let client = match RedisTarget::parse(url)? {
        RedisTarget::Single(url) => Client::open(url)?,
        RedisTarget::Sentinel {
            sentinels,
            primary,
            node,
        } => ask_sentinels(sentinels, &primary, &node).await?.2,
    };
    client
        .get_multiplexed_async_connection_with_config(config)
        .await
}

/// Whether `error` may mean that the server is no longer the primary.
fn primary_may_have_changed(error: &RedisError) -> bool {
    error.is_io_error()
        || error.is_connection_refusal()
        || error.is_connection_dropped()
        || error.is_timeout()
        || matches!(
            error.kind(),
            ErrorKind::Server(ServerErrorKind::ReadOnly | ServerErrorKind::MasterDown)
        )
}

impl Follower {
    fn current(&self) -> Current {
        match self.current.read() {
            Ok(current) => current.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Asks the Sentinels for the primary after a command on connection
    /// `generation` failed, and moves to it if it is another server. Does
    /// nothing if another command already moved since.
    async fn follow(&self, generation: u64) {
        let mut sentinel = self.sentinel.lock().await;
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        let client = match sentinel
            .async_master_for(&self.primary, Some(&self.node))
            .await
        {
            Ok(client) => client,
            Err(error) => {
                tracing::warn!(primary = %self.primary, %error, "the Sentinels name no reachable Redis primary yet");
                return;
            }
        };
        let address = client.get_connection_info().addr().to_string();
        if address == self.current().address {
            return;
        }
        let connection = match ConnectionManager::new_with_config(client, self.config.clone()).await
        {
            Ok(connection) => connection,
            Err(error) => {
                tracing::warn!(primary = %self.primary, %address, %error, "could not connect to the new Redis primary");
                return;
            }
        };
        let generation = generation + 1;
        self.generation.store(generation, Ordering::Release);
        let replaced = Current {
            address: address.clone(),
            generation,
            connection,
        };
        match self.current.write() {
            Ok(mut current) => *current = replaced,
            Err(poisoned) => *poisoned.into_inner() = replaced,
        }
        tracing::warn!(primary = %self.primary, %address, "following the new Redis primary");
    }
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match &mut self.inner {
            Inner::Single(connection) => connection.req_packed_command(cmd),
            Inner::Sentinel(follower) => Box::pin(async move {
                let mut current = follower.current();
                let result = current.connection.req_packed_command(cmd).await;
                if let Err(error) = &result
                    && primary_may_have_changed(error)
                {
                    follower.follow(current.generation).await;
                }
                result
            }),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match &mut self.inner {
            Inner::Single(connection) => connection.req_packed_commands(pipeline, offset, count),
            Inner::Sentinel(follower) => Box::pin(async move {
                let mut current = follower.current();
                let result = current
                    .connection
                    .req_packed_commands(pipeline, offset, count)
                    .await;
                if let Err(error) = &result
                    && primary_may_have_changed(error)
                {
                    follower.follow(current.generation).await;
                }
                result
            }),
        }
    }

    fn get_db(&self) -> i64 {
        match &self.inner {
            Inner::Single(connection) => connection.get_db(),
            Inner::Sentinel(follower) => follower.current().connection.get_db(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_one_server_form_is_unchanged() {
        match RedisTarget::parse("redis://pf-gateway:secret@127.0.0.1:6379/0") {
            Ok(RedisTarget::Single(url)) => {
                assert_eq!(url, "redis://pf-gateway:secret@127.0.0.1:6379/0")
            }
            other => panic!("expected one server, got {other:?}"),
        }
    }

    #[test]
    fn the_sentinel_form_lists_sentinels_and_names_the_primary() {
        let parsed = RedisTarget::parse(
            "redis+sentinel://pf-gateway:secret@10.0.0.1:26379,10.0.0.2:26380/pf-live?db=2",
        );
        match parsed {
            Ok(RedisTarget::Sentinel {
                sentinels,
                primary,
                node,
            }) => {
                assert_eq!(
                    sentinels,
                    [
                        "redis://pf-gateway:secret@10.0.0.1:26379",
                        "redis://pf-gateway:secret@10.0.0.2:26380"
                    ]
                );
                assert_eq!(primary, "pf-live");
                assert_eq!(node, "redis://pf-gateway:secret@10.0.0.1:26379/2");
            }
            other => panic!("expected the Sentinel form, got {other:?}"),
        }
    }

    #[test]
    fn a_sentinel_url_without_a_primary_name_or_address_is_refused() {
        for url in [
            "redis+sentinel://127.0.0.1:26379",
            "redis+sentinel://127.0.0.1:26379/",
            "redis+sentinel:///pf-live",
            "redis+sentinel://127.0.0.1:26379/pf-live?db=two",
            "redis+sentinel://127.0.0.1:26379/a/b",
        ] {
            assert!(RedisTarget::parse(url).is_err(), "{url} was accepted");
        }
        assert!(RedisTarget::parse("http://127.0.0.1:6379").is_err());
    }
}
