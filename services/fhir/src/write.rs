//! Changing a bed's status over FHIR: `PUT` or `PATCH` of a bed's
//! `Location.operationalStatus`.
//!
//! The change goes through the same decisions and stream as the bed API
//! (and the ADT feed): [`pf_bed_log::BedLog`], the same grant
//! (`ChangeBeds` for the bed's trust), the same write limit, and the same
//! audit pattern: the attempt is recorded before the change is made
//! (nothing changes that the audit trail could not record: 503), then the
//! outcome, accepted or refused. `If-Match: W/"version"` makes the change
//! only while the bed is at that version (412 otherwise), checked each time
//! the change is decided.
//!
//! Only `operationalStatus` changes. A `PUT` body is a whole `Location`
//! (as read) whose other elements are the catalogue's and are not taken;
//! a `PATCH` body is a JSON Patch (`application/json-patch+json`) that may
//! only `replace` or `add` `/operationalStatus` or `/operationalStatus/code`.
//! Codes (HL7 v2 table 0116): `U` available, `O` occupied, `H` awaiting
//! clean, `C` closed; `I` (isolated) and `K` (contaminated) close the bed
//! with that reason. Asking for the code the bed already shows changes
//! nothing (a reserved bed shows `U`).
//!
//! Changes need a body of a JSON media type (`application/fhir+json`,
//! `application/json`, or `application/json-patch+json` for `PATCH`): a
//! browser cannot send those from another site without a preflight this
//! server does not answer, so a signed-in session cannot be used across
//! sites.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use pf_access::{Action, OdsCode, Principal, PrincipalKind};
use pf_bed_log::{BedChange, BedChangeError, BedLogError};
use pf_hospital_model::BedState;
use pf_hospital_model::catalogue::CatalogueBed;
use pf_live_state::LiveBed;
use pf_proto::v1::{Actor, ActorKind};
use pf_sign_in::Caller;
use serde_json::Value;
use time::OffsetDateTime;

use crate::api::{AppState, FhirError, Place, fhir_json, places, static_location};
use crate::model::BED_STATUS;
use crate::resources;

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The service's name in events (their source) and the audit trail.
pub const SOURCE: &str = "fhir";
/// The audit trail's action, as the bed API names a state change.
pub const ACTION: &str = "bed.change_state";

/// `PUT /fhir/R4/Location/{id}`: a bed's `Location` with a new
/// `operationalStatus`.
pub async fn put_location(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    change(&state, &caller, &id, &headers, || {
        json_media_type(&headers, &["application/fhir+json", "application/json"])?;
        let resource: Value = serde_json::from_slice(&body)
            .map_err(|e| FhirError::Malformed(format!("the body is not a JSON Location: {e}")))?;
        if resource["resourceType"] != "Location" {
            return Err(FhirError::Malformed(
                "the body must be a Location resource (resourceType \"Location\")".into(),
            ));
        }
        if resource["id"] != Value::String(id.clone()) {
            return Err(FhirError::Malformed(format!(
                "the Location's id must be `{id}`, the id in the address"
            )));
        }
        status_code(&resource["operationalStatus"])
    })
    .await
}

/// `PATCH /fhir/R4/Location/{id}`: a JSON Patch of a bed's
/// `operationalStatus`.
pub async fn patch_location(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    change(&state, &caller, &id, &headers, || {
        json_media_type(&headers, &["application/json-patch+json"])?;
        let patch: Vec<Value> = serde_json::from_slice(&body).map_err(|e| {
            FhirError::Malformed(format!(
                "the body is not a JSON Patch (an array of operations): {e}"
            ))
        })?;
        let mut code = None;
        for operation in &patch {
            let op = operation["op"].as_str().unwrap_or_default();
            let path = operation["path"].as_str().unwrap_or_default();
            match (op, path) {
                ("replace" | "add", "/operationalStatus") => {
                    code = Some(status_code(&operation["value"])?);
                }
                ("replace" | "add", "/operationalStatus/code") => {
                    let value = operation["value"].as_str().ok_or_else(|| {
                        FhirError::Unprocessable(
                            "/operationalStatus/code must be a code such as \"O\"".into(),
                        )
                    })?;
                    code = Some(value.to_owned());
                }
                _ => {
                    return Err(FhirError::Unprocessable(format!(
                        "only a bed's operationalStatus may be changed (`replace` of \
                         /operationalStatus or /operationalStatus/code); `{op}` of `{path}` \
                         is not accepted"
                    )));
                }
            }
        }
        code.ok_or_else(|| {
            FhirError::Unprocessable(
                "the patch changes nothing: replace /operationalStatus/code".into(),
            )
        })
    })
    .await
}

/// Refuses a body whose `Content-Type` is not one of `accepted`.
fn json_media_type(headers: &HeaderMap, accepted: &[&str]) -> Result<(), FhirError> {
    let given = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let essence = given.split(';').next().unwrap_or_default().trim();
    if accepted.iter().any(|a| a.eq_ignore_ascii_case(essence)) {
        Ok(())
    } else {
        Err(FhirError::UnsupportedMediaType(format!(
            "the body must be sent as {} (it was `{given}`)",
            accepted.join(" or ")
        )))
    }
}

/// The 0116 code of an `operationalStatus` coding.
fn status_code(coding: &Value) -> Result<String, FhirError> {
    if coding.is_null() {
        return Err(FhirError::Unprocessable(
            "the Location has no operationalStatus; give one such as \
             {\"system\": \"http://terminology.hl7.org/CodeSystem/v2-0116\", \"code\": \"O\"}"
                .into(),
        ));
    }
    if let Some(system) = coding.get("system").and_then(Value::as_str)
        && system != BED_STATUS
    {
        return Err(FhirError::Unprocessable(format!(
            "operationalStatus must be coded in {BED_STATUS}, not `{system}`"
        )));
    }
    coding
        .get("code")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| FhirError::Unprocessable("operationalStatus has no code".into()))
}

/// The bed state a 0116 code asks for, and the reason recorded.
pub fn state_of(code: &str) -> Result<(BedState, &'static str), FhirError> {
    Ok(match code {
        "U" => (BedState::Available, "FHIR operationalStatus U (unoccupied)"),
        "O" => (BedState::Occupied, "FHIR operationalStatus O (occupied)"),
        "H" => (
            BedState::AwaitingClean,
            "FHIR operationalStatus H (housekeeping)",
        ),
        "C" => (BedState::Closed, "FHIR operationalStatus C (closed)"),
        "I" => (BedState::Closed, "FHIR operationalStatus I (isolated)"),
        "K" => (BedState::Closed, "FHIR operationalStatus K (contaminated)"),
        other => {
            return Err(FhirError::Unprocessable(format!(
                "`{other}` is not a bed status this server records; use one of U, O, H, C, I, K \
                 (HL7 v2 table 0116)"
            )));
        }
    })
}

/// The version named by `If-Match` (`W/"3"` or `"3"`), if any.
fn if_match(headers: &HeaderMap) -> Result<Option<u64>, FhirError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    let tag = text.strip_prefix("W/").unwrap_or(text);
    tag.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .and_then(|v| v.parse().ok())
        .map(Some)
        .ok_or_else(|| {
            FhirError::Malformed(format!(
                "If-Match `{text}` is not a version tag such as W/\"3\" (the bed's meta.versionId)"
            ))
        })
}

/// The bed a Location id names, or why it cannot be changed.
fn bed_of(state: &AppState, id: &str) -> Result<(CatalogueBed, OdsCode), FhirError> {
    let found = places(&state.catalogue)
        .into_iter()
        .find(|p| static_location(p).id == id);
    match found {
        Some(Place::Bed(trust, _, _, bed)) => {
            let trust = OdsCode::parse(&trust.code)
                .map_err(|_| FhirError::NotFound(format!("bed {id} belongs to no known trust")))?;
            Ok((bed, trust))
        }
        Some(_) => Err(FhirError::Unprocessable(format!(
            "Location {id} is a site or ward: only a bed's operationalStatus can be changed"
        ))),
        None => Err(FhirError::NotFound(format!(
            "there is no Location with id `{id}`"
        ))),
    }
}

fn actor_of(principal: &Principal) -> Actor {
    Actor {
        id: principal.id.clone(),
        organisation: principal
            .organisation
            .as_ref()
            .map(|o| o.as_str().to_owned())
            .unwrap_or_default(),
        kind: match principal.kind {
            PrincipalKind::Person => ActorKind::Person,
            PrincipalKind::Machine => ActorKind::Machine,
        } as i32,
    }
}

impl From<BedLogError> for FhirError {
    fn from(err: BedLogError) -> Self {
        match err {
            BedLogError::Refused(refused @ BedChangeError::VersionMismatch { .. }) => {
                FhirError::PreconditionFailed(refused.to_string())
            }
            BedLogError::Refused(refused) => FhirError::Conflict(refused.to_string()),
            BedLogError::Contended(bed) => FhirError::Conflict(format!(
                "bed {bed} was changed by someone else at the same moment; read it and try again"
            )),
            BedLogError::Unavailable(cause) => FhirError::NotSaved(format!(
                "the change could not be confirmed as saved, so it may not have been recorded; \
                 please try again ({cause})"
            )),
        }
    }
}

/// One change of a bed's status, whose 0116 code `read_code` takes from the
/// request: checked (signed in, write limit, grant, If-Match), the attempt
/// audited, made through the bed log, the outcome audited.
async fn change(
    state: &AppState,
    caller: &Caller,
    id: &str,
    headers: &HeaderMap,
    read_code: impl FnOnce() -> Result<String, FhirError>,
) -> Response {
    let entity = entity(state, id);
    let result = async {
        let principal = caller.principal()?;
        state
            .limits
            .write(&principal.id)
            .map_err(|wait| FhirError::TooMany(wait.as_secs().max(1)))?;
        let (bed, trust) = bed_of(state, id)?;
        principal
            .permits(&Action::ChangeBeds { trust })
            .require()
            .map_err(|refused| FhirError::Forbidden(refused.to_string()))?;
        let expected = if_match(headers)?;
        let code = read_code()?;
        let (wanted, reason) = state_of(&code)?;
        let (record, _) = state.beds.current(&bed).await?;
        if let Some(expected) = expected
            && expected != record.version
        {
            return Err(FhirError::from(BedLogError::Refused(
                BedChangeError::VersionMismatch {
                    bed: bed.address.to_string(),
                    expected,
                    current: record.version,
                },
            )));
        }
        // The code it already shows: nothing to change.
        if let (true, Some(current)) = (record.open, record.state)
            && resources::bed_status(current).code == resources::bed_status(wanted).code
            && !matches!(code.as_str(), "I" | "K")
        {
            let live = LiveBed {
                version: record.version,
                open: true,
                state: Some(current),
                occurred_at_ms: record
                    .occurred_at
                    .map(|at| (at.unix_timestamp_nanos() / 1_000_000) as i64)
                    .unwrap_or_default(),
            };
            return Ok((bed, live, None));
        }
        state
            .audit
            .attempt(caller.accepted(ACTION, &entity))
            .await
            .map(pf_audit::Attempt::outcome_recorded_elsewhere)
            .map_err(|e| FhirError::NotSaved(e.to_string()))?;
        let changed = state
            .beds
            .change_at_version(
                &bed,
                BedChange::SetState {
                    state: wanted,
                    reason: reason.to_owned(),
                },
                actor_of(principal),
                None,
                SOURCE,
                expected,
            )
            .await?;
        let live = LiveBed {
            version: changed.entity_version,
            open: changed.state.is_some(),
            state: changed.state,
            occurred_at_ms: (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64,
        };
        Ok((bed, live, Some(changed.event_id)))
    }
    .await;
    match result {
        Ok((bed, live, event_id)) => {
            if let Some(event_id) = event_id {
                let record = caller.accepted(ACTION, &entity).with_event_id(event_id);
                if let Err(err) = state.audit.record(record).await {
                    tracing::error!(cause = %err, "an accepted change could not be written to the audit trail");
                }
            }
            state.metrics.served.with_label_values(&["Location"]).inc();
            respond(state, &bed, &live)
        }
        Err(err) => {
            state
                .metrics
                .refused
                .with_label_values(&[err.reason_label()])
                .inc();
            let record = caller.refused(ACTION, &entity, &err.to_string());
            let kind = pf_audit::RefusalKind::of_label(err.reason_label());
            if let Err(wait) = state.refusals.refused(record, kind).await {
                return FhirError::TooMany(wait.as_secs().max(1)).into_response();
            }
            err.into_response()
        }
    }
}

/// The audit trail's name for the bed a Location id names (only
/// well-formed bed ids are repeated).
fn entity(state: &AppState, id: &str) -> String {
    match bed_of(state, id) {
        Ok((bed, _)) => bed.address.entity_id(),
        Err(_) => "bed/invalid".to_owned(),
    }
}

/// The changed bed's Location, with its version as the ETag.
fn respond(state: &AppState, bed: &CatalogueBed, live: &LiveBed) -> Response {
    let location = state
        .catalogue
        .site(&bed.address.site)
        .and_then(|(trust, site)| {
            let ward = site.wards.iter().find(|w| w.code == bed.address.ward)?;
            Some(resources::bed_location(trust, site, ward, bed, Some(live)))
        });
    let Some(location) = location else {
        return FhirError::NotFound("the bed is no longer in the catalogue".into()).into_response();
    };
    let mut response = fhir_json(StatusCode::OK, &location);
    if let Ok(tag) = HeaderValue::from_str(&format!("W/\"{}\"", live.version)) {
        response.headers_mut().insert(header::ETAG, tag);
    }
    response
}
