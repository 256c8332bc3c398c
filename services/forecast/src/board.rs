//! Folded history → the forecast board: every scope's series forecast for
//! the next 72 hours with 80% and 95% intervals, and the OPEL level they
//! imply.

use std::collections::BTreeMap;
use std::time::Instant;

use pf_forecast_model::implied::{ImpliedLevel, implied_level};
use pf_forecast_model::{Band, HORIZON_HOURS, Method, Series, fit_forecast};
use pf_opel::OpelConfig;
use serde::Serialize;
use time::{Duration, OffsetDateTime, PrimitiveDateTime};

use crate::fold::{Folded, SYSTEM, Scope, SiteHours};

/// What a series counts, for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Patients in the hour.
    PatientsPerHour,
    /// Beds or patients at the end of the hour.
    Count,
    /// Per cent.
    Percent,
}

/// One hour ahead.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    /// The start of the hour (UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
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

/// One series' forecast.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesForecast {
    /// What it counts.
    pub unit: Unit,
    /// How it was made.
    pub method: Method,
    /// How it was got, when not forecast directly (occupancy %).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub derived: Option<String>,
    /// The latest value known (the last whole hour).
    pub latest: f64,
    /// The next 72 hours.
    pub points: Vec<Point>,
}

/// The implied level at one hour.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpelAt {
    /// The hour (UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// From the point forecasts.
    #[serde(flatten)]
    pub implied: ImpliedLevel,
    /// The level if occupancy and NCTR are both at the top of their 80%
    /// intervals: how bad it may plausibly get.
    pub level_at_upper_80: Option<pf_opel::Level>,
}

/// What OPEL a scope's forecast implies.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpelForecast {
    /// Tomorrow at 08:00 UK time: the level a command centre plans for.
    pub tomorrow_0800: Option<OpelAt>,
    /// Each hour ahead.
    pub hourly: Vec<OpelAt>,
    /// What it is made of.
    pub note: &'static str,
}

/// One scope's forecasts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScopeForecast {
    /// Which scope.
    #[serde(flatten)]
    pub scope: Scope,
    /// By series name (`admissions`, `discharges`, `discharges_pathway_1`,
    /// `occupied_ga_beds`, `ga_occupancy_pct`, `nctr`,
    /// `care_home_vacancies_<category>`).
    pub series: BTreeMap<String, SeriesForecast>,
    /// Series that could not be forecast, with the reason.
    pub unavailable: BTreeMap<String, String>,
    /// Usable G&A beds now (held for the next 72 hours).
    pub usable_ga_beds: Option<i64>,
    /// The implied OPEL level, for scopes OPEL is computed for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opel: Option<OpelForecast>,
}

/// The whole board.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Board {
    /// When it was computed.
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: OffsetDateTime,
    /// The first hour of history used.
    #[serde(with = "time::serde::rfc3339")]
    pub history_from: OffsetDateTime,
    /// The first hour forecast (history ends here).
    #[serde(with = "time::serde::rfc3339")]
    pub forecast_from: OffsetDateTime,
    /// Hours forecast.
    pub horizon_hours: usize,
    /// Events read, and how many were synthetic history.
    pub events: usize,
    /// Of those, synthetic history (`Pf-Synthetic`).
    pub synthetic_events: usize,
    /// Seconds the fits took.
    pub fit_seconds: f64,
    /// Series forecast.
    pub series_fitted: usize,
    /// The system first, then trusts and sites.
    pub scopes: Vec<ScopeForecast>,
}

/// The note every OPEL forecast carries.
pub const OPEL_NOTE: &str = "Implied by the forecast G&A occupancy and NCTR share; every other parameter (escalation beds open, any parameter not forecast) is held at its latest value, and usable G&A beds are held at today's count.";

/// Forecasts every series of `folded`.
pub fn build(folded: &Folded, opel: &OpelConfig, now: OffsetDateTime) -> Board {
    let started = Instant::now();
    let forecast_from = folded.start + Duration::hours(folded.hours as i64);
    let mut fitted = 0;
    let mut scopes = Vec::new();
    for scope in &folded.scopes {
        let Some(hours) = folded.by_scope.get(&scope.code) else {
            continue;
        };
        let mut out = ScopeForecast {
            scope: scope.clone(),
            series: BTreeMap::new(),
            unavailable: BTreeMap::new(),
            usable_ga_beds: folded.ga_beds.get(&scope.code).map(|f| f.usable()),
            opel: None,
        };
        let mut add = |name: String, values: &[f64], unit: Unit| {
            let series = Series::complete(folded.start, values.iter().copied());
            match fit_forecast(&series, HORIZON_HOURS) {
                Ok(band) => {
                    fitted += 1;
                    out.series.insert(
                        name,
                        series_forecast(band.floored(0.0), unit, values, forecast_from, None),
                    );
                }
                Err(e) => {
                    out.unavailable.insert(name, e.to_string());
                }
            }
        };
        add_site_series(hours, &mut add);
        if scope.code == SYSTEM {
            for (category, values) in &folded.vacancies {
                if values.iter().any(|v| *v > 0.0) {
                    add(
                        format!("care_home_vacancies_{}", category.as_str()),
                        values,
                        Unit::Count,
                    );
                }
            }
        }
        if let (Some(usable), Some(occupied)) = (
            out.usable_ga_beds,
            out.series.get("occupied_ga_beds").cloned(),
        ) && usable > 0
        {
            let pct = 100.0 / usable as f64;
            let scaled = |v: f64| v * pct;
            out.series.insert(
                "ga_occupancy_pct".to_owned(),
                SeriesForecast {
                    unit: Unit::Percent,
                    method: occupied.method,
                    derived: Some(format!(
                        "occupied G&A beds forecast ÷ {usable} usable G&A beds (today's, held)"
                    )),
                    latest: scaled(occupied.latest),
                    points: occupied
                        .points
                        .iter()
                        .map(|p| Point {
                            at: p.at,
                            value: scaled(p.value),
                            lower_80: scaled(p.lower_80),
                            upper_80: scaled(p.upper_80),
                            lower_95: scaled(p.lower_95),
                            upper_95: scaled(p.upper_95),
                        })
                        .collect(),
                },
            );
        }
        if let Some(kind) = &scope.opel_kind {
            let latest = BTreeMap::from([(
                "escalation_beds_open".to_owned(),
                folded
                    .ga_beds
                    .get(&scope.code)
                    .map_or(0.0, |f| f.escalation_open as f64),
            )]);
            out.opel = opel_forecast(&out, opel, kind, &latest, now);
        }
        scopes.push(out);
    }
    Board {
        generated_at: now,
        history_from: folded.start,
        forecast_from,
        horizon_hours: HORIZON_HOURS,
        events: folded.events,
        synthetic_events: folded.synthetic,
        fit_seconds: started.elapsed().as_secs_f64(),
        series_fitted: fitted,
        scopes,
    }
}

fn add_site_series(hours: &SiteHours, add: &mut impl FnMut(String, &[f64], Unit)) {
    if hours.occupied.iter().all(|v| *v == 0.0) && hours.admissions.iter().all(|v| *v == 0.0) {
        return;
    }
    add(
        "admissions".to_owned(),
        &hours.admissions,
        Unit::PatientsPerHour,
    );
    add(
        "discharges".to_owned(),
        &hours.discharges,
        Unit::PatientsPerHour,
    );
    for (p, values) in hours.pathway_discharges.iter().enumerate() {
        if values.iter().any(|v| *v > 0.0) {
            add(
                format!("discharges_pathway_{p}"),
                values,
                Unit::PatientsPerHour,
            );
        }
    }
    add("occupied_ga_beds".to_owned(), &hours.occupied, Unit::Count);
    add("nctr".to_owned(), &hours.nctr, Unit::Count);
}

fn series_forecast(
    band: Band,
    unit: Unit,
    history: &[f64],
    from: OffsetDateTime,
    derived: Option<String>,
) -> SeriesForecast {
    SeriesForecast {
        unit,
        method: band.method,
        derived,
        latest: history.last().copied().unwrap_or(0.0),
        points: (0..band.len())
            .map(|h| Point {
                at: from + Duration::hours(h as i64),
                value: band.point[h],
                lower_80: band.lower_80[h],
                upper_80: band.upper_80[h],
                lower_95: band.lower_95[h],
                upper_95: band.upper_95[h],
            })
            .collect(),
    }
}

/// The start of tomorrow 08:00 in the UK, as an instant.
pub fn tomorrow_0800(now: OffsetDateTime) -> OffsetDateTime {
    let summer = pf_hl7_adt::timestamp::is_summer_time(now);
    let local = if summer {
        now + Duration::hours(1)
    } else {
        now
    };
    let tomorrow = local.date().next_day().unwrap_or(local.date());
    pf_hl7_adt::timestamp::london(PrimitiveDateTime::new(tomorrow, time::macros::time!(08:00)))
}

fn opel_forecast(
    scope: &ScopeForecast,
    config: &OpelConfig,
    kind: &str,
    latest: &BTreeMap<String, f64>,
    now: OffsetDateTime,
) -> Option<OpelForecast> {
    let occupancy = scope.series.get("ga_occupancy_pct")?;
    let occupied = scope.series.get("occupied_ga_beds")?;
    let nctr = scope.series.get("nctr");
    let hourly: Vec<OpelAt> = occupancy
        .points
        .iter()
        .zip(&occupied.points)
        .enumerate()
        .filter_map(|(h, (pct, beds))| {
            let waiting = nctr.and_then(|n| n.points.get(h));
            let implied = implied_level(
                config,
                kind,
                pct.value,
                beds.value,
                waiting.map(|w| w.value),
                latest,
            )?;
            let upper = implied_level(
                config,
                kind,
                pct.upper_80,
                beds.value,
                waiting.map(|w| w.upper_80),
                latest,
            )
            .map(|i| i.level);
            Some(OpelAt {
                at: pct.at,
                implied,
                level_at_upper_80: upper,
            })
        })
        .collect();
    let target = tomorrow_0800(now);
    let tomorrow = hourly.iter().find(|o| o.at == target).cloned();
    Some(OpelForecast {
        tomorrow_0800: tomorrow,
        hourly,
        note: OPEL_NOTE,
    })
}
