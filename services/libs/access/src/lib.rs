//! Who may see and change what: principals, roles scoped to organisations,
//! the authorisation policy, bearer-token sign-in and the built-in demo issuer.
//!
//! Deny by default: a principal with no grant may do nothing, and an action no
//! rule names is refused to everyone.
//!
//! # Layout
//! - [`org`]: [`OdsCode`], [`CqcLocationId`] and [`OrgId`], checked at parse.
//! - [`principal`]: [`Role`], [`Grant`] (a role scoped to organisations),
//!   [`Principal`] (a person or machine and its grants).
//! - [`policy`]: [`Action`], the rules, and [`Principal::permits`] returning a
//!   [`Decision`] whose refusal is a sentence a person understands.
//! - [`token`]: [`TokenVerifier`] checks an OpenID Connect JWT (RS256/ES256;
//!   signature, `iss`, `aud`, `exp`, `nbf`) against an [`IssuerConfig`];
//!   [`TrustedIssuers`] holds several issuers, each with its own rules.
//! - [`claims`]: [`ClaimMapping`] reads subject, name, organisation and roles
//!   from claims, mapping the identity provider's roles to ours by rules
//!   per organisation, read from a mapping file per provider.
//! - `jwks` (private): the issuer's keys, fetched, cached and refreshed.
//! - [`introspection`]: opaque access tokens checked with the issuer (RFC
//!   7662) and completed from its userinfo, answers cached for a minute.
//! - [`local_issuer`]: [`LocalIssuer`], the demo identity provider with demo
//!   users for every role; refused in production.
//! - [`mode`]: [`Mode`] (`PF_MODE`): development or production.
#![forbid(unsafe_code)]

pub mod claims;
pub mod introspection;
mod jwks;
pub mod local_issuer;
pub mod mode;
pub mod org;
pub mod policy;
pub mod principal;
pub mod token;

pub use claims::{ClaimMapping, MappingError, ProviderRole, RoleRule, Userinfo};
pub use introspection::Introspection;
pub use jsonwebtoken::jwk::JwkSet;
pub use local_issuer::{LocalIssuer, LocalIssuerConfig, LocalIssuerError, demo_principals};
pub use mode::Mode;
pub use org::{CqcLocationId, OdsCode, OrgError, OrgId};
pub use policy::{Action, Decision, Refused};
pub use principal::{Grant, GrantError, Principal, PrincipalKind, Role, Scope};
pub use token::{
    ConfigError, IssuerConfig, JwksSource, SigningAlgorithm, TokenError, TokenVerifier,
    TrustedIssuers,
};
