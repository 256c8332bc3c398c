//! ADT mode: admissions and discharges sent as a trust's integration engine
//! would, as HL7 v2 ADT messages over MLLP to the ADT feed (`pf-adt-feed`),
//! instead of through the hospital-beds API. Cleaning, reservations,
//! closures and escalation beds stay with the API: they are staff's.
//!
//! The messages vary as real feeds do ([`Style`]): Epic-like (2.5.1, `\r`,
//! ward^room^bed^facility, a Z-segment, an escaped name, several PID-3
//! identifiers), Cerner-like (2.3, `\n`, the ward in `PV1-3.9`) and
//! CareFlow-like (2.4, `\r\n`, the ODS site in `PV1-3.11`). They use the
//! senders and locations of the demo feeds file
//! (`services/adt-feed/feeds.demo.json`), synthetic patients and test-range
//! NHS numbers (999…). Each admission gets a visit number, kept for its
//! discharge. One message is in flight per connection; a small pool of
//! connections carries the engine's concurrent requests.
//!
//! The awkward messages are here too ([`AdtEvent`]): transfers (A02, prior
//! bed in PV1-6), cancellations (A11, A12, A13), the A17 swap (two PID/PV1
//! groups) and leave of absence (A21/A22). The demo day sends some of them
//! around its admissions and discharges ([`AdtSender::send`]); the others
//! are for whoever drives [`AdtSender::send_one`].

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use pf_discharge_model::nhs_number::NhsNumber;
use pf_hospital_model::BedAddress;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use crate::client::ApiError;

/// What a message says happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdtEvent {
    /// A01: a patient admitted into the bed.
    Admit,
    /// A03: the patient in the bed discharged.
    Discharge,
    /// A02: the patient moved into the bed from `from` (PV1-6).
    Transfer {
        /// The bed the patient leaves.
        from: BedAddress,
    },
    /// A11: the admission into the bed entered in error.
    CancelAdmit,
    /// A12: the transfer into `from` entered in error; the patient is back
    /// in the bed (PV1-3), `from` (PV1-6) is where they were sent.
    CancelTransfer {
        /// The bed the cancelled transfer went to.
        from: BedAddress,
    },
    /// A13: the discharge from the bed entered in error.
    CancelDischarge,
    /// A17: the patient in the bed and the one in `other` swap beds (two
    /// PID/PV1 groups, each with its patient's new bed).
    Swap {
        /// The other bed.
        other: BedAddress,
        /// The visit of the patient now in `other`.
        other_visit: String,
    },
    /// A21: the patient in the bed leaves for a while (the bed is held).
    LeaveOut,
    /// A22: the patient is back from leave.
    LeaveReturn,
}

impl AdtEvent {
    /// The trigger event code (MSH-9.2, EVN-1).
    pub fn trigger(&self) -> &'static str {
        match self {
            AdtEvent::Admit => "A01",
            AdtEvent::Transfer { .. } => "A02",
            AdtEvent::Discharge => "A03",
            AdtEvent::CancelAdmit => "A11",
            AdtEvent::CancelTransfer { .. } => "A12",
            AdtEvent::CancelDischarge => "A13",
            AdtEvent::Swap { .. } => "A17",
            AdtEvent::LeaveOut => "A21",
            AdtEvent::LeaveReturn => "A22",
        }
    }

    /// The message structure (MSH-9.3) HL7 v2.5 gives the trigger.
    fn structure(&self) -> &'static str {
        match self {
            AdtEvent::Admit | AdtEvent::LeaveOut | AdtEvent::LeaveReturn => "ADT_A01",
            AdtEvent::Transfer { .. } | AdtEvent::CancelTransfer { .. } => "ADT_A02",
            AdtEvent::Discharge => "ADT_A03",
            AdtEvent::CancelAdmit | AdtEvent::CancelDischarge => "ADT_A09",
            AdtEvent::Swap { .. } => "ADT_A17",
        }
    }
}

/// How a message is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Epic-like.
    Epic,
    /// Cerner-like.
    Cerner,
    /// CareFlow-like.
    CareFlow,
}

/// Sends ADT messages over MLLP and reads their ACKs.
#[derive(Debug, Clone)]
pub struct AdtSender {
    address: String,
    timeout: Duration,
    pool: Arc<Mutex<Vec<TcpStream>>>,
    visits: Arc<Mutex<HashMap<String, String>>>,
    counter: Arc<AtomicU64>,
    run: String,
}

impl AdtSender {
    /// A sender to the MLLP port at `address` (`host:port`).
    pub fn new(address: &str, timeout: Duration) -> Self {
        Self {
            address: address.to_owned(),
            timeout,
            pool: Arc::new(Mutex::new(Vec::new())),
            visits: Arc::new(Mutex::new(HashMap::new())),
            counter: Arc::new(AtomicU64::new(0)),
            // Control ids and visit numbers stay unique across runs.
            run: format!("{:x}", time::OffsetDateTime::now_utc().unix_timestamp()),
        }
    }

    /// Sends `event` for `bed`; `Ok` once the feed answered `AA`. As real
    /// feeds do, some admissions and discharges come with their awkward
    /// company: every tenth admission is entered in error and cancelled
    /// (A01, A11, A01 again), another goes on leave and comes back (A01,
    /// A21, A22), and every tenth discharge is cancelled and sent again
    /// (A03, A13, A03). The bed ends as the plain message would leave it.
    pub async fn send(&self, event: AdtEvent, bed: &BedAddress) -> Result<(), ApiError> {
        let n = self.counter.load(Ordering::Relaxed);
        let company: &[AdtEvent] = match (&event, n % 10) {
            (AdtEvent::Admit, 2) => &[AdtEvent::Admit, AdtEvent::CancelAdmit, AdtEvent::Admit],
            (AdtEvent::Admit, 6) => &[AdtEvent::Admit, AdtEvent::LeaveOut, AdtEvent::LeaveReturn],
            (AdtEvent::Discharge, 9) => &[
                AdtEvent::Discharge,
                AdtEvent::CancelDischarge,
                AdtEvent::Discharge,
            ],
            _ => return self.send_one(event, bed).await,
        };
        for event in company {
            self.send_one(event.clone(), bed).await?;
        }
        Ok(())
    }

    /// Sends one message, keeping the visit numbers where the patients are:
    /// an A17's `other_visit` is filled in here (the visit of the patient in
    /// `other`, who moves to `bed`).
    pub async fn send_one(&self, event: AdtEvent, bed: &BedAddress) -> Result<(), ApiError> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let key = bed.to_string();
        let fresh = || format!("SIM{}-{n}", self.run);
        let (event, visit) = {
            let mut visits = self.visits.lock().await;
            match event {
                AdtEvent::Admit => {
                    let visit = fresh();
                    visits.insert(key, visit.clone());
                    (event, visit)
                }
                AdtEvent::Discharge => {
                    let visit = visits.remove(&key).unwrap_or_else(fresh);
                    visits.insert(format!("discharged:{key}"), visit.clone());
                    (event, visit)
                }
                AdtEvent::CancelDischarge => {
                    let visit = visits
                        .remove(&format!("discharged:{key}"))
                        .unwrap_or_else(fresh);
                    visits.insert(key, visit.clone());
                    (event, visit)
                }
                AdtEvent::CancelAdmit => {
                    let visit = visits.remove(&key).unwrap_or_else(fresh);
                    (event, visit)
                }
                AdtEvent::Transfer { ref from } | AdtEvent::CancelTransfer { ref from } => {
                    let visit = visits.remove(&from.to_string()).unwrap_or_else(fresh);
                    visits.insert(key, visit.clone());
                    (event, visit)
                }
                AdtEvent::Swap { other, .. } => {
                    let here = visits.remove(&key).unwrap_or_else(fresh);
                    let there = visits
                        .remove(&other.to_string())
                        .unwrap_or_else(|| format!("SIM{}-{n}b", self.run));
                    visits.insert(key, there.clone());
                    visits.insert(other.to_string(), here.clone());
                    (
                        AdtEvent::Swap {
                            other,
                            other_visit: here,
                        },
                        there,
                    )
                }
                AdtEvent::LeaveOut | AdtEvent::LeaveReturn => {
                    let visit = visits.get(&key).cloned().unwrap_or_else(fresh);
                    (event, visit)
                }
            }
        };
        let control_id = format!("SIM{}-{n}", self.run);
        let message = message(
            &event,
            bed,
            &control_id,
            &visit,
            n,
            time::OffsetDateTime::now_utc(),
        );
        let ack = self.exchange(message.as_bytes()).await?;
        let code = ack
            .split(['\r', '\n'])
            .find_map(|line| line.strip_prefix("MSA|"))
            .map(|rest| rest.split('|').next().unwrap_or(""))
            .unwrap_or("");
        match code {
            "AA" => Ok(()),
            _ => Err(ApiError::Conflict(format!(
                "the ADT feed answered: {}",
                ack.replace('\r', " ")
            ))),
        }
    }

    async fn exchange(&self, message: &[u8]) -> Result<String, ApiError> {
        let pooled = self.pool.lock().await.pop();
        let mut stream = match pooled {
            Some(stream) => stream,
            None => tokio::time::timeout(self.timeout, TcpStream::connect(&self.address))
                .await
                .map_err(|_| {
                    ApiError::Unavailable(format!("connecting to {} timed out", self.address))
                })?
                .map_err(|e| {
                    ApiError::Unavailable(format!("cannot connect to {}: {e}", self.address))
                })?,
        };
        let answer = tokio::time::timeout(self.timeout, async {
            let mut frame = Vec::with_capacity(message.len() + 3);
            frame.push(0x0b);
            frame.extend_from_slice(message);
            frame.extend_from_slice(&[0x1c, 0x0d]);
            stream.write_all(&frame).await?;
            let mut answer = Vec::new();
            let mut chunk = [0u8; 1024];
            while !answer.ends_with(&[0x1c, 0x0d]) {
                let n = stream.read(&mut chunk).await?;
                if n == 0 || answer.len() > 64 * 1024 {
                    return Err(std::io::Error::other("the feed closed the connection"));
                }
                answer.extend_from_slice(&chunk[..n]);
            }
            Ok(answer)
        })
        .await;
        match answer {
            Ok(Ok(answer)) => {
                self.pool.lock().await.push(stream);
                let body = answer.get(1..answer.len() - 2).unwrap_or_default();
                Ok(String::from_utf8_lossy(body).into_owned())
            }
            Ok(Err(e)) => Err(ApiError::Unavailable(format!("ADT feed: {e}"))),
            Err(_) => Err(ApiError::Unavailable(
                "the ADT feed did not answer in time".into(),
            )),
        }
    }
}

/// The style a bed's trust sends in: LPT (RT5) in CareFlow's; UHL in
/// Epic's, the Royal Infirmary's even-numbered messages in Cerner's.
pub fn style(bed: &BedAddress, n: u64) -> Style {
    match bed.site.as_str() {
        site if site.starts_with("RT5") => Style::CareFlow,
        "RWEAA" if n.is_multiple_of(2) => Style::Cerner,
        _ => Style::Epic,
    }
}

const SURNAMES: [&str; 6] = ["O\\S\\Brien", "Smith", "Patel", "Nowak", "Khan", "Evans"];
const GIVEN: [&str; 6] = ["Zoë", "John", "Priya", "Anna", "Omar", "Gwen"];

/// PV1-3 (or PV1-6) for `bed` as the style writes it.
fn location(style: Style, bed: &BedAddress) -> String {
    let (site, ward, code) = (bed.site.as_str(), bed.ward.as_str(), bed.bed.as_str());
    match style {
        Style::Epic => format!("{ward}^BAY1^{code}^{site}"),
        Style::Cerner => format!("^^{code}^{site}^^^^^{ward}"),
        Style::CareFlow => format!("{ward}^^{code}^^^^^^^^{site}"),
    }
}

/// One patient's PID and PV1 (A17 has two).
struct Patient<'a> {
    bed: &'a BedAddress,
    prior: Option<&'a BedAddress>,
    visit: &'a str,
    n: u64,
    discharged_to: &'a str,
}

fn patient_segments(style: Style, patient: &Patient<'_>, end: &str) -> String {
    let n = patient.n;
    let nhs = NhsNumber::test_number(u32::try_from(n % 9_000_000).unwrap_or(0) + 1_000_000);
    let nhs = nhs.as_str();
    let i = usize::try_from(n % 6).unwrap_or(0);
    let assigned = location(style, patient.bed);
    let prior = patient
        .prior
        .map(|bed| location(style, bed))
        .unwrap_or_default();
    let visit = patient.visit;
    let pid = match style {
        Style::Epic => format!(
            "PID|1||E{n}^^^EPI^MR~{nhs}^^^NHS^NH||{}^{}||19500101|F",
            SURNAMES[i], GIVEN[i]
        ),
        Style::Cerner => format!(
            "PID|1||MRN{n}^^^RWE^MR~{nhs}^^^NHS^HN||{}^{}",
            SURNAMES[i], GIVEN[i]
        ),
        Style::CareFlow => format!("PID|1||{n}^^^RT5^PI~{nhs}^^^NHS^NH"),
    };
    let mut pv1 = format!("PV1|1|I|{assigned}|||{prior}|||||||||||||{visit}");
    if !patient.discharged_to.is_empty() {
        // PV1-36 discharge disposition.
        pv1.push_str(&"|".repeat(17));
        pv1.push_str(patient.discharged_to);
    }
    format!("{pid}{end}{pv1}{end}")
}

/// Writes one message.
pub fn message(
    event: &AdtEvent,
    bed: &BedAddress,
    control_id: &str,
    visit: &str,
    n: u64,
    at: time::OffsetDateTime,
) -> String {
    let trigger = event.trigger();
    let stamp = at
        .format(time::macros::format_description!(
            "[year][month][day][hour][minute][second]+0000"
        ))
        .unwrap_or_default();
    let style = style(bed, n);
    let prior = match event {
        AdtEvent::Transfer { from } => Some(from),
        AdtEvent::CancelTransfer { from } => Some(from),
        _ => None,
    };
    let discharged_to = match (style, event) {
        (Style::CareFlow, AdtEvent::Discharge) => "01",
        _ => "",
    };
    let first = Patient {
        bed,
        prior,
        visit,
        n,
        discharged_to,
    };
    let end = match style {
        Style::Epic => "\r",
        Style::Cerner => "\n",
        Style::CareFlow => "\r\n",
    };
    let mut patients = patient_segments(style, &first, end);
    if let AdtEvent::Swap { other, other_visit } = event {
        patients.push_str(&patient_segments(
            style,
            &Patient {
                bed: other,
                prior: None,
                visit: other_visit,
                n: n + 1,
                discharged_to: "",
            },
            end,
        ));
    }
    let structure = event.structure();
    match style {
        Style::Epic => format!(
            "MSH|^~\\&|EPIC|RWE|PATIENTFLOW|PF|{stamp}||ADT^{trigger}^{structure}|{control_id}|P|2.5.1\r\
             EVN|{trigger}|{stamp}|||SIMUSER^Sim^User|{stamp}\r\
             {patients}ZPV|simulated\r"
        ),
        Style::Cerner => format!(
            "MSH|^~\\&|CERNER|RWE-LRI|PF|PF|{stamp}||ADT^{trigger}|{control_id}|P|2.3\n\
             EVN|{trigger}|{stamp}\n\
             {patients}AL1|1||PENICILLIN\n"
        ),
        Style::CareFlow => format!(
            "MSH|^~\\&|CAREFLOW|RT5|PF|PF|{stamp}||ADT^{trigger}|{control_id}|P|2.4\r\n\
             EVN|{trigger}|{stamp}\r\n\
             {patients}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_style_parses_to_the_bed_and_visit_it_names() {
        let at = time::macros::datetime!(2026-07-01 10:00 UTC);
        for (site, ward, n) in [
            ("RWEAA", "WD15", 2),
            ("RWEAA", "WD15", 3),
            ("RWEAK", "WD20", 1),
            ("RT5LH", "WD1", 4),
        ] {
            let bed = BedAddress::parse(site, ward, "B07").expect("address");
            for event in [AdtEvent::Admit, AdtEvent::Discharge] {
                let text = message(&event, &bed, "C1", "V9", n, at);
                let parsed = pf_hl7_adt::parse(text.as_bytes()).expect("parses");
                let visit = parsed.visit().expect("PV1");
                assert_eq!(visit.visit_number.as_deref(), Some("V9"));
                let location = visit.assigned.as_ref().expect("PV1-3");
                assert_eq!(location.bed, "B07");
                assert!(matches!(
                    parsed.patients[0].nhs_number,
                    pf_hl7_adt::message::NhsNumberField::Valid(_)
                ));
                let feeds = pf_hl7_adt::mapping::FeedsFile::from_json(include_str!(
                    "../../adt-feed/feeds.demo.json"
                ))
                .expect("demo feeds");
                let feed = feeds
                    .feed_for(&parsed.header)
                    .expect("a demo feed for the sender");
                let mapped = feed.map(location).expect("mapped");
                assert_eq!(
                    (
                        mapped.site.as_str(),
                        mapped.ward.as_str(),
                        mapped.bed.as_deref()
                    ),
                    (site, ward, Some("B07")),
                    "{:?}",
                    style(&bed, n)
                );
            }
        }
    }

    #[test]
    fn every_awkward_message_parses_to_the_event_it_names() {
        use pf_hl7_adt::Trigger;
        let at = time::macros::datetime!(2026-07-01 10:00 UTC);
        let feeds = pf_hl7_adt::mapping::FeedsFile::from_json(include_str!(
            "../../adt-feed/feeds.demo.json"
        ))
        .expect("demo feeds");
        for (site, ward, n) in [
            ("RWEAA", "WD15", 2),
            ("RWEAA", "WD15", 3),
            ("RWEAK", "WD20", 1),
            ("RT5LH", "WD1", 4),
        ] {
            let bed = BedAddress::parse(site, ward, "B07").expect("address");
            let other = BedAddress::parse(site, ward, "B08").expect("address");
            let mapped_bed = |location: &pf_hl7_adt::message::Location,
                              header: &pf_hl7_adt::message::Header| {
                let feed = feeds.feed_for(header).expect("a demo feed for the sender");
                let mapped = feed.map(location).expect("mapped");
                (mapped.site, mapped.ward, mapped.bed)
            };
            let key = |b: &BedAddress| {
                (
                    b.site.to_string(),
                    b.ward.to_string(),
                    Some(b.bed.to_string()),
                )
            };
            for (event, trigger) in [
                (
                    AdtEvent::Transfer {
                        from: other.clone(),
                    },
                    Trigger::Transfer,
                ),
                (AdtEvent::CancelAdmit, Trigger::CancelAdmit),
                (
                    AdtEvent::CancelTransfer {
                        from: other.clone(),
                    },
                    Trigger::CancelTransfer,
                ),
                (AdtEvent::CancelDischarge, Trigger::CancelDischarge),
                (
                    AdtEvent::Swap {
                        other: other.clone(),
                        other_visit: "V8".into(),
                    },
                    Trigger::Swap,
                ),
                (AdtEvent::LeaveOut, Trigger::LeaveOut),
                (AdtEvent::LeaveReturn, Trigger::LeaveReturn),
            ] {
                let text = message(&event, &bed, "C1", "V9", n, at);
                let parsed = pf_hl7_adt::parse(text.as_bytes())
                    .unwrap_or_else(|e| panic!("{event:?} in {:?}: {e}", style(&bed, n)));
                assert_eq!(parsed.trigger, trigger, "{event:?}");
                assert_eq!(parsed.header.trigger, event.trigger());
                let visit = parsed.visit().expect("PV1");
                assert_eq!(visit.visit_number.as_deref(), Some("V9"));
                let assigned = visit.assigned.as_ref().expect("PV1-3");
                assert_eq!(mapped_bed(assigned, &parsed.header), key(&bed), "{event:?}");
                match &event {
                    AdtEvent::Transfer { from } | AdtEvent::CancelTransfer { from } => {
                        let prior = visit.prior.as_ref().expect("PV1-6");
                        assert_eq!(mapped_bed(prior, &parsed.header), key(from), "{event:?}");
                    }
                    AdtEvent::Swap { other, other_visit } => {
                        assert_eq!(parsed.patients.len(), 2);
                        let second = parsed.patients[1].visit.as_ref().expect("second PV1");
                        assert_eq!(second.visit_number.as_deref(), Some(other_visit.as_str()));
                        let location = second.assigned.as_ref().expect("second PV1-3");
                        assert_eq!(mapped_bed(location, &parsed.header), key(other));
                    }
                    _ => assert!(visit.prior.is_none(), "{event:?}"),
                }
            }
        }
    }
}
