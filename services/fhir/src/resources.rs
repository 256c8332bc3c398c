//! Our picture as FHIR resources: the site catalogue and the live state
//! mapped to `Location`, `Organization` and `MeasureReport`.
//!
//! # Bed status (`Location.operationalStatus`, HL7 v2 table 0116)
//! | our state | 0116 | note |
//! | --- | --- | --- |
//! | `available` | `U` Unoccupied | |
//! | `occupied` | `O` Occupied | |
//! | `awaiting_clean` | `H` Housekeeping | |
//! | `reserved` | `U` Unoccupied | empty, kept for an expected admission; the extension `bed-state` says `reserved` |
//! | `closed` | `C` Closed | infection control, maintenance, staffing |
//! | withdrawn / never opened | none | `Location.status` is `inactive` |
//!
//! `I` (isolated) and `K` (contaminated) are never given: we record an
//! infection-control closure as `closed`.

use std::collections::BTreeMap;

use pf_care_home_model::CareHomeRecord;
use pf_hospital_model::catalogue::{CatalogueBed, SiteSpec, TrustSpec, WardSpec};
use pf_hospital_model::{BedFigures, BedKind, BedState, Catalogue, KindFigures};
use pf_live_state::LiveBed;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::model::*;

/// Where our own extensions and code systems are defined.
pub const PROFILE_BASE: &str = "https://fhir.patient-flow.nhs.uk";
/// SANER's measure of hospital bed capacity, whose shape the reports follow.
pub const SANER_MEASURE: &str =
    "http://hl7.org/fhir/uv/saner/Measure/CDCPatientImpactAndHospitalCapacity";
/// SANER's measure group codes.
pub const SANER_GROUPS: &str = "http://hl7.org/fhir/uv/saner/CodeSystem/MeasureGroupSystem";
/// SANER's measured values (numTotBeds, numbeds, …).
pub const SANER_VALUES: &str = "http://hl7.org/fhir/uv/saner/CodeSystem/MeasuredValues";

/// Our code system of the capacity counts SANER has no code for.
pub fn capacity_codes() -> String {
    format!("{PROFILE_BASE}/CodeSystem/bed-capacity")
}

/// The URL of one of our extensions.
pub fn extension_url(name: &str) -> String {
    format!("{PROFILE_BASE}/StructureDefinition/{name}")
}

/// The `Location` id of a site.
pub fn site_id(site: &SiteSpec) -> String {
    site.code.as_str().to_owned()
}

/// The `Location` id of a ward.
pub fn ward_id(site: &SiteSpec, ward: &WardSpec) -> String {
    format!("{}.{}", site.code.as_str(), ward.code.as_str())
}

/// The `Location` id of a bed.
pub fn bed_id(bed: &CatalogueBed) -> String {
    let a = &bed.address;
    format!("{}.{}.{}", a.site.as_str(), a.ward.as_str(), a.bed.as_str())
}

/// A time as FHIR `instant` text.
pub fn instant(at: OffsetDateTime) -> String {
    at.format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

fn trust_reference(trust: &TrustSpec) -> Reference {
    Reference::to(
        format!("Organization/{}", trust.code),
        Identifier::new(ODS_ORGANIZATION, &trust.code),
        &trust.name,
    )
}

fn physical_type(code: &str, display: &str) -> CodeableConcept {
    CodeableConcept::of(Coding::new(PHYSICAL_TYPE, code, display))
}

/// The 0116 code of a bed state.
pub fn bed_status(state: BedState) -> Coding {
    let (code, display) = match state {
        BedState::Available | BedState::Reserved => ("U", "Unoccupied"),
        BedState::Occupied => ("O", "Occupied"),
        BedState::AwaitingClean => ("H", "Housekeeping"),
        BedState::Closed => ("C", "Closed"),
    };
    Coding::new(BED_STATUS, code, display)
}

/// A site.
pub fn site_location(trust: &TrustSpec, site: &SiteSpec) -> Location {
    Location {
        resource_type: "Location".into(),
        id: site_id(site),
        meta: None,
        identifier: vec![Identifier::new(ODS_SITE, site.code.as_str())],
        status: "active".into(),
        operational_status: None,
        name: site.name.clone(),
        physical_type: physical_type("si", "Site"),
        address: Some(Address {
            line: Vec::new(),
            postal_code: site.postcode.clone(),
        }),
        managing_organization: trust_reference(trust),
        part_of: None,
        extension: Vec::new(),
    }
}

/// A ward.
pub fn ward_location(trust: &TrustSpec, site: &SiteSpec, ward: &WardSpec) -> Location {
    let mut kind = Extension::new(&extension_url("bed-kind"));
    kind.value_code = Some(ward.kind.as_str().to_owned());
    Location {
        resource_type: "Location".into(),
        id: ward_id(site, ward),
        meta: None,
        identifier: vec![Identifier::new(
            WARD_CODE,
            &format!("{}/{}", site.code.as_str(), ward.code.as_str()),
        )],
        status: "active".into(),
        operational_status: None,
        name: ward.name.clone(),
        physical_type: physical_type("wa", "Ward"),
        address: None,
        managing_organization: trust_reference(trust),
        part_of: Some(Reference::to(
            format!("Location/{}", site_id(site)),
            Identifier::new(ODS_SITE, site.code.as_str()),
            &site.name,
        )),
        extension: vec![kind],
    }
}

/// A bed, with its live record (`None`: no event yet).
pub fn bed_location(
    trust: &TrustSpec,
    site: &SiteSpec,
    ward: &WardSpec,
    bed: &CatalogueBed,
    live: Option<&LiveBed>,
) -> Location {
    let open_state = live.filter(|l| l.open).and_then(|l| l.state);
    let mut extension = Vec::new();
    let mut kind = Extension::new(&extension_url("bed-kind"));
    kind.value_code = Some(bed.kind.as_str().to_owned());
    extension.push(kind);
    let mut escalation = Extension::new(&extension_url("escalation-bed"));
    escalation.value_boolean = Some(bed.escalation);
    extension.push(escalation);
    if let Some(state) = open_state {
        let mut exact = Extension::new(&extension_url("bed-state"));
        exact.value_code = Some(state.as_str().to_owned());
        extension.push(exact);
    }
    let a = &bed.address;
    Location {
        resource_type: "Location".into(),
        id: bed_id(bed),
        meta: live.map(|l| Meta {
            version_id: Some(l.version.to_string()),
            last_updated: OffsetDateTime::from_unix_timestamp_nanos(
                i128::from(l.occurred_at_ms) * 1_000_000,
            )
            .ok()
            .map(instant),
        }),
        identifier: vec![Identifier::new(
            BED_CODE,
            &format!("{}/{}/{}", a.site.as_str(), a.ward.as_str(), a.bed.as_str()),
        )],
        status: if open_state.is_some() {
            "active"
        } else {
            "inactive"
        }
        .into(),
        operational_status: open_state.map(bed_status),
        name: format!("{} bed {}", ward.name, a.bed.as_str()),
        physical_type: physical_type("bd", "Bed"),
        address: None,
        managing_organization: trust_reference(trust),
        part_of: Some(Reference::to(
            format!("Location/{}", ward_id(site, ward)),
            Identifier::new(
                WARD_CODE,
                &format!("{}/{}", a.site.as_str(), a.ward.as_str()),
            ),
            &ward.name,
        )),
        extension,
    }
}

/// A trust.
pub fn trust_organization(trust: &TrustSpec) -> Organization {
    Organization {
        resource_type: "Organization".into(),
        id: trust.code.clone(),
        meta: None,
        extension: Vec::new(),
        identifier: vec![Identifier::new(ODS_ORGANIZATION, &trust.code)],
        active: true,
        kind: vec![CodeableConcept::of(Coding::new(
            ORGANIZATION_TYPE,
            "prov",
            "Healthcare Provider",
        ))],
        name: trust.name.clone(),
        alias: vec![trust.short_name.clone()],
        address: Vec::new(),
    }
}

/// The logical id of a care home's `Organization` (its CQC location id).
pub fn care_home_id(record: &CareHomeRecord) -> String {
    record.registration.cqc_location_id.as_str().to_owned()
}

fn machine_name<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn code(name: &str, value: String) -> Extension {
    let mut e = Extension::new(name);
    e.value_code = Some(value);
    e
}

fn count(name: &str, value: u32) -> Extension {
    let mut e = Extension::new(name);
    e.value_unsigned_int = Some(value);
    e
}

fn flag(name: &str, value: bool) -> Extension {
    let mut e = Extension::new(name);
    e.value_boolean = Some(value);
    e
}

/// A care home, with the figures its form collects: one `care-home-vacancy`
/// extension per category offered (category, vacant, unavailable, sex) and
/// one `care-home-admissions` extension (registered beds, closed to
/// admissions and why, accepting hospital discharges). `meta.lastUpdated`
/// is when the home last gave its figures (absent: never).
pub fn care_home_organization(record: &CareHomeRecord) -> Organization {
    let registration = &record.registration;
    let mut extension: Vec<Extension> = record
        .vacancies
        .iter()
        .map(|v| {
            let mut e = Extension::new(&extension_url("care-home-vacancy"));
            e.extension = vec![
                code("category", v.category.as_str().to_owned()),
                count("vacant", v.vacant),
                count("unavailable", v.unavailable),
                code("sex", machine_name(&v.sex)),
            ];
            e
        })
        .collect();
    let mut admissions = Extension::new(&extension_url("care-home-admissions"));
    admissions.extension = vec![
        count("registeredBeds", registration.registered_beds),
        flag("closedToAdmissions", record.closure.is_some()),
        flag(
            "acceptingHospitalDischarges",
            record.accepting_hospital_discharges,
        ),
    ];
    if let Some(closure) = &record.closure {
        admissions
            .extension
            .push(code("closureReason", machine_name(&closure.reason)));
        if !closure.detail.is_empty() {
            let mut detail = Extension::new("closureDetail");
            detail.value_string = Some(closure.detail.clone());
            admissions.extension.push(detail);
        }
    }
    extension.push(admissions);
    Organization {
        resource_type: "Organization".into(),
        id: care_home_id(record),
        meta: record.confirmed.as_ref().map(|c| Meta {
            version_id: None,
            last_updated: Some(instant(c.at)),
        }),
        extension,
        identifier: vec![Identifier::new(
            CQC_LOCATION,
            registration.cqc_location_id.as_str(),
        )],
        active: true,
        kind: vec![CodeableConcept {
            coding: vec![Coding::new(ORGANIZATION_TYPE, "other", "Other")],
            text: Some("Care home".into()),
        }],
        name: registration.name.clone(),
        alias: Vec::new(),
        address: vec![Address {
            line: vec![registration.address.clone()],
            postal_code: registration.postcode.clone(),
        }],
    }
}

/// The bed-capacity counts of a scope (a site, or the system).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capacity {
    /// Beds in the bed base, any state, escalation included; virtual-ward
    /// places not included.
    pub total: i64,
    /// Of those, beds not closed.
    pub usable: i64,
    /// Clean and empty.
    pub available: i64,
    /// Occupied.
    pub occupied: i64,
    /// Adult critical-care beds not closed.
    pub critical_care: i64,
    /// Adult critical-care beds occupied.
    pub critical_care_occupied: i64,
    /// Virtual-ward places in the bed base and not closed.
    pub virtual_ward: i64,
    /// Virtual-ward places occupied.
    pub virtual_ward_occupied: i64,
    /// Escalation beds open.
    pub escalation_open: i64,
}

impl Capacity {
    /// The counts of figures by bed kind.
    pub fn of(figures: &KindFigures) -> Self {
        let mut capacity = Capacity::default();
        for (kind, f) in &figures.by_kind {
            let usable = f.total - f.closed;
            match kind {
                BedKind::VirtualWard => {
                    capacity.virtual_ward += usable;
                    capacity.virtual_ward_occupied += f.occupied;
                }
                kind => {
                    capacity.add_beds(f);
                    if *kind == BedKind::AdultCriticalCare {
                        capacity.critical_care += usable;
                        capacity.critical_care_occupied += f.occupied;
                    }
                }
            }
        }
        capacity
    }

    fn add_beds(&mut self, f: &BedFigures) {
        self.total += f.total;
        self.usable += f.total - f.closed;
        self.available += f.available;
        self.occupied += f.occupied;
        self.escalation_open += f.escalation_open;
    }
}

fn population(system: &str, code: &str, display: &str, count: i64) -> Population {
    Population {
        code: CodeableConcept::of(Coding::new(system, code, display)),
        count,
    }
}

/// A bed-capacity report in SANER's shape: one `Beds` group whose
/// populations are SANER's measured values where one fits, ours otherwise.
pub fn measure_report(
    id: String,
    subject: Option<Reference>,
    region: &str,
    capacity: &Capacity,
    now: OffsetDateTime,
) -> MeasureReport {
    let ours = capacity_codes();
    let at = instant(now);
    MeasureReport {
        resource_type: "MeasureReport".into(),
        id,
        status: "complete".into(),
        kind: "summary".into(),
        measure: SANER_MEASURE.into(),
        subject,
        date: at.clone(),
        reporter: Reference {
            reference: None,
            identifier: None,
            display: Some(format!("Patient Flow, {region}")),
        },
        period: Period {
            start: at.clone(),
            end: at,
        },
        extension: Vec::new(),
        group: vec![Group {
            code: CodeableConcept::of(Coding::new(SANER_GROUPS, "Beds", "Beds")),
            measure_score: None,
            stratifier: Vec::new(),
            population: vec![
                population(SANER_VALUES, "numTotBeds", "All beds", capacity.total),
                population(
                    SANER_VALUES,
                    "numbeds",
                    "Inpatient beds (not closed)",
                    capacity.usable,
                ),
                population(
                    SANER_VALUES,
                    "numBedsOcc",
                    "Inpatient beds occupied",
                    capacity.occupied,
                ),
                population(
                    SANER_VALUES,
                    "numICUBeds",
                    "Adult critical-care beds (not closed)",
                    capacity.critical_care,
                ),
                population(
                    SANER_VALUES,
                    "numICUBedsOcc",
                    "Adult critical-care beds occupied",
                    capacity.critical_care_occupied,
                ),
                population(
                    &ours,
                    "numBedsAvailable",
                    "Beds clean and empty",
                    capacity.available,
                ),
                population(
                    &ours,
                    "numEscalationBedsOpen",
                    "Escalation beds open",
                    capacity.escalation_open,
                ),
                population(
                    &ours,
                    "numVirtualWardPlaces",
                    "Virtual-ward places (not closed)",
                    capacity.virtual_ward,
                ),
                population(
                    &ours,
                    "numVirtualWardOcc",
                    "Virtual-ward places occupied",
                    capacity.virtual_ward_occupied,
                ),
            ],
        }],
    }
}

/// Every site's figures, by site code, and the system's.
pub fn site_figures(
    wards: &BTreeMap<(String, String), pf_live_state::Counters>,
) -> (BTreeMap<String, KindFigures>, KindFigures) {
    let mut sites: BTreeMap<String, KindFigures> = BTreeMap::new();
    let mut system = KindFigures::default();
    for ((site, _), counters) in wards {
        let figures = pf_live_state::counter::figures(counters);
        system.add_figures(&figures);
        sites.entry(site.clone()).or_default().add_figures(&figures);
    }
    (sites, system)
}

/// Every site with its trust, in catalogue order.
pub fn sites(catalogue: &Catalogue) -> impl Iterator<Item = (&TrustSpec, &SiteSpec)> {
    catalogue
        .trusts
        .iter()
        .flat_map(|t| t.sites.iter().map(move |s| (t, s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bed_states_map_to_the_0116_codes_documented() {
        let codes: Vec<&str> = BedState::ALL
            .iter()
            .map(|s| match bed_status(*s).code.as_str() {
                "U" => "U",
                "O" => "O",
                "H" => "H",
                "C" => "C",
                other => panic!("unexpected code {other}"),
            })
            .collect();
        // available, occupied, awaiting_clean, reserved, closed
        assert_eq!(codes, ["U", "O", "H", "U", "C"]);
    }

    #[test]
    fn capacity_counts_virtual_wards_and_critical_care_apart() {
        let mut figures = KindFigures::default();
        figures.add(BedKind::GeneralAcute, BedState::Occupied, false, 3);
        figures.add(BedKind::GeneralAcute, BedState::Available, true, 1);
        figures.add(BedKind::GeneralAcute, BedState::Closed, false, 2);
        figures.add(BedKind::AdultCriticalCare, BedState::Occupied, false, 1);
        figures.add(BedKind::VirtualWard, BedState::Occupied, false, 4);
        let c = Capacity::of(&figures);
        assert_eq!(c.total, 7);
        assert_eq!(c.usable, 5);
        assert_eq!(c.occupied, 4);
        assert_eq!(c.available, 1);
        assert_eq!(c.critical_care, 1);
        assert_eq!(c.critical_care_occupied, 1);
        assert_eq!(c.virtual_ward, 4);
        assert_eq!(c.virtual_ward_occupied, 4);
        assert_eq!(c.escalation_open, 1);
    }
}
