//! `pf-identity`: the sign-in service (demo issuer in development, sign-in
//! links, sessions, revocation, the audit-trail API).

use anyhow::Context as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    pf_runtime::telemetry::init("identity");
    let config = pf_identity::IdentityConfig::from_env()?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("failed to listen on {}", config.listen))?;
    let shutdown = pf_runtime::shutdown::on_signal();
    pf_identity::run(listener, config, shutdown).await
}
