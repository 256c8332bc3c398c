//! A real OpenID provider for sign-in tests: the npm package
//! `oidc-provider` started by `dashboards/oidc-provider/start.mjs`, shaped
//! like NHS CIS2 or Entra ID, and the identity service in this process
//! with that provider as its staff provider (roles from the example mapping
//! files in `docs/sign-in/`).

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use pf_access::{ClaimMapping, IssuerConfig, JwksSource};
use pf_identity::Identity;
use pf_identity::config::{ClientAuth, IdentityConfig, OidcClientConfig, Secret};
use pf_test_support::{NatsServer, RedisServer};
use tokio_util::sync::CancellationToken;

use crate::dashboards_dir;

/// Our client's secret at the provider: every character RFC 6749's form
/// encoding changes, so a wrongly encoded Basic header is refused.
pub const CLIENT_SECRET: &str = "s3cret+with/slash%and:colon";
/// Our client id at the provider.
pub const CLIENT_ID: &str = "patient-flow-test";
/// The demo machine clients' secret.
pub const DEMO_SECRET: &str = "demo-secret-for-provider-tests";

/// The repository.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The provider, a child `node` process (stopped on drop).
pub struct Provider {
    /// Its `iss`: `http://127.0.0.1:{port}`.
    pub issuer: String,
    child: Child,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Provider {
    /// Starts the provider on a free port, `shape` `cis2` or `entra`, for
    /// our client with `client_auth` and `redirect_uri`.
    pub fn start(shape: &str, client_auth: &str, redirect_uri: &str) -> Self {
        Self::start_on(
            pf_test_support::free_port(),
            shape,
            client_auth,
            redirect_uri,
            None,
        )
    }

    /// [`Provider::start`] on `port`, with the client's public keys for
    /// `private_key_jwt`.
    pub fn start_on(
        port: u16,
        shape: &str,
        client_auth: &str,
        redirect_uri: &str,
        client_jwks: Option<&str>,
    ) -> Self {
        let script = repo().join("dashboards/oidc-provider/start.mjs");
        assert!(
            repo()
                .join("dashboards/node_modules/oidc-provider")
                .is_dir(),
            "the npm package oidc-provider is missing: run `npm ci` in dashboards/ (scripts/test does)"
        );
        let mut command = Command::new("node");
        if let Some(jwks) = client_jwks {
            command.env("PF_CLIENT_JWKS", jwks);
        }
        let mut child = command
            .arg(&script)
            .env("PF_PROVIDER_PORT", port.to_string())
            .env("PF_PROVIDER_SHAPE", shape)
            .env("PF_CLIENT_ID", CLIENT_ID)
            .env("PF_CLIENT_SECRET", CLIENT_SECRET)
            .env("PF_CLIENT_AUTH", client_auth)
            .env("PF_REDIRECT_URI", redirect_uri)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start node {}: {e}", script.display()));
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let issuer = loop {
            match lines.next() {
                Some(Ok(line)) if line.starts_with("listening ") => {
                    break line["listening ".len()..].trim().to_owned();
                }
                Some(Ok(_)) => {}
                _ => panic!("the OpenID provider stopped before it listened"),
            }
        };
        std::thread::spawn(move || lines.for_each(drop));
        Self { issuer, child }
    }
}

/// The identity service in this process, with the provider as its staff
/// provider beside the built-in issuer.
pub struct Service {
    /// `http://127.0.0.1:{port}`.
    pub base: String,
    /// The built-in issuer, to mint tokens.
    pub issuer: std::sync::Arc<pf_access::LocalIssuer>,
    shutdown: CancellationToken,
}

impl Drop for Service {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Creates the streams ([`crate::create_streams`]).
pub async fn streams(nats: &NatsServer) {
    crate::create_streams(&nats.url()).await;
}

/// The identity service with `provider` as its staff provider.
pub async fn identity(
    redis: &RedisServer,
    nats: &NatsServer,
    listener: tokio::net::TcpListener,
    provider: &Provider,
    client_auth: ClientAuth,
    scopes: &str,
    mapping_file: &str,
) -> Service {
    identity_of(
        redis,
        nats,
        listener,
        &provider.issuer,
        client_auth,
        None,
        scopes,
        mapping_file,
    )
    .await
}

/// [`identity`] for a provider at `provider_issuer`, with a client key.
#[allow(clippy::too_many_arguments)]
pub async fn identity_of(
    redis: &RedisServer,
    nats: &NatsServer,
    listener: tokio::net::TcpListener,
    provider_issuer: &str,
    client_auth: ClientAuth,
    client_key: Option<pf_identity::oidc::assertion::ClientKey>,
    scopes: &str,
    mapping_file: &str,
) -> Service {
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mapping = ClaimMapping::from_file(&repo().join("docs/sign-in").join(mapping_file))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut config = IdentityConfig::local(&redis.url(), &nats.url(), dashboards_dir());
    config.public_url = base.clone();
    config.demo_client_secret = Some(Secret::new(DEMO_SECRET));
    config.oidc = Some(OidcClientConfig {
        issuer: provider_issuer.to_owned(),
        client_id: CLIENT_ID.to_owned(),
        client_secret: Secret::new(CLIENT_SECRET),
        client_auth,
        client_key,
        redirect_url: format!("{base}/sign-in/oidc/callback"),
        authorization_url: None,
        token_url: None,
        jwks_url: None,
        scopes: scopes.to_owned(),
        userinfo_url: None,
        claims: mapping.clone(),
    });
    let mut staff = IssuerConfig::new(provider_issuer, CLIENT_ID, JwksSource::Discovery);
    staff.claims = mapping;
    config.staff_issuer = Some(staff);
    let built = Identity::build(config).await.unwrap();
    let issuer = built.issuer.clone().unwrap();
    let shutdown = CancellationToken::new();
    tokio::spawn(built.serve(listener, shutdown.clone()));
    Service {
        base,
        issuer,
        shutdown,
    }
}
