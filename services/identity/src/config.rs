//! Settings of the identity service, from the environment with local defaults.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use pf_access::Mode;
use pf_runtime::{ConfigError, env_or};
use pf_sign_in::SessionPolicy;

/// A secret read from the environment: never printed by `Debug` or `Display`.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for comparing; never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// Where a kiosk lands after setup when nothing in the environment says.
pub const DEFAULT_CONTROL_ROOM_URL: &str = "http://127.0.0.1:8080/control-room";

/// How many days a kiosk's session lasts when `PF_KIOSK_SESSION_DAYS` is not set.
pub const DEFAULT_KIOSK_SESSION_DAYS: u64 = 90;

/// Settings, from the environment with local defaults.
#[derive(Debug, Clone)]
pub struct IdentityConfig {
    /// Where to listen (`PF_IDENTITY_ADDR`, default `127.0.0.1:8083`).
    pub listen: SocketAddr,
    /// Development or production (`PF_MODE`). Production refuses the
    /// built-in demo issuer and the demo sign-in page.
    pub mode: Mode,
    /// Redis holding sessions, links and revocations (`PF_REDIS_URL`).
    pub redis_url: String,
    /// Their key prefix (`PF_SIGN_IN_PREFIX`, default `pf-auth:`).
    pub sign_in_prefix: String,
    /// NATS server and this service's user there (`PF_NATS_URL`,
    /// `PF_NATS_USER`, `PF_NATS_PASSWORD` / `PF_NATS_PASSWORD_FILE`).
    pub nats: pf_event_log::NatsSettings,
    /// Where people reach this service (`PF_PUBLIC_URL`, default
    /// `http://127.0.0.1:8083`): the local issuer's `iss` and the base of
    /// sign-in links. No trailing `/`.
    pub public_url: String,
    /// Origins a person may be sent back to after signing in, besides this
    /// service's own paths (`PF_RETURN_ORIGINS`, comma-separated; default none).
    pub return_origins: Vec<String>,
    /// Where the dashboards are served, for local return paths and the
    /// default after sign-in (`PF_HOME_URL`; default: this service's own paths).
    pub home_url: Option<String>,
    /// Where care-home staff land after using a sign-in link: the care-home
    /// form's service (`PF_CARE_HOMES_PUBLIC_URL`; default: the home URL).
    pub care_homes_url: Option<String>,
    /// Where a kiosk (a control-room wall screen) lands after its setup
    /// link is used: the gateway's control-room page (`PF_CONTROL_ROOM_URL`;
    /// default `{PF_GATEWAY_PUBLIC_URL}/control-room`, else
    /// `{PF_HOME_URL}/control-room`, else `http://127.0.0.1:8080/control-room`).
    pub control_room_url: String,
    /// How long a kiosk's session lasts from setup, used or not
    /// (`PF_KIOSK_SESSION_DAYS`, default 90, at least 1). A kiosk is not
    /// signed out for being idle before that; revoke it to end it early.
    pub kiosk_session: Duration,
    /// The `aud` of tokens (`PF_TOKEN_AUDIENCE`, else `PF_OIDC_AUDIENCE`,
    /// default `patient-flow`).
    pub token_audience: String,
    /// Cookies without `Secure` and no HSTS, for plain-http localhost
    /// (`PF_INSECURE_COOKIES`, default true in development only).
    pub insecure_cookies: bool,
    /// Take the client address from `X-Forwarded-For`'s first entry
    /// (`PF_TRUST_PROXY`, default false): only behind a proxy that sets it.
    pub trust_proxy: bool,
    /// Machine clients of the token endpoint (`PF_CLIENTS_FILE`, JSON).
    pub clients_file: Option<PathBuf>,
    /// In development only: the secret of the demo machine clients
    /// `simulator` and `loadtest` (`PF_DEMO_CLIENT_SECRET`, or the file
    /// `PF_DEMO_CLIENT_SECRET_FILE`).
    pub demo_client_secret: Option<Secret>,
    /// In production: the external identity provider whose bearer tokens the
    /// admin API accepts (`PF_OIDC_ISSUER`, `PF_OIDC_JWKS_URL` default
    /// `{issuer}/.well-known/jwks.json`). Unset: sessions only.
    pub external_issuer: Option<ExternalIssuer>,
    /// A trust's staff provider whose access tokens the admin API accepts
    /// too, beside the issuer above (`PF_STAFF_ISSUER` and its
    /// `PF_STAFF_AUDIENCE`, `PF_STAFF_JWKS_URL`, `PF_STAFF_CLAIMS_FILE`,
    /// as every service reads them: [`pf_sign_in::SignInSettings`]).
    pub staff_issuer: Option<pf_access::IssuerConfig>,
    /// Staff sign-in in a browser through an OpenID Connect provider
    /// (authorization-code flow with PKCE); offered only when
    /// `PF_OIDC_CLIENT_ID` is set. See [`OidcClientConfig`].
    pub oidc: Option<OidcClientConfig>,
    /// GOV.UK Notify, to send sign-in links by email or text message
    /// (`PF_NOTIFY_API_KEY` or `PF_NOTIFY_API_KEY_FILE`,
    /// `PF_NOTIFY_EMAIL_TEMPLATE_ID`, `PF_NOTIFY_SMS_TEMPLATE_ID`,
    /// `PF_NOTIFY_BASE_URL`); unset: links are shown to copy.
    pub notify: Option<crate::admin_pages::notify::NotifyConfig>,
    /// The `dashboards/` folder: templates and static files
    /// (`PF_DASHBOARDS_DIR`, default `dashboards`).
    pub dashboards_dir: PathBuf,
    /// The name of the ICS the pages' footer shows, from the region's data
    /// set (`PF_REGION_DIR`, default the built-in LLR).
    pub ics_name: String,
    /// The region (`PF_REGION_DIR`, default the built-in LLR): a care home
    /// added on the administration pages must have a postcode of one of
    /// its localities.
    pub region: pf_region::Region,
    /// A care home's figures older than this are stale, as the control
    /// room counts them (`PF_CARE_HOME_STALE_HOURS`, default 24): the
    /// administrator's home page lists such homes.
    pub care_home_stale_after: Duration,
    /// Session and link lifetimes (`PF_SESSION_IDLE_SECS` default 1800,
    /// `PF_SESSION_ABSOLUTE_SECS` default 43200, `PF_SIGN_IN_LINK_SECS`
    /// default 86400).
    pub session_policy: SessionPolicy,
    /// Lifetime of a client-credentials token (15 minutes).
    pub token_ttl: Duration,
    /// Token requests per minute per client id (`PF_TOKEN_RATE_PER_MINUTE`,
    /// default 30, burst the same).
    pub token_rate_per_minute: u32,
    /// Sign-in and token requests per minute per client address
    /// (`PF_IP_RATE_PER_MINUTE`, default 120, burst the same).
    pub ip_rate_per_minute: u32,
}

/// An external OpenID Connect issuer.
#[derive(Debug, Clone)]
pub struct ExternalIssuer {
    /// Its exact `iss`.
    pub issuer: String,
    /// Its key set.
    pub jwks_url: String,
    /// Its claim mapping (`PF_OIDC_CLAIMS_FILE` or `PF_OIDC_CLAIMS`).
    pub claims: pf_access::ClaimMapping,
}

/// How this service authenticates itself at the provider's token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// HTTP Basic with the client id and secret (`client_secret_basic`).
    Basic,
    /// The id and secret in the form (`client_secret_post`).
    Post,
    /// A JWT signed with this service's private key (`private_key_jwt`,
    /// OpenID Connect Core section 9); see [`crate::oidc::assertion`].
    PrivateKeyJwt,
}

impl std::str::FromStr for ClientAuth {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "client_secret_basic" => Ok(Self::Basic),
            "client_secret_post" => Ok(Self::Post),
            "private_key_jwt" => Ok(Self::PrivateKeyJwt),
            other => Err(format!(
                "`{other}` is not `client_secret_basic`, `client_secret_post` or `private_key_jwt`"
            )),
        }
    }
}

/// The scopes asked for when `PF_OIDC_SCOPES` is not set.
pub const DEFAULT_SCOPES: &str = "openid profile email";

/// This service as a relying party of an OpenID Connect provider: staff
/// sign in in a browser with the authorization-code flow (PKCE S256,
/// `state`, `nonce`) and end with a session cookie.
#[derive(Debug, Clone)]
pub struct OidcClientConfig {
    /// The provider's exact `iss` (`PF_STAFF_ISSUER` when a staff provider
    /// is trusted beside the built-in issuer, else `PF_OIDC_ISSUER`; in
    /// development the default is this service, whose demo issuer is also
    /// a provider).
    pub issuer: String,
    /// Our client id at the provider (`PF_OIDC_CLIENT_ID`), also the `aud`
    /// of its ID tokens.
    pub client_id: String,
    /// Our client secret (`PF_OIDC_CLIENT_SECRET` or
    /// `PF_OIDC_CLIENT_SECRET_FILE`); empty with `private_key_jwt`.
    pub client_secret: Secret,
    /// How this service authenticates at the token endpoint
    /// (`PF_OIDC_CLIENT_AUTH`: `client_secret_basic`, the default,
    /// `client_secret_post` or `private_key_jwt`).
    pub client_auth: ClientAuth,
    /// With `private_key_jwt`: the private key client assertions are signed
    /// with (`PF_OIDC_CLIENT_KEY_FILE`, PEM; `PF_OIDC_CLIENT_KEY_ID` names
    /// it, default its JWK thumbprint).
    pub client_key: Option<crate::oidc::assertion::ClientKey>,
    /// Where the provider sends people back (`PF_OIDC_REDIRECT_URL`,
    /// default `{PF_PUBLIC_URL}/sign-in/oidc/callback`); registered at the
    /// provider exactly.
    pub redirect_url: String,
    /// The provider's authorization endpoint (`PF_OIDC_AUTHORIZATION_URL`;
    /// default: from `{issuer}/.well-known/openid-configuration`).
    pub authorization_url: Option<String>,
    /// The provider's token endpoint (`PF_OIDC_TOKEN_URL`; default: from
    /// the discovery document).
    pub token_url: Option<String>,
    /// The provider's keys (`PF_OIDC_JWKS_URL`; default: the discovery
    /// document's `jwks_uri`, else `{issuer}/.well-known/jwks.json`).
    pub jwks_url: Option<String>,
    /// The scopes asked for, space-separated (`PF_OIDC_SCOPES`, default
    /// [`DEFAULT_SCOPES`]; must include `openid`). NHS CIS2 gives roles and
    /// organisations only under `nationalrbacaccess`, `associatedorgs` and
    /// `selectedrole`.
    pub scopes: String,
    /// The provider's userinfo endpoint (`PF_OIDC_USERINFO_URL`; default:
    /// the discovery document's `userinfo_endpoint`).
    pub userinfo_url: Option<String>,
    /// Which claims (ID token, userinfo or both) carry the person's name,
    /// organisations and roles, and how the provider's roles map to ours
    /// per organisation (the issuer's mapping: `PF_STAFF_CLAIMS_FILE` or
    /// `PF_STAFF_CLAIMS` for a staff provider, else `PF_OIDC_CLAIMS_FILE` or
    /// `PF_OIDC_CLAIMS`; JSON, see `docs/sign-in.md`; default: the built-in
    /// issuer's claims).
    pub claims: pf_access::ClaimMapping,
}

impl OidcClientConfig {
    /// Reads the settings; `None` when `PF_OIDC_CLIENT_ID` is not set.
    fn from_env(development: bool, public_url: &str) -> anyhow::Result<Option<Self>> {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let Some(client_id) = var("PF_OIDC_CLIENT_ID") else {
            return Ok(None);
        };
        // A staff provider beside the built-in issuer is the one people
        // sign in with; else the one trusted issuer.
        let (issuer, claims_prefix) = match (var("PF_STAFF_ISSUER"), var("PF_OIDC_ISSUER")) {
            (Some(staff), _) => (staff, "PF_STAFF"),
            (None, Some(issuer)) => (issuer, "PF_OIDC"),
            (None, None) if development => (public_url.to_owned(), "PF_OIDC"),
            (None, None) => anyhow::bail!("PF_OIDC_CLIENT_ID is set: set PF_OIDC_ISSUER too"),
        };
        let client_auth = env_or("PF_OIDC_CLIENT_AUTH", ClientAuth::Basic)?;
        let client_key = match var("PF_OIDC_CLIENT_KEY_FILE") {
            Some(path) => {
                let pem = std::fs::read_to_string(&path).map_err(|e| {
                    anyhow::anyhow!("failed to read PF_OIDC_CLIENT_KEY_FILE {path}: {e}")
                })?;
                Some(
                    crate::oidc::assertion::ClientKey::from_pem(&pem, var("PF_OIDC_CLIENT_KEY_ID"))
                        .map_err(|e| anyhow::anyhow!("PF_OIDC_CLIENT_KEY_FILE {path}: {e}"))?,
                )
            }
            None => None,
        };
        let client_secret = match (
            var("PF_OIDC_CLIENT_SECRET"),
            var("PF_OIDC_CLIENT_SECRET_FILE"),
        ) {
            _ if client_auth == ClientAuth::PrivateKeyJwt => {
                anyhow::ensure!(
                    client_key.is_some(),
                    "PF_OIDC_CLIENT_AUTH is private_key_jwt: set PF_OIDC_CLIENT_KEY_FILE too"
                );
                String::new()
            }
            (Some(secret), _) => secret,
            (None, Some(path)) => std::fs::read_to_string(&path)
                .map_err(|e| {
                    anyhow::anyhow!("failed to read PF_OIDC_CLIENT_SECRET_FILE {path}: {e}")
                })?
                .trim()
                .to_owned(),
            (None, None) => anyhow::bail!(
                "PF_OIDC_CLIENT_ID is set: set PF_OIDC_CLIENT_SECRET or PF_OIDC_CLIENT_SECRET_FILE too"
            ),
        };
        anyhow::ensure!(
            !client_secret.is_empty() || client_auth == ClientAuth::PrivateKeyJwt,
            "the OpenID Connect client secret is empty"
        );
        let config = Self {
            issuer: issuer.trim_end_matches('/').to_owned(),
            client_id,
            client_secret: Secret::new(client_secret),
            client_auth,
            client_key,
            redirect_url: var("PF_OIDC_REDIRECT_URL")
                .unwrap_or_else(|| format!("{public_url}/sign-in/oidc/callback")),
            authorization_url: var("PF_OIDC_AUTHORIZATION_URL"),
            token_url: var("PF_OIDC_TOKEN_URL"),
            jwks_url: var("PF_OIDC_JWKS_URL"),
            scopes: var("PF_OIDC_SCOPES")
                .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
                .unwrap_or_else(|| DEFAULT_SCOPES.to_owned()),
            userinfo_url: var("PF_OIDC_USERINFO_URL"),
            claims: pf_sign_in::settings::claims_from(
                |name| std::env::var(name).ok(),
                claims_prefix,
            )?,
        };
        config.check(!development)?;
        Ok(Some(config))
    }

    /// Every address is an absolute http(s) URL (in production https
    /// only), and the scopes include `openid`.
    pub fn check(&self, production: bool) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.scopes.split(' ').any(|s| s == "openid"),
            "PF_OIDC_SCOPES must include `openid`, not `{}`",
            self.scopes
        );
        let urls = [
            ("PF_OIDC_ISSUER", Some(&self.issuer)),
            ("PF_OIDC_REDIRECT_URL", Some(&self.redirect_url)),
            ("PF_OIDC_AUTHORIZATION_URL", self.authorization_url.as_ref()),
            ("PF_OIDC_TOKEN_URL", self.token_url.as_ref()),
            ("PF_OIDC_JWKS_URL", self.jwks_url.as_ref()),
            ("PF_OIDC_USERINFO_URL", self.userinfo_url.as_ref()),
        ];
        for (name, url) in urls {
            let Some(url) = url else { continue };
            let parsed = reqwest::Url::parse(url)
                .map_err(|e| anyhow::anyhow!("{name} `{url}` is not a URL: {e}"))?;
            match parsed.scheme() {
                "https" => {}
                "http" if !production => {}
                _ => anyhow::bail!("{name} must be an https URL in production, not `{url}`"),
            }
        }
        Ok(())
    }
}

/// The control room's address from the environment `var`: set, or the
/// gateway's public URL, or the dashboards' home (the gateway serves the
/// control room), or the local default.
fn control_room_url_from(var: impl Fn(&str) -> Option<String>) -> String {
    let set = |name: &str| {
        var(name)
            .map(|v| v.trim().trim_end_matches('/').to_owned())
            .filter(|v| !v.is_empty())
    };
    set("PF_CONTROL_ROOM_URL")
        .or_else(|| set("PF_GATEWAY_PUBLIC_URL").map(|g| format!("{g}/control-room")))
        .or_else(|| set("PF_HOME_URL").map(|h| format!("{h}/control-room")))
        .unwrap_or_else(|| DEFAULT_CONTROL_ROOM_URL.to_owned())
}

impl IdentityConfig {
    /// Reads the settings from the environment.
    pub fn from_env() -> anyhow::Result<Self> {
        let mode = Mode::from_env()?;
        let development = !mode.is_production();
        let audience = env_or("PF_OIDC_AUDIENCE", "patient-flow".to_owned())?;
        let audience_for_staff = audience.clone();
        let region = pf_region::RegionFiles::from_env()
            .and_then(|files| files.region())
            .map_err(|e| anyhow::anyhow!("cannot read the region (PF_REGION_DIR): {e}"))?;
        // The value, or a file holding it (so that only this process gets it).
        let demo_client_secret = match (
            std::env::var("PF_DEMO_CLIENT_SECRET").ok(),
            std::env::var("PF_DEMO_CLIENT_SECRET_FILE").ok(),
        ) {
            (Some(secret), _) if !secret.trim().is_empty() => Some(secret),
            (_, Some(path)) if !path.trim().is_empty() => Some(
                std::fs::read_to_string(path.trim())
                    .map_err(|e| {
                        anyhow::anyhow!("failed to read PF_DEMO_CLIENT_SECRET_FILE {path}: {e}")
                    })?
                    .trim()
                    .to_owned(),
            ),
            _ => None,
        }
        .filter(|s| !s.is_empty())
        .map(Secret::new);
        if demo_client_secret.is_some() && !development {
            anyhow::bail!("PF_DEMO_CLIENT_SECRET is for development only; unset it in production");
        }
        let external_issuer = match std::env::var("PF_OIDC_ISSUER").ok() {
            Some(issuer) if !development && !issuer.trim().is_empty() => {
                let issuer = issuer.trim().to_owned();
                let jwks_url = env_or(
                    "PF_OIDC_JWKS_URL",
                    format!("{}/.well-known/jwks.json", issuer.trim_end_matches('/')),
                )?;
                let claims =
                    pf_sign_in::settings::claims_from(|name| std::env::var(name).ok(), "PF_OIDC")?;
                Some(ExternalIssuer {
                    issuer,
                    jwks_url,
                    claims,
                })
            }
            _ => None,
        };
        let defaults = SessionPolicy::default();
        let secs = |name: &str, default: Duration| -> Result<Duration, ConfigError> {
            Ok(Duration::from_secs(env_or(name, default.as_secs())?))
        };
        let clients_file: String = env_or("PF_CLIENTS_FILE", String::new())?;
        let public_url = env_or("PF_PUBLIC_URL", "http://127.0.0.1:8083".to_owned())?
            .trim_end_matches('/')
            .to_owned();
        let oidc = OidcClientConfig::from_env(development, &public_url)?;
        let control_room_url = control_room_url_from(|name| std::env::var(name).ok());
        match reqwest::Url::parse(&control_room_url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {}
            _ => anyhow::bail!(
                "PF_CONTROL_ROOM_URL must be the control room's full http(s) address, not `{control_room_url}`"
            ),
        }
        let kiosk_days: u64 = env_or("PF_KIOSK_SESSION_DAYS", DEFAULT_KIOSK_SESSION_DAYS)?;
        anyhow::ensure!(
            (1..=3650).contains(&kiosk_days),
            "PF_KIOSK_SESSION_DAYS must be between 1 and 3650, not {kiosk_days}"
        );
        Ok(Self {
            listen: env_or("PF_IDENTITY_ADDR", SocketAddr::from(([127, 0, 0, 1], 8083)))?,
            mode,
            redis_url: env_or("PF_REDIS_URL", "redis://127.0.0.1:6379".to_owned())?,
            sign_in_prefix: env_or("PF_SIGN_IN_PREFIX", "pf-auth:".to_owned())?,
            nats: pf_event_log::NatsSettings::from_env_config()?,
            return_origins: env_or("PF_RETURN_ORIGINS", String::new())?
                .split(',')
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(str::to_owned)
                .collect(),
            home_url: Some(env_or("PF_HOME_URL", String::new())?).filter(|h| !h.is_empty()),
            care_homes_url: Some(env_or("PF_CARE_HOMES_PUBLIC_URL", String::new())?)
                .filter(|h| !h.is_empty()),
            public_url,
            control_room_url,
            kiosk_session: Duration::from_secs(kiosk_days * 24 * 60 * 60),
            token_audience: env_or("PF_TOKEN_AUDIENCE", audience)?,
            insecure_cookies: env_or("PF_INSECURE_COOKIES", development)?,
            trust_proxy: env_or("PF_TRUST_PROXY", false)?,
            clients_file: (!clients_file.is_empty()).then(|| PathBuf::from(clients_file)),
            demo_client_secret,
            external_issuer,
            staff_issuer: pf_sign_in::settings::staff_issuer_from(
                |name| std::env::var(name).ok(),
                &audience_for_staff,
            )?,
            oidc,
            notify: crate::admin_pages::notify::NotifyConfig::from_env()?,
            dashboards_dir: env_or("PF_DASHBOARDS_DIR", PathBuf::from("dashboards"))?,
            ics_name: region.ics.name.clone(),
            region,
            care_home_stale_after: Duration::from_secs(
                env_or("PF_CARE_HOME_STALE_HOURS", 24u64)? * 3600,
            ),
            session_policy: SessionPolicy {
                idle: secs("PF_SESSION_IDLE_SECS", defaults.idle)?,
                absolute: secs("PF_SESSION_ABSOLUTE_SECS", defaults.absolute)?,
                link: secs("PF_SIGN_IN_LINK_SECS", defaults.link)?,
            },
            token_ttl: Duration::from_secs(15 * 60),
            token_rate_per_minute: env_or("PF_TOKEN_RATE_PER_MINUTE", 30)?,
            ip_rate_per_minute: env_or("PF_IP_RATE_PER_MINUTE", 120)?,
        })
    }

    /// Development defaults for given servers and dashboards folder (for
    /// tests): listens on port 0, insecure cookies, no clients file.
    pub fn local(redis_url: &str, nats_url: &str, dashboards_dir: PathBuf) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            mode: Mode::Development,
            redis_url: redis_url.to_owned(),
            sign_in_prefix: "pf-auth:".to_owned(),
            nats: pf_event_log::NatsSettings::anonymous(nats_url),
            public_url: "http://127.0.0.1:8083".to_owned(),
            return_origins: Vec::new(),
            home_url: None,
            care_homes_url: None,
            control_room_url: DEFAULT_CONTROL_ROOM_URL.to_owned(),
            kiosk_session: Duration::from_secs(DEFAULT_KIOSK_SESSION_DAYS * 24 * 60 * 60),
            token_audience: "patient-flow".to_owned(),
            insecure_cookies: true,
            trust_proxy: false,
            clients_file: None,
            demo_client_secret: None,
            external_issuer: None,
            staff_issuer: None,
            oidc: None,
            notify: None,
            dashboards_dir,
            ics_name: pf_region::Region::built_in().ics.name,
            region: pf_region::Region::built_in(),
            care_home_stale_after: Duration::from_secs(24 * 3600),
            session_policy: SessionPolicy::default(),
            token_ttl: Duration::from_secs(15 * 60),
            token_rate_per_minute: 30,
            ip_rate_per_minute: 120,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_not_printed() {
        let mut config = IdentityConfig::local("redis://x", "nats://x", PathBuf::new());
        config.demo_client_secret = Some(Secret::new("hunter2-very-secret"));
        let printed = format!("{config:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("redacted"));
    }

    fn oidc(redirect: &str) -> OidcClientConfig {
        OidcClientConfig {
            issuer: "https://login.example.nhs.uk".into(),
            client_id: "patient-flow".into(),
            client_secret: Secret::new("s3cret-oidc"),
            client_auth: ClientAuth::Basic,
            client_key: None,
            redirect_url: redirect.into(),
            authorization_url: None,
            token_url: Some("https://login.example.nhs.uk/token".into()),
            jwks_url: None,
            scopes: DEFAULT_SCOPES.into(),
            userinfo_url: None,
            claims: pf_access::ClaimMapping::default(),
        }
    }

    #[test]
    fn the_control_room_is_found_from_the_gateway_or_home_url() {
        let from = |pairs: &[(&str, &str)]| {
            let pairs: Vec<(String, String)> = pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            control_room_url_from(move |name| {
                pairs
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            })
        };
        assert_eq!(from(&[]), DEFAULT_CONTROL_ROOM_URL);
        assert_eq!(
            from(&[("PF_HOME_URL", "https://pf.example/")]),
            "https://pf.example/control-room"
        );
        assert_eq!(
            from(&[
                ("PF_HOME_URL", "https://pf.example"),
                ("PF_GATEWAY_PUBLIC_URL", "http://127.0.0.1:9080")
            ]),
            "http://127.0.0.1:9080/control-room"
        );
        assert_eq!(
            from(&[
                ("PF_GATEWAY_PUBLIC_URL", "http://127.0.0.1:9080"),
                ("PF_CONTROL_ROOM_URL", "https://wall.example/control-room")
            ]),
            "https://wall.example/control-room"
        );
    }

    #[test]
    fn oidc_addresses_must_be_https_in_production() {
        let plain = oidc("http://127.0.0.1:8083/sign-in/oidc/callback");
        assert!(plain.check(false).is_ok());
        assert!(plain.check(true).is_err());
        assert!(
            oidc("https://pf.example.nhs.uk/sign-in/oidc/callback")
                .check(true)
                .is_ok()
        );
        assert!(oidc("/sign-in/oidc/callback").check(false).is_err());
        assert!(!format!("{plain:?}").contains("s3cret-oidc"));
        assert_eq!("client_secret_post".parse(), Ok(ClientAuth::Post));
        assert!("none".parse::<ClientAuth>().is_err());
        assert_eq!("private_key_jwt".parse(), Ok(ClientAuth::PrivateKeyJwt));
        let mut no_openid = oidc("https://pf.example.nhs.uk/sign-in/oidc/callback");
        no_openid.scopes = "profile nationalrbacaccess".into();
        assert!(no_openid.check(true).is_err());
    }
}
