//! Settings of the ADT feed, from the environment with local defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use pf_runtime::{ConfigError, env_or};

/// Settings.
#[derive(Debug, Clone)]
pub struct AdtConfig {
    /// Health, readiness and metrics (`PF_ADT_FEED_ADDR`, default `127.0.0.1:8088`).
    pub listen: SocketAddr,
    /// The MLLP port trusts' integration engines connect to
    /// (`PF_ADT_MLLP_ADDR`, default `127.0.0.1:2575`).
    pub mllp: SocketAddr,
    /// The feeds file (`PF_ADT_FEEDS_FILE`); unset: the demo feeds of the LLR
    /// trusts built into the binary (`services/adt-feed/feeds.demo.json`).
    pub feeds_file: Option<PathBuf>,
    /// NATS server and this service's user (`PF_NATS_*`).
    pub nats: pf_event_log::NatsSettings,
    /// Redis, for the control ids and the visit index (`PF_REDIS_URL`).
    pub redis_url: String,
    /// Prefix of this service's keys (`PF_ADT_REDIS_PREFIX`, default `pf-adt:`).
    pub redis_prefix: String,
    /// Longest message accepted (`PF_ADT_MAX_MESSAGE_BYTES`, default 1 MiB).
    pub max_message_bytes: usize,
    /// A connection that sends nothing for this long is closed
    /// (`PF_ADT_IDLE_SECS`, default 300).
    pub idle_timeout: Duration,
    /// Connections open at once (`PF_ADT_MAX_CONNECTIONS`, default 256).
    pub max_connections: usize,
    /// TLS on the MLLP port: certificate chain and private key, PEM
    /// (`PF_ADT_TLS_CERT_FILE`, `PF_ADT_TLS_KEY_FILE`; both or neither).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// How long a message's control id and its ACK are kept
    /// (`PF_ADT_CONTROL_ID_DAYS`, default 8, at least 7).
    pub control_id_kept: Duration,
    /// How long the visit index keeps a visit after its last message
    /// (`PF_ADT_VISIT_DAYS`, default 90).
    pub visit_kept: Duration,
    /// The discharges service the feed joins A03/A13 to
    /// (`PF_ADT_DISCHARGES_URL`) and how the feed signs in to it: a
    /// client-credentials token from `PF_IDENTITY_URL` (client
    /// `PF_ADT_CLIENT_ID`, default `adt-feed`, secret in
    /// `PF_ADT_CLIENT_SECRET_FILE`), or a token in
    /// `PF_ADT_DISCHARGES_TOKEN_FILE`. Unset: not joined (counted).
    pub discharges: Option<crate::discharges::DischargesLink>,
    /// The urgent-care service the feed records ED attendances in
    /// (`PF_ADT_URGENT_CARE_URL`), signed in like the discharge join (the
    /// same client credentials, or a token in
    /// `PF_ADT_URGENT_CARE_TOKEN_FILE`). Unset: ED messages change beds
    /// only, as any other registration (counted `not_configured`).
    pub urgent_care: Option<crate::urgent_care::UrgentCareLink>,
}

const DAY: u64 = 24 * 60 * 60;

/// How the feed signs in to the service at `url_var`: a token in
/// `token_var`, or the feed's client credentials.
fn credentials(
    file: &dyn Fn(&str) -> Option<PathBuf>,
    url_var: &str,
    token_var: &str,
) -> Result<crate::machine::Credentials, ConfigError> {
    use crate::machine::Credentials;
    match (file(token_var), file("PF_ADT_CLIENT_SECRET_FILE")) {
        (Some(token), None) => Ok(Credentials::Token(
            std::fs::read_to_string(&token)
                .map_err(|e| ConfigError {
                    name: token_var.into(),
                    value: token.display().to_string(),
                    cause: format!("cannot read the token: {e}"),
                })?
                .trim()
                .to_owned(),
        )),
        (None, Some(secret_file)) => {
            let identity: String = env_or("PF_IDENTITY_URL", "http://127.0.0.1:8083".to_owned())?;
            Ok(Credentials::Client {
                token_url: format!("{}/oauth/token", identity.trim_end_matches('/')),
                client_id: env_or("PF_ADT_CLIENT_ID", "adt-feed".to_owned())?,
                secret_file,
            })
        }
        (Some(_), Some(_)) => Err(ConfigError {
            name: token_var.into(),
            value: String::new(),
            cause: format!("set {token_var} or PF_ADT_CLIENT_SECRET_FILE, not both"),
        }),
        (None, None) => Err(ConfigError {
            name: "PF_ADT_CLIENT_SECRET_FILE".into(),
            value: String::new(),
            cause: format!(
                "{url_var} needs the feed's client secret file (or {token_var}) to sign in"
            ),
        }),
    }
}

/// A service the feed calls, when its URL is set.
fn service_link(
    file: &dyn Fn(&str) -> Option<PathBuf>,
    url_var: &str,
    token_var: &str,
) -> Result<Option<crate::machine::ServiceLink>, ConfigError> {
    match std::env::var(url_var).ok().filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(url) => Ok(Some(crate::machine::ServiceLink {
            url,
            credentials: credentials(file, url_var, token_var)?,
        })),
    }
}

impl AdtConfig {
    /// Reads the settings from the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let control_days: u64 = env_or("PF_ADT_CONTROL_ID_DAYS", 8)?;
        if control_days < 7 {
            return Err(ConfigError {
                name: "PF_ADT_CONTROL_ID_DAYS".into(),
                value: control_days.to_string(),
                cause:
                    "control ids must be kept at least 7 days (engines resend hours or days later)"
                        .into(),
            });
        }
        let file = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let tls = match (file("PF_ADT_TLS_CERT_FILE"), file("PF_ADT_TLS_KEY_FILE")) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            (cert, _) => {
                return Err(ConfigError {
                    name: if cert.is_some() {
                        "PF_ADT_TLS_KEY_FILE"
                    } else {
                        "PF_ADT_TLS_CERT_FILE"
                    }
                    .into(),
                    value: String::new(),
                    cause: "TLS needs both PF_ADT_TLS_CERT_FILE and PF_ADT_TLS_KEY_FILE".into(),
                });
            }
        };
        let discharges = service_link(
            &file,
            "PF_ADT_DISCHARGES_URL",
            "PF_ADT_DISCHARGES_TOKEN_FILE",
        )?;
        let urgent_care = service_link(
            &file,
            "PF_ADT_URGENT_CARE_URL",
            "PF_ADT_URGENT_CARE_TOKEN_FILE",
        )?;
        Ok(Self {
            discharges,
            urgent_care,
            tls,
            listen: env_or("PF_ADT_FEED_ADDR", SocketAddr::from(([127, 0, 0, 1], 8088)))?,
            mllp: env_or("PF_ADT_MLLP_ADDR", SocketAddr::from(([127, 0, 0, 1], 2575)))?,
            feeds_file: std::env::var_os("PF_ADT_FEEDS_FILE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            nats: pf_event_log::NatsSettings::from_env_config()?,
            redis_url: env_or("PF_REDIS_URL", "redis://127.0.0.1:6379".to_owned())?,
            redis_prefix: env_or("PF_ADT_REDIS_PREFIX", "pf-adt:".to_owned())?,
            max_message_bytes: env_or("PF_ADT_MAX_MESSAGE_BYTES", 1024 * 1024)?,
            idle_timeout: Duration::from_secs(env_or("PF_ADT_IDLE_SECS", 300)?),
            max_connections: env_or("PF_ADT_MAX_CONNECTIONS", 256)?,
            control_id_kept: Duration::from_secs(control_days * DAY),
            visit_kept: Duration::from_secs(env_or::<u64>("PF_ADT_VISIT_DAYS", 90)? * DAY),
        })
    }

    /// Local defaults pointing at given servers (for tests).
    pub fn local(nats_url: &str, redis_url: &str, feeds_file: PathBuf) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            mllp: SocketAddr::from(([127, 0, 0, 1], 0)),
            feeds_file: Some(feeds_file),
            nats: pf_event_log::NatsSettings::anonymous(nats_url),
            redis_url: redis_url.to_owned(),
            redis_prefix: "pf-adt:".into(),
            max_message_bytes: 1024 * 1024,
            idle_timeout: Duration::from_secs(300),
            max_connections: 256,
            tls: None,
            control_id_kept: Duration::from_secs(8 * DAY),
            visit_kept: Duration::from_secs(90 * DAY),
            discharges: None,
            urgent_care: None,
        }
    }
}
