//! What the identity service counts.

use prometheus::{IntCounterVec, Opts, Registry};

/// The identity service's metrics.
#[derive(Clone)]
pub struct IdentityMetrics {
    /// `pf_identity_tokens_total{outcome}`: client-credentials requests
    /// (`issued`, `invalid_client`, `invalid_request`, `rate_limited`, ...).
    pub tokens: IntCounterVec,
    /// `pf_identity_sign_ins_total{method,outcome}`: browser sign-ins by
    /// method (`demo`, `link`, `kiosk`, `oidc`) and outcome (`accepted`, `refused`).
    pub sign_ins: IntCounterVec,
    /// `pf_identity_rate_limited_total{limit}`: requests refused by a rate
    /// limit (`address`, `client`).
    pub rate_limited: IntCounterVec,
    /// `pf_identity_audit_failures_total`: audit records that could not be
    /// stored (the request was answered 503, or the refusal only logged).
    pub audit_failures: IntCounterVec,
}

impl IdentityMetrics {
    /// Registers the metrics.
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let tokens = IntCounterVec::new(
            Opts::new("pf_identity_tokens_total", "Token requests by outcome"),
            &["outcome"],
        )?;
        let sign_ins = IntCounterVec::new(
            Opts::new(
                "pf_identity_sign_ins_total",
                "Browser sign-ins by method and outcome",
            ),
            &["method", "outcome"],
        )?;
        let rate_limited = IntCounterVec::new(
            Opts::new(
                "pf_identity_rate_limited_total",
                "Requests refused by a rate limit",
            ),
            &["limit"],
        )?;
        let audit_failures = IntCounterVec::new(
            Opts::new(
                "pf_identity_audit_failures_total",
                "Audit records that could not be stored, by action",
            ),
            &["action"],
        )?;
        registry.register(Box::new(tokens.clone()))?;
        registry.register(Box::new(sign_ins.clone()))?;
        registry.register(Box::new(rate_limited.clone()))?;
        registry.register(Box::new(audit_failures.clone()))?;
        Ok(Self {
            tokens,
            sign_ins,
            rate_limited,
            audit_failures,
        })
    }
}
