//! Command-line arguments and the guard that keeps the load off other machines.

use std::time::{SystemTime, UNIX_EPOCH};

use clap::Parser;

use crate::auth::{NatsCredentials, Secret};

/// Arguments of `pf-loadtest`; each can also come from the environment.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "pf-loadtest",
    version,
    about = "Publishes bed events at a rate and measures end-to-end latency at websocket clients."
)]
pub struct Args {
    /// NATS server to publish to.
    #[arg(long, env = "PF_NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,

    /// Gateway base URL (ws:// or wss://); clients open `{gateway}/ws/control-room`.
    #[arg(
        long,
        env = "PF_LOADTEST_GATEWAY_URL",
        default_value = "ws://127.0.0.1:8080"
    )]
    pub gateway_url: String,

    /// Target publish rate in events per second.
    #[arg(long, env = "PF_LOADTEST_RATE", default_value_t = 1000,
        value_parser = clap::value_parser!(u32).range(1..=500_000))]
    pub rate: u32,

    /// How long to publish, in seconds.
    #[arg(long, env = "PF_LOADTEST_DURATION", default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub duration: u64,

    /// Number of beds in the load-test ward (codes B0001, B0002, …).
    #[arg(long, env = "PF_LOADTEST_BEDS", default_value_t = 500,
        value_parser = clap::value_parser!(u32).range(1..=99_999))]
    pub beds: u32,

    /// Number of websocket clients (each is one open file; this machine allows 20,000).
    #[arg(long, env = "PF_LOADTEST_CLIENTS", default_value_t = 50,
        value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub clients: u32,

    /// Most publish acks awaited at once.
    #[arg(long, env = "PF_LOADTEST_IN_FLIGHT", default_value_t = 1024,
        value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub in_flight: u32,

    /// Seconds the clients keep listening after publishing stops.
    #[arg(long, env = "PF_LOADTEST_DRAIN", default_value_t = 5,
        value_parser = clap::value_parser!(u64).range(0..=600))]
    pub drain: u64,

    /// Seconds to wait for the clients to connect and get their first snapshot.
    #[arg(long, env = "PF_LOADTEST_CONNECT_TIMEOUT", default_value_t = 15,
        value_parser = clap::value_parser!(u64).range(1..=600))]
    pub connect_timeout: u64,

    /// Ward code to use; default `R` + the Unix time in seconds, unique per run.
    #[arg(long, env = "PF_LOADTEST_WARD")]
    pub ward: Option<String>,

    /// Bearer token for the websocket clients (sent as `Authorization: Bearer …`).
    #[arg(long, env = "PF_LOADTEST_TOKEN", hide_env_values = true,
        conflicts_with_all = ["client_id", "client_secret"])]
    pub token: Option<Secret>,

    /// OAuth client id: fetch the clients' token with the client-credentials grant.
    #[arg(long, env = "PF_LOADTEST_CLIENT_ID", requires = "client_secret")]
    pub client_id: Option<String>,

    /// OAuth client secret for `--client-id`.
    #[arg(
        long,
        env = "PF_LOADTEST_CLIENT_SECRET",
        hide_env_values = true,
        requires = "client_id"
    )]
    pub client_secret: Option<Secret>,

    /// Identity service that issues tokens (`POST {identity}/oauth/token`).
    #[arg(long, env = "PF_IDENTITY_URL", default_value = "http://127.0.0.1:8083")]
    pub identity_url: String,

    /// NATS user of the publisher (with `--nats-password`).
    #[arg(long, env = "PF_NATS_USER", requires = "nats_password")]
    pub nats_user: Option<String>,

    /// NATS password of `--nats-user`.
    #[arg(
        long,
        env = "PF_NATS_PASSWORD",
        hide_env_values = true,
        requires = "nats_user"
    )]
    pub nats_password: Option<Secret>,

    /// Allow NATS, gateway and identity addresses other than loopback.
    #[arg(long, env = "PF_LOADTEST_ALLOW_REMOTE", default_value_t = false)]
    pub allow_remote: bool,

    /// Process id of the gateway (on this machine): its resident memory
    /// (`/proc/<pid>/status` VmRSS) is read before the clients connect, once
    /// they are connected and when publishing ends, and reported per client.
    #[arg(long, env = "PF_LOADTEST_GATEWAY_PID")]
    pub gateway_pid: Option<u32>,

    /// Publish for the whole synthetic England (every ward of its 1,500
    /// sites in turn, and its care homes' reports) instead of the one
    /// load-test ward; the clients then time every delta that names a site
    /// (start the gateway with the region data set of one ICS, written by
    /// `pf-england region`).
    #[arg(long, env = "PF_LOADTEST_ENGLAND", default_value_t = false)]
    pub england: bool,

    /// Seed of the synthetic England (the same seed, the same country).
    #[arg(long, env = "PF_LOADTEST_ENGLAND_SEED", default_value_t = crate::england::DEFAULT_SEED)]
    pub england_seed: u64,

    /// With `--england`: one event in this many is a care home's vacancy
    /// report (0: bed events only). The publisher's NATS user needs leave
    /// to publish on `pf.care-homes.>`.
    #[arg(long, env = "PF_LOADTEST_ENGLAND_HOMES_EVERY", default_value_t = 10)]
    pub england_homes_every: u64,

    /// Print the report as JSON instead of text.
    #[arg(long, default_value_t = false)]
    pub json: bool,
}

/// Why the arguments were refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A target is not on this machine and `--allow-remote` was not given.
    #[error(
        "{what} `{url}` is not a loopback address; pass --allow-remote to load another machine"
    )]
    NotLoopback {
        /// Which argument.
        what: &'static str,
        /// Its value.
        url: String,
    },
    /// The ward code is not a valid NATS subject token / ward code.
    #[error("ward code `{0}` may contain only letters, digits and '-' (1 to 32 characters)")]
    BadWard(String),
}

impl Args {
    /// Refuses non-loopback targets unless `--allow-remote` (the identity
    /// service only when a token is to be fetched), and bad ward codes.
    pub fn check_targets(&self) -> Result<(), ConfigError> {
        if !self.allow_remote {
            let mut targets = vec![
                ("--nats-url", &self.nats_url),
                ("--gateway-url", &self.gateway_url),
            ];
            if self.client_id.is_some() {
                targets.push(("--identity-url", &self.identity_url));
            }
            for (what, url) in targets {
                if !is_loopback_url(url) {
                    return Err(ConfigError::NotLoopback {
                        what,
                        url: url.clone(),
                    });
                }
            }
        }
        if let Some(ward) = &self.ward {
            let ok = !ward.is_empty()
                && ward.len() <= 32
                && ward.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
            if !ok {
                return Err(ConfigError::BadWard(ward.clone()));
            }
        }
        Ok(())
    }

    /// The NATS user and password, when given.
    pub fn nats_credentials(&self) -> Option<NatsCredentials> {
        match (&self.nats_user, &self.nats_password) {
            (Some(user), Some(password)) => Some(NatsCredentials {
                user: user.clone(),
                password: password.clone(),
            }),
            _ => None,
        }
    }

    /// The ward code of this run: `--ward` (upper-cased) or `R` + Unix seconds.
    pub fn ward_code(&self) -> String {
        match &self.ward {
            Some(ward) => ward.to_ascii_uppercase(),
            None => {
                let secs = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                format!("R{secs}")
            }
        }
    }
}

/// Whether a URL (`scheme://[user@]host[:port][/path]`, or a bare `host:port`)
/// names this machine: `localhost`, `127.0.0.0/8` or `::1`.
pub fn is_loopback_url(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(bracketed) = host_port.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<std::net::IpAddr>()
        .map(|ip| ip.is_loopback())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_urls_are_recognised() {
        for url in [
            "nats://127.0.0.1:4222",
            "ws://localhost:8080",
            "ws://127.0.0.2:8080/ws/control-room",
            "nats://user:secret@127.0.0.1:4222",
            "ws://[::1]:8080",
            "127.0.0.1:4222",
        ] {
            assert!(is_loopback_url(url), "{url}");
        }
    }

    #[test]
    fn other_hosts_are_not_loopback() {
        for url in [
            "nats://10.0.0.5:4222",
            "ws://gateway.example.nhs.uk",
            "ws://localhost.evil.example:8080",
            "nats://127.0.0.1.nip.io:4222",
            "ws://[2001:db8::1]:8080",
            "",
        ] {
            assert!(!is_loopback_url(url), "{url}");
        }
    }

    #[test]
    fn remote_targets_need_allow_remote() {
        let mut args = Args::parse_from(["pf-loadtest", "--gateway-url", "ws://10.1.2.3:8080"]);
        assert!(matches!(
            args.check_targets(),
            Err(ConfigError::NotLoopback {
                what: "--gateway-url",
                ..
            })
        ));
        args.allow_remote = true;
        assert_eq!(args.check_targets(), Ok(()));
    }

    #[test]
    fn tokens_and_client_credentials_are_exclusive_and_paired() {
        let args = Args::parse_from(["pf-loadtest", "--token", "abc"]);
        assert_eq!(args.token.as_ref().map(Secret::expose), Some("abc"));
        assert!(Args::try_parse_from(["pf-loadtest", "--token", "a", "--client-id", "b"]).is_err());
        assert!(Args::try_parse_from(["pf-loadtest", "--client-id", "loadtest"]).is_err());
        assert!(Args::try_parse_from(["pf-loadtest", "--client-secret", "s"]).is_err());
        assert!(Args::try_parse_from(["pf-loadtest", "--nats-user", "u"]).is_err());
        let args = Args::parse_from([
            "pf-loadtest",
            "--nats-user",
            "loadtest",
            "--nats-password",
            "pw-7c1f",
        ]);
        let nats = args.nats_credentials().expect("both given");
        assert_eq!(
            (nats.user.as_str(), nats.password.expose()),
            ("loadtest", "pw-7c1f")
        );
        assert!(!format!("{args:?}").contains("pw-7c1f"));

        // The identity service is a target only when a token is fetched from it.
        let mut args = Args::parse_from(["pf-loadtest", "--identity-url", "http://10.0.0.9:8083"]);
        assert_eq!(args.check_targets(), Ok(()));
        args.client_id = Some("loadtest".into());
        args.client_secret = Some(Secret::new("s"));
        assert!(matches!(
            args.check_targets(),
            Err(ConfigError::NotLoopback {
                what: "--identity-url",
                ..
            })
        ));
    }

    #[test]
    fn ward_codes_are_checked_and_default_is_unique_per_second() {
        let args = Args::parse_from(["pf-loadtest", "--ward", "a.b"]);
        assert_eq!(
            args.check_targets(),
            Err(ConfigError::BadWard("a.b".into()))
        );
        let args = Args::parse_from(["pf-loadtest"]);
        assert!(args.ward_code().starts_with('R'));
        assert!(args.ward_code().len() > 1);
    }
}
