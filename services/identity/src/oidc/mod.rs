//! Staff sign-in in a browser through their organisation's OpenID Connect
//! provider: the authorization-code flow with PKCE (S256), `state` and
//! `nonce`, ending in the same session cookie as every other sign-in.
//!
//! 1. `GET /sign-in/oidc?return_to=…` makes a `state`, a `nonce` and a PKCE
//!    code verifier, keeps them with `return_to` in Redis for 10 minutes
//!    (single use, see [`crate::pending`]), ties them to this browser with
//!    the `pf_oidc` cookie, and sends the person to the provider (303).
//! 2. `GET /sign-in/oidc/callback?code&state` takes the `state` back (once),
//!    checks the browser, exchanges the code with the verifier at the token
//!    endpoint, verifies the ID token (signature from the provider's keys,
//!    `iss`, `aud` = our client id, `exp`, `nonce`), reads the person
//!    through the claim mapping, starts a session and sends them on.
//!
//! Every outcome is recorded in the audit trail as `identity.signed_in`,
//! accepted or refused with the reason.
//!
//! - [`client`]: discovery, code exchange, ID-token checks and userinfo.
//! - [`assertion`]: `private_key_jwt` client authentication, and the
//!   client's public key set (`GET /sign-in/oidc/client-jwks.json`).
//! - [`routes`]: the two routes and their pages.

pub mod assertion;
pub mod client;
pub mod routes;

pub use client::{OidcClient, OidcError};
