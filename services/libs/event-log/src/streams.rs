//! Streams, subjects and their durability settings.

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use tokio_util::sync::CancellationToken;

/// One JetStream stream of the platform.
#[derive(Debug, Clone, Copy)]
pub struct StreamSpec {
    /// Stream name.
    pub name: &'static str,
    /// Subjects it captures.
    pub subjects: &'static [&'static str],
    /// What it holds, for people reading `nats stream ls`.
    pub description: &'static str,
}

/// Hospital and virtual-ward bed events, `pf.beds.{site}.{ward}.{bed}`.
pub const BEDS: StreamSpec = StreamSpec {
    name: "PF_BEDS",
    subjects: &["pf.beds.>"],
    description: "Patient Flow hospital and virtual-ward bed events",
};

/// Care-home register and vacancy events, `pf.care-homes.{cqc_location_id}`.
pub const CARE_HOMES: StreamSpec = StreamSpec {
    name: "PF_CARE_HOMES",
    subjects: &["pf.care-homes.>"],
    description: "Patient Flow care-home register and vacancy events",
};

/// Discharge events, `pf.discharges.{discharge_id}`.
pub const DISCHARGES: StreamSpec = StreamSpec {
    name: "PF_DISCHARGES",
    subjects: &["pf.discharges.>"],
    description: "Patient Flow discharge events (patients ready for discharge and what became of them)",
};

/// Task and action events, `pf.tasks.items.{item_id}`, and the
/// organisations' team registers, `pf.tasks.teams.{ods}`.
pub const TASKS: StreamSpec = StreamSpec {
    name: "PF_TASKS",
    subjects: &["pf.tasks.>"],
    description: "Patient Flow tasks and system-call actions (who needs to do what next) and team registers",
};

/// Emergency department attendances, `pf.urgent-care.ed.{site}.{attendance}`,
/// ambulance arrivals at hospital,
/// `pf.urgent-care.ambulance.{site}.{arrival}`, and ambulance services'
/// escalation levels, `pf.urgent-care.escalation.{ods}`.
pub const URGENT_CARE: StreamSpec = StreamSpec {
    name: "PF_URGENT_CARE",
    subjects: &["pf.urgent-care.>"],
    description: "Patient Flow ED attendances and ambulance arrivals at hospital (opaque ids, no patient data)",
};

/// Events refused by a consumer, with the reason in a header,
/// `pf.deadletter.{stream}`.
pub const DEAD_LETTERS: StreamSpec = StreamSpec {
    name: "PF_DEAD_LETTERS",
    subjects: &["pf.deadletter.>"],
    description: "Patient Flow events a consumer could not use, with the reason",
};

/// System events the platform concludes from the live state (OPEL level
/// changes), `pf.system.opel.{scope}` (`scope`: a site code or `system`).
/// The projection does not fold them; pf-pressure publishes them and
/// readers (the gateway) take the newest per subject.
pub const SYSTEM: StreamSpec = StreamSpec {
    name: "PF_SYSTEM",
    subjects: &["pf.system.>"],
    description: "Patient Flow system events (OPEL level changes with the parameters that caused them)",
};

/// Alerts for people and other systems, JSON on `pf.alerts.{kind}`; kept so
/// a reader that starts late can list the recent ones.
pub const ALERTS: StreamSpec = StreamSpec {
    name: "PF_ALERTS",
    subjects: &["pf.alerts.>"],
    description: "Patient Flow alerts (OPEL level changes, occupancy thresholds, care homes closing, NCTR surges), JSON",
};

/// Every stream whose events the projection folds into live state.
pub const EVENT_STREAMS: &[StreamSpec] = &[BEDS, CARE_HOMES, DISCHARGES, TASKS, URGENT_CARE];

/// The subject of one bed's events. Codes are checked identifiers (letters,
/// digits, `-`), so they are safe subject tokens.
pub fn bed_subject(site: &str, ward: &str, bed: &str) -> String {
    format!("pf.beds.{site}.{ward}.{bed}")
}

/// The subject of one care home's events. A CQC location id (`1-` and
/// digits) is a safe subject token.
pub fn care_home_subject(cqc: &str) -> String {
    format!("pf.care-homes.{cqc}")
}

/// The subject of one discharge's events (a UUID is a safe subject token).
pub fn discharge_subject(discharge_id: &str) -> String {
    format!("pf.discharges.{discharge_id}")
}

/// The subject of one task's or action's events (a UUID is a safe subject
/// token).
pub fn item_subject(item_id: &str) -> String {
    format!("pf.tasks.items.{item_id}")
}

/// The subject of one organisation's team register (an ODS code is letters
/// and digits).
pub fn teams_subject(ods: &str) -> String {
    format!("pf.tasks.teams.{ods}")
}

/// The subject of one ED attendance's events. The site code and the
/// attendance id are checked identifiers (letters, digits, `-`).
pub fn ed_subject(site: &str, attendance: &str) -> String {
    format!("pf.urgent-care.ed.{site}.{attendance}")
}

/// The subject of an ambulance service's escalation level (its ODS code,
/// checked).
pub fn ambulance_escalation_subject(service: &str) -> String {
    format!("pf.urgent-care.escalation.{service}")
}

/// The subject of one ambulance arrival's events (checked identifiers).
pub fn ambulance_subject(site: &str, arrival: &str) -> String {
    format!("pf.urgent-care.ambulance.{site}.{arrival}")
}

/// The subject of one scope's OPEL level changes (a site code or `system`).
pub fn opel_subject(scope: &str) -> String {
    format!("pf.system.opel.{scope}")
}

/// The subject of alerts of one kind (e.g. `opel_level_changed`).
pub fn alert_subject(kind: &str) -> String {
    format!("pf.alerts.{kind}")
}

/// The dead-letter subject for events refused from `stream`.
pub fn dead_letter_subject(stream: &str) -> String {
    format!("pf.deadletter.{stream}")
}

/// How durably streams keep what they acknowledged.
///
/// Every stream uses file storage. `replicas` should be 3 in production
/// (across failure domains); the embedded single server uses 1. Acknowledged
/// events then survive a killed nats-server process (the page cache holds
/// them) but not a power cut of the machine unless the server runs with
/// `sync_interval: always`. See `docs/durability.md`.
#[derive(Debug, Clone, Copy)]
pub struct Durability {
    /// Stream replicas (1 for a single server, 3 for a cluster).
    pub replicas: usize,
    /// Window within which a re-sent event id is stored only once.
    pub duplicate_window: Duration,
    /// How long alerts are kept (`PF_ALERTS`): they are notices for people
    /// and webhooks, not events the live state is built from. The event
    /// streams keep everything, since replaying them rebuilds the state.
    pub alerts_kept: Duration,
    /// How long refused messages are kept (`PF_DEAD_LETTERS`): they are
    /// parked as sent, so an HL7 message refused by the ADT feed may hold a
    /// patient's NHS number and name; kept only for the operator to look
    /// into and resend.
    pub dead_letters_kept: Duration,
}

/// Alerts are kept 30 days unless configured otherwise.
const ALERTS_KEPT_DAYS: u64 = 30;
/// Dead letters are kept 14 days unless configured otherwise.
const DEAD_LETTERS_KEPT_DAYS: u64 = 14;
const SECONDS_PER_DAY: u64 = 24 * 60 * 60;

impl Durability {
    /// Reads `PF_STREAM_REPLICAS` (default 1),
    /// `PF_STREAM_DUPLICATE_WINDOW_SECS` (default 120) and
    /// `PF_ALERTS_KEEP_DAYS` (default 30, at least 1) and
    /// `PF_DEAD_LETTERS_KEEP_DAYS` (default 14, at least 1).
    pub fn from_env() -> Result<Self, pf_runtime::ConfigError> {
        let alerts_days: u64 = pf_runtime::env_or("PF_ALERTS_KEEP_DAYS", ALERTS_KEPT_DAYS)?;
        let dead_letter_days: u64 =
            pf_runtime::env_or("PF_DEAD_LETTERS_KEEP_DAYS", DEAD_LETTERS_KEPT_DAYS)?;
        for (name, days) in [
            ("PF_ALERTS_KEEP_DAYS", alerts_days),
            ("PF_DEAD_LETTERS_KEEP_DAYS", dead_letter_days),
        ] {
            if days == 0 {
                return Err(pf_runtime::ConfigError {
                    name: name.to_owned(),
                    value: "0".to_owned(),
                    cause: "must be kept at least 1 day".to_owned(),
                });
            }
        }
        Ok(Self {
            replicas: pf_runtime::env_or("PF_STREAM_REPLICAS", 1)?,
            duplicate_window: Duration::from_secs(pf_runtime::env_or(
                "PF_STREAM_DUPLICATE_WINDOW_SECS",
                120,
            )?),
            alerts_kept: Duration::from_secs(alerts_days.saturating_mul(SECONDS_PER_DAY)),
            dead_letters_kept: Duration::from_secs(
                dead_letter_days.saturating_mul(SECONDS_PER_DAY),
            ),
        })
    }
}

impl Default for Durability {
    fn default() -> Self {
        Self {
            replicas: 1,
            duplicate_window: Duration::from_secs(120),
            alerts_kept: Duration::from_secs(ALERTS_KEPT_DAYS * SECONDS_PER_DAY),
            dead_letters_kept: Duration::from_secs(DEAD_LETTERS_KEPT_DAYS * SECONDS_PER_DAY),
        }
    }
}

/// Could not create or read a stream.
#[derive(Debug, thiserror::Error)]
#[error("could not create stream {stream}: {cause}")]
pub struct EnsureError {
    /// Which stream.
    pub stream: &'static str,
    /// What JetStream said.
    pub cause: String,
}

/// Creates the platform's streams when they do not exist yet and brings
/// an existing stream's settings that come from configuration (replicas,
/// the alerts' retention) in line with `durability`. Idempotent.
///
/// Only the streams' one owner calls this: `pf-streams`, run once at
/// install and upgrade under a NATS user of its own. Services never create
/// or change a stream (their NATS users may not); they [`wait_for`] the
/// streams they use, so that no service resets a stream to its own defaults
/// when it starts.
pub async fn ensure(
    context: &jetstream::Context,
    durability: Durability,
) -> Result<(), EnsureError> {
    for spec in EVENT_STREAMS
        .iter()
        .chain([&DEAD_LETTERS, &SYSTEM, &ALERTS])
    {
        let max_age = if spec.name == ALERTS.name {
            durability.alerts_kept
        } else if spec.name == DEAD_LETTERS.name {
            durability.dead_letters_kept
        } else {
            Duration::ZERO
        };
        // JetStream refuses a duplicate window longer than the retention.
        let duplicate_window = if max_age.is_zero() {
            durability.duplicate_window
        } else {
            durability.duplicate_window.min(max_age)
        };
        let config = stream::Config {
            name: spec.name.to_owned(),
            subjects: spec.subjects.iter().map(|s| (*s).to_owned()).collect(),
            description: Some(spec.description.to_owned()),
            storage: stream::StorageType::File,
            num_replicas: durability.replicas,
            duplicate_window,
            retention: stream::RetentionPolicy::Limits,
            max_age,
            ..Default::default()
        };
        // Every service ensures the streams at start-up, often at the same
        // moment: a create can lose the race ("subjects overlap") or time
        // out while the server is busy creating. Trying again finds the
        // stream the other one made.
        let mut attempt = 0;
        while let Err(cause) = ensure_one(context, &config).await {
            attempt += 1;
            if attempt >= ENSURE_ATTEMPTS {
                return Err(EnsureError {
                    stream: spec.name,
                    cause,
                });
            }
            tracing::warn!(stream = spec.name, %cause, attempt, "could not ensure the stream yet; trying again");
            tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
        }
    }
    Ok(())
}

/// How many times [`ensure`] tries one stream before giving up.
const ENSURE_ATTEMPTS: u32 = 6;

/// Creates the stream of `config`, or brings an existing one's retention
/// and replicas in line with it.
async fn ensure_one(context: &jetstream::Context, config: &stream::Config) -> Result<(), String> {
    let mut stream = context
        .get_or_create_stream(config.clone())
        .await
        .map_err(|e| e.to_string())?;
    let existing = stream
        .info()
        .await
        .map_err(|e| e.to_string())?
        .config
        .clone();
    if existing.max_age == config.max_age && existing.num_replicas == config.num_replicas {
        return Ok(());
    }
    let max_age = config.max_age;
    // JetStream refuses a duplicate window longer than the retention.
    let duplicate_window = if max_age.is_zero() {
        existing.duplicate_window
    } else {
        existing.duplicate_window.min(max_age)
    };
    context
        .update_stream(stream::Config {
            max_age,
            duplicate_window,
            num_replicas: config.num_replicas,
            ..existing
        })
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(
        stream = %config.name,
        max_age_secs = max_age.as_secs(),
        replicas = config.num_replicas,
        "brought the stream's retention and replicas in line with the configuration"
    );
    Ok(())
}

/// Waits until every stream in `names` exists, asking JetStream for each
/// one's info (the only stream request a service's NATS user may make).
/// Services call this at start-up instead of creating streams: `pf-streams`
/// creates them. Logs which stream is missing while it waits. Returns
/// `false` when `shutdown` is cancelled first.
pub async fn wait_for(
    context: &jetstream::Context,
    names: &[&str],
    shutdown: &CancellationToken,
) -> bool {
    for name in names {
        let mut attempt: u32 = 0;
        loop {
            match context.get_stream(*name).await {
                Ok(_) => break,
                Err(cause) => {
                    attempt = attempt.saturating_add(1);
                    // Quiet for the first second or so (the streams job may
                    // be running right now), then a warning every ~20 s.
                    if attempt == 5 || attempt.is_multiple_of(10) {
                        tracing::warn!(
                            stream = name,
                            %cause,
                            "waiting for the stream; pf-streams creates it (run it once after installing or upgrading)"
                        );
                    }
                }
            }
            let pause = Duration::from_millis(100u64 << attempt.min(4)).min(Duration::from_secs(2));
            tokio::select! {
                _ = shutdown.cancelled() => return false,
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }
    true
}
