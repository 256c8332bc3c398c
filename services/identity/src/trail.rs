//! Recording into the audit trail from handlers.
//!
//! An action that cannot be audited does not happen: a change is preceded
//! by [`attempt`], which stores the attempt; only then is it made, and its
//! outcome recorded with [`outcome`]. If the attempt cannot be stored the
//! handler answers 503 and changes nothing. Sign-ins, whose outcome is
//! only known after checking, use [`accepted`], which the caller must see
//! succeed before the person is told they are signed in (else 503, and no
//! session is left behind). A refusal is recorded too; if that record
//! cannot be stored the refusal still stands and the failure is logged
//! (never with tokens or secrets).

use pf_access::Principal;
use pf_audit::{Attempt, AuditActor, AuditError, AuditRecord, AuditUnavailable};

use crate::caller::Source;
use crate::state::AppState;

/// The audit actor for a principal.
pub fn actor(principal: &Principal) -> AuditActor {
    AuditActor::of(principal)
}

/// The audit entity of a principal: `kiosk/{id}` for a kiosk's,
/// `person/{id}` for anyone else.
pub fn entity_of(principal: &Principal) -> String {
    match pf_sign_in::kiosks::kiosk_id_of(&principal.id) {
        Some(kiosk) => format!("kiosk/{kiosk}"),
        None => format!("person/{}", principal.id),
    }
}

/// Text from a request made safe to keep as an audit entity: at most 128
/// characters, control characters dropped.
pub fn clip(value: &str) -> String {
    value
        .chars()
        .filter(|c| !c.is_control())
        .take(128)
        .collect()
}

/// Records the attempt at `action` on `entity` before acting; on `Err` the
/// caller answers 503 with the error's sentence and changes nothing.
pub async fn attempt(
    state: &AppState,
    actor: AuditActor,
    action: &str,
    entity: &str,
    source: &Source,
) -> Result<Attempt, AuditUnavailable> {
    let record = AuditRecord::accepted(actor, action, entity, source.audit());
    let result = state.audit.attempt(record).await;
    if result.is_err() {
        state
            .metrics
            .audit_failures
            .with_label_values(&[action])
            .inc();
    }
    result
}

/// Records that an attempt was accepted (the change is made: a failure is
/// logged and counted by `pf-audit`, not returned; the attempt is in the
/// trail).
pub async fn outcome(attempt: Attempt) {
    attempt.accepted(None).await;
}

/// Records an accepted change; the caller answers 503 on error.
pub async fn accepted(
    state: &AppState,
    actor: AuditActor,
    action: &str,
    entity: &str,
    source: &Source,
) -> Result<(), AuditError> {
    accepted_assured(state, actor, action, entity, source, None).await
}

/// [`accepted`], with the assurance level the identity provider gave (a
/// sign-in).
pub async fn accepted_assured(
    state: &AppState,
    actor: AuditActor,
    action: &str,
    entity: &str,
    source: &Source,
    assurance: Option<&str>,
) -> Result<(), AuditError> {
    let record =
        AuditRecord::accepted(actor, action, entity, source.audit()).with_assurance(assurance);
    let result = state.audit.record(record).await.map(|_| ());
    if let Err(err) = &result {
        state
            .metrics
            .audit_failures
            .with_label_values(&[action])
            .inc();
        tracing::error!(action, cause = %err, "could not record an accepted change");
    }
    result
}

/// Records a refusal of access (not signed in, not allowed) within the
/// client's refusal budget; beyond it the refusal is counted into an
/// aggregate record and the caller gets 429 (`ApiError::TooMany`).
pub async fn refused_access(
    state: &AppState,
    actor: AuditActor,
    action: &str,
    entity: &str,
    reason: &str,
    source: &Source,
) -> Result<(), crate::api::ApiError> {
    let record = AuditRecord::refused(actor, action, entity, reason, source.audit());
    state
        .refusals
        .refused(record, pf_audit::RefusalKind::Access)
        .await
        .map_err(|wait| crate::api::ApiError::TooMany(wait.as_secs().max(1)))
}

/// Records a refused attempt; a failure to record is logged, not returned.
pub async fn refused(
    state: &AppState,
    actor: AuditActor,
    action: &str,
    entity: &str,
    reason: &str,
    source: &Source,
) {
    let record = AuditRecord::refused(actor, action, entity, reason, source.audit());
    if let Err(err) = state.audit.record(record).await {
        state
            .metrics
            .audit_failures
            .with_label_values(&[action])
            .inc();
        tracing::warn!(action, cause = %err, "could not record a refused attempt");
    }
}
