//! Parsing an HL7 v2 message into a typed ADT message.
//!
//! The structure (segments, fields, repeats, components) is read by the
//! `hl7-parser` crate, which accepts `\r`, `\n` and `\r\n` segment ends; the
//! values are read here: escape sequences ([`crate::escape`]), timestamps
//! ([`crate::timestamp`]), identifiers. Segments this service does not use
//! (Z-segments, NK1, AL1, OBX, …) are ignored; missing optional fields are
//! `None`. Versions 2.3 to 2.8 share the fields read here.

use std::fmt;

use hl7_parser::message::{Field, Segment, Separators};
use pf_discharge_model::nhs_number::NhsNumber;
use time::OffsetDateTime;

use crate::escape::unescape;
use crate::timestamp;

/// Why a message could not be read. Each says what is wrong in a sentence
/// the sending system's support team can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// Not UTF-8 text.
    #[error("the message is not text (UTF-8)")]
    NotText,
    /// Does not start with an MSH segment, or its structure does not parse.
    #[error("the message is not HL7 v2: {0}")]
    Structure(String),
    /// A field this service needs is missing.
    #[error("{0} is missing")]
    Missing(&'static str),
    /// A field does not hold what it should.
    #[error("{field} is not valid: {reason}")]
    Invalid {
        /// Which field, like `EVN-2`.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// Not an ADT message.
    #[error("message type {0} is not accepted here: only ADT messages are")]
    NotAdt(String),
}

/// The header (MSH) of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// MSH-3 sending application (first component).
    pub sending_application: String,
    /// MSH-4 sending facility (first component).
    pub sending_facility: String,
    /// MSH-5 receiving application.
    pub receiving_application: String,
    /// MSH-6 receiving facility.
    pub receiving_facility: String,
    /// MSH-7 when the message was made.
    pub message_time: Option<OffsetDateTime>,
    /// MSH-9.1 message type (`ADT`).
    pub message_type: String,
    /// MSH-9.2 trigger event (`A01`), or EVN-1 when MSH-9.2 is empty.
    pub trigger: String,
    /// MSH-10 message control id: the idempotency key per sending system.
    pub control_id: String,
    /// MSH-11 processing id (`P`, `T`, `D`).
    pub processing_id: String,
    /// MSH-12 version (`2.3` … `2.8`).
    pub version: String,
}

/// The ADT trigger events this service knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trigger {
    /// A01 admit/visit notification.
    Admit,
    /// A02 transfer.
    Transfer,
    /// A03 discharge/end visit.
    Discharge,
    /// A04 register a patient (outpatient, ED): no bed.
    Register,
    /// A05 pre-admit: no bed yet.
    PreAdmit,
    /// A06 change an outpatient to an inpatient.
    OutpatientToInpatient,
    /// A07 change an inpatient to an outpatient.
    InpatientToOutpatient,
    /// A08 update patient information (sometimes a location change).
    Update,
    /// A11 cancel admit.
    CancelAdmit,
    /// A12 cancel transfer.
    CancelTransfer,
    /// A13 cancel discharge.
    CancelDischarge,
    /// A17 swap patients (two beds).
    Swap,
    /// A20 bed status update (NPU segment, table 0116).
    BedStatus,
    /// A21 leave of absence out.
    LeaveOut,
    /// A22 leave of absence return.
    LeaveReturn,
    /// A40 merge patient identifiers.
    Merge,
    /// Another ADT trigger: accepted, not used.
    Other,
}

impl Trigger {
    /// Reads a trigger code.
    pub fn from_code(code: &str) -> Trigger {
        match code {
            "A01" => Trigger::Admit,
            "A02" => Trigger::Transfer,
            "A03" => Trigger::Discharge,
            "A04" => Trigger::Register,
            "A05" => Trigger::PreAdmit,
            "A06" => Trigger::OutpatientToInpatient,
            "A07" => Trigger::InpatientToOutpatient,
            "A08" => Trigger::Update,
            "A11" => Trigger::CancelAdmit,
            "A12" => Trigger::CancelTransfer,
            "A13" => Trigger::CancelDischarge,
            "A17" => Trigger::Swap,
            "A20" => Trigger::BedStatus,
            "A21" => Trigger::LeaveOut,
            "A22" => Trigger::LeaveReturn,
            "A40" => Trigger::Merge,
            _ => Trigger::Other,
        }
    }
}

/// A person-location (`PL`) as sent: which component holds what differs
/// between systems; the feed's mapping decides ([`crate::mapping`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    /// Component 1, point of care (the ward in most feeds).
    pub point_of_care: String,
    /// Component 2, room (bay).
    pub room: String,
    /// Component 3, bed.
    pub bed: String,
    /// Component 4, facility (first subcomponent: an ODS site code in some feeds).
    pub facility: String,
    /// Component 9, location description (the ward in some feeds).
    pub description: String,
    /// Component 11, assigning authority for location (ODS code in some NHS feeds).
    pub authority: String,
}

impl Location {
    /// Whether nothing was sent.
    pub fn is_empty(&self) -> bool {
        self.point_of_care.is_empty()
            && self.room.is_empty()
            && self.bed.is_empty()
            && self.facility.is_empty()
            && self.description.is_empty()
    }
}

/// A patient identifier from PID-3 (not the NHS number, which is kept apart).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientId {
    /// CX-1 the identifier.
    pub id: String,
    /// CX-4 assigning authority.
    pub authority: String,
    /// CX-5 identifier type code (`MR`, `PI`, …).
    pub kind: String,
}

/// The NHS number found in PID-3, if any. Its `Debug` never shows the number.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum NhsNumberField {
    /// No identifier with authority `NHS` and type `NH`/`HN`.
    #[default]
    Absent,
    /// One with a valid check digit.
    Valid(NhsNumber),
    /// One was sent but it is not a valid NHS number (it is not used).
    Invalid,
}

impl fmt::Debug for NhsNumberField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NhsNumberField::Absent => f.write_str("Absent"),
            NhsNumberField::Valid(_) => f.write_str("Valid([redacted])"),
            NhsNumberField::Invalid => f.write_str("Invalid"),
        }
    }
}

/// The visit (PV1 and PV2) of one patient.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Visit {
    /// PV1-2 patient class (`I` inpatient, `O`, `E`, …).
    pub patient_class: String,
    /// PV1-3 assigned location.
    pub assigned: Option<Location>,
    /// PV1-6 prior location.
    pub prior: Option<Location>,
    /// PV1-19 visit number (CX-1): the key of the visit index.
    pub visit_number: Option<String>,
    /// PV1-36 discharge disposition (code).
    pub discharge_disposition: Option<String>,
    /// PV1-37 discharged to location (code).
    pub discharged_to: Option<String>,
    /// PV1-44 admit time.
    pub admitted_at: Option<OffsetDateTime>,
    /// PV1-45 discharge time.
    pub discharged_at: Option<OffsetDateTime>,
    /// PV2-1 prior pending location.
    pub pending: Option<Location>,
}

/// One patient and their visit (A17 carries two).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatientVisit {
    /// PID-3 identifiers other than the NHS number.
    pub identifiers: Vec<PatientId>,
    /// The NHS number, only where the authority is `NHS` and the type `NH` or `HN`.
    pub nhs_number: NhsNumberField,
    /// PV1/PV2, when sent.
    pub visit: Option<Visit>,
}

/// A bed status update (A20, NPU segment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BedStatusUpdate {
    /// NPU-1 the bed.
    pub location: Location,
    /// NPU-2 status, table 0116 (`U`, `O`, `H`, `C`, `I`, `K`).
    pub status: String,
}

/// A typed ADT message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdtMessage {
    /// The header.
    pub header: Header,
    /// The trigger event.
    pub trigger: Trigger,
    /// EVN-2 when the event was recorded.
    pub recorded_at: Option<OffsetDateTime>,
    /// EVN-6 when the event happened.
    pub occurred_at: Option<OffsetDateTime>,
    /// The patients (PID with its PV1/PV2), in order.
    pub patients: Vec<PatientVisit>,
    /// A20: the bed status update.
    pub bed_status: Option<BedStatusUpdate>,
    /// A40: MRG-1 prior patient identifiers (the merged-away record).
    pub merged_ids: Vec<PatientId>,
    /// The precision of [`event_time`](Self::event_time) (a second for
    /// `YYYYMMDDHHMMSS`, a minute for `YYYYMMDDHHMM`, …).
    pub event_precision: time::Duration,
}

impl AdtMessage {
    /// When the event happened: EVN-6, else EVN-2, else MSH-7.
    pub fn event_time(&self) -> Option<OffsetDateTime> {
        self.occurred_at
            .or(self.recorded_at)
            .or(self.header.message_time)
    }

    /// The first patient's visit.
    pub fn visit(&self) -> Option<&Visit> {
        self.patients.first().and_then(|p| p.visit.as_ref())
    }
}

/// Reads only the header, for an answer to a message that does not parse
/// further. `None` when there is no readable MSH.
pub fn parse_header(bytes: &[u8]) -> Option<(Header, Separators)> {
    let text = std::str::from_utf8(bytes).ok()?;
    let parsed = hl7_parser::Message::parse_with_lenient_newlines(text, true).ok()?;
    let msh = parsed.segment("MSH")?;
    Some((
        read_header(msh, &parsed.separators, None),
        parsed.separators,
    ))
}

/// Parses a message.
pub fn parse(bytes: &[u8]) -> Result<AdtMessage, MessageError> {
    let text = std::str::from_utf8(bytes).map_err(|_| MessageError::NotText)?;
    let text = text.trim_end_matches(['\r', '\n', ' ', '\t']);
    if !text.starts_with("MSH") {
        return Err(MessageError::Structure(
            "it does not start with an MSH segment".into(),
        ));
    }
    let parsed = hl7_parser::Message::parse_with_lenient_newlines(text, true).map_err(|e| {
        // The parser's own message quotes the text; never echo it (it may
        // be patient data).
        MessageError::Structure(match e {
            hl7_parser::parser::ParseError::FailedToParse { position, .. } => {
                format!("its structure cannot be read at character {position}")
            }
            hl7_parser::parser::ParseError::IncompleteInput(_) => "it ends too early".to_owned(),
        })
    })?;
    // The parser stops quietly at the first segment it cannot read; refuse
    // rather than lose the rest.
    let read = parsed.raw_value().len();
    if read < text.len() {
        return Err(MessageError::Structure(format!(
            "the segment at character {read} cannot be read"
        )));
    }
    let separators = parsed.separators;
    let segments: Vec<&Segment<'_>> = parsed.segments().collect();
    for (n, segment) in segments.iter().enumerate() {
        // The name is never echoed: a broken line may start with patient data.
        let name = segment.name.as_bytes();
        if name.len() != 3
            || !name[0].is_ascii_uppercase()
            || !name[1..]
                .iter()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            return Err(MessageError::Structure(format!(
                "segment {} does not start with a segment name (three capital letters or digits, a letter first)",
                n + 1
            )));
        }
    }
    let msh = segments
        .first()
        .copied()
        .ok_or(MessageError::Structure("there is no MSH segment".into()))?;
    let evn = parsed.segment("EVN");
    let header = read_header(msh, &separators, evn);
    if header.message_type != "ADT" {
        return Err(MessageError::NotAdt(if header.message_type.is_empty() {
            "(empty)".into()
        } else {
            short(&header.message_type)
        }));
    }
    if header.control_id.is_empty() {
        return Err(MessageError::Missing("MSH-10 (message control id)"));
    }
    if header.trigger.is_empty() {
        return Err(MessageError::Missing("MSH-9.2 (trigger event)"));
    }
    let trigger = Trigger::from_code(&header.trigger);
    let (recorded_at, recorded_precision) = time_field(evn, 2, "EVN-2", &separators)?;
    let (occurred_at, occurred_precision) = time_field(evn, 6, "EVN-6", &separators)?;
    let message_precision = msh
        .field(7)
        .and_then(|f| {
            timestamp::parse_with_precision(&first_component(f, &separators))
                .ok()
                .flatten()
        })
        .map(|(_, p)| p);
    let event_precision = occurred_precision
        .or(recorded_precision)
        .or(message_precision)
        .unwrap_or(time::Duration::ZERO);

    // PID starts a patient; PV1/PV2 after it belong to it (A17 has two).
    let mut patients: Vec<PatientVisit> = Vec::new();
    let mut bed_status = None;
    let mut merged_ids = Vec::new();
    for segment in &segments {
        match segment.name {
            "PID" => patients.push(read_pid(segment, &separators)),
            "PV1" => {
                let visit = read_pv1(segment, &separators)?;
                match patients.last_mut() {
                    Some(patient) if patient.visit.is_none() => patient.visit = Some(visit),
                    _ => {
                        return Err(MessageError::Invalid {
                            field: "PV1",
                            reason: "a PV1 segment must follow its own PID segment".into(),
                        });
                    }
                }
            }
            "PV2" => {
                if let Some(visit) = patients.last_mut().and_then(|p| p.visit.as_mut()) {
                    visit.pending = location(segment.field(1), &separators);
                }
            }
            "NPU" => {
                let location = location(segment.field(1), &separators)
                    .ok_or(MessageError::Missing("NPU-1 (bed location)"))?;
                bed_status = Some(BedStatusUpdate {
                    location,
                    status: component(segment.field(2), 1, &separators),
                });
            }
            "MRG" => merged_ids = identifiers(segment.field(1), &separators).0,
            _ => {}
        }
    }
    match trigger {
        Trigger::BedStatus if bed_status.is_none() => {
            return Err(MessageError::Missing("NPU segment (bed status) of an A20"));
        }
        Trigger::Swap if patients.len() != 2 || patients.iter().any(|p| p.visit.is_none()) => {
            return Err(MessageError::Invalid {
                field: "A17",
                reason: "a swap needs two PID segments, each followed by its PV1".into(),
            });
        }
        Trigger::BedStatus | Trigger::Other | Trigger::Merge => {}
        _ if patients.is_empty() => return Err(MessageError::Missing("PID segment")),
        _ => {}
    }
    Ok(AdtMessage {
        header,
        trigger,
        recorded_at,
        occurred_at,
        patients,
        bed_status,
        merged_ids,
        event_precision,
    })
}

fn short(text: &str) -> String {
    let mut out: String = text.chars().filter(|c| !c.is_control()).take(60).collect();
    if text.chars().count() > 60 {
        out.push('…');
    }
    out
}

fn read_header(msh: &Segment<'_>, separators: &Separators, evn: Option<&Segment<'_>>) -> Header {
    let mut trigger = component(msh.field(9), 2, separators);
    if trigger.is_empty() {
        trigger = evn
            .map(|e| component(e.field(1), 1, separators))
            .unwrap_or_default();
    }
    Header {
        sending_application: component(msh.field(3), 1, separators),
        sending_facility: component(msh.field(4), 1, separators),
        receiving_application: component(msh.field(5), 1, separators),
        receiving_facility: component(msh.field(6), 1, separators),
        message_time: msh.field(7).and_then(|f| {
            timestamp::parse(&first_component(f, separators))
                .ok()
                .flatten()
        }),
        message_type: component(msh.field(9), 1, separators),
        trigger,
        control_id: value(msh.field(10), separators),
        processing_id: component(msh.field(11), 1, separators),
        version: component(msh.field(12), 1, separators),
    }
}

/// The unescaped whole value of a field's first repeat.
fn value(field: Option<&Field<'_>>, separators: &Separators) -> String {
    field
        .and_then(|f| f.repeat(1))
        .map(|r| unescape(r.raw_value(), separators).trim().to_owned())
        .unwrap_or_default()
}

fn first_component(field: &Field<'_>, separators: &Separators) -> String {
    field
        .component(1)
        .map(|c| unescape(c.raw_value(), separators).trim().to_owned())
        .unwrap_or_default()
}

/// Component `n` (first subcomponent) of a field's first repeat, unescaped.
fn component(field: Option<&Field<'_>>, n: usize, separators: &Separators) -> String {
    field
        .and_then(|f| f.component(n))
        .map(|c| {
            let raw = c.subcomponent(1).map_or(c.raw_value(), |s| s.raw_value());
            unescape(raw, separators).trim().to_owned()
        })
        .unwrap_or_default()
}

fn time_field(
    segment: Option<&Segment<'_>>,
    n: usize,
    name: &'static str,
    separators: &Separators,
) -> Result<(Option<OffsetDateTime>, Option<time::Duration>), MessageError> {
    let Some(field) = segment.and_then(|s| s.field(n)) else {
        return Ok((None, None));
    };
    let read =
        timestamp::parse_with_precision(&first_component(field, separators)).map_err(|e| {
            MessageError::Invalid {
                field: name,
                reason: e.to_string(),
            }
        })?;
    Ok((read.map(|(at, _)| at), read.map(|(_, p)| p)))
}

fn location(field: Option<&Field<'_>>, separators: &Separators) -> Option<Location> {
    let field = field?;
    let location = Location {
        point_of_care: component(Some(field), 1, separators),
        room: component(Some(field), 2, separators),
        bed: component(Some(field), 3, separators),
        facility: component(Some(field), 4, separators),
        description: component(Some(field), 9, separators),
        authority: component(Some(field), 11, separators),
    };
    (!location.is_empty()).then_some(location)
}

fn identifiers(
    field: Option<&Field<'_>>,
    separators: &Separators,
) -> (Vec<PatientId>, NhsNumberField) {
    let mut ids = Vec::new();
    let mut nhs = NhsNumberField::Absent;
    let Some(field) = field else {
        return (ids, nhs);
    };
    for repeat in field.repeats() {
        let part = |n: usize| {
            repeat
                .component(n)
                .map(|c| {
                    let raw = c.subcomponent(1).map_or(c.raw_value(), |s| s.raw_value());
                    unescape(raw, separators).trim().to_owned()
                })
                .unwrap_or_default()
        };
        let (id, authority, kind) = (part(1), part(4), part(5));
        if id.is_empty() {
            continue;
        }
        if authority.eq_ignore_ascii_case("NHS") && matches!(kind.as_str(), "NH" | "HN") {
            // The first NHS number wins; a bad one is never used.
            if nhs == NhsNumberField::Absent {
                nhs = match NhsNumber::parse(&id) {
                    Ok(number) => NhsNumberField::Valid(number),
                    Err(_) => NhsNumberField::Invalid,
                };
            }
            continue;
        }
        ids.push(PatientId {
            id,
            authority,
            kind,
        });
    }
    (ids, nhs)
}

fn read_pid(pid: &Segment<'_>, separators: &Separators) -> PatientVisit {
    let (identifiers, nhs_number) = identifiers(pid.field(3), separators);
    PatientVisit {
        identifiers,
        nhs_number,
        visit: None,
    }
}

fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

fn read_pv1(pv1: &Segment<'_>, separators: &Separators) -> Result<Visit, MessageError> {
    let time = |n: usize, name: &'static str| -> Result<Option<OffsetDateTime>, MessageError> {
        match pv1.field(n) {
            Some(field) => timestamp::parse(&first_component(field, separators)).map_err(|e| {
                MessageError::Invalid {
                    field: name,
                    reason: e.to_string(),
                }
            }),
            None => Ok(None),
        }
    };
    Ok(Visit {
        patient_class: component(pv1.field(2), 1, separators),
        assigned: location(pv1.field(3), separators),
        prior: location(pv1.field(6), separators),
        visit_number: non_empty(component(pv1.field(19), 1, separators)),
        discharge_disposition: non_empty(component(pv1.field(36), 1, separators)),
        discharged_to: non_empty(component(pv1.field(37), 1, separators)),
        admitted_at: time(44, "PV1-44")?,
        discharged_at: time(45, "PV1-45")?,
        pending: None,
    })
}
