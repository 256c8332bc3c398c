//! Who needs to do what next, on the discharge pages: a patient's tasks
//! (from the tasks service's events, folded into the live state by the
//! projection), the overdue ones on the list, and the cohorts page
//! (`/discharges/cohorts`): the waiting patients grouped by pathway and
//! why they wait, each group with its owner, one click from a group to its
//! patients and the task that blocks each (`pf_task_model::cohorts`).
//!
//! Tasks are created and changed through the tasks service's API; these
//! pages show them to the patient's coordinators, with what the policy
//! lets the caller see (`pf_task_model::change::visibility`).

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use pf_access::Principal;
use pf_sign_in::Caller;
use pf_task_model::change::{Visibility, visibility};
use pf_task_model::{Item, ItemKind, ItemState, TaskTypes, WaitingPatient, cohorts};
use serde::Serialize;
use time::OffsetDateTime;

use crate::api;
use crate::pages::{Pages, Patient, again, coordinator, error_text, read, refused_page};

/// One task as the pages show it.
#[derive(Debug, Clone, Serialize)]
pub struct TaskRow {
    /// The item id.
    pub item_id: String,
    /// What needs doing: the task type in words.
    pub what: String,
    /// Its words, when they add to the type.
    pub text: String,
    /// Who does it.
    pub owner: String,
    /// Due, UK time (with the day when not today).
    pub due: String,
    /// Open and past due.
    pub overdue: bool,
    /// `open`, `done` or `cancelled`.
    pub state: ItemState,
    /// Whether the patient cannot leave until it is done.
    pub blocking: bool,
    /// `Done by … at …` once closed.
    pub closed: String,
}

fn ms_now(now: OffsetDateTime) -> i64 {
    i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn uk(ms: i64, now: OffsetDateTime) -> String {
    match OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) {
        Ok(at) if pf_web::uk_time::date(at) == pf_web::uk_time::date(now) => {
            pf_web::uk_time::hh_mm(at)
        }
        Ok(at) => format!(
            "{} {}",
            pf_web::uk_time::day_month(at),
            pf_web::uk_time::hh_mm(at)
        ),
        Err(_) => String::new(),
    }
}

/// A task's row.
pub fn row(item: &Item, types: &TaskTypes, now: OffsetDateTime) -> TaskRow {
    let what = types.label(&item.task_type).to_owned();
    TaskRow {
        item_id: item.item_id.clone(),
        text: if item.text == what {
            String::new()
        } else {
            item.text.clone()
        },
        what,
        owner: item.owner.display.clone(),
        due: uk(item.due_ms, now),
        overdue: item.overdue(ms_now(now)),
        state: item.state,
        blocking: item.blocking,
        closed: match item.state {
            ItemState::Open => String::new(),
            ItemState::Done => format!("Done by {} at {}", item.closed_by, uk(item.closed_ms, now)),
            ItemState::Cancelled => {
                format!(
                    "Cancelled by {} at {}",
                    item.closed_by,
                    uk(item.closed_ms, now)
                )
            }
        },
    }
}

/// The discharge tasks `principal` may see.
pub async fn visible_tasks(pages: &Pages, principal: &Principal) -> Result<Vec<Item>, String> {
    let items = pages
        .app
        .live
        .clone()
        .all_items()
        .await
        .map_err(|e| e.to_string())?;
    Ok(items
        .into_iter()
        .filter(|i| i.kind == ItemKind::DischargeTask)
        .filter(|i| visibility(i, principal) == Visibility::Visible)
        .collect())
}

/// One patient's tasks: open ones soonest due first, then closed ones.
pub fn patient_rows(
    items: &[Item],
    discharge_id: &str,
    types: &TaskTypes,
    now: OffsetDateTime,
) -> Vec<TaskRow> {
    let mut mine: Vec<&Item> = items
        .iter()
        .filter(|i| i.discharge_id == discharge_id)
        .collect();
    mine.sort_by_key(|i| (i.state != ItemState::Open, i.due_ms));
    mine.into_iter().map(|i| row(i, types, now)).collect()
}

/// How many overdue tasks each patient has.
pub fn overdue_counts(items: &[Item], now: OffsetDateTime) -> BTreeMap<String, usize> {
    let now_ms = ms_now(now);
    let mut counts = BTreeMap::new();
    for item in items.iter().filter(|i| i.overdue(now_ms)) {
        *counts.entry(item.discharge_id.clone()).or_insert(0) += 1;
    }
    counts
}

/// A cohort as the page shows it.
#[derive(Debug, Serialize)]
struct CohortView {
    pathway: String,
    reason: String,
    owner: String,
    anchor: String,
    patients: Vec<CohortRow>,
}

/// One patient of a cohort.
#[derive(Debug, Serialize)]
struct CohortRow {
    id: String,
    last_digits: String,
    site_name: String,
    days_waiting: i64,
    blocking: Option<TaskRow>,
}

/// `GET /discharges/cohorts`: the caller's waiting patients by pathway and
/// why they wait.
pub async fn cohorts_page(State(pages): State<Pages>, caller: Caller) -> Response {
    let principal = match coordinator(
        &pages,
        &caller,
        "/discharges/cohorts",
        "discharge.cohorts",
        "discharges",
    )
    .await
    {
        Ok(principal) => principal,
        Err(response) => return response,
    };
    let (status, body) =
        read(api::list(State(pages.app.clone()), again(&caller, &principal)).await).await;
    if status != StatusCode::OK {
        return refused_page(
            &pages,
            status,
            "The cohorts cannot be shown",
            &error_text(&body),
        );
    }
    let patients: Vec<Patient> =
        serde_json::from_value(body["patients"].clone()).unwrap_or_default();
    let items = match visible_tasks(&pages, &principal).await {
        Ok(items) => items,
        Err(_) => {
            return refused_page(
                &pages,
                StatusCode::SERVICE_UNAVAILABLE,
                "The cohorts cannot be shown",
                "The tasks cannot be read right now. Please try again.",
            );
        }
    };
    let now = pages.app.clock.now();
    let types = &pages.app.config.task_types;
    let waiting: Vec<WaitingPatient> = patients
        .iter()
        .map(|p| WaitingPatient {
            discharge_id: p.discharge_id.clone(),
            pathway: format!("Pathway {}", p.pathway),
            reason: p.delay_reason_label.clone(),
            days_waiting: p.delay_days,
        })
        .collect();
    let groups: Vec<CohortView> = cohorts(&waiting, &items)
        .into_iter()
        .enumerate()
        .map(|(n, cohort)| CohortView {
            anchor: format!("cohort-{}", n + 1),
            owner: cohort
                .owner
                .map_or_else(|| "Nobody yet".to_owned(), |o| o.display),
            patients: cohort
                .patients
                .into_iter()
                .map(|cp| {
                    let patient = patients.iter().find(|p| p.discharge_id == cp.discharge_id);
                    CohortRow {
                        last_digits: patient
                            .and_then(|p| p.nhs_number.rsplit(' ').next())
                            .unwrap_or_default()
                            .to_owned(),
                        site_name: patient.map(|p| p.site_name.clone()).unwrap_or_default(),
                        id: cp.discharge_id,
                        days_waiting: cp.days_waiting,
                        blocking: cp.blocking_task.as_ref().map(|t| row(t, types, now)),
                    }
                })
                .collect(),
            pathway: cohort.pathway,
            reason: cohort.reason,
        })
        .collect();
    pf_web::render(
        pages.templates(),
        "discharge-cohorts.html",
        minijinja::context! {
            cohorts => groups,
            person => principal.name.clone(),
            service_href => "/discharges",
            sign_out_url => pages.app.config.sign_out_url.clone(),
        },
        StatusCode::OK,
    )
}
