//! Who may see the control room: a signed-in principal the policy allows
//! `Action::ViewControlRoom` (aggregates only, never patient-level data).

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use pf_access::{Action, Principal};
use std::net::IpAddr;
use std::sync::Arc;

use pf_audit::{AuditActor, AuditRecord, AuditSource};
use pf_sign_in::AuthError;

use crate::AppState;

/// Why a viewer was turned away.
#[derive(Debug)]
pub enum Denied {
    /// Not signed in (or the session ended): sign in first.
    NotSignedIn(AuthError),
    /// Signed in, but the role does not include the control room.
    NotAllowed(String),
    /// Refused too often from here: wait this long (the refusals are
    /// counted in one aggregate audit record, not one record each).
    TooMany(std::time::Duration),
}

/// The answer to a client refused too often: 429 with `Retry-After`.
fn too_many(wait: std::time::Duration) -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(
            axum::http::header::RETRY_AFTER,
            wait.as_secs().max(1).to_string(),
        )],
        pf_audit::TOO_MANY_REFUSALS,
    )
        .into_response()
}

/// The audit trail's action for viewing the control room.
pub const VIEW: &str = "control_room.view";

/// Checks that the caller may view the control room; a refusal is recorded
/// in the audit trail (who, when, from where, why) before the answer.
pub async fn control_room_viewer(
    app: &AppState,
    headers: &HeaderMap,
    address: Option<IpAddr>,
) -> Result<Principal, Denied> {
    let (principal, denied) = match app.authenticator.authenticate(headers).await {
        Err(err) => (None, Some(Denied::NotSignedIn(err))),
        Ok((principal, _)) => match principal.permits(&Action::ViewControlRoom).require() {
            Ok(_) => return Ok(principal),
            Err(refused) => (
                Some(principal),
                Some(Denied::NotAllowed(refused.to_string())),
            ),
        },
    };
    let denied = denied.unwrap_or(Denied::NotAllowed(String::new()));
    let reason = reason_of(&denied);
    if let Err(wait) = record_refusal(
        app,
        principal.as_ref(),
        VIEW,
        "control-room",
        reason,
        headers,
        address,
    )
    .await
    {
        return Err(Denied::TooMany(wait));
    }
    Err(denied)
}

/// Sign-in checks of the control room's live connections, shared by every
/// connection with the same credential (bearer token or cookies).
///
/// A wall checks its sign-in again on every heartbeat; with thousands of
/// walls signed in with one token that was thousands of token verifications
/// and revocation look-ups a minute. Here a credential's full check (the
/// token's signature, the session, the revocation list) runs at most once
/// per `every` for all connections using it, and a bearer token's expiry is
/// checked locally on every heartbeat. Only successful checks are shared: a
/// refusal is checked (and recorded) per connection. A new connection is
/// never let in on a shared check: its handshake is checked in full, so a
/// person revoked a moment ago is refused at once.
pub struct ViewerChecks {
    every: std::time::Duration,
    checked: std::sync::Mutex<std::collections::HashMap<Arc<str>, Shared>>,
    /// Full checks run (for the tests and the logs).
    full_checks: std::sync::atomic::AtomicU64,
}

/// One credential's shared check: started at `at`, its outcome the token's
/// expiry (Unix seconds) if it says.
#[derive(Clone)]
struct Shared {
    at: std::time::Instant,
    outcome: Arc<tokio::sync::OnceCell<Option<i64>>>,
}

impl ViewerChecks {
    /// Checks shared for `every` (the heartbeat interval: a revoked sign-in
    /// is noticed within two heartbeats).
    pub fn new(every: std::time::Duration) -> Self {
        Self {
            every,
            checked: std::sync::Mutex::new(std::collections::HashMap::new()),
            full_checks: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Full checks run so far.
    pub fn full_checks(&self) -> u64 {
        self.full_checks.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn shared(&self, key: &Arc<str>, fresh: bool) -> Shared {
        let mut checked = self.checked.lock().unwrap_or_else(|e| e.into_inner());
        let now = std::time::Instant::now();
        // Forget what is too old to be used, now and then (a map of credentials in use).
        if checked.len() >= 64 && checked.len().is_power_of_two() {
            checked.retain(|_, s| now.duration_since(s.at) < self.every);
        }
        let entry = checked.entry(Arc::clone(key)).or_insert_with(|| Shared {
            at: now,
            outcome: Arc::default(),
        });
        if fresh || now.duration_since(entry.at) >= self.every {
            *entry = Shared {
                at: now,
                outcome: Arc::default(),
            };
        }
        entry.clone()
    }

    fn forget(&self, key: &Arc<str>, shared: &Shared) {
        let mut checked = self.checked.lock().unwrap_or_else(|e| e.into_inner());
        if checked
            .get(key)
            .is_some_and(|s| Arc::ptr_eq(&s.outcome, &shared.outcome))
        {
            checked.remove(key);
        }
    }

    /// Whether the caller (still) may view the control room: as
    /// [`control_room_viewer`], shared with the connections that use the
    /// same credential while the last check is younger than `every`.
    pub async fn check(
        &self,
        app: &AppState,
        headers: &HeaderMap,
        address: Option<IpAddr>,
    ) -> Result<(), Denied> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        self.check_with(credential(headers), now, || async {
            control_room_viewer(app, headers, address).await?;
            Ok(bearer_expiry(headers))
        })
        .await
    }

    /// The shared check of credential `key` at `now` (Unix seconds): `full`
    /// (the whole check, answering the token's expiry if it has one) runs
    /// unless a check of the same credential that succeeded, or is running,
    /// can be used.
    async fn check_with<F, Fut>(&self, key: Arc<str>, now: i64, full: F) -> Result<(), Denied>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Option<i64>, Denied>>,
    {
        let mut shared = self.shared(&key, false);
        if let Some(Some(expires)) = shared.outcome.get()
            && *expires <= now
        {
            // Expired since: check afresh (refused, and recorded, below).
            shared = self.shared(&key, true);
        }
        let outcome = shared
            .outcome
            .get_or_try_init(|| {
                self.full_checks
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                full()
            })
            .await;
        match outcome {
            Ok(_) => Ok(()),
            Err(denied) => {
                self.forget(&key, &shared);
                Err(denied)
            }
        }
    }
}

/// What identifies a caller's sign-in: the `Authorization` header and the
/// cookies (the authenticator reads nothing else).
fn credential(headers: &HeaderMap) -> Arc<str> {
    let mut key = String::new();
    for value in headers.get_all(axum::http::header::AUTHORIZATION) {
        key.push_str(&String::from_utf8_lossy(value.as_bytes()));
        key.push('\n');
    }
    key.push('\n');
    for value in headers.get_all(axum::http::header::COOKIE) {
        key.push_str(&String::from_utf8_lossy(value.as_bytes()));
        key.push('\n');
    }
    key.into()
}

/// The `exp` (Unix seconds) of a bearer token that was verified already
/// (only read here, never trusted on its own).
fn bearer_expiry(headers: &HeaderMap) -> Option<i64> {
    use base64::Engine as _;
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let payload = token.trim().split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()?
        .get("exp")?
        .as_i64()
}

fn reason_of(denied: &Denied) -> String {
    match denied {
        Denied::NotSignedIn(err) => err.to_string(),
        Denied::NotAllowed(reason) => reason.clone(),
        Denied::TooMany(_) => pf_audit::TOO_MANY_REFUSALS.to_owned(),
    }
}

/// A page request that was turned away: to sign-in, or a plain refusal.
pub fn page_refusal(app: &AppState, denied: Denied, path: &str) -> Response {
    match denied {
        Denied::NotSignedIn(AuthError::Unavailable(_)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign-in is unavailable right now. Please try again in a moment.",
        )
            .into_response(),
        Denied::NotSignedIn(_) => {
            pf_web::sign_in_redirect(&app.config.sign_in_url, &app.config.public_url, path)
        }
        Denied::NotAllowed(reason) => (StatusCode::FORBIDDEN, reason).into_response(),
        Denied::TooMany(wait) => too_many(wait),
    }
}

/// A websocket upgrade that was turned away.
pub fn api_refusal(denied: Denied) -> Response {
    match denied {
        Denied::NotSignedIn(err) => err.into_response(),
        Denied::NotAllowed(reason) => (
            StatusCode::FORBIDDEN,
            axum::Json(serde_json::json!({ "error": reason })),
        )
            .into_response(),
        Denied::TooMany(wait) => too_many(wait),
    }
}

/// Records a refused attempt in the audit trail (who, when, from where,
/// why) within the client's refusal budget (the client is the peer, or the
/// forwarded address behind a trusted proxy); beyond it the refusal is
/// counted into an aggregate record and `Err(wait)`: answer 429.
pub async fn record_refusal(
    app: &AppState,
    principal: Option<&Principal>,
    action: &str,
    entity: &str,
    reason: String,
    headers: &HeaderMap,
    address: Option<IpAddr>,
) -> Result<(), std::time::Duration> {
    let actor = principal
        .map(AuditActor::of)
        .unwrap_or_else(AuditActor::anonymous);
    let user_agent = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let client = app.config.trusted_proxies.client(address, headers);
    let source = AuditSource::new("gateway", client.map(|a| a.to_string()), user_agent);
    app.metrics.refused.inc();
    let record = AuditRecord::refused(actor, action, entity, reason, source);
    // Every refusal here is one of access (not signed in, not allowed, a
    // foreign page).
    app.refusals
        .refused(record, pf_audit::RefusalKind::Access)
        .await
}

/// The audit trail's action for following discharge notifications.
pub const FOLLOW_DISCHARGES: &str = "discharges.live";

/// Checks that the caller is a discharge coordinator (allowed
/// `Action::ManagePatients` for at least one organisation); their
/// organisations' ODS codes. A refusal is recorded in the audit trail.
pub async fn discharge_coordinator(
    app: &AppState,
    headers: &HeaderMap,
    address: Option<IpAddr>,
) -> Result<(Principal, std::collections::BTreeSet<String>), Denied> {
    let (principal, denied) = match app.authenticator.authenticate(headers).await {
        Err(err) => (None, Denied::NotSignedIn(err)),
        Ok((principal, _)) => {
            let organisations: std::collections::BTreeSet<String> = principal
                .ods_organisations(pf_access::Role::DischargeCoordinator)
                .filter(|ods| {
                    principal
                        .permits(&Action::ManagePatients {
                            ods: (*ods).clone(),
                        })
                        .is_allowed()
                })
                .map(|ods| ods.as_str().to_owned())
                .collect();
            if !organisations.is_empty() {
                return Ok((principal, organisations));
            }
            (
                Some(principal),
                Denied::NotAllowed(
                    "Live discharge notifications are for discharge coordinators.".to_owned(),
                ),
            )
        }
    };
    let reason = reason_of(&denied);
    if let Err(wait) = record_refusal(
        app,
        principal.as_ref(),
        FOLLOW_DISCHARGES,
        "discharges",
        reason,
        headers,
        address,
    )
    .await
    {
        return Err(Denied::TooMany(wait));
    }
    Err(denied)
}

/// `scheme://host[:port]` of a URL, lower-cased, without a path.
pub fn origin_of(url: &str) -> String {
    let url = url.trim().to_ascii_lowercase();
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
            format!("{scheme}://{host}")
        }
        None => url,
    }
}

/// Whether a browser page at `origin` may open a websocket here: a page of
/// one of `pages` (public addresses), or one this gateway served itself
/// (the origin's host is the request's `Host`).
pub fn origin_allowed(origin: &str, host: Option<&str>, pages: &[&str]) -> bool {
    let origin = origin_of(origin);
    let same_host = host.is_some_and(|host| {
        origin
            .split_once("://")
            .is_some_and(|(_, origin_host)| origin_host == host.trim().to_ascii_lowercase())
    });
    same_host || pages.iter().any(|page| origin_of(page) == origin)
}

/// Browsers send an `Origin` with every websocket upgrade (other clients
/// need not): a page elsewhere must not open a live feed with a signed-in
/// person's cookie. The refusal (403, recorded in the audit trail), or
/// `None` when the upgrade may go on.
pub async fn refuse_foreign_origin(
    app: &AppState,
    headers: &HeaderMap,
    address: Option<IpAddr>,
    action: &str,
    entity: &str,
    pages: &[&str],
) -> Option<Response> {
    let origin = headers.get(axum::http::header::ORIGIN)?;
    let origin = origin.to_str().unwrap_or_default();
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok());
    if origin_allowed(origin, host, pages) {
        return None;
    }
    let principal = app
        .authenticator
        .authenticate(headers)
        .await
        .ok()
        .map(|(p, _)| p);
    let page = origin_of(origin);
    if let Err(wait) = record_refusal(
        app,
        principal.as_ref(),
        action,
        entity,
        format!("a page at {page} may not open this live feed"),
        headers,
        address,
    )
    .await
    {
        return Some(too_many(wait));
    }
    Some(
        (
            StatusCode::FORBIDDEN,
            axum::Json(serde_json::json!({ "error": "a page on another site may not open this live feed" })),
        )
            .into_response(),
    )
}

#[cfg(test)]
mod viewer_check_tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn checks() -> ViewerChecks {
        ViewerChecks::new(std::time::Duration::from_secs(3600))
    }

    async fn allowed(runs: &AtomicU32, expires: Option<i64>) -> Result<Option<i64>, Denied> {
        runs.fetch_add(1, Ordering::SeqCst);
        tokio::task::yield_now().await;
        Ok(expires)
    }

    #[tokio::test]
    async fn connections_with_the_same_sign_in_share_one_check() {
        let checks = checks();
        let runs = AtomicU32::new(0);
        let key: Arc<str> = "Bearer a".into();
        // Many connections at once (a wall of screens coming back): one check.
        let all = futures::future::join_all(
            (0..50).map(|_| checks.check_with(key.clone(), 100, || allowed(&runs, Some(1_000)))),
        )
        .await;
        assert!(all.iter().all(Result::is_ok));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        // Their heartbeats later on reuse it too.
        checks
            .check_with(key.clone(), 200, || allowed(&runs, Some(1_000)))
            .await
            .expect("allowed");
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(checks.full_checks(), 1);
        // Another sign-in is checked on its own.
        checks
            .check_with("Bearer b".into(), 200, || allowed(&runs, None))
            .await
            .expect("allowed");
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_expired_token_is_checked_again_and_a_refusal_is_never_shared() {
        let checks = checks();
        let runs = AtomicU32::new(0);
        let key: Arc<str> = "Bearer a".into();
        checks
            .check_with(key.clone(), 100, || allowed(&runs, Some(150)))
            .await
            .expect("allowed");
        // Past the token's exp: the whole check runs again, and refuses.
        let refused = checks
            .check_with(key.clone(), 150, || async {
                runs.fetch_add(1, Ordering::SeqCst);
                Err(Denied::NotAllowed("expired".into()))
            })
            .await;
        assert!(matches!(refused, Err(Denied::NotAllowed(_))));
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        // A refusal is not remembered: the next connection is checked (and recorded) itself.
        let refused = checks
            .check_with(key.clone(), 151, || async {
                runs.fetch_add(1, Ordering::SeqCst);
                Err(Denied::NotAllowed("expired".into()))
            })
            .await;
        assert!(refused.is_err());
        assert_eq!(runs.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn a_bearer_tokens_expiry_is_read_from_its_payload() {
        use base64::Engine as _;
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"sub":"loadtest","exp":1800000000}"#);
        let mut headers = HeaderMap::new();
        headers.insert(
            axum::http::header::AUTHORIZATION,
            format!("Bearer eyJhbGciOiJFUzI1NiJ9.{payload}.c2ln")
                .parse()
                .expect("header"),
        );
        assert_eq!(bearer_expiry(&headers), Some(1_800_000_000));
        headers.insert(
            axum::http::header::AUTHORIZATION,
            "Bearer not-a-jwt".parse().expect("header"),
        );
        assert_eq!(bearer_expiry(&headers), None);
        assert_eq!(bearer_expiry(&HeaderMap::new()), None);
    }
}

#[cfg(test)]
mod origin_tests {
    use super::*;

    #[test]
    fn origins_compare_without_paths_or_case() {
        assert_eq!(origin_of("http://127.0.0.1:8085/"), "http://127.0.0.1:8085");
        assert_eq!(origin_of("HTTP://Example.org/x?y"), "http://example.org");
        assert_ne!(
            origin_of("http://127.0.0.1:8086"),
            origin_of("http://127.0.0.1:8085")
        );
    }

    #[test]
    fn a_page_may_open_a_feed_from_its_own_host_or_a_configured_page() {
        let pages = ["http://127.0.0.1:8085"];
        assert!(origin_allowed(
            "http://127.0.0.1:8085",
            Some("other:1"),
            &pages
        ));
        assert!(origin_allowed(
            "https://wall.example",
            Some("WALL.example"),
            &[]
        ));
        assert!(!origin_allowed(
            "https://evil.example",
            Some("wall.example"),
            &pages
        ));
        assert!(!origin_allowed("https://evil.example", None, &pages));
        assert!(!origin_allowed("null", Some("wall.example"), &pages));
    }
}
