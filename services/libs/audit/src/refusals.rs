//! Refusals recorded without letting a flood fill the audit trail.
//!
//! Every refused attempt is audited, but a client that keeps being refused
//! (200 anonymous requests a second) must not write 200 records a second
//! into a stream that can never be purged. [`RefusalAudit`] records each
//! refusal while its client is within a budget (GCRA, the `governor`
//! crate), keyed by identity when the caller is signed in and by client
//! address when not (the forwarded address behind a trusted proxy: the
//! caller puts the resolved address in the record's source). Over budget,
//! the caller answers 429 with `Retry-After`, and the refusal is counted
//! into one aggregate record per client, action and reason, stored with its
//! count ([`AuditRecord::repeated`]) every flush period and when the
//! service stops ([`RefusalAudit::flush`]). Nothing is lost: the individual
//! records plus the aggregates' counts are every refusal. A budget for all
//! clients together bounds what many addresses at once can write: beyond
//! it, refusals of one action and reason from any client are one aggregate.
//!
//! Each replica limits on its own.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use prometheus::{IntCounter, Registry};
use time::OffsetDateTime;

use crate::log::AuditLog;
use crate::record::{AuditRecord, Outcome};

/// What a client over its refusal budget is told (with `Retry-After`).
pub const TOO_MANY_REFUSALS: &str =
    "Too many refused requests from here. Please wait a moment before trying again.";

/// What a refusal was for: only refusals of access are limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// Not signed in, not allowed, or throttled: what a flood consists of.
    /// Limited per client, aggregated beyond the budget.
    Access,
    /// A signed-in, allowed caller's request refused on its merits (a
    /// conflict, a rule broken). Bounded by the caller's write limit and
    /// always recorded one by one.
    Request,
}

impl RefusalKind {
    /// The kind of a refusal by its label: `unauthenticated`, `forbidden`
    /// and `rate_limited` are refusals of access.
    pub fn of_label(label: &str) -> Self {
        match label {
            // A cross-site write is refused before its merits are looked
            // at: an attacker's page can send any number of them.
            "unauthenticated" | "forbidden" | "rate_limited" | "cross_site" => Self::Access,
            _ => Self::Request,
        }
    }
}

/// How many refusals a client may have recorded one by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefusalBudget {
    /// Refusals recorded one by one in a burst.
    pub burst: u32,
    /// Refusals a minute recorded one by one after the burst.
    pub per_minute: u32,
    /// Refusals of access recorded one by one from all clients together
    /// in a burst: many clients (addresses) at once are aggregated too.
    pub all_burst: u32,
    /// Refusals of access a minute recorded one by one from all clients
    /// together after that burst.
    pub all_per_minute: u32,
    /// How often aggregated refusals are stored.
    pub flush_every: Duration,
}

impl Default for RefusalBudget {
    fn default() -> Self {
        Self {
            burst: 30,
            per_minute: 60,
            all_burst: 300,
            all_per_minute: 600,
            flush_every: Duration::from_secs(10),
        }
    }
}

/// Aggregated refusals of one client, action and reason.
struct Pending {
    record: AuditRecord,
    count: u64,
    first: OffsetDateTime,
    last: OffsetDateTime,
}

struct Inner {
    log: AuditLog,
    limiter: DefaultKeyedRateLimiter<String>,
    all: governor::DefaultDirectRateLimiter,
    clock: DefaultClock,
    pending: Mutex<HashMap<(String, String, String), Pending>>,
    limited: IntCounter,
}

/// Records refusals, one by one within each client's budget and
/// aggregated beyond it. Cheap to clone.
#[derive(Clone)]
pub struct RefusalAudit {
    inner: Arc<Inner>,
}

/// The aggregate key of refusals over the budget of all clients together.
const ALL_CLIENTS: &str = "all clients";

/// Most aggregates held between flushes; beyond it they are stored at once.
const MOST_PENDING: usize = 10_000;

impl RefusalAudit {
    /// Refusals recorded into `log` within `budget`, the count of those
    /// over it exported as `pf_audit_refusals_aggregated_total` on
    /// `registry`. Aggregates are stored every `budget.flush_every` while
    /// a clone lives; call [`RefusalAudit::flush`] when stopping.
    pub fn new(
        log: AuditLog,
        budget: RefusalBudget,
        registry: &Registry,
    ) -> Result<Self, prometheus::Error> {
        let limited = IntCounter::new(
            "pf_audit_refusals_aggregated_total",
            "Refusals over a client's budget, answered 429 and kept in aggregate audit records",
        )?;
        registry.register(Box::new(limited.clone()))?;
        let burst = NonZeroU32::new(budget.burst.max(1)).unwrap_or(NonZeroU32::MIN);
        let per_minute = NonZeroU32::new(budget.per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_minute(per_minute).allow_burst(burst);
        let all_burst = NonZeroU32::new(budget.all_burst.max(1)).unwrap_or(NonZeroU32::MIN);
        let all_per_minute =
            NonZeroU32::new(budget.all_per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        let all = Quota::per_minute(all_per_minute).allow_burst(all_burst);
        let inner = Arc::new(Inner {
            log,
            limiter: DefaultKeyedRateLimiter::keyed(quota),
            all: governor::DefaultDirectRateLimiter::direct(all),
            clock: DefaultClock::default(),
            pending: Mutex::new(HashMap::new()),
            limited,
        });
        spawn_flusher(Arc::downgrade(&inner), budget.flush_every);
        Ok(Self { inner })
    }

    /// Records the refusal `record` when it is of [`RefusalKind::Request`]
    /// or its client is within budget (a failure to store it is logged: the
    /// refusal stands either way). Over budget it is counted into its
    /// aggregate instead and `Err(wait)` says how long the client should
    /// wait: answer 429 with `Retry-After` and [`TOO_MANY_REFUSALS`].
    pub async fn refused(&self, record: AuditRecord, kind: RefusalKind) -> Result<(), Duration> {
        let client = client_key(&record);
        let over = match kind {
            RefusalKind::Request => None,
            RefusalKind::Access => match self.inner.limiter.check_key(&client) {
                Err(not_until) => Some((client, not_until)),
                // Many clients at once: one aggregate for all of them.
                Ok(()) => self
                    .inner
                    .all
                    .check()
                    .err()
                    .map(|not_until| (ALL_CLIENTS.to_owned(), not_until)),
            },
        };
        let Some((client, not_until)) = over else {
            if let Err(err) = self.inner.log.record(record).await {
                tracing::error!(cause = %err, "a refusal could not be written to the audit trail");
            }
            return Ok(());
        };
        let wait = not_until.wait_time_from(self.inner.clock.now());
        self.inner.limited.inc();
        if self.aggregate(client, record) {
            self.flush().await;
        }
        Err(wait.max(Duration::from_secs(1)))
    }

    /// Counts `record` into its aggregate; whether the table is full.
    fn aggregate(&self, client: String, record: AuditRecord) -> bool {
        let reason = match &record.outcome {
            Outcome::Refused { reason } => reason.clone(),
            _ => String::new(),
        };
        let key = (client, record.action.clone(), reason);
        let mut pending = self.inner.pending.lock().unwrap_or_else(|e| e.into_inner());
        let at = record.at;
        pending
            .entry(key)
            .and_modify(|p| {
                p.count += 1;
                p.last = at;
            })
            .or_insert(Pending {
                record,
                count: 1,
                first: at,
                last: at,
            });
        pending.len() >= MOST_PENDING
    }

    /// Stores every aggregate now, one record each with its count.
    pub async fn flush(&self) {
        flush(&self.inner).await;
    }
}

/// The proxies whose `X-Forwarded-For` is believed
/// (`PF_TRUSTED_PROXIES`: addresses or CIDR ranges such as `10.0.0.0/8`,
/// comma-separated; in Kubernetes the ingress controller's pod range).
/// Behind an ingress every request's peer is the ingress: without this,
/// every anonymous client would share one refusal budget.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<(std::net::IpAddr, u8)>);

/// The environment variable naming the trusted proxies.
pub const TRUSTED_PROXIES_ENV: &str = "PF_TRUSTED_PROXIES";

/// `PF_TRUSTED_PROXIES` holds something that is not an address or range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{TRUSTED_PROXIES_ENV} must be IP addresses or CIDR ranges (10.0.0.0/8) separated by commas; `{0}` is not one"
)]
pub struct TrustedProxiesError(String);

impl TrustedProxies {
    /// The proxies in `list` (addresses or CIDR ranges separated by commas;
    /// empty: none).
    pub fn parse(list: &str) -> Result<Self, TrustedProxiesError> {
        list.split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(|entry| range(entry).ok_or_else(|| TrustedProxiesError(entry.to_owned())))
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// The proxies named by `PF_TRUSTED_PROXIES` (none when unset).
    pub fn from_env() -> Result<Self, TrustedProxiesError> {
        Self::parse(&std::env::var(TRUSTED_PROXIES_ENV).unwrap_or_default())
    }

    /// Whether `address` is one of the trusted proxies.
    pub fn contains(&self, address: std::net::IpAddr) -> bool {
        self.0
            .iter()
            .any(|(network, prefix)| in_range(address, *network, *prefix))
    }

    /// The client's address: the peer, unless the peer is a trusted proxy;
    /// then the right-most address of `X-Forwarded-For` that is not a
    /// trusted proxy (entries further left are the client's own claims).
    pub fn client(
        &self,
        peer: Option<std::net::IpAddr>,
        headers: &axum::http::HeaderMap,
    ) -> Option<std::net::IpAddr> {
        let peer = peer?;
        if !self.contains(peer) {
            return Some(peer);
        }
        let forwarded: Vec<std::net::IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse().ok())
            .collect();
        Some(
            forwarded
                .into_iter()
                .rev()
                .find(|a| !self.contains(*a))
                .unwrap_or(peer),
        )
    }
}

/// `address` or `address/prefix` as a network and prefix length.
fn range(entry: &str) -> Option<(std::net::IpAddr, u8)> {
    let (address, prefix) = match entry.split_once('/') {
        Some((address, prefix)) => (address.parse().ok()?, Some(prefix.parse::<u8>().ok()?)),
        None => (entry.parse().ok()?, None),
    };
    let bits = if matches!(address, std::net::IpAddr::V4(_)) {
        32
    } else {
        128
    };
    let prefix = prefix.unwrap_or(bits);
    (prefix <= bits).then_some((address, prefix))
}

/// Whether `address` lies in `network/prefix` (same address family only).
fn in_range(address: std::net::IpAddr, network: std::net::IpAddr, prefix: u8) -> bool {
    use std::net::IpAddr::{V4, V6};
    let (a, n, bits) = match (address, network) {
        (V4(a), V4(n)) => (u128::from(u32::from(a)), u128::from(u32::from(n)), 32),
        (V6(a), V6(n)) => (u128::from(a), u128::from(n), 128),
        _ => return false,
    };
    let shift = bits - u32::from(prefix);
    if shift >= 128 {
        return true;
    }
    (a >> shift) == (n >> shift)
}

/// Whom the budget is kept for: the identity when signed in, else the
/// client's address as the record names it.
fn client_key(record: &AuditRecord) -> String {
    if record.actor.id.is_empty() {
        format!(
            "address:{}",
            record.source.ip.as_deref().unwrap_or("unknown")
        )
    } else {
        format!("identity:{}", record.actor.id)
    }
}

async fn flush(inner: &Inner) {
    let drained: Vec<Pending> = {
        let mut pending = inner.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.drain().map(|(_, p)| p).collect()
    };
    for p in drained {
        let reason = match &p.record.outcome {
            Outcome::Refused { reason } => reason.clone(),
            _ => String::new(),
        };
        let fmt = |t: OffsetDateTime| {
            t.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        };
        let summary = format!(
            "refused {} times from {} to {} (over the refusal limit, answered 429): {reason}",
            p.count,
            fmt(p.first),
            fmt(p.last)
        );
        let record = AuditRecord::refused(
            p.record.actor.clone(),
            p.record.action.clone(),
            p.record.entity.clone(),
            summary,
            p.record.source.clone(),
        );
        // Even a count of one is marked: it was answered 429.
        let record = AuditRecord {
            repeated: Some(p.count),
            ..record
        };
        if let Err(err) = inner.log.record(record).await {
            tracing::error!(cause = %err, count = p.count, "aggregated refusals could not be written to the audit trail");
        }
    }
    inner.limiter.retain_recent();
}

fn spawn_flusher(inner: Weak<Inner>, every: Duration) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let Some(inner) = inner.upgrade() else {
                return;
            };
            flush(&inner).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{AuditActor, AuditSource};

    #[test]
    fn the_client_is_the_peer_unless_the_peer_is_a_trusted_proxy() {
        let proxies = TrustedProxies::parse("10.0.0.1, 10.0.0.2").unwrap();
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            axum::http::HeaderValue::from_static("198.51.100.9, 203.0.113.7, 10.0.0.2"),
        );
        let ip = |s: &str| s.parse::<std::net::IpAddr>().ok();
        // Through two trusted proxies: the first address they did not add.
        assert_eq!(proxies.client(ip("10.0.0.1"), &headers), ip("203.0.113.7"));
        // A peer that is not a proxy is the client, whatever it claims.
        assert_eq!(proxies.client(ip("192.0.2.5"), &headers), ip("192.0.2.5"));
        assert_eq!(
            TrustedProxies::default().client(ip("10.0.0.1"), &headers),
            ip("10.0.0.1")
        );
        assert!(TrustedProxies::parse("10.0.0.1, proxy").is_err());
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        let ranges = TrustedProxies::parse("10.42.0.0/16, fd00::/8").unwrap();
        assert!(ranges.contains("10.42.7.1".parse().unwrap()));
        assert!(!ranges.contains("10.43.0.1".parse().unwrap()));
        assert!(ranges.contains("fd12::1".parse().unwrap()));
        assert!(!ranges.contains("fe80::1".parse().unwrap()));
        assert!(
            TrustedProxies::parse("0.0.0.0/0")
                .unwrap()
                .contains("192.0.2.1".parse().unwrap())
        );
    }

    #[test]
    fn the_budget_is_kept_per_identity_or_address() {
        let source = AuditSource::new("gateway", Some("192.0.2.1".into()), None);
        let anonymous =
            AuditRecord::refused(AuditActor::anonymous(), "a.b", "", "no", source.clone());
        assert_eq!(client_key(&anonymous), "address:192.0.2.1");
        let signed_in =
            AuditRecord::refused(AuditActor::person("u1", "RWE"), "a.b", "", "no", source);
        assert_eq!(client_key(&signed_in), "identity:u1");
    }
}
