//! Adding a patient to the discharge list from the browser, without
//! JavaScript: `GET /discharges/new` shows the NHS.UK form, `POST
//! /discharges/new` checks the session's CSRF token and hands the fields to
//! the JSON API's own handler ([`api::create`]), so the rules, their
//! sentences and the audit record are the API's. A refusal shows the form
//! again with what was typed, an error summary ("There is a problem") and
//! the message beside each field; an accepted patient is opened with a
//! confirmation.

use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use pf_access::{Principal, Role};
use pf_care_home_model::CareCategory;
use pf_discharge_model::DelayReason;
use pf_sign_in::{AuthError, Caller, NotSignedIn};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;

use crate::api;
use crate::pages::{Pages, again, coordinator, error_text, json_headers, not_signed_in, read};

/// The audit trail's action of adding a patient (the API's).
const ADD: &str = "discharge.ready";

/// The add-a-patient form as posted (and as shown again).
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub struct NewPatientForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    nhs_number: String,
    #[serde(default)]
    sex: String,
    #[serde(default)]
    site: String,
    #[serde(default)]
    ward: String,
    #[serde(default)]
    ready_day: String,
    #[serde(default)]
    ready_month: String,
    #[serde(default)]
    ready_year: String,
    #[serde(default)]
    pathway: String,
    #[serde(default)]
    care_needed: String,
    #[serde(default)]
    search_postcode: String,
    #[serde(default)]
    delay_reason: String,
    #[serde(default)]
    needs: String,
}

impl NewPatientForm {
    /// `YYYY-MM-DD` from the three date fields, or what was typed when they
    /// are not numbers (the API then says how to give a date).
    fn ready_date(&self) -> String {
        let (d, m, y) = (
            self.ready_day.trim(),
            self.ready_month.trim(),
            self.ready_year.trim(),
        );
        match (d.parse::<u8>(), m.parse::<u8>(), y.parse::<u16>()) {
            (Ok(d), Ok(m), Ok(y)) => format!("{y:04}-{m:02}-{d:02}"),
            _ if d.is_empty() && m.is_empty() && y.is_empty() => String::new(),
            _ => format!("{y}-{m}-{d}"),
        }
    }

    /// The API's request body.
    fn referral(&self) -> serde_json::Value {
        serde_json::json!({
            "nhs_number": self.nhs_number,
            "sex": self.sex,
            "site": self.site,
            "ward": self.ward,
            "discharge_ready_date": self.ready_date(),
            "pathway": self.pathway,
            "care_needed": self.care_needed,
            "search_postcode": self.search_postcode,
            "delay_reason": self.delay_reason,
            "needs": self.needs,
        })
    }
}

/// A problem with one field: its anchor and its sentence.
#[derive(Debug, Serialize)]
struct Problem {
    field: String,
    href: String,
    message: String,
}

/// The anchor of a field's first input.
fn anchor(field: &str) -> String {
    match field {
        "discharge_ready_date" => "#ready_day".to_owned(),
        other => format!("#{other}"),
    }
}

/// The API's sentence, worded for the form where the API speaks of JSON.
fn form_words(field: &str, message: String) -> String {
    if field == "discharge_ready_date" && message.contains("like 2026-") {
        "Enter the Discharge Ready Date as a real date, for example 27 11 2026".to_owned()
    } else {
        message
    }
}

#[derive(Debug, Serialize)]
struct Choice {
    value: &'static str,
    label: &'static str,
}

#[derive(Debug, Serialize)]
struct SiteChoice {
    value: String,
    label: String,
}

/// The sites of the trusts the coordinator works for.
fn sites(pages: &Pages, principal: &Principal) -> Vec<SiteChoice> {
    let trusts: Vec<String> = principal
        .ods_organisations(Role::DischargeCoordinator)
        .map(|o| o.as_str().to_owned())
        .collect();
    pages
        .app
        .catalogue
        .trusts
        .iter()
        .filter(|t| trusts.contains(&t.code))
        .flat_map(|t| {
            t.sites.iter().map(move |s| SiteChoice {
                value: s.code.as_str().to_owned(),
                label: format!("{} ({})", s.name, t.short_name),
            })
        })
        .collect()
}

fn render(
    pages: &Pages,
    caller: &Caller,
    principal: &Principal,
    form: &NewPatientForm,
    problems: Vec<Problem>,
    status: StatusCode,
) -> Response {
    let reasons: Vec<Choice> = DelayReason::ALL
        .iter()
        .map(|r| Choice {
            value: r.as_str(),
            label: r.label(),
        })
        .collect();
    let categories: Vec<Choice> = CareCategory::ALL
        .iter()
        .map(|c| Choice {
            value: c.as_str(),
            label: c.label(),
        })
        .collect();
    let by_field: std::collections::BTreeMap<String, String> = problems
        .iter()
        .map(|p| (p.field.clone(), p.message.clone()))
        .rev()
        .collect();
    pf_web::render(
        pages.templates(),
        "new-patient.html",
        minijinja::context! {
            form => form,
            errors => problems,
            field_errors => by_field,
            sites => sites(pages, principal),
            reasons => reasons,
            categories => categories,
            example_postcode => pages.app.config.region.example_postcode.clone(),
            csrf => caller.csrf_token.clone().unwrap_or_default(),
            person => principal.name.clone(),
            service_href => "/discharges",
            sign_out_url => pages.app.config.sign_out_url.clone(),
        },
        status,
    )
}

/// `GET /discharges/new`.
pub async fn form_page(State(pages): State<Pages>, caller: Caller) -> Response {
    let principal = match coordinator(&pages, &caller, "/discharges/new", ADD, "discharges").await {
        Ok(principal) => principal,
        Err(response) => return response,
    };
    let form = NewPatientForm {
        delay_reason: DelayReason::NotYetKnown.as_str().to_owned(),
        ..NewPatientForm::default()
    };
    render(
        &pages,
        &caller,
        &principal,
        &form,
        Vec::new(),
        StatusCode::OK,
    )
}

/// `POST /discharges/new`.
pub async fn add(
    State(pages): State<Pages>,
    caller: Caller,
    Form(form): Form<NewPatientForm>,
) -> Response {
    let path = "/discharges/new";
    let principal = match coordinator(&pages, &caller, path, ADD, "discharges").await {
        Ok(principal) => principal,
        Err(response) => return response,
    };
    let expected = caller.csrf_token.as_deref().unwrap_or_default();
    if expected.is_empty() || !bool::from(expected.as_bytes().ct_eq(form.csrf.as_bytes())) {
        let reason = "This form has expired. Reload the page and try again.";
        if pages
            .app
            .audit_refused(&caller, ADD, "discharges", "malformed", reason)
            .await
            .is_err()
        {
            return (StatusCode::TOO_MANY_REQUESTS, pf_audit::TOO_MANY_REFUSALS).into_response();
        }
        let problems = vec![Problem {
            field: "form".into(),
            href: "#nhs_number".into(),
            message: reason.into(),
        }];
        return render(
            &pages,
            &caller,
            &principal,
            &form,
            problems,
            StatusCode::BAD_REQUEST,
        );
    }
    let answer = api::create(
        State(pages.app.clone()),
        again(&caller, &principal),
        json_headers(),
        form.referral().to_string().into(),
    )
    .await;
    let (status, body) = read(answer).await;
    if status == StatusCode::CREATED
        && let Some(id) = body["discharge_id"].as_str()
    {
        let target = format!("/discharges/{}?done=added", pf_web::percent_encode(id));
        return Redirect::to(&target).into_response();
    }
    if status == StatusCode::UNAUTHORIZED {
        return not_signed_in(&pages, NotSignedIn::Auth(&AuthError::SessionEnded), path);
    }
    let listed: Vec<pf_care_home_model::FieldProblem> =
        serde_json::from_value(body["problems"].clone()).unwrap_or_default();
    let problems: Vec<Problem> = if listed.is_empty() {
        vec![Problem {
            field: "form".into(),
            href: "#nhs_number".into(),
            message: error_text(&body),
        }]
    } else {
        listed
            .into_iter()
            .map(|p| Problem {
                href: anchor(&p.field),
                message: form_words(&p.field, p.message),
                field: p.field,
            })
            .collect()
    };
    let shown = if status.is_client_error() {
        status
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    render(&pages, &caller, &principal, &form, problems, shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_date_fields_make_one_date() {
        let form = NewPatientForm {
            ready_day: "7".into(),
            ready_month: "12".into(),
            ready_year: "2026".into(),
            ..NewPatientForm::default()
        };
        assert_eq!(form.ready_date(), "2026-12-07");
        assert_eq!(NewPatientForm::default().ready_date(), "");
        let odd = NewPatientForm {
            ready_day: "x".into(),
            ..NewPatientForm::default()
        };
        assert_eq!(odd.ready_date(), "--x");
        assert_eq!(anchor("discharge_ready_date"), "#ready_day");
    }
}
