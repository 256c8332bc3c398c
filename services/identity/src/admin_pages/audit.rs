//! `/admin/audit`: searching the audit trail by person, organisation, what
//! was acted on, action and dates; paged; exported as CSV or JSON through
//! the audit API (`/api/v1/audit`). Every search is itself recorded. The
//! trail never holds an NHS number, so a search for one is refused with a
//! sentence saying what to search by, rather than answered with nothing.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use pf_audit::guard::contains_nhs_number;
use pf_audit::{AuditError, AuditQuery, AuditRecord, Outcome};
use serde::Serialize;
use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, Duration, OffsetDateTime};

use super::guard;
use super::kiosks::uk;
use crate::admin::AUDIT_READ;
use crate::caller::Source;
use crate::pages;
use crate::sign_in::FormError;
use crate::state::AppState;
use crate::trail;

/// The page's path.
pub const PATH: &str = "/admin/audit";

/// Records a page shows.
pub const PAGE_SIZE: usize = 50;

/// Why a search for an NHS number is refused, and what to search by.
pub const NHS_NUMBER_REFUSED: &str = "The audit trail never holds NHS numbers, so a search for one \
     finds nothing. Search by the patient's discharge record instead: in What was acted on, enter \
     discharge/ and the record's id, the last part of the address of the patient's page on the \
     discharge list (/discharges/…)";

/// A record as the page shows it.
#[derive(Debug, Serialize)]
struct Row {
    at: String,
    actor: String,
    organisation: String,
    action: String,
    entity: String,
    outcome: String,
    service: String,
    address: String,
}

impl Row {
    fn of(record: &AuditRecord) -> Self {
        Self {
            at: uk(record.at.unix_timestamp()),
            actor: if record.actor.id.is_empty() {
                "Nobody signed in".to_owned()
            } else {
                record.actor.id.clone()
            },
            organisation: record.actor.organisation.clone(),
            action: record.action.clone(),
            entity: record.entity.clone(),
            outcome: match &record.outcome {
                Outcome::Accepted => "Accepted".to_owned(),
                Outcome::Attempted => "Attempted".to_owned(),
                Outcome::Refused { reason } => format!("Refused: {reason}"),
            },
            service: record.source.service.clone(),
            address: record.source.ip.clone().unwrap_or_default(),
        }
    }
}

/// A `YYYY-MM-DD` date from the form: the start of that day in the UK.
fn day_start(value: &str) -> Option<OffsetDateTime> {
    let date = Date::parse(value, format_description!("[year]-[month]-[day]")).ok()?;
    let utc = date.midnight().assume_utc();
    // Midnight in the UK is 23:00 UTC the day before in summer time.
    Some(if pf_web::uk_time::hh_mm(utc) == "01:00" {
        utc - Duration::hours(1)
    } else {
        utc
    })
}

/// The search form's fields, trimmed.
#[derive(Debug, Default, Serialize)]
struct Search {
    person: Option<String>,
    organisation: Option<String>,
    entity: Option<String>,
    action: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

impl Search {
    fn read(query: &HashMap<String, String>) -> Self {
        let get = |name: &str| guard::field(query.get(name));
        Self {
            person: get("person"),
            organisation: get("organisation"),
            entity: get("entity"),
            action: get("action"),
            from: get("from"),
            to: get("to"),
        }
    }

    fn is_empty(&self) -> bool {
        self.person.is_none()
            && self.organisation.is_none()
            && self.entity.is_none()
            && self.action.is_none()
            && self.from.is_none()
            && self.to.is_none()
    }

    /// The store's query, or the form's problems.
    fn query(&self) -> Result<AuditQuery, Vec<FormError>> {
        let mut errors = Vec::new();
        // The trail never holds an NHS number (pf-audit refuses records
        // with one), so a search for one would find nothing and read as
        // "nobody did anything to this patient": say so instead.
        for (value, field) in [
            (&self.person, "person"),
            (&self.organisation, "organisation"),
            (&self.entity, "entity"),
        ] {
            if value.as_deref().is_some_and(contains_nhs_number) {
                errors.push(FormError::new(NHS_NUMBER_REFUSED, field));
            }
        }
        let mut date = |value: &Option<String>, field: &str, label: &str| match value {
            None => None,
            Some(v) => {
                let parsed = day_start(v);
                if parsed.is_none() {
                    errors.push(FormError::new(
                        format!("{label} must be a real date, for example 2026-03-31"),
                        field,
                    ));
                }
                parsed
            }
        };
        let from = date(&self.from, "from", "The first day");
        // The whole of the last day.
        let to = date(&self.to, "to", "The last day")
            .map(|t| t + Duration::days(1) - Duration::seconds(1));
        if let (Some(from), Some(to)) = (from, to)
            && from > to
        {
            errors.push(FormError::new(
                "The last day must be the same as or after the first day",
                "to",
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(AuditQuery {
            person: self.person.clone(),
            organisation: self.organisation.clone(),
            entity: self.entity.clone(),
            from,
            to,
            limit: pf_audit::query::MAX_LIMIT,
        })
    }

    /// The export address of the same search through the audit API.
    fn export(&self, format: &str) -> String {
        let mut url = form_urlencoded::Serializer::new(String::new());
        let rfc = |t: Option<OffsetDateTime>| t.and_then(|t| t.format(&Rfc3339).ok());
        if let Some(v) = &self.person {
            url.append_pair("person", v);
        }
        if let Some(v) = &self.organisation {
            url.append_pair("organisation", v);
        }
        if let Some(v) = &self.entity {
            url.append_pair("entity", v);
        }
        if let Some(v) = rfc(self.from.as_deref().and_then(day_start)) {
            url.append_pair("from", &v);
        }
        if let Some(v) = rfc(self
            .to
            .as_deref()
            .and_then(day_start)
            .map(|t| t + Duration::days(1) - Duration::seconds(1)))
        {
            url.append_pair("to", &v);
        }
        url.append_pair("limit", &pf_audit::query::MAX_LIMIT.to_string());
        url.append_pair("format", format);
        format!("/api/v1/audit?{}", url.finish())
    }

    /// This search's page `page` address.
    fn page_link(&self, page: usize) -> String {
        let mut url = form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("person", &self.person),
            ("organisation", &self.organisation),
            ("entity", &self.entity),
            ("action", &self.action),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if let Some(value) = value {
                url.append_pair(name, value);
            }
        }
        url.append_pair("page", &page.to_string());
        format!("{PATH}?{}", url.finish())
    }
}

/// `GET /admin/audit?person=&organisation=&entity=&action=&from=&to=&page=`.
pub async fn show(
    State(app): State<AppState>,
    source: Source,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let admin = match guard::admin(&app, &headers, &source, PATH).await {
        Ok(admin) => admin,
        Err(answer) => return answer,
    };
    let search = Search::read(&query);
    let page_number = query
        .get("page")
        .and_then(|p| p.parse::<usize>().ok())
        .filter(|p| *p >= 1)
        .unwrap_or(1);
    let mut context = json!({
        "nav": "audit",
        "person": admin.principal.name,
        "csrf_token": admin.csrf_token,
        "search": search,
        "searched": !search.is_empty(),
        "errors": [],
        "rows": [],
    });
    if search.is_empty() {
        return pages::render(&app.templates, StatusCode::OK, "admin/audit.html", context);
    }
    let audit_query = match search.query() {
        Ok(q) => q,
        Err(errors) => {
            context["errors"] = json!(errors);
            return pages::render(
                &app.templates,
                StatusCode::UNPROCESSABLE_ENTITY,
                "admin/audit.html",
                context,
            );
        }
    };
    let records = match app.audit.query(&audit_query).await {
        Ok(records) => records,
        Err(err) => {
            if !matches!(err, AuditError::TimedOut) {
                tracing::error!(cause = %err, "audit query failed");
            }
            return guard::refused_page(
                &app,
                StatusCode::SERVICE_UNAVAILABLE,
                "The audit trail cannot be searched right now. Try again in a few minutes.",
            );
        }
    };
    // Who searched the trail is itself recorded; a lost record is logged.
    let _ = trail::accepted(
        &app,
        trail::actor(&admin.principal),
        AUDIT_READ,
        "",
        &source,
    )
    .await;
    // Newest first; the action filter matches a prefix (`discharge.` finds
    // every discharge action).
    let mut matching: Vec<&AuditRecord> = records
        .iter()
        .filter(|r| {
            search
                .action
                .as_deref()
                .is_none_or(|action| r.action.starts_with(action))
        })
        .collect();
    matching.reverse();
    let total = matching.len();
    let pages_count = total.div_ceil(PAGE_SIZE).max(1);
    let page_number = page_number.min(pages_count);
    let rows: Vec<Row> = matching
        .iter()
        .skip((page_number - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .map(|r| Row::of(r))
        .collect();
    context["rows"] = json!(rows);
    context["total"] = json!(total);
    context["truncated"] = json!(records.len() >= pf_audit::query::MAX_LIMIT);
    context["page"] = json!(page_number);
    context["pages"] = json!(pages_count);
    context["previous"] = json!((page_number > 1).then(|| search.page_link(page_number - 1)));
    context["next"] = json!((page_number < pages_count).then(|| search.page_link(page_number + 1)));
    context["csv"] = json!(search.export("csv"));
    context["json"] = json!(search.export("json"));
    pages::render(&app.templates, StatusCode::OK, "admin/audit.html", context)
}
