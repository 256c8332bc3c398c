//! Sign-in state and request authentication.
//!
//! People in browsers hold a session (an opaque id in an HttpOnly cookie);
//! people and machines calling APIs present a bearer token (a JWT from the
//! configured identity provider, verified by `pf-access`). Both become a
//! [`Principal`](pf_access::Principal); what it may do is `pf-access`'s policy.
//!
//! # Layout
//! - [`store`]: [`SignInStore`]: sessions with idle and absolute timeouts,
//!   single-use expiring sign-in links, and revocation of a principal (ends
//!   its sessions at once, voids its links for good, and refuses its tokens
//!   until an administrator reinstates it).
//! - [`authenticator`]: [`Authenticator`] reads `Authorization: Bearer` or
//!   the session cookie; [`Authenticated`] is the axum extractor.
//! - [`kiosks`]: control-room wall screens: a registry of kiosks and the
//!   control-room-only principal each signs in as, with a long session.
//! - [`cookie`]: the session cookie's attributes.
//! - [`caller`]: [`Caller`], the extractor every API route starts from:
//!   the principal (or why there is none) and where the request came from.
//! - [`limits`]: [`WriteLimits`], per-identity write and per-address
//!   failed-sign-in rate limits.
//! - [`settings`]: [`SignInSettings`] from the environment (trusted issuer,
//!   Redis) and the authenticator they make.
#![forbid(unsafe_code)]

pub mod authenticator;
pub mod caller;
pub mod cookie;
pub mod kiosks;
pub mod limits;
pub mod settings;
pub mod store;

pub use authenticator::{AuthError, Authenticated, Authenticator};
pub use caller::{Caller, CallerContext, NotSignedIn};
pub use kiosks::Kiosk;
pub use limits::WriteLimits;
pub use settings::{SettingsError, SignInSettings};
pub use store::{LinkPurpose, Session, SessionLifetime, SessionPolicy, SignInStore, StoreError};
