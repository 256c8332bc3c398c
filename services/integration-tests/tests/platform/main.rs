//! Tests of the platform against real servers: nats-server with JetStream,
//! redis-server, the services in this process (or their binaries as child
//! processes) and the rendered NATS and Redis users. One test binary, so
//! the services are linked once. `scripts/test --quick` runs these and the
//! unit tests; the browsers, the fault suite and the wall soak are in
//! `tests/slow/`.
//!
//! # Layout
//! - [`adt_feed`]: HL7 v2 ADT over MLLP from three vendors' styles to the
//!   live bed state; cancellations, resends, refusals, hostile frames.
//! - [`access`]: who may do what, every demo role, no route left out.
//! - [`access_table`]: what every NATS and Redis user may do and is refused,
//!   with the configuration `scripts/start` and the Helm chart render.
//! - [`audit_trail`]: the audit trail fails closed and holds under a flood.
//! - [`care_homes`]: the vacancy API and form.
//! - [`discharges`]: the discharge list, matching homes, holds, discharges.
//! - [`faults`]: Redis losing the live state while the platform runs.
//! - [`fhir`]: the FHIR R4 API, every answer checked by an independent validator.
//! - [`helm_chart`]: the chart matches what `scripts/start` runs.
//! - [`kiosk`]: a wall screen from setup link to revocation.
//! - [`nats_users`]: each service's NATS user, through JetStream.
//! - [`oidc_provider`]: staff sign in through a real OpenID provider shaped
//!   like NHS CIS2 and like Entra ID, roles from the mapping files only.
//! - [`opel`]: OPEL levels computed live.
//! - [`openapi`]: every JSON API answers as its OpenAPI document says,
//!   hostile input included; every `/api/` route is documented.
//! - [`platform`]: beds end to end, the websocket protocol.
//! - [`redis_users`]: each service's Redis user, through the live state.
//! - [`region`]: the platform on another region's data set.
//! - [`secrets`]: the demo secret and Redis passwords stay where they belong.
//! - [`trends`]: occupancy history.
//! - [`urgent_care`]: ED and ambulance figures on the wall.

mod access;
mod access_table;
mod adt_feed;
mod audit_trail;
mod care_homes;
mod discharges;
mod faults;
mod fhir;
mod helm_chart;
mod kiosk;
mod nats_users;
mod oidc_provider;
mod opel;
mod openapi;
mod platform;
mod redis_users;
mod region;
mod secrets;
mod trends;
mod urgent_care;
