//! The `CapabilityStatement` served at `/fhir/R4/metadata`: what this
//! server can do, read by FHIR clients before they call it.

use serde::{Deserialize, Serialize};

use crate::model::{CodeableConcept, Coding};

/// One interaction (`read`, `search-type`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Interaction {
    /// The interaction's code.
    pub code: String,
}

/// One search parameter.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchParam {
    /// Its name.
    pub name: String,
    /// `token`, `reference`, `date`, `number`.
    #[serde(rename = "type")]
    pub kind: String,
    /// What it matches.
    pub documentation: String,
}

/// What the server does with one resource type.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestResource {
    /// The resource type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Interactions offered.
    pub interaction: Vec<Interaction>,
    /// Search parameters offered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search_param: Vec<SearchParam>,
    /// What a client should know of this type here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub documentation: Option<String>,
}

/// How clients are authenticated.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Security {
    /// The kinds of security.
    pub service: Vec<CodeableConcept>,
    /// In words.
    pub description: String,
}

/// The server's REST interface.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rest {
    /// `server`.
    pub mode: String,
    /// Authentication.
    pub security: Security,
    /// Per resource type.
    pub resource: Vec<RestResource>,
}

/// The server's software.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Software {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
}

/// The capability statement.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CapabilityStatement {
    /// Always `CapabilityStatement`.
    pub resource_type: String,
    /// `active`.
    pub status: String,
    /// When the statement was made.
    pub date: String,
    /// `instance`.
    pub kind: String,
    /// The software.
    pub software: Software,
    /// `4.0.1`.
    pub fhir_version: String,
    /// `json`, `application/fhir+json`.
    pub format: Vec<String>,
    /// The REST interface.
    pub rest: Vec<Rest>,
}

fn param(name: &str, kind: &str, documentation: &str) -> SearchParam {
    SearchParam {
        name: name.into(),
        kind: kind.into(),
        documentation: documentation.into(),
    }
}

fn interactions(codes: &[&str]) -> Vec<Interaction> {
    codes
        .iter()
        .map(|code| Interaction {
            code: (*code).into(),
        })
        .collect()
}

/// The statement, made at `date`.
pub fn statement(date: String) -> CapabilityStatement {
    let last_updated = param(
        "_lastUpdated",
        "date",
        "When the resource last changed (beds: their newest event; care homes: their last report)",
    );
    let paging = [
        param(
            "_count",
            "number",
            "Matches per page (1 to 500, default 50)",
        ),
        param(
            "_offset",
            "number",
            "Matches skipped: follow the Bundle's next link",
        ),
    ];
    let mut location = vec![
        param(
            "identifier",
            "token",
            "ODS site code (https://fhir.nhs.uk/Id/ods-site-code), ward or bed code",
        ),
        param(
            "partof",
            "reference",
            "The site of a ward, the ward of a bed",
        ),
        param("organization", "reference", "The managing trust"),
        last_updated.clone(),
    ];
    location.extend(paging.clone());
    let mut organization = vec![
        param(
            "identifier",
            "token",
            "ODS organisation code (https://fhir.nhs.uk/Id/ods-organization-code) or CQC location id",
        ),
        last_updated,
    ];
    organization.extend(paging.clone());
    let mut measure_report = vec![param(
        "subject",
        "reference",
        "The site (Location) reported on",
    )];
    measure_report.extend(paging);
    CapabilityStatement {
        resource_type: "CapabilityStatement".into(),
        status: "active".into(),
        date,
        kind: "instance".into(),
        software: Software {
            name: "Patient Flow FHIR API".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        fhir_version: "4.0.1".into(),
        format: vec!["json".into(), "application/fhir+json".into()],
        rest: vec![Rest {
            mode: "server".into(),
            security: Security {
                service: vec![CodeableConcept::of(Coding::new(
                    "http://terminology.hl7.org/CodeSystem/restful-security-service",
                    "OAuth",
                    "OAuth",
                ))],
                description: "A bearer token from the platform's identity provider or a \
                              signed-in session. Beds, wards, sites, trusts and capacity \
                              reports: control-room viewers, discharge coordinators and \
                              system administrators. Care homes and their vacancies: \
                              discharge coordinators and system administrators. \
                              Changing a bed's operationalStatus (PUT or PATCH of its \
                              Location, If-Match on its version): the trust's bed feed \
                              and system administrators."
                    .into(),
            },
            resource: vec![
                RestResource {
                    kind: "Location".into(),
                    // update and patch: a bed's operationalStatus only.
                    interaction: interactions(&["read", "search-type", "update", "patch"]),
                    search_param: location,
                    documentation: None,
                },
                RestResource {
                    kind: "Organization".into(),
                    interaction: interactions(&["read", "search-type"]),
                    search_param: organization,
                    documentation: None,
                },
                RestResource {
                    kind: "MeasureReport".into(),
                    interaction: interactions(&["read", "search-type"]),
                    search_param: measure_report,
                    documentation: Some(
                        "Bed capacity now: `beds-system` and `beds-{ODS site code}` (read and \
                         search). The forecasts of the next 72 hours: `forecast-system` and \
                         `forecast-{ODS site code}` (read), with a period in the future, one \
                         group per series, one stratum per hour (its start, UTC, as the \
                         stratum's text) whose measureScore is the point forecast, and the 80% \
                         and 95% prediction intervals as `prediction-interval` extensions \
                         (`level`, `interval` as a Range) on that score."
                            .into(),
                    ),
                },
            ],
        }],
    }
}
