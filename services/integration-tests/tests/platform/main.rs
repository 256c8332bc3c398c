//! Tests of the platform against real servers: nats-server with JetStream,
//! redis-server, the services in this process (or their binaries as child
//! processes) and the rendered NATS and Redis users. One test binary, so
//! the services are linked once. `scripts/test --quick` runs these and the
//! unit tests; the browsers, the fault suite and the wall soak are in
//! `tests/slow/`.
//!
//! # Layout
//! - [`alert_thresholds`]: alerts at set thresholds (G&A occupancy, stale
//!   care-home figures) raised once, cleared, on NATS, webhook and wall.
//! - [`adt_feed`]: HL7 v2 ADT over MLLP from three vendors' styles to the
//!   live bed state; cancellations, resends, refusals, hostile frames.
//! - [`access`]: who may do what, every demo role, no route left out.
//! - [`access_table`]: what every NATS and Redis user may do and is refused,
//!   with the configuration `scripts/start` and the Helm chart render.
//! - [`admin_pages`]: a person withdrawn from the administration pages
//!   loses their live feed.
//! - [`audit_trail`]: the audit trail fails closed and holds under a flood.
//! - [`care_homes`]: the vacancy API and form.
//! - [`deploy`]: the NATS cluster configuration for the official chart,
//!   its values, the Redis values (a primary and replicas), and the systemd
//!   units of a one-VM install.
//! - [`discharges`]: the discharge list, matching homes, holds, discharges.
//! - [`faults`]: Redis losing the live state while the platform runs.
//! - [`fhir`]: the FHIR R4 API, every answer checked by an independent validator.
//! - [`helm_chart`]: the chart matches what `scripts/start` runs; `helm lint
//!   --strict`, `helm template` and the Kubernetes schemas for every CI
//!   values file; the chart's fixes and its alert rules (promtool).
//! - [`kiosk`]: a wall screen from setup link to revocation.
//! - [`nats_users`]: each service's NATS user, through JetStream.
//! - [`oidc_provider`]: staff sign in through a real OpenID provider shaped
//!   like NHS CIS2 and like Entra ID, roles from the mapping files only.
//! - [`opel`]: OPEL levels computed live.
//! - [`openapi`]: every JSON API answers as its OpenAPI document says,
//!   hostile input included; every `/api/` route is documented.
//! - [`platform`]: beds end to end, the websocket protocol.
//! - [`pressure_takeover`]: a new pressure copy announces nothing twice.
//! - [`redis_users`]: each service's Redis user, through the live state.
//! - [`region`]: the platform on another region's data set.
//! - [`register`]: the care-home register kept on the administration
//!   pages: changes through JetStream, picked up live, retired homes
//!   refused and gone from matching and the wall, the CQC import.
//! - [`retention`]: an expired patient's NHS number is gone from every
//!   stream and store; replay still rebuilds every count.
//! - [`secrets`]: the demo secret and Redis passwords stay where they belong.
//! - [`tasks`]: discharge tasks and system-call actions: owners, due times,
//!   overdue alerts, who may see and change which item, the actions log.
//! - [`trends`]: occupancy history.
//! - [`uk_clock`]: UK days and BST: the discharge pages count the UK day.
//! - [`urgent_care`]: ED and ambulance figures on the wall.
//! - [`wall_scope`]: the wall shows its own region's sites and care homes only.

mod access;
mod access_table;
mod admin_pages;
mod adt_feed;
mod alert_thresholds;
mod audit_trail;
mod care_homes;
mod deploy;
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
mod pressure_takeover;
mod redis_users;
mod region;
mod register;
mod retention;
mod secrets;
mod tasks;
mod trends;
mod uk_clock;
mod urgent_care;
mod wall_scope;
