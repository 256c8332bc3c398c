//! `pf-tasks`: discharge tasks and system-call actions.

use anyhow::Context as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    pf_runtime::telemetry::init("tasks");
    let config = pf_tasks::TasksConfig::from_env()?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("failed to listen on {}", config.listen))?;
    let shutdown = pf_runtime::shutdown::on_signal();
    pf_tasks::run(listener, config, shutdown).await
}
