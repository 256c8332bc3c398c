//! Starting the identity service in-process against real Redis and NATS,
//! and small helpers for cookies and forms.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use pf_access::{LocalIssuer, Principal, demo_principals};
use pf_identity::{Identity, IdentityConfig};
use pf_test_support::{NatsServer, RedisServer};
use reqwest::header::{COOKIE, SET_COOKIE};
use tokio_util::sync::CancellationToken;

/// The demo machine clients' secret in these tests.
pub const DEMO_SECRET: &str = "demo-secret-for-tests";

/// A running identity service and its servers (stopped on drop).
pub struct App {
    /// `http://127.0.0.1:{port}`.
    pub base: String,
    /// The demo issuer, to mint tokens.
    pub issuer: Arc<LocalIssuer>,
    /// An HTTP client that does not follow redirects.
    pub http: reqwest::Client,
    shutdown: CancellationToken,
    _redis: RedisServer,
    _nats: NatsServer,
}

impl Drop for App {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn dashboards() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../dashboards")
}

/// Starts the service with local defaults changed by `adjust`.
pub async fn spawn_with(adjust: impl FnOnce(&mut IdentityConfig)) -> App {
    let redis = RedisServer::start();
    let nats = NatsServer::start();
    // The streams are pf-streams' to create (at install); identity waits for them.
    let client = async_nats::connect(nats.url()).await.unwrap();
    // A small audit bound: the default 20 GiB is refused by a nats-server
    // whose disk has less free space than that, and tests write little.
    let mut streams = pf_streams::StreamsConfig::default();
    streams.audit.max_bytes = 256 * 1024 * 1024;
    pf_streams::ensure(&async_nats::jetstream::new(client), &streams)
        .await
        .unwrap();
    let mut config = IdentityConfig::local(&redis.url(), &nats.url(), dashboards());
    config.demo_client_secret = Some(pf_identity::config::Secret::new(DEMO_SECRET));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    config.public_url = base.clone();
    adjust(&mut config);
    let identity = Identity::build(config).await.unwrap();
    let issuer = identity.issuer.clone().unwrap();
    let shutdown = CancellationToken::new();
    tokio::spawn(identity.serve(listener, shutdown.clone()));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    App {
        base,
        issuer,
        http,
        shutdown,
        _redis: redis,
        _nats: nats,
    }
}

impl App {
    /// A JetStream context on the service's NATS server (no user: full access, as an operator).
    pub async fn jetstream(&self) -> async_nats::jetstream::Context {
        async_nats::jetstream::new(async_nats::connect(self._nats.url()).await.unwrap())
    }
}

/// Starts the service with local defaults.
pub async fn spawn() -> App {
    spawn_with(|_| {}).await
}

/// The demo principal with this id.
pub fn demo(id: &str) -> Principal {
    demo_principals().into_iter().find(|p| p.id == id).unwrap()
}

/// `name=value` of the `Set-Cookie` for `name`, with its attributes.
pub fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// The value of cookie `name` set by `response`.
pub fn cookie_value(response: &reqwest::Response, name: &str) -> Option<String> {
    let header = set_cookie(response, name)?;
    let pair = header.split(';').next()?;
    Some(pair.split_once('=')?.1.to_owned())
}

/// The value of the hidden field `name` in a page.
pub fn hidden_field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')?;
    // minijinja escapes `/` in attributes; a browser reads it back as `/`.
    Some(html[start..start + end].replace("&#x2f;", "/"))
}

impl App {
    /// `{base}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Opens a single-use link's confirm page (sign-in or kiosk setup) and
    /// posts it, as a browser would: the response.
    pub async fn use_link(&self, path: &str) -> reqwest::Response {
        let page = self.http.get(self.url(path)).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let csrf = cookie_value(&page, "pf_csrf").unwrap();
        let html = page.text().await.unwrap();
        assert_eq!(
            hidden_field(&html, "csrf_token").as_deref(),
            Some(csrf.as_str())
        );
        self.http
            .post(self.url(path))
            .header(COOKIE, format!("pf_csrf={csrf}"))
            .form(&[("csrf_token", csrf.as_str())])
            .send()
            .await
            .unwrap()
    }

    /// Opens the sign-in page: its CSRF token (cookie and field are equal).
    pub async fn sign_in_form(&self) -> String {
        let response = self.http.get(self.url("/sign-in")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let cookie = cookie_value(&response, "pf_csrf").unwrap();
        let html = response.text().await.unwrap();
        assert_eq!(
            hidden_field(&html, "csrf_token").as_deref(),
            Some(cookie.as_str())
        );
        cookie
    }

    /// Posts the demo sign-in form for `person` with a valid CSRF token.
    pub async fn post_sign_in(&self, person: &str, return_to: &str) -> reqwest::Response {
        let csrf = self.sign_in_form().await;
        self.http
            .post(self.url("/sign-in"))
            .header(COOKIE, format!("pf_csrf={csrf}"))
            .form(&[
                ("csrf_token", csrf.as_str()),
                ("person", person),
                ("return_to", return_to),
            ])
            .send()
            .await
            .unwrap()
    }

    /// Signs in as a demo person: the `Cookie` header value of the session.
    pub async fn session_of(&self, person: &str) -> String {
        let response = self.post_sign_in(person, "/control-room").await;
        assert_eq!(response.status(), 303);
        format!(
            "pf_session={}",
            cookie_value(&response, "pf_session").unwrap()
        )
    }

    /// A bearer token for `principal` from the demo issuer.
    pub fn token_for(&self, principal: &Principal) -> String {
        self.issuer
            .issue(principal, Duration::from_secs(300))
            .unwrap()
    }

    /// `GET path` with a `Cookie` header.
    pub async fn get_with_cookie(&self, path: &str, cookie: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .header(COOKIE, cookie)
            .send()
            .await
            .unwrap()
    }

    /// The audit trail as the demo administrator sees it (JSON), for `query`.
    pub async fn audit(&self, query: &str) -> Vec<serde_json::Value> {
        let admin = self.token_for(&demo("demo-system-admin"));
        let response = self
            .http
            .get(self.url(&format!("/api/v1/audit?{query}")))
            .bearer_auth(admin)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }
}
