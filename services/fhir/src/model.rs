//! The FHIR R4 resources and data types this service returns, as serde
//! structs: only the elements we fill in.
//!
//! No Rust FHIR model crate fits: `fhir-sdk`/`fhir-model` carry STU3, R4B
//! and R5 but not R4, and `fhirbolt` 0.4 generates the whole R4 model
//! (every resource and its element model) for the seven we use. The tests
//! check every answer against the official FHIR R4 JSON schema with an
//! independent validator, so a missing or misspelt element is caught there.

use serde::{Deserialize, Serialize};

/// The identifier system of ODS organisation codes (UK Core).
pub const ODS_ORGANIZATION: &str = "https://fhir.nhs.uk/Id/ods-organization-code";
/// The identifier system of ODS site codes (UK Core).
pub const ODS_SITE: &str = "https://fhir.nhs.uk/Id/ods-site-code";
/// The identifier system of CQC location ids. UK Core names none; this is
/// the CQC's own public URL for a location (a location is
/// `https://www.cqc.org.uk/location/1-…`), the form in use by NHS England's
/// directory profiles.
pub const CQC_LOCATION: &str = "https://www.cqc.org.uk/location";
/// The identifier system of our ward codes (unique within a site).
pub const WARD_CODE: &str = "https://fhir.patient-flow.nhs.uk/Id/ward-code";
/// The identifier system of our bed codes (`{site}/{ward}/{bed}`).
pub const BED_CODE: &str = "https://fhir.patient-flow.nhs.uk/Id/bed-code";
/// HL7 v2 table 0116, bed status (the binding of `Location.operationalStatus`).
pub const BED_STATUS: &str = "http://terminology.hl7.org/CodeSystem/v2-0116";
/// Location physical types (si site, wa ward, bd bed).
pub const PHYSICAL_TYPE: &str = "http://terminology.hl7.org/CodeSystem/location-physical-type";
/// Organization types (prov healthcare provider, other).
pub const ORGANIZATION_TYPE: &str = "http://terminology.hl7.org/CodeSystem/organization-type";

/// A code in a code system.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Coding {
    /// The code system.
    pub system: String,
    /// The code.
    pub code: String,
    /// Its meaning, for a person.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

impl Coding {
    /// A coding with its display text.
    pub fn new(system: &str, code: &str, display: &str) -> Self {
        Self {
            system: system.to_owned(),
            code: code.to_owned(),
            display: Some(display.to_owned()),
        }
    }
}

/// Codings with an optional text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodeableConcept {
    /// The codings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub coding: Vec<Coding>,
    /// Plain text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl CodeableConcept {
    /// One coding.
    pub fn of(coding: Coding) -> Self {
        Self {
            coding: vec![coding],
            text: None,
        }
    }
}

/// A business identifier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identifier {
    /// Its namespace.
    pub system: String,
    /// The value.
    pub value: String,
}

impl Identifier {
    /// An identifier in `system`.
    pub fn new(system: &str, value: &str) -> Self {
        Self {
            system: system.to_owned(),
            value: value.to_owned(),
        }
    }
}

/// A reference to another resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    /// `Type/id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The business identifier of the target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identifier: Option<Identifier>,
    /// The target's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

impl Reference {
    /// `Type/id`, with the target's identifier and name.
    pub fn to(reference: String, identifier: Identifier, display: &str) -> Self {
        Self {
            reference: Some(reference),
            identifier: Some(identifier),
            display: Some(display.to_owned()),
        }
    }
}

/// Resource metadata.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    /// The resource's version (the bed's entity version).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// When it last changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<String>,
}

/// A time span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Period {
    /// Start.
    pub start: String,
    /// End.
    pub end: String,
}

/// An extension: a URL and one value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Extension {
    /// What the extension means.
    pub url: String,
    /// Nested extensions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Extension>,
    /// A code value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_code: Option<String>,
    /// A count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_unsigned_int: Option<u32>,
    /// A flag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_boolean: Option<bool>,
    /// A text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_string: Option<String>,
    /// A date and time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_date_time: Option<String>,
    /// A decimal (a prediction interval's level).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_decimal: Option<f64>,
    /// A range (a prediction interval's bounds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_range: Option<Range>,
}

impl Extension {
    /// An extension with no value yet (set one of the `value_*`).
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            extension: Vec::new(),
            value_code: None,
            value_unsigned_int: None,
            value_boolean: None,
            value_string: None,
            value_date_time: None,
            value_decimal: None,
            value_range: None,
        }
    }
}

/// A measured amount (UCUM units).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quantity {
    /// The amount.
    pub value: f64,
    /// The unit, for a person.
    pub unit: String,
    /// `http://unitsofmeasure.org`.
    pub system: String,
    /// The UCUM code.
    pub code: String,
    /// The prediction intervals of a forecast value.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Extension>,
}

/// A quantity without extensions or comparator (`SimpleQuantity`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimpleQuantity {
    /// The amount.
    pub value: f64,
    /// The unit, for a person.
    pub unit: String,
    /// `http://unitsofmeasure.org`.
    pub system: String,
    /// The UCUM code.
    pub code: String,
}

/// A low and a high bound.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Range {
    /// The lower bound.
    pub low: SimpleQuantity,
    /// The upper bound.
    pub high: SimpleQuantity,
}

/// A postal address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    /// Street lines.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub line: Vec<String>,
    /// Postcode.
    pub postal_code: String,
}

/// A site, ward or bed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    /// Always `Location`.
    pub resource_type: String,
    /// Logical id.
    pub id: String,
    /// Version and time of the last change (beds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// ODS site code, ward or bed code.
    pub identifier: Vec<Identifier>,
    /// `active`, or `inactive` for a bed withdrawn from the bed base.
    pub status: String,
    /// A bed's status (v2 table 0116).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operational_status: Option<Coding>,
    /// Name.
    pub name: String,
    /// Site, ward or bed.
    pub physical_type: CodeableConcept,
    /// The site's postcode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    /// The trust that runs it.
    pub managing_organization: Reference,
    /// The ward of a bed, the site of a ward.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub part_of: Option<Reference>,
    /// Bed kind and escalation (our extension).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Extension>,
}

/// A trust or a care home.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Organization {
    /// Always `Organization`.
    pub resource_type: String,
    /// Logical id.
    pub id: String,
    /// When a care home's figures were last given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// Vacancies and admissions status of a care home (our extension).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Extension>,
    /// ODS organisation code or CQC location id.
    pub identifier: Vec<Identifier>,
    /// Always true: we list only organisations in service.
    pub active: bool,
    /// Provider (trust) or other (care home).
    #[serde(rename = "type")]
    pub kind: Vec<CodeableConcept>,
    /// Name.
    pub name: String,
    /// Short name (trusts).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alias: Vec<String>,
    /// Postal address (care homes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub address: Vec<Address>,
}

/// One population count of a measure report group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Population {
    /// What is counted (SANER `MeasuredValues` or our own code).
    pub code: CodeableConcept,
    /// How many.
    pub count: i64,
}

/// One stratum: a forecast hour and its value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stratum {
    /// Which stratum (the hour, as text).
    pub value: CodeableConcept,
    /// The value in this stratum.
    pub measure_score: Quantity,
}

/// A stratification of a group (forecast reports: by hour ahead).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stratifier {
    /// What the strata are.
    pub code: Vec<CodeableConcept>,
    /// The strata.
    pub stratum: Vec<Stratum>,
}

/// A group of populations, or of a score stratified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// The group's meaning.
    pub code: CodeableConcept,
    /// The counts (capacity reports).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub population: Vec<Population>,
    /// The group's score (forecast reports: the latest value known).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measure_score: Option<Quantity>,
    /// The score by stratum (forecast reports: by hour).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stratifier: Vec<Stratifier>,
}

/// Bed capacity of a site or the system now, or its forecast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeasureReport {
    /// Always `MeasureReport`.
    pub resource_type: String,
    /// Logical id.
    pub id: String,
    /// `complete`.
    pub status: String,
    /// `summary`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The measure whose shape this follows.
    pub measure: String,
    /// The site (absent for the system).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<Reference>,
    /// When the report was made.
    pub date: String,
    /// Who reports: the platform's region.
    pub reporter: Reference,
    /// The reporting period (capacity: start and end are the moment of
    /// reading; forecasts: the 72 hours ahead).
    pub period: Period,
    /// What a forecast is made of (forecast reports).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Extension>,
    /// The counts.
    pub group: Vec<Group>,
}

/// An issue of an operation outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Issue {
    /// `error` or `fatal`.
    pub severity: String,
    /// The issue type (`not-found`, `invalid`, `login`, `forbidden`, …).
    pub code: String,
    /// A sentence a person understands.
    pub diagnostics: String,
}

/// An error answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationOutcome {
    /// Always `OperationOutcome`.
    pub resource_type: String,
    /// What went wrong.
    pub issue: Vec<Issue>,
}

impl OperationOutcome {
    /// One error issue.
    pub fn error(code: &str, diagnostics: impl Into<String>) -> Self {
        Self {
            resource_type: "OperationOutcome".to_owned(),
            issue: vec![Issue {
                severity: "error".to_owned(),
                code: code.to_owned(),
                diagnostics: diagnostics.into(),
            }],
        }
    }
}

/// Any resource this service returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Resource {
    /// A site, ward or bed.
    Location(Box<Location>),
    /// A trust or care home.
    Organization(Box<Organization>),
    /// Bed capacity.
    MeasureReport(Box<MeasureReport>),
}

impl Resource {
    /// `Type/id`.
    pub fn reference(&self) -> String {
        match self {
            Resource::Location(r) => format!("Location/{}", r.id),
            Resource::Organization(r) => format!("Organization/{}", r.id),
            Resource::MeasureReport(r) => format!("MeasureReport/{}", r.id),
        }
    }

    /// When it last changed, if known.
    pub fn last_updated(&self) -> Option<&str> {
        let meta = match self {
            Resource::Location(r) => r.meta.as_ref(),
            Resource::Organization(r) => r.meta.as_ref(),
            Resource::MeasureReport(_) => None,
        };
        meta.and_then(|m| m.last_updated.as_deref())
    }
}

/// A link of a bundle (`self`, `next`, `previous`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    /// The relation.
    pub relation: String,
    /// The URL.
    pub url: String,
}

/// Why an entry is in a search set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Search {
    /// `match`.
    pub mode: String,
}

/// One entry of a bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// The resource's absolute URL.
    pub full_url: String,
    /// The resource.
    pub resource: Resource,
    /// `match`.
    pub search: Search,
}

/// A search set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    /// Always `Bundle`.
    pub resource_type: String,
    /// `searchset`.
    #[serde(rename = "type")]
    pub kind: String,
    /// When it was assembled.
    pub timestamp: String,
    /// All matches, over every page.
    pub total: u64,
    /// `self`, and `next`/`previous` between pages.
    pub link: Vec<Link>,
    /// This page's matches.
    #[serde(default)]
    pub entry: Vec<Entry>,
}
