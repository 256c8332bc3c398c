//! Working the discharge list: filters by site, ward, pathway, status and
//! delay reason, a sort by days waited or Discharge Ready Date, and a
//! search by NHS number, all in the query string so that they work without
//! JavaScript and can be bookmarked. The patients are the JSON API's list
//! (the caller's organisations only); a search by NHS number is recorded in
//! the audit trail before its answer is shown, naming the patient found.

use std::collections::{BTreeMap, BTreeSet};

use axum::http::StatusCode;
use axum::response::Response;
use pf_access::{Principal, Role};
use pf_discharge_model::{DelayReason, NhsNumber};
use pf_sign_in::Caller;
use serde::{Deserialize, Serialize};

use crate::discharge_log::entity_id;
use crate::pages::{Pages, Patient, hold_state_text, long_date, refused_page, status_label};

/// The audit trail's action of a search by NHS number.
pub const SEARCH: &str = "discharge.search";

/// The list's query string.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub struct ListQuery {
    /// A site code.
    #[serde(default)]
    pub site: String,
    /// A ward code.
    #[serde(default)]
    pub ward: String,
    /// `0` to `3`.
    #[serde(default)]
    pub pathway: String,
    /// A status word.
    #[serde(default)]
    pub status: String,
    /// A delay-reason word.
    #[serde(default)]
    pub delay_reason: String,
    /// `waited` (longest wait first, the default), `waited-least`,
    /// `ready-newest`, `ready-oldest`.
    #[serde(default)]
    pub sort: String,
    /// An NHS number to find.
    #[serde(default)]
    pub nhs_number: String,
}

/// The sorts offered.
const SORTS: &[(&str, &str)] = &[
    ("waited", "Days waited, most first"),
    ("waited-least", "Days waited, fewest first"),
    ("ready-oldest", "Discharge Ready Date, earliest first"),
    ("ready-newest", "Discharge Ready Date, latest first"),
];

#[derive(Debug, Serialize)]
struct Choice {
    value: String,
    label: String,
}

/// A row of the waiting list.
#[derive(Debug, Serialize)]
struct ListRow {
    id: String,
    nhs_number: String,
    last_digits: String,
    site_name: String,
    ward: String,
    ready_date: String,
    delay_days: i64,
    pathway: u32,
    status: String,
    status_label: &'static str,
    delay_reason_label: String,
    held: Option<String>,
    next_action: String,
    overdue_tasks: usize,
}

impl ListRow {
    fn of(p: Patient, overdue: &BTreeMap<String, usize>) -> Self {
        ListRow {
            overdue_tasks: overdue.get(&p.discharge_id).copied().unwrap_or(0),
            last_digits: p
                .nhs_number
                .rsplit(' ')
                .next()
                .unwrap_or_default()
                .to_owned(),
            held: p.hold.as_ref().map(|h| {
                format!(
                    "{}: {}",
                    h.home_name,
                    hold_state_text(&h.state).to_lowercase()
                )
            }),
            id: p.discharge_id,
            nhs_number: p.nhs_number,
            site_name: p.site_name,
            ward: p.ward,
            ready_date: long_date(&p.discharge_ready_date),
            delay_days: p.delay_days,
            pathway: p.pathway,
            status_label: status_label(&p.status),
            status: p.status,
            delay_reason_label: p.delay_reason_label,
            next_action: p.next_action,
        }
    }
}

/// Whether `patient` passes the filters of `query`.
fn passes(query: &ListQuery, patient: &Patient) -> bool {
    let want = |wanted: &str, value: &str| wanted.trim().is_empty() || wanted.trim() == value;
    want(&query.site, &patient.site)
        && want(&query.ward, &patient.ward)
        && want(&query.pathway, &patient.pathway.to_string())
        && want(&query.status, &patient.status)
        && want(&query.delay_reason, &patient.delay_reason)
}

/// Sorts `patients` as `sort` says (longest wait first otherwise).
fn sort(patients: &mut [Patient], sort: &str) {
    match sort {
        "waited-least" => patients.sort_by_key(|p| p.delay_days),
        // Dates are `YYYY-MM-DD`: text order is date order.
        "ready-oldest" => {
            patients.sort_by(|a, b| a.discharge_ready_date.cmp(&b.discharge_ready_date))
        }
        "ready-newest" => {
            patients.sort_by(|a, b| b.discharge_ready_date.cmp(&a.discharge_ready_date))
        }
        _ => patients.sort_by_key(|p| std::cmp::Reverse(p.delay_days)),
    }
}

/// The distinct values of one field, as choices.
fn choices(patients: &[Patient], pick: impl Fn(&Patient) -> (String, String)) -> Vec<Choice> {
    let set: BTreeSet<(String, String)> = patients.iter().map(pick).collect();
    set.into_iter()
        .map(|(value, label)| Choice { value, label })
        .collect()
}

/// Finds the patient with the searched NHS number among `patients` (the
/// caller's list), after recording the search in the audit trail.
async fn search(
    pages: &Pages,
    caller: &Caller,
    patients: &[Patient],
    number: &NhsNumber,
) -> Result<Option<String>, Response> {
    let unavailable = || {
        refused_page(
            pages,
            StatusCode::SERVICE_UNAVAILABLE,
            "The search cannot be made",
            "The discharge list cannot be read right now. Please try again.",
        )
    };
    let records = pages
        .app
        .live
        .clone()
        .all_discharges()
        .await
        .map_err(|_| unavailable())?;
    let records = pages
        .app
        .discharges
        .open_all(records)
        .await
        .map_err(|_| unavailable())?;
    let found = records
        .iter()
        .filter(|r| r.nhs_number.as_ref() == Some(number))
        .find(|r| patients.iter().any(|p| p.discharge_id == r.discharge_id))
        .map(|r| r.discharge_id.clone());
    let entity = found
        .as_deref()
        .map(entity_id)
        .unwrap_or_else(|| "discharges".to_owned());
    if pages.app.audit_read(caller, SEARCH, &entity).await.is_err() {
        return Err(refused_page(
            pages,
            StatusCode::SERVICE_UNAVAILABLE,
            "The search cannot be made",
            "Searches by NHS number are recorded, and the record cannot be written right now. Please try again.",
        ));
    }
    Ok(found)
}

/// Renders the list of `patients` (the API's, longest wait first) as
/// `query` asks.
pub(crate) async fn render(
    pages: &Pages,
    caller: &Caller,
    principal: &Principal,
    mut patients: Vec<Patient>,
    query: ListQuery,
    overdue: &BTreeMap<String, usize>,
) -> Response {
    let total = patients.len();
    let sites = choices(&patients, |p| (p.site.clone(), p.site_name.clone()));
    let wards = choices(&patients, |p| (p.ward.clone(), p.ward.clone()));
    let mut errors = Vec::new();
    let mut searched = false;
    let typed = query.nhs_number.trim();
    if !typed.is_empty() {
        match NhsNumber::parse(typed) {
            Ok(number) => {
                searched = true;
                let found = match search(pages, caller, &patients, &number).await {
                    Ok(found) => found,
                    Err(response) => return response,
                };
                patients.retain(|p| Some(&p.discharge_id) == found.as_ref());
            }
            Err(err) => {
                let text = err.to_string();
                let mut chars = text.chars();
                let message = chars
                    .next()
                    .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
                    .unwrap_or(text);
                errors.push(serde_json::json!({"href": "#nhs_number", "message": message}));
            }
        }
    }
    patients.retain(|p| passes(&query, p));
    sort(&mut patients, &query.sort);
    let filtered = searched
        || [
            &query.site,
            &query.ward,
            &query.pathway,
            &query.status,
            &query.delay_reason,
        ]
        .iter()
        .any(|v| !v.trim().is_empty());
    let rows: Vec<ListRow> = patients
        .into_iter()
        .map(|p| ListRow::of(p, overdue))
        .collect();
    let statuses: Vec<Choice> = ["ready", "searching"]
        .iter()
        .map(|s| Choice {
            value: (*s).to_owned(),
            label: status_label(s).to_owned(),
        })
        .collect();
    let reasons: Vec<Choice> = DelayReason::ALL
        .iter()
        .map(|r| Choice {
            value: r.as_str().to_owned(),
            label: r.label().to_owned(),
        })
        .collect();
    let sorts: Vec<Choice> = SORTS
        .iter()
        .map(|(v, l)| Choice {
            value: (*v).to_owned(),
            label: (*l).to_owned(),
        })
        .collect();
    // Trust names, not ODS codes.
    let organisations: Vec<String> = principal
        .ods_organisations(Role::DischargeCoordinator)
        .map(|o| {
            pages
                .app
                .catalogue
                .trusts
                .iter()
                .find(|t| t.code == o.as_str())
                .map(|t| t.name.clone())
                .unwrap_or_else(|| o.as_str().to_owned())
        })
        .collect();
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    pf_web::render(
        pages.templates(),
        "discharges.html",
        minijinja::context! {
            patients => rows,
            total => total,
            filtered => filtered,
            searched => searched,
            query => query,
            errors => errors,
            sites => sites,
            wards => wards,
            statuses => statuses,
            reasons => reasons,
            sorts => sorts,
            organisations => organisations.join(", "),
            person => principal.name.clone(),
            gateway_ws_url => pages.app.config.gateway_ws_url.trim_end_matches('/').to_owned(),
            service_href => "/discharges",
            sign_out_url => pages.app.config.sign_out_url.clone(),
        },
        status,
    )
}
