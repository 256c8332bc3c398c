//! The forecasts of the next 72 hours as FHIR R4 `MeasureReport`s with a
//! period in the future: `MeasureReport/forecast-system` and
//! `MeasureReport/forecast-{ODS site code}`.
//!
//! The forecasts are pf-forecast's: this module reads its JSON API
//! (`GET {PF_FORECAST_URL}/api/v1/forecast/{scope}`) with the caller's own
//! credentials (its `Authorization` or session cookie), so the forecast
//! service makes its own decision too and no credential of ours is needed.
//!
//! # Shape
//! UK Core profiles no `MeasureReport`, so these are plain R4, shaped like
//! the capacity reports (HL7 SANER's): `status` `complete`, `type`
//! `summary`, `measure` our forecast measure, `subject` the site
//! (`Location`, with its ODS site code) or none for the system, `period`
//! the 72 hours forecast (from the first hour forecast to the end of the
//! last), `date` when the forecasts were fitted. One `group` per series
//! (`admissions`, `discharges`, `discharges_pathway_N`, `occupied_ga_beds`,
//! `ga_occupancy_pct`, `nctr`, `care_home_vacancies_<category>`, and
//! `opel_implied`), coded in our code system `forecast-series`; its
//! `measureScore` is the latest value known. Each group has one
//! `stratifier` (`forecast-hour`) with one `stratum` per hour ahead (its
//! `value.text` is the hour's start, UTC), whose `measureScore` is the
//! point forecast.
//!
//! R4 has no element for an interval around a score, and strata cannot
//! carry one (a stratum is a part of the population, not a bound), so each
//! hour's 80% and 95% prediction intervals are two `prediction-interval`
//! extensions on its `measureScore`: `level` (`valueDecimal`, 80 or 95)
//! and `interval` (`valueRange`, low and high in the score's unit). The
//! implied OPEL level per hour has no interval. The report's
//! `forecast-note` extension says how the forecasts were made and what was
//! held at its latest value.
//!
//! Trusts' forecasts are in the JSON API only: an R4 `MeasureReport`'s
//! subject cannot be an `Organization`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use pf_access::Action;
use pf_sign_in::Caller;
use serde::Deserialize;
use std::collections::BTreeMap;
use time::OffsetDateTime;

use crate::api::{AppState, FhirError};
use crate::model::{
    CodeableConcept, Coding, Extension, Group, Identifier, MeasureReport, ODS_SITE, Period,
    Quantity, Range, Reference, SimpleQuantity, Stratifier, Stratum,
};
use crate::resources::{self, PROFILE_BASE, extension_url, instant};

/// The id prefix of forecast reports.
pub const ID_PREFIX: &str = "forecast-";
/// How long the forecast service may take to answer.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// UCUM.
const UCUM: &str = "http://unitsofmeasure.org";

/// Our measure of the forecasts.
pub fn measure() -> String {
    format!("{PROFILE_BASE}/Measure/forecast-72h")
}

/// Our code system of forecast series (a group's code).
pub fn series_codes() -> String {
    format!("{PROFILE_BASE}/CodeSystem/forecast-series")
}

/// The forecast service's answer for one scope (the parts used here).
#[derive(Debug, Clone, Deserialize)]
pub struct ScopeAnswer {
    /// When the forecasts were fitted (Unix seconds).
    pub generated_at: i64,
    /// The first hour forecast (Unix seconds).
    pub forecast_from: i64,
    /// Hours forecast.
    pub horizon_hours: i64,
    /// The scope's forecasts.
    pub scope: ScopeForecast,
}

/// One scope's forecasts.
#[derive(Debug, Clone, Deserialize)]
pub struct ScopeForecast {
    /// `system` or an ODS code.
    pub code: String,
    /// By series name.
    pub series: BTreeMap<String, SeriesForecast>,
    /// The implied OPEL level, where computed.
    #[serde(default)]
    pub opel: Option<OpelForecast>,
}

/// One series' forecast.
#[derive(Debug, Clone, Deserialize)]
pub struct SeriesForecast {
    /// `patients_per_hour`, `count` or `percent`.
    pub unit: String,
    /// How it was made.
    pub method: String,
    /// How it was got, when not forecast directly.
    #[serde(default)]
    pub derived: Option<String>,
    /// The latest value known.
    pub latest: f64,
    /// Each hour ahead.
    pub points: Vec<Point>,
}

/// One hour ahead.
#[derive(Debug, Clone, Deserialize)]
pub struct Point {
    /// The hour's start (RFC 3339).
    pub at: String,
    /// Point forecast.
    pub value: f64,
    /// 80% interval.
    pub lower_80: f64,
    /// 80% interval.
    pub upper_80: f64,
    /// 95% interval.
    pub lower_95: f64,
    /// 95% interval.
    pub upper_95: f64,
}

/// The implied OPEL level.
#[derive(Debug, Clone, Deserialize)]
pub struct OpelForecast {
    /// Each hour ahead.
    pub hourly: Vec<OpelAt>,
    /// What it is made of.
    pub note: String,
}

/// The implied level at one hour.
#[derive(Debug, Clone, Deserialize)]
pub struct OpelAt {
    /// The hour's start (RFC 3339).
    pub at: String,
    /// `1` to `4`.
    pub level: String,
}

/// A FHIR decimal of a forecast: two places are all it is worth.
fn round(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// The UCUM unit of a series.
fn unit(unit: &str) -> (&'static str, &'static str) {
    match unit {
        "patients_per_hour" => ("patients per hour", "/h"),
        "percent" => ("%", "%"),
        _ => ("count", "1"),
    }
}

fn quantity(value: f64, (unit, code): (&str, &str)) -> Quantity {
    Quantity {
        value: round(value),
        unit: unit.to_owned(),
        system: UCUM.to_owned(),
        code: code.to_owned(),
        extension: Vec::new(),
    }
}

fn interval(level: f64, low: f64, high: f64, (unit, code): (&str, &str)) -> Extension {
    let bound = |value: f64| SimpleQuantity {
        value: round(value),
        unit: unit.to_owned(),
        system: UCUM.to_owned(),
        code: code.to_owned(),
    };
    let mut of_level = Extension::new("level");
    of_level.value_decimal = Some(level);
    let mut range = Extension::new("interval");
    range.value_range = Some(Range {
        low: bound(low),
        high: bound(high),
    });
    let mut outer = Extension::new(&extension_url("prediction-interval"));
    outer.extension = vec![of_level, range];
    outer
}

fn hour_stratifier() -> Vec<CodeableConcept> {
    vec![CodeableConcept::of(Coding::new(
        &series_codes(),
        "forecast-hour",
        "Hour forecast (start, UTC)",
    ))]
}

fn stratum(at: &str, score: Quantity) -> Stratum {
    Stratum {
        value: CodeableConcept {
            coding: Vec::new(),
            text: Some(at.to_owned()),
        },
        measure_score: score,
    }
}

fn series_group(name: &str, series: &SeriesForecast) -> Group {
    let unit = unit(&series.unit);
    let display = match &series.derived {
        Some(derived) => format!("{name} (forecast: {derived})"),
        None => format!("{name} (forecast)"),
    };
    Group {
        code: CodeableConcept::of(Coding::new(&series_codes(), name, &display)),
        population: Vec::new(),
        measure_score: Some(quantity(series.latest, unit)),
        stratifier: vec![Stratifier {
            code: hour_stratifier(),
            stratum: series
                .points
                .iter()
                .map(|p| {
                    let mut score = quantity(p.value, unit);
                    score.extension = vec![
                        interval(80.0, p.lower_80, p.upper_80, unit),
                        interval(95.0, p.lower_95, p.upper_95, unit),
                    ];
                    stratum(&p.at, score)
                })
                .collect(),
        }],
    }
}

fn opel_group(opel: &OpelForecast) -> Group {
    let unit = ("OPEL level", "{level}");
    Group {
        code: CodeableConcept::of(Coding::new(
            &series_codes(),
            "opel_implied",
            "OPEL level implied by the forecasts",
        )),
        population: Vec::new(),
        measure_score: None,
        stratifier: vec![Stratifier {
            code: hour_stratifier(),
            stratum: opel
                .hourly
                .iter()
                .filter_map(|o| {
                    let level: f64 = o.level.parse().ok()?;
                    Some(stratum(&o.at, quantity(level, unit)))
                })
                .collect(),
        }],
    }
}

fn at_unix(seconds: i64) -> String {
    OffsetDateTime::from_unix_timestamp(seconds)
        .map(instant)
        .unwrap_or_else(|_| instant(OffsetDateTime::UNIX_EPOCH))
}

/// The forecast report of `answer`, for `subject` (none: the system).
pub fn report(answer: &ScopeAnswer, subject: Option<Reference>, region: &str) -> MeasureReport {
    let scope = &answer.scope;
    let mut groups: Vec<Group> = scope
        .series
        .iter()
        .map(|(name, series)| series_group(name, series))
        .collect();
    let mut note = String::from(
        "Forecasts of the next hours by pf-forecast (MSTL with daily and weekly seasons and \
         AutoETS, intervals calibrated on each series' own recent errors); each hour is a \
         stratum, its 80% and 95% prediction intervals are the prediction-interval extensions \
         of its score.",
    );
    if let Some(opel) = &scope.opel {
        groups.push(opel_group(opel));
        note.push(' ');
        note.push_str(&opel.note);
    }
    let mut about = Extension::new(&extension_url("forecast-note"));
    about.value_string = Some(note);
    MeasureReport {
        resource_type: "MeasureReport".into(),
        id: format!("{ID_PREFIX}{}", scope.code),
        status: "complete".into(),
        kind: "summary".into(),
        measure: measure(),
        subject,
        date: at_unix(answer.generated_at),
        reporter: Reference {
            reference: None,
            identifier: None,
            display: Some(format!("Patient Flow, {region}")),
        },
        period: Period {
            start: at_unix(answer.forecast_from),
            end: at_unix(answer.forecast_from + answer.horizon_hours * 3600),
        },
        extension: vec![about],
        group: groups,
    }
}

/// Reads `scope`'s forecasts from the forecast service as the caller.
async fn fetch(
    state: &AppState,
    headers: &HeaderMap,
    scope: &str,
) -> Result<ScopeAnswer, FhirError> {
    let Some(base) = state.forecast_url.as_deref() else {
        return Err(FhirError::NotFound(
            "forecasts are not offered here: this server has no forecast service \
             (PF_FORECAST_URL) to read them from"
                .into(),
        ));
    };
    let mut request = state
        .http
        .get(format!(
            "{}/api/v1/forecast/{scope}",
            base.trim_end_matches('/')
        ))
        .timeout(TIMEOUT);
    for name in [header::AUTHORIZATION, header::COOKIE] {
        if let Some(value) = headers.get(&name) {
            request = request.header(name, value);
        }
    }
    let unavailable =
        |why: String| FhirError::Unavailable(format!("the forecast service cannot be read: {why}"));
    let response = request
        .send()
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    match status {
        StatusCode::OK => serde_json::from_slice(&body)
            .map_err(|e| unavailable(format!("its answer could not be read ({e})"))),
        StatusCode::SERVICE_UNAVAILABLE => Err(FhirError::Unavailable(
            "the first forecast is still being fitted; try again in a minute".into(),
        )),
        StatusCode::NOT_FOUND => Err(FhirError::NotFound(format!(
            "the forecast service has no forecast for `{scope}` (a site with no G&A beds, \
             or one added since the last fit)"
        ))),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(FhirError::Forbidden(
            "the forecast service refused these credentials the forecasts".into(),
        )),
        other => Err(unavailable(format!("it answered {other}"))),
    }
}

/// `GET /fhir/R4/MeasureReport/forecast-{system|site}`.
pub async fn read(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    id: &str,
) -> Result<MeasureReport, FhirError> {
    let principal = caller.principal()?;
    principal
        .permits(&Action::ViewControlRoom)
        .require()
        .map_err(|refused| FhirError::Forbidden(refused.to_string()))?;
    let code = id.strip_prefix(ID_PREFIX).unwrap_or(id);
    let subject = if code == "system" {
        None
    } else {
        let (_, site) = resources::sites(&state.catalogue)
            .find(|(_, s)| s.code.as_str() == code)
            .ok_or_else(|| {
                FhirError::NotFound(format!(
                    "there is no forecast MeasureReport `{id}`; forecasts are `forecast-system` \
                     and `forecast-{{ODS site code}}`"
                ))
            })?;
        Some(Reference::to(
            format!("Location/{}", resources::site_id(site)),
            Identifier::new(ODS_SITE, site.code.as_str()),
            &site.name,
        ))
    };
    let answer = fetch(state, headers, code).await?;
    Ok(report(&answer, subject, state.catalogue.region.as_str()))
}

/// The route's handler for a forecast id.
pub(crate) async fn read_forecast(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let result = read(&state, &caller, &headers, &id).await;
    crate::api::audited_answer(&state, &caller, "MeasureReport", "MeasureReport", result).await
}
