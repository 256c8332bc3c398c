//! Connecting to NATS as a service's own user.
//!
//! Each service signs in to NATS with a user of its own whose permissions
//! allow only its subjects (`scripts/start` writes them into the server's
//! configuration; in Kubernetes they come from secrets). Without a user the
//! connection is anonymous, for a server without authorisation (tests).

use async_nats::{Client, ConnectOptions};

/// Where NATS is and who this service is there.
#[derive(Debug, Clone, Default)]
pub struct NatsSettings {
    /// `nats://host:port` (`PF_NATS_URL`), or a comma-separated list of
    /// a cluster's servers (`nats://n1:4222,nats://n2:4222,nats://n3:4222`):
    /// the client tries them in turn at start-up and when the server it is
    /// on goes away.
    pub url: String,
    /// NATS user (`PF_NATS_USER`).
    pub user: Option<String>,
    /// Its password (`PF_NATS_PASSWORD`, or read from `PF_NATS_PASSWORD_FILE`).
    pub password: Option<String>,
}

/// Settings could not be read.
#[derive(Debug, thiserror::Error)]
pub enum NatsSettingsError {
    /// The password file could not be read.
    #[error("cannot read the NATS password file {path}: {cause}")]
    PasswordFile {
        /// Which file.
        path: String,
        /// Why.
        cause: std::io::Error,
    },
    /// A user without a password, or the other way round.
    #[error("PF_NATS_USER and a password (PF_NATS_PASSWORD or PF_NATS_PASSWORD_FILE) go together")]
    Incomplete,
}

impl NatsSettings {
    /// Anonymous settings for a URL.
    pub fn anonymous(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ..Self::default()
        }
    }

    /// Reads `PF_NATS_URL` (default `nats://127.0.0.1:4222`; a cluster's
    /// servers as a comma-separated list), `PF_NATS_USER`
    /// and `PF_NATS_PASSWORD` / `PF_NATS_PASSWORD_FILE`.
    pub fn from_env() -> Result<Self, NatsSettingsError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let password = match (var("PF_NATS_PASSWORD"), var("PF_NATS_PASSWORD_FILE")) {
            (Some(password), _) => Some(password),
            (None, Some(path)) => Some(
                std::fs::read_to_string(&path)
                    .map_err(|cause| NatsSettingsError::PasswordFile { path, cause })?
                    .trim()
                    .to_owned(),
            ),
            (None, None) => None,
        };
        let user = var("PF_NATS_USER");
        if user.is_some() != password.is_some() {
            return Err(NatsSettingsError::Incomplete);
        }
        Ok(Self {
            url: var("PF_NATS_URL").unwrap_or_else(|| "nats://127.0.0.1:4222".to_owned()),
            user,
            password,
        })
    }

    /// Like [`from_env`](Self::from_env), with the error as a configuration
    /// error naming the variable.
    pub fn from_env_config() -> Result<Self, pf_runtime::ConfigError> {
        Self::from_env().map_err(|e| pf_runtime::ConfigError {
            name: "PF_NATS_USER".into(),
            value: String::new(),
            cause: e.to_string(),
        })
    }

    /// Connects like [`connect`](Self::connect) and keeps readiness check
    /// `nats` of `readiness` true while connected, false while not.
    pub async fn connect_tracking(
        &self,
        service: &str,
        readiness: &pf_runtime::Readiness,
    ) -> Result<Client, async_nats::ConnectError> {
        let readiness = readiness.clone();
        self.options(service)
            .event_callback(move |event| {
                let readiness = readiness.clone();
                async move {
                    match event {
                        async_nats::Event::Connected => readiness.set("nats", true),
                        async_nats::Event::Disconnected => readiness.set("nats", false),
                        _ => {}
                    }
                }
            })
            .connect(self.servers())
            .await
    }

    /// Connects (retrying until the server is there), naming the connection
    /// after the service.
    pub async fn connect(&self, service: &str) -> Result<Client, async_nats::ConnectError> {
        self.options(service).connect(self.servers()).await
    }

    /// The servers of [`url`](Self::url): each entry of the comma-separated
    /// list, trimmed, empty entries left out.
    pub fn servers(&self) -> Vec<&str> {
        self.url
            .split(',')
            .map(str::trim)
            .filter(|server| !server.is_empty())
            .collect()
    }

    /// The same, with more options (event callbacks) set by the caller.
    ///
    /// A signed-in connection takes its replies (JetStream acknowledgements,
    /// stream reads, consumer deliveries) on an inbox of its own,
    /// [`inbox_prefix`]`(user)`: each NATS user may subscribe only there,
    /// so no service can read another's replies.
    pub fn options(&self, service: &str) -> ConnectOptions {
        let mut options = ConnectOptions::new()
            .name(service)
            .retry_on_initial_connect();
        if let (Some(user), Some(password)) = (&self.user, &self.password) {
            options = options
                .user_and_password(user.clone(), password.clone())
                .custom_inbox_prefix(inbox_prefix(user));
        }
        options
    }
}

/// The inbox prefix of a NATS user, `_INBOX.{user}`: the NATS configuration
/// allows each user to subscribe to `_INBOX.{user}.>` only. A character
/// that cannot stand in a subject token becomes `_` (the platform's user
/// names have none).
pub fn inbox_prefix(user: &str) -> String {
    let token: String = user
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("_INBOX.{token}")
}

#[cfg(test)]
mod tests {
    use super::{NatsSettings, inbox_prefix};

    #[test]
    fn a_cluster_is_a_comma_separated_list_of_servers() {
        let settings = NatsSettings::anonymous(" nats://n1:4222, nats://n2:4222,,nats://n3:4222 ");
        assert_eq!(
            settings.servers(),
            ["nats://n1:4222", "nats://n2:4222", "nats://n3:4222"]
        );
        assert_eq!(
            NatsSettings::anonymous("nats://127.0.0.1:4222").servers(),
            ["nats://127.0.0.1:4222"]
        );
    }

    #[test]
    fn each_user_has_an_inbox_of_its_own() {
        assert_eq!(inbox_prefix("hospital-beds"), "_INBOX.hospital-beds");
        assert_eq!(inbox_prefix("a.b>c *"), "_INBOX.a_b_c__");
    }
}
