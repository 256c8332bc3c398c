//! Configuration from the environment, with defaults that work on a laptop.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use pf_hospital_model::Catalogue;

use crate::credentials::CredentialsConfig;

/// Where the hospital-beds API listens unless `PF_HOSPITAL_BEDS_URL` says otherwise.
pub const DEFAULT_HOSPITAL_BEDS_URL: &str = "http://127.0.0.1:8081";

/// Where the care-homes API listens unless `PF_CARE_HOMES_URL` says otherwise.
pub const DEFAULT_CARE_HOMES_URL: &str = "http://127.0.0.1:8084";

/// Where the discharge API listens unless `PF_DISCHARGES_URL` says otherwise.
pub const DEFAULT_DISCHARGES_URL: &str = "http://127.0.0.1:8085";
/// Where the urgent-care API listens by default.
pub const DEFAULT_URGENT_CARE_URL: &str = "http://127.0.0.1:8091";

/// The care homes' machine identity (answering holds) unless
/// `PF_CARE_HOME_CLIENT_ID` says otherwise.
pub const DEFAULT_CARE_HOME_CLIENT_ID: &str = "care-home-simulator";

/// Requests in flight at once unless `PF_SIM_CONCURRENCY` says otherwise.
pub const DEFAULT_CONCURRENCY: usize = 16;

/// The fastest speed accepted; beyond it the API, not the simulator, sets the pace.
pub const MAX_SPEED: f64 = 1000.0;

/// How the simulator runs.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// Base URL of the hospital-beds API, without a trailing slash
    /// (`PF_HOSPITAL_BEDS_URL`).
    pub hospital_beds_url: String,
    /// Base URL of the care-homes API, without a trailing slash
    /// (`PF_CARE_HOMES_URL`); `None` (`PF_CARE_HOMES_URL=off`) reports no
    /// care-home vacancies.
    pub care_homes_url: Option<String>,
    /// Base URL of the discharge API (`PF_DISCHARGES_URL`); `None`
    /// (`PF_DISCHARGES_URL=off`) runs no discharge flow.
    pub discharges_url: Option<String>,
    /// Base URL of the urgent-care API (`PF_URGENT_CARE_URL`, default
    /// `http://127.0.0.1:8091`; `off`: no ED or ambulance events).
    pub urgent_care_url: Option<String>,
    /// How fast the simulated day runs (`PF_SIM_SPEED`): 1.0 is a day in about
    /// eight minutes at about six bed events a second; 2.0 is twice as fast.
    pub speed: f64,
    /// Seed of the random choices (`PF_SIM_SEED`); `None` seeds from the OS.
    /// The same seed against the same starting state makes the same choices.
    pub seed: Option<u64>,
    /// Requests in flight at once, while seeding and while running
    /// (`PF_SIM_CONCURRENCY`).
    pub concurrency: usize,
    /// How long one HTTP request may take before it counts as failed.
    pub request_timeout: Duration,
    /// The sites, wards and beds to drive; `None` means the region's
    /// (`PF_REGION_DIR`, default the built-in LLR). Must match the API's
    /// catalogue.
    pub catalogue: Option<Arc<Catalogue>>,
    /// How to sign in (`PF_IDENTITY_URL`, `PF_CLIENT_ID`, `PF_CLIENT_SECRET`
    /// or `PF_CLIENT_SECRET_FILE`); without a secret, no token is sent.
    pub credentials: CredentialsConfig,
    /// How the care homes answering holds sign in: `PF_CARE_HOME_CLIENT_ID`
    /// (default `care-home-simulator`) with `PF_CARE_HOME_CLIENT_SECRET` or
    /// `PF_CARE_HOME_CLIENT_SECRET_FILE`, else the simulator's secret.
    pub care_home_credentials: CredentialsConfig,
    /// ADT mode: the ADT feed's MLLP address (`PF_SIM_ADT_MLLP`, `host:port`;
    /// unset: admissions and discharges go through the API).
    pub adt_mllp: Option<String>,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        Self {
            hospital_beds_url: DEFAULT_HOSPITAL_BEDS_URL.to_owned(),
            care_homes_url: Some(DEFAULT_CARE_HOMES_URL.to_owned()),
            discharges_url: Some(DEFAULT_DISCHARGES_URL.to_owned()),
            urgent_care_url: Some(DEFAULT_URGENT_CARE_URL.to_owned()),
            speed: 1.0,
            seed: None,
            concurrency: DEFAULT_CONCURRENCY,
            request_timeout: Duration::from_secs(10),
            catalogue: None,
            credentials: CredentialsConfig::default(),
            care_home_credentials: CredentialsConfig {
                client_id: DEFAULT_CARE_HOME_CLIENT_ID.to_owned(),
                ..CredentialsConfig::default()
            },
            adt_mllp: None,
        }
    }
}

impl SimulatorConfig {
    /// Reads `PF_HOSPITAL_BEDS_URL`, `PF_CARE_HOMES_URL`, `PF_DISCHARGES_URL`,
    /// `PF_CARE_HOME_CLIENT_ID`, `PF_CARE_HOME_CLIENT_SECRET(_FILE)`, `PF_SIM_SPEED`, `PF_SIM_SEED`,
    /// `PF_SIM_CONCURRENCY` and the sign-in variables of
    /// [`CredentialsConfig::from_lookup`]; unset or empty variables take the
    /// defaults.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`SimulatorConfig::from_env`], reading variables through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let credentials = CredentialsConfig::from_lookup(&lookup)?;
        // The care homes' identity: the same identity service, its own
        // client id, its own secret or else the simulator's.
        let care_home_credentials = CredentialsConfig::from_lookup(|name| match name {
            "PF_CLIENT_ID" => lookup("PF_CARE_HOME_CLIENT_ID")
                .or_else(|| Some(DEFAULT_CARE_HOME_CLIENT_ID.to_owned())),
            "PF_CLIENT_SECRET" => lookup("PF_CARE_HOME_CLIENT_SECRET"),
            "PF_CLIENT_SECRET_FILE" => lookup("PF_CARE_HOME_CLIENT_SECRET_FILE"),
            other => lookup(other),
        })
        .context("the care homes' sign-in (PF_CARE_HOME_CLIENT_*)")?;
        let care_home_credentials = CredentialsConfig {
            secret: care_home_credentials
                .secret
                .or_else(|| credentials.secret.clone()),
            ..care_home_credentials
        };
        let mut config = Self {
            credentials,
            care_home_credentials,
            ..Self::default()
        };
        config.adt_mllp = get("PF_SIM_ADT_MLLP");
        if let Some(url) = get("PF_HOSPITAL_BEDS_URL") {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                bail!("PF_HOSPITAL_BEDS_URL must start with http:// or https://, got `{url}`");
            }
            config.hospital_beds_url = url.trim_end_matches('/').to_owned();
        }
        if let Some(url) = get("PF_CARE_HOMES_URL") {
            config.care_homes_url = if url.eq_ignore_ascii_case("off") {
                None
            } else if url.starts_with("http://") || url.starts_with("https://") {
                Some(url.trim_end_matches('/').to_owned())
            } else {
                bail!(
                    "PF_CARE_HOMES_URL must start with http:// or https:// (or be `off`), got `{url}`"
                );
            };
        }
        if let Some(url) = get("PF_DISCHARGES_URL") {
            config.discharges_url = if url.eq_ignore_ascii_case("off") {
                None
            } else if url.starts_with("http://") || url.starts_with("https://") {
                Some(url.trim_end_matches('/').to_owned())
            } else {
                bail!(
                    "PF_DISCHARGES_URL must start with http:// or https:// (or be `off`), got `{url}`"
                );
            };
        }
        if let Some(url) = get("PF_URGENT_CARE_URL") {
            config.urgent_care_url = if url.eq_ignore_ascii_case("off") {
                None
            } else if url.starts_with("http://") || url.starts_with("https://") {
                Some(url.trim_end_matches('/').to_owned())
            } else {
                bail!(
                    "PF_URGENT_CARE_URL must start with http:// or https:// (or be `off`), got `{url}`"
                );
            };
        }
        if let Some(speed) = get("PF_SIM_SPEED") {
            let speed: f64 = speed
                .parse()
                .with_context(|| format!("PF_SIM_SPEED must be a number, got `{speed}`"))?;
            if !(speed.is_finite() && speed > 0.0 && speed <= MAX_SPEED) {
                bail!("PF_SIM_SPEED must be above 0 and at most {MAX_SPEED}, got {speed}");
            }
            config.speed = speed;
        }
        if let Some(seed) = get("PF_SIM_SEED") {
            config.seed =
                Some(seed.parse().with_context(|| {
                    format!("PF_SIM_SEED must be a whole number, got `{seed}`")
                })?);
        }
        if let Some(n) = get("PF_SIM_CONCURRENCY") {
            let n: usize = n
                .parse()
                .with_context(|| format!("PF_SIM_CONCURRENCY must be a whole number, got `{n}`"))?;
            if !(1..=256).contains(&n) {
                bail!("PF_SIM_CONCURRENCY must be 1 to 256, got {n}");
            }
            config.concurrency = n;
        }
        Ok(config)
    }

    /// The catalogue to drive: the configured one or the `sites.json` of
    /// the region's data set (`PF_REGION_DIR`, default the built-in LLR).
    pub fn catalogue(&self) -> anyhow::Result<Arc<Catalogue>> {
        match &self.catalogue {
            Some(catalogue) => Ok(catalogue.clone()),
            None => {
                let (files, region) = pf_region::from_env().context("the region does not load")?;
                Ok(Arc::new(
                    Catalogue::load(&files, &region).context("the site catalogue does not load")?,
                ))
            }
        }
    }

    /// The region patients live in: `region.json` of the region's data set
    /// (`PF_REGION_DIR`, default the built-in LLR). Must match the
    /// discharges service's, which refuses search postcodes outside it.
    pub fn region(&self) -> anyhow::Result<pf_region::Region> {
        pf_region::RegionFiles::from_env()
            .and_then(|files| files.region())
            .context("the region does not load")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(vars: &[(&str, &str)]) -> anyhow::Result<SimulatorConfig> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        SimulatorConfig::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let config = from(&[]).expect("defaults");
        assert_eq!(config.hospital_beds_url, DEFAULT_HOSPITAL_BEDS_URL);
        assert_eq!(
            config.care_homes_url.as_deref(),
            Some(DEFAULT_CARE_HOMES_URL)
        );
        assert_eq!(config.speed, 1.0);
        assert_eq!(config.seed, None);
        assert_eq!(config.concurrency, DEFAULT_CONCURRENCY);
        assert_eq!(
            config.discharges_url.as_deref(),
            Some(DEFAULT_DISCHARGES_URL)
        );
        assert_eq!(
            config.care_home_credentials.client_id,
            "care-home-simulator"
        );
        assert_eq!(config.care_home_credentials.secret, None);
    }

    #[test]
    fn the_discharge_flow_is_configured() {
        let config = from(&[
            ("PF_DISCHARGES_URL", "http://discharges:9000/"),
            ("PF_CLIENT_SECRET", "s3cret"),
            ("PF_CARE_HOME_CLIENT_ID", "homes"),
            ("PF_IDENTITY_URL", "http://id:1"),
        ])
        .expect("valid");
        assert_eq!(
            config.discharges_url.as_deref(),
            Some("http://discharges:9000")
        );
        let homes = &config.care_home_credentials;
        assert_eq!(homes.client_id, "homes");
        assert_eq!(homes.identity_url, "http://id:1");
        assert_eq!(
            homes.secret, config.credentials.secret,
            "the simulator's secret"
        );
        assert_eq!(config.credentials.client_id, "simulator");
        let own = from(&[
            ("PF_CLIENT_SECRET", "s3cret"),
            ("PF_CARE_HOME_CLIENT_SECRET", "other"),
        ])
        .expect("valid");
        assert_ne!(own.care_home_credentials.secret, own.credentials.secret);
        let off = from(&[("PF_DISCHARGES_URL", "off")]).expect("valid");
        assert_eq!(off.discharges_url, None);
        assert!(from(&[("PF_DISCHARGES_URL", "discharges:8085")]).is_err());
    }

    #[test]
    fn variables_are_read_and_checked() {
        let config = from(&[
            ("PF_HOSPITAL_BEDS_URL", "http://beds:9000/"),
            ("PF_SIM_SPEED", "2.5"),
            ("PF_SIM_SEED", "42"),
            ("PF_SIM_CONCURRENCY", " 4 "),
            ("PF_CARE_HOMES_URL", "https://care:8443/"),
        ])
        .expect("valid");
        assert_eq!(config.hospital_beds_url, "http://beds:9000");
        assert_eq!(config.care_homes_url.as_deref(), Some("https://care:8443"));
        let off = from(&[("PF_CARE_HOMES_URL", "off")]).expect("valid");
        assert_eq!(off.care_homes_url, None);
        assert_eq!(config.speed, 2.5);
        assert_eq!(config.seed, Some(42));
        assert_eq!(config.concurrency, 4);

        for bad in [
            ("PF_SIM_SPEED", "0"),
            ("PF_SIM_SPEED", "-1"),
            ("PF_SIM_SPEED", "fast"),
            ("PF_SIM_SPEED", "inf"),
            ("PF_SIM_SEED", "-3"),
            ("PF_HOSPITAL_BEDS_URL", "beds:9000"),
            ("PF_SIM_CONCURRENCY", "0"),
            ("PF_CARE_HOMES_URL", "care:8084"),
        ] {
            assert!(from(&[bad]).is_err(), "{bad:?} should be refused");
        }
    }
}
