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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdtEvent {
    /// A01: a patient admitted into the bed.
    Admit,
    /// A03: the patient in the bed discharged.
    Discharge,
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

    /// Sends `event` for `bed`; `Ok` once the feed answered `AA`.
    pub async fn send(&self, event: AdtEvent, bed: &BedAddress) -> Result<(), ApiError> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let key = bed.to_string();
        let visit = {
            let mut visits = self.visits.lock().await;
            match event {
                AdtEvent::Admit => {
                    let visit = format!("SIM{}-{n}", self.run);
                    visits.insert(key, visit.clone());
                    visit
                }
                AdtEvent::Discharge => visits
                    .remove(&key)
                    .unwrap_or_else(|| format!("SIM{}-{n}", self.run)),
            }
        };
        let control_id = format!("SIM{}-{n}", self.run);
        let message = message(
            event,
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

/// Writes one message.
pub fn message(
    event: AdtEvent,
    bed: &BedAddress,
    control_id: &str,
    visit: &str,
    n: u64,
    at: time::OffsetDateTime,
) -> String {
    let trigger = match event {
        AdtEvent::Admit => "A01",
        AdtEvent::Discharge => "A03",
    };
    let stamp = at
        .format(time::macros::format_description!(
            "[year][month][day][hour][minute][second]+0000"
        ))
        .unwrap_or_default();
    let nhs = NhsNumber::test_number(u32::try_from(n % 9_000_000).unwrap_or(0) + 1_000_000);
    let i = usize::try_from(n % 6).unwrap_or(0);
    let (site, ward, code) = (bed.site.as_str(), bed.ward.as_str(), bed.bed.as_str());
    match style(bed, n) {
        Style::Epic => format!(
            "MSH|^~\\&|EPIC|RWE|PATIENTFLOW|PF|{stamp}||ADT^{trigger}^ADT_A01|{control_id}|P|2.5.1\r\
             EVN|{trigger}|{stamp}|||SIMUSER^Sim^User|{stamp}\r\
             PID|1||E{n}^^^EPI^MR~{nhs}^^^NHS^NH||{}^{}||19500101|F\r\
             PV1|1|I|{ward}^BAY1^{code}^{site}||||||||||||||||{visit}\r\
             ZPV|simulated\r",
            SURNAMES[i],
            GIVEN[i],
            nhs = nhs.as_str()
        ),
        Style::Cerner => format!(
            "MSH|^~\\&|CERNER|RWE-LRI|PF|PF|{stamp}||ADT^{trigger}|{control_id}|P|2.3\n\
             EVN|{trigger}|{stamp}\n\
             PID|1||MRN{n}^^^RWE^MR~{nhs}^^^NHS^HN||{}^{}\n\
             PV1|1|I|^^{code}^{site}^^^^^{ward}||||||||||||||||{visit}\n\
             AL1|1||PENICILLIN\n",
            SURNAMES[i],
            GIVEN[i],
            nhs = nhs.as_str()
        ),
        Style::CareFlow => format!(
            "MSH|^~\\&|CAREFLOW|RT5|PF|PF|{stamp}||ADT^{trigger}|{control_id}|P|2.4\r\n\
             EVN|{trigger}|{stamp}\r\n\
             PID|1||{n}^^^RT5^PI~{nhs}^^^NHS^NH\r\n\
             PV1|1|I|{ward}^^{code}^^^^^^^^{site}||||||||||||||||{visit}|||||||||||||||||{}\r\n",
            if event == AdtEvent::Discharge {
                "01"
            } else {
                ""
            },
            nhs = nhs.as_str()
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
                let text = message(event, &bed, "C1", "V9", n, at);
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
}
