//! A believable day of the region's hospitals (LLR by default), driven
//! through the hospital-beds API, and of its care homes, driven through the
//! care-homes API.
//!
//! The simulator is an ordinary API client: everything it does, a hospital
//! system or a care-record system could do. On start it makes sure every core bed of the catalogue is
//! open and brings the region to a believable starting point (G&A about
//! 88-94% occupied, a few beds awaiting cleaning, reserved or closed, virtual
//! wards about 75% full), resuming rather than repeating a previous run. Then
//! it sends a steady beat of admissions, discharges, cleans, reservations and
//! occasional closures, following a daily occupancy curve, and opens
//! escalation beds when a site's occupancy of a kind rises above 96% and
//! withdraws them when it falls below 90%.
//!
//! Meanwhile ([`care_home_feed`]) it reads the care homes it may change from
//! the care-homes API, gives every home that has never reported a first
//! report (most categories with 0-3 vacant beds, some homes full, about 3%
//! closed to admissions for an outbreak), and then every few seconds a random
//! home reports new figures or confirms that nothing has changed, each update
//! with its own idempotency key.
//!
//! And ([`discharge_flow`]) through the discharge API, as UHL's and LPT's
//! discharge teams, it keeps about 120 synthetic patients on the discharge
//! list: new patients become ready, patients on pathways 0 and 1 go home,
//! for pathways 2 and 3 it searches the matching care homes and holds a bed
//! at the first one (the next one when the bed has just gone), the home
//! accepts or declines after a short delay (through the care-homes API, as
//! the `care-home-simulator` identity), and accepted patients leave for the
//! home. A few patients leave the list without a discharge.
//!
//! In ADT mode (`PF_SIM_ADT_MLLP=host:port`, [`adt`]) admissions and
//! discharges go to the ADT feed as a trust's integration engine sends them,
//! HL7 v2 over MLLP in three vendors' styles; staff's changes (cleaning,
//! reservations, closures, escalation beds) stay on the API.
//!
//! It reads its configuration from the environment ([`SimulatorConfig`]):
//! `PF_HOSPITAL_BEDS_URL` (default `http://127.0.0.1:8081`),
//! `PF_CARE_HOMES_URL` (default `http://127.0.0.1:8084`; `off` for no
//! care-home vacancies), `PF_DISCHARGES_URL` (default
//! `http://127.0.0.1:8085`; `off` for no discharge flow), `PF_SIM_SPEED`
//! (default 1.0: a simulated day in about eight minutes, about six events a
//! second), `PF_SIM_SEED` (random seed), `PF_SIM_CONCURRENCY` (default 16)
//! and `RUST_LOG`.
//!
//! Sign-in ([`credentials`]): with `PF_CLIENT_SECRET` or
//! `PF_CLIENT_SECRET_FILE` set, the simulator obtains an OAuth 2.0
//! client-credentials token for `PF_CLIENT_ID` (default `simulator`) from
//! `{PF_IDENTITY_URL}/oauth/token` (default `http://127.0.0.1:8083`) and sends
//! it as `Authorization: Bearer …` on every request to both APIs (the
//! `simulator` identity publishes bed events for UHL and LPT and vacancies
//! for every demo care home, and coordinates UHL's and LPT's discharges);
//! without either it sends none, for platforms without sign-in, and warns
//! once. The care homes' answers to holds are signed in as
//! `PF_CARE_HOME_CLIENT_ID` (default `care-home-simulator`) with
//! `PF_CARE_HOME_CLIENT_SECRET(_FILE)`, or else the same secret.
//!
//! # Layout
//! - [`config`]: [`SimulatorConfig`], read from the environment.
//! - [`client`]: [`BedsClient`], the HTTP client of the hospital-beds API, and
//!   [`ApiError`], which sorts failures into conflict / unknown bed /
//!   unavailable / not signed in / refused.
//! - [`credentials`]: [`CredentialsConfig`] and the [`TokenProvider`] that
//!   fetches, caches and refreshes the access token.
//! - [`retry`]: exponential [`Backoff`](retry::Backoff) and
//!   [`with_retry`](retry::with_retry) for an unavailable API.
//! - [`model`]: the in-memory picture of every bed, ward, site-and-kind group
//!   and site, and the [`Counts`](model::Counts) that occupancy is computed from.
//! - [`policy`]: the pure decision logic (daily occupancy targets, flow-event
//!   weights, which bed, escalation thresholds, starting states); unit-tested
//!   without a server.
//! - [`seed`]: start-up, [`SeedReport`].
//! - [`engine`]: the running loop with bounded concurrency, stale-bed
//!   re-reads, backoff and graceful drain.
//! - [`vacancies`]: the pure decision logic of care-home reports (first
//!   reports, later updates, the API's rules); unit-tested without a server.
//! - [`care_homes`]: [`CareHomesClient`], the client of the care-homes API,
//!   and [`send_update`](care_homes::send_update), which retries with the same
//!   idempotency key.
//! - [`care_home_feed`]: first reports and the running care-home updates.
//! - [`patients`]: the pure decision logic of the discharge flow (referrals,
//!   pathway mix, timings); unit-tested without a server.
//! - [`discharges`]: [`DischargesClient`] and [`HoldAnswers`], the clients of
//!   the discharge API and of the homes' answers to holds.
//! - [`discharge_flow`]: the running discharge flow.
//! - [`urgent_care_flow`]: ED attendances and ambulance arrivals through
//!   the urgent-care API (`PF_URGENT_CARE_URL`, default
//!   `http://127.0.0.1:8091`; `off` for none).
//! - [`history`]: fast-forward history (`pf-simulator history`): weeks of
//!   believable past generated in memory and written straight into the
//!   event streams, marked `Pf-Synthetic: history`, for a fresh platform's
//!   forecasts to learn from.

pub mod adt;
pub mod care_home_feed;
pub mod care_homes;
pub mod client;
pub mod config;
pub mod credentials;
pub mod discharge_flow;
pub mod discharges;
pub mod engine;
pub mod history;
pub mod model;
pub mod patients;
pub mod policy;
pub mod retry;
pub mod seed;
pub mod urgent_care_flow;
pub mod vacancies;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng};
use tokio_util::sync::CancellationToken;

pub use care_homes::{CareHomeError, CareHomesClient};
pub use client::{ApiError, BedView, BedsClient};
pub use config::SimulatorConfig;
pub use credentials::{CredentialsConfig, TokenProvider};
pub use discharges::{DischargesClient, FlowError, HoldAnswers};
pub use engine::RunStats;
pub use seed::SeedReport;

use crate::model::Model;

/// How long [`seed`] waits for an unavailable API before it fails.
pub const SEED_GIVE_UP_AFTER: Duration = Duration::from_secs(60);

fn rng_for(config: &SimulatorConfig) -> StdRng {
    match config.seed {
        Some(seed) => StdRng::seed_from_u64(seed),
        None => StdRng::from_os_rng(),
    }
}

/// The API clients: hospital-beds, care-homes and discharges unless they
/// are off, and the homes' answers to holds.
struct Clients {
    beds: BedsClient,
    care_homes: Option<CareHomesClient>,
    discharges: Option<DischargesClient>,
    hold_answers: Option<HoldAnswers>,
    /// The simulator's own sign-in (for the urgent-care flow).
    credentials: Option<Arc<TokenProvider>>,
}

fn prepare(config: &SimulatorConfig) -> anyhow::Result<(Clients, Model, StdRng)> {
    let catalogue = config.catalogue()?;
    let clients = signed_in_clients(config)?;
    let mut rng = rng_for(config);
    let mut model = Model::from_catalogue(&catalogue);
    policy::assign_ward_leanings(&mut model, &mut rng);
    Ok((clients, model, rng))
}

/// The hospital-beds API client, signed in when a client secret is configured.
pub fn signed_in_client(config: &SimulatorConfig) -> anyhow::Result<BedsClient> {
    Ok(signed_in_clients(config)?.beds)
}

/// Both API clients, sharing one connection pool and one access token.
fn signed_in_clients(config: &SimulatorConfig) -> anyhow::Result<Clients> {
    let mut beds = BedsClient::new(&config.hospital_beds_url, config.request_timeout)?;
    if let Some(address) = &config.adt_mllp {
        tracing::info!(%address, "ADT mode: admissions and discharges go as HL7 v2 over MLLP");
        beds = beds.with_adt(adt::AdtSender::new(address, config.request_timeout));
    }
    let care_homes = config
        .care_homes_url
        .as_deref()
        .map(|url| CareHomesClient::new(url, beds.http().clone()));
    // The homes answer holds as their own identity.
    let home_staff =
        TokenProvider::new(&config.care_home_credentials, beds.http().clone()).map(Arc::new);
    let hold_answers = config
        .care_homes_url
        .as_deref()
        .map(|url| HoldAnswers::new(url, beds.http().clone(), home_staff));
    let discharges = |provider: Option<Arc<TokenProvider>>| {
        config
            .discharges_url
            .as_deref()
            .map(|url| DischargesClient::new(url, beds.http().clone(), provider))
    };
    match TokenProvider::new(&config.credentials, beds.http().clone()) {
        Some(provider) => {
            tracing::info!(
                identity = %config.credentials.identity_url,
                client_id = %config.credentials.client_id,
                "signing in with client credentials"
            );
            let provider = Arc::new(provider);
            Ok(Clients {
                credentials: Some(provider.clone()),
                discharges: discharges(Some(provider.clone())),
                hold_answers,
                care_homes: care_homes.map(|c| c.with_credentials(provider.clone())),
                beds: beds.with_credentials(provider),
            })
        }
        None => {
            tracing::warn!(
                "neither PF_CLIENT_SECRET nor PF_CLIENT_SECRET_FILE is set: \
                 calling the APIs without a token (works only where sign-in is off)"
            );
            Ok(Clients {
                credentials: None,
                discharges: discharges(None),
                hold_answers,
                beds,
                care_homes,
            })
        }
    }
}

fn log_seed_report(report: &SeedReport) {
    tracing::info!(
        beds = report.beds,
        opened = report.opened,
        seeded = report.seeded,
        resumed = report.resumed,
        escalation_open = report.escalation_open,
        conflicts = report.conflicts,
        unknown = report.unknown,
        failed = report.failed,
        open = report.open,
        occupied = report.occupied,
        requests = report.requests,
        elapsed_ms = report.elapsed.as_millis() as u64,
        "seeding finished"
    );
}

/// Seeds the region once (see [`seed`](mod@seed)) and returns what was done.
///
/// Waits up to [`SEED_GIVE_UP_AFTER`] for an unavailable API, then fails.
/// Running it again resumes: beds already carrying a state are left alone.
pub async fn seed(config: &SimulatorConfig) -> anyhow::Result<SeedReport> {
    let (clients, mut model, mut rng) = prepare(config)?;
    let cancel = CancellationToken::new();
    tracing::info!(url = %config.hospital_beds_url, beds = model.beds.len(), "seeding");
    let report = seed::seed_model(
        &clients.beds,
        &mut model,
        &mut rng,
        config.concurrency,
        &cancel,
        Some(SEED_GIVE_UP_AFTER),
    )
    .await;
    log_seed_report(&report);
    if report.failed > 0 && report.open == 0 {
        anyhow::bail!(
            "seeding failed: the hospital-beds API at {} did not answer",
            config.hospital_beds_url
        );
    }
    Ok(report)
}

/// Seeds, then simulates until `shutdown` completes; then lets the requests
/// in flight finish and returns `Ok(())`.
///
/// An unavailable API is waited for (with backoff) for as long as it takes,
/// at start-up and while running; HTTP failures are logged, never fatal.
pub async fn run(
    config: SimulatorConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let cancel = CancellationToken::new();
    let work = simulate(&config, &cancel);
    tokio::pin!(work);
    tokio::pin!(shutdown);
    tokio::select! {
        result = &mut work => return result,
        () = &mut shutdown => {
            tracing::info!("shutdown requested");
            cancel.cancel();
        }
    }
    work.await
}

async fn simulate(config: &SimulatorConfig, cancel: &CancellationToken) -> anyhow::Result<()> {
    let (clients, mut model, mut rng) = prepare(config)?;
    // The care homes' choices have their own generator, drawn from the
    // seeded one, so PF_SIM_SEED still repeats a run.
    let care_home_rng = StdRng::seed_from_u64(rng.random());
    let discharge_rng = StdRng::seed_from_u64(rng.random());
    let urgent_care_rng = StdRng::seed_from_u64(rng.random());
    let catalogue = config.catalogue()?;
    let wards = patients::discharge_wards(&catalogue);
    let districts = patients::home_districts(&config.region()?);
    let beds = async {
        tracing::info!(
            url = %config.hospital_beds_url,
            beds = model.beds.len(),
            speed = config.speed,
            seed = ?config.seed,
            "seeding"
        );
        let report = seed::seed_model(
            &clients.beds,
            &mut model,
            &mut rng,
            config.concurrency,
            cancel,
            None,
        )
        .await;
        log_seed_report(&report);
        if cancel.is_cancelled() {
            return;
        }
        let mut engine = engine::Engine::new(
            clients.beds.clone(),
            model,
            rng,
            config.speed,
            config.concurrency,
        );
        engine.run(config.speed, cancel).await;
        tracing::info!(stats = ?engine.stats(), "simulator stopped");
    };
    let care_homes = async {
        let Some(client) = clients.care_homes.clone() else {
            tracing::info!("PF_CARE_HOMES_URL is off: no care-home vacancies are reported");
            return;
        };
        let mut feed = care_home_feed::Feed::new(client, care_home_rng);
        feed.run(config.speed, cancel).await;
        tracing::info!(stats = ?feed.stats(), "care-home feed stopped");
    };
    let discharges = async {
        let Some(client) = clients.discharges.clone() else {
            tracing::info!("PF_DISCHARGES_URL is off: no discharge flow");
            return;
        };
        if clients.hold_answers.is_none() {
            tracing::warn!("PF_CARE_HOMES_URL is off: no home will answer the holds");
        }
        let mut flow = discharge_flow::Flow::new(
            client,
            clients.hold_answers.clone(),
            wards,
            districts,
            discharge_rng,
            config.speed,
        );
        flow.run(cancel).await;
        tracing::info!(stats = ?flow.stats(), "discharge flow stopped");
    };
    let urgent_care = async {
        let Some(url) = config.urgent_care_url.as_deref() else {
            tracing::info!("PF_URGENT_CARE_URL is off: no ED or ambulance events");
            return;
        };
        let sites = catalogue
            .sites()
            .filter(|s| s.kind == pf_hospital_model::catalogue::SiteKind::Acute)
            .map(|s| s.code.to_string())
            .collect();
        let mut flow = urgent_care_flow::Flow::new(
            clients.beds.http().clone(),
            url,
            clients.credentials.clone(),
            sites,
            urgent_care_rng,
            config.speed,
        );
        flow.run(cancel).await;
        tracing::info!(stats = ?flow.stats(), "urgent-care flow stopped");
    };
    tokio::join!(beds, care_homes, discharges, urgent_care);
    Ok(())
}
