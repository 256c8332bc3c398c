//! Recording into the audit trail from handlers.
//!
//! An accepted change is recorded before the person is told it succeeded;
//! if the record cannot be stored the handler answers 503. A refusal is
//! recorded too; if that record cannot be stored the refusal still stands
//! and the failure is logged (never with tokens or secrets).

use pf_access::Principal;
use pf_audit::{AuditActor, AuditError, AuditRecord};

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

/// Records an accepted change; the caller answers 503 on error.
pub async fn accepted(
    state: &AppState,
    actor: AuditActor,
    action: &str,
    entity: &str,
    source: &Source,
) -> Result<(), AuditError> {
    let record = AuditRecord::accepted(actor, action, entity, source.audit());
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
