//! The access table: for every NATS user and every Redis user that
//! `scripts/start` and the Helm chart render, what it may do and what it is
//! refused, run against a real nats-server and redis-server started with
//! exactly those rendered files, signed in with those users' credentials.
//!
//! The table cannot drift from the configuration:
//! - every user rendered has rows, and every row's user is rendered;
//! - every permission (each NATS allow entry, each Redis key pattern,
//!   command and command category granted) is exercised by at least one
//!   row that the real server allows;
//! - every NATS row agrees with the rendered permissions before it runs, and
//!   every row, NATS or Redis, is then run for real.
//!
//! Rows marked as attacks are the trust-boundary findings this table was
//! built for (forged sessions, reading other services' replies, shrinking
//! the audit trail, listing session ids).

#![allow(clippy::unwrap_used)] // test code: a failure should stop the test loudly

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::StreamExt as _;
use pf_event_log::NatsSettings;
use pf_integration_tests::rendered_access::{
    self, NatsUser, RedisUser, Rendered, key_matches, subject_matches,
};
use pf_test_support::{NatsServer, RedisServer};

/// Allowed or refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Allowed,
    Refused,
}
use Expect::{Allowed, Refused};

/// Publish or subscribe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Pub,
    Sub,
}

/// One row of the NATS table.
#[derive(Debug, Clone)]
struct NatsRow {
    user: &'static str,
    op: Op,
    subject: String,
    expect: Expect,
    why: &'static str,
}

/// The platform's NATS users that are services (each has its own inbox).
const SERVICE_USERS: [&str; 15] = [
    "hospital-beds",
    "adt-feed",
    "fhir",
    "projection",
    "care-homes",
    "discharges",
    "gateway",
    "pressure",
    "identity",
    "streams",
    "loadtest",
    "tasks",
    "urgent-care",
    "forecast",
    "simulator-history",
];

/// Every stream of the platform.
const STREAMS: [&str; 10] = [
    "PF_BEDS",
    "PF_CARE_HOMES",
    "PF_DISCHARGES",
    "PF_TASKS",
    "PF_URGENT_CARE",
    "PF_DEAD_LETTERS",
    "PF_SYSTEM",
    "PF_ALERTS",
    "PF_AUDIT",
    "KV_pf-leases",
];

fn row(user: &'static str, op: Op, subject: &str, expect: Expect, why: &'static str) -> NatsRow {
    NatsRow {
        user,
        op,
        subject: subject.to_owned(),
        expect,
        why,
    }
}

/// The NATS table.
#[rustfmt::skip]
fn nats_rows() -> Vec<NatsRow> {
    use Op::{Pub, Sub};
    let mut rows = vec![
        // hospital-beds: bed events and its audit records.
        row("hospital-beds", Pub, "pf.beds.RWEAA.WD1.B01", Allowed, "publishes bed events"),
        row("hospital-beds", Pub, "pf.audit.RWE.idt-1", Allowed, "records what it accepted"),
        row("hospital-beds", Pub, "$JS.API.STREAM.INFO.PF_BEDS", Allowed, "waits for its stream"),
        row("hospital-beds", Pub, "$JS.API.STREAM.INFO.PF_AUDIT", Allowed, "waits for the audit stream"),
        row("hospital-beds", Pub, "$JS.API.STREAM.MSG.GET.PF_BEDS", Allowed, "reads a bed's newest event"),
        row("hospital-beds", Pub, "pf.care-homes.1-000000001", Refused, "another service's events"),
        row("hospital-beds", Pub, "pf.deadletter.PF_BEDS", Refused, "dead letters are the projection's"),
        row("hospital-beds", Pub, "$JS.API.CONSUMER.CREATE.PF_BEDS", Refused, "cannot read a stream through a consumer"),
        row("hospital-beds", Pub, "$JS.API.STREAM.INFO.PF_DISCHARGES", Refused, "a stream it does not use"),
        // adt-feed: bed events from hospital ADT feeds; parks what it refuses.
        row("adt-feed", Pub, "pf.beds.RWEAA.WD1.B01", Allowed, "publishes bed events from ADT messages"),
        row("adt-feed", Pub, "pf.deadletter.adt", Allowed, "parks a refused ADT message with its reason"),
        row("adt-feed", Pub, "$JS.API.STREAM.INFO.PF_BEDS", Allowed, "waits for the bed stream"),
        row("adt-feed", Pub, "$JS.API.STREAM.INFO.PF_DEAD_LETTERS", Allowed, "waits for the dead-letter stream"),
        row("adt-feed", Pub, "$JS.API.STREAM.MSG.GET.PF_BEDS", Allowed, "reads a bed's newest event"),
        row("adt-feed", Pub, "pf.deadletter.PF_BEDS", Refused, "parks only its own refusals"),
        row("adt-feed", Pub, "pf.discharges.0190", Refused, "attack: a feed credential forging patients' events"),
        row("adt-feed", Pub, "pf.audit.RWE.idt-1", Refused, "writes no audit records"),
        row("adt-feed", Pub, "$JS.API.STREAM.MSG.GET.PF_DISCHARGES", Refused, "cannot read patients' events"),
        row("adt-feed", Pub, "$JS.API.CONSUMER.CREATE.PF_BEDS", Refused, "cannot read a stream through a consumer"),
        // fhir: a bed's status changed over FHIR, through the bed log; its audit records.
        row("fhir", Pub, "pf.beds.RWEAA.WD1.B01", Allowed, "publishes bed events (PUT/PATCH of a bed's status)"),
        row("fhir", Pub, "pf.audit.RWE.idt-1", Allowed, "records what it accepted and refused"),
        row("fhir", Pub, "$JS.API.STREAM.INFO.PF_BEDS", Allowed, "waits for the bed stream"),
        row("fhir", Pub, "$JS.API.STREAM.INFO.PF_AUDIT", Allowed, "waits for the audit stream"),
        row("fhir", Pub, "$JS.API.STREAM.MSG.GET.PF_BEDS", Allowed, "reads a bed's newest event"),
        row("fhir", Pub, "pf.care-homes.1-000000001", Refused, "changes no care home"),
        row("fhir", Pub, "pf.discharges.0190", Refused, "attack: forging a patient's event"),
        row("fhir", Pub, "$JS.API.STREAM.MSG.GET.PF_DISCHARGES", Refused, "attack: reading a patient's event"),
        row("fhir", Pub, "$JS.API.CONSUMER.CREATE.PF_BEDS", Refused, "cannot read a stream through a consumer"),
        row("fhir", Pub, "pf.system.opel.system", Refused, "cannot forge an OPEL level"),
        // projection: reads the event streams, parks dead letters.
        row("projection", Pub, "pf.deadletter.PF_BEDS", Allowed, "parks an event it cannot use"),
        row("projection", Pub, "pf.beds.RWEAA.WD1.B01", Refused, "cannot forge a bed event"),
        row("projection", Pub, "pf.audit.RWE.idt-1", Refused, "writes no audit records"),
        row("projection", Pub, "$JS.API.CONSUMER.CREATE.PF_AUDIT", Refused, "cannot read the audit trail"),
        row("projection", Pub, "$JS.API.STREAM.INFO.PF_DEAD_LETTERS", Allowed, "waits for the dead-letter stream"),
        // care-homes: vacancy events.
        row("care-homes", Pub, "pf.care-homes.1-000000001", Allowed, "publishes vacancy events"),
        row("care-homes", Pub, "pf.audit.1-000000001.editor", Allowed, "records what it accepted"),
        row("care-homes", Pub, "$JS.API.STREAM.INFO.PF_CARE_HOMES", Allowed, "waits for its stream"),
        row("care-homes", Pub, "$JS.API.STREAM.INFO.PF_AUDIT", Allowed, "waits for the audit stream"),
        row("care-homes", Pub, "$JS.API.STREAM.MSG.GET.PF_CARE_HOMES", Allowed, "reads a home's newest event"),
        row("care-homes", Pub, "$JS.API.CONSUMER.CREATE.PF_CARE_HOMES", Allowed, "follows the register's changes (2.9)"),
        row("care-homes", Pub, "$JS.API.CONSUMER.CREATE.PF_CARE_HOMES.c1.pf_care_homes_x", Allowed, "follows the register's changes (2.10+)"),
        row("care-homes", Pub, "$JS.API.CONSUMER.MSG.NEXT.PF_CARE_HOMES.c1", Allowed, "pulls the homes' newest events"),
        row("care-homes", Pub, "$JS.FC.PF_CARE_HOMES.c1", Allowed, "answers flow control"),
        row("care-homes", Pub, "$JS.API.CONSUMER.DURABLE.CREATE.PF_CARE_HOMES.x", Refused, "leaves no durable consumer behind"),
        row("care-homes", Pub, "$JS.API.CONSUMER.DELETE.PF_CARE_HOMES.projection", Refused, "attack: deleting the projection's consumer"),
        row("care-homes", Pub, "$JS.API.CONSUMER.INFO.PF_CARE_HOMES.projection", Refused, "reads nothing of other consumers"),
        row("care-homes", Pub, "$JS.ACK.PF_CARE_HOMES.pf-projection.1.1.1.0.0", Refused, "attack: acknowledging the projection's deliveries"),
        row("care-homes", Pub, "pf.discharges.0190", Refused, "another service's events"),
        row("care-homes", Pub, "$JS.API.STREAM.MSG.GET.PF_DISCHARGES", Refused, "cannot read patients' events"),
        // discharges: discharge events and holds (care-home events).
        row("discharges", Pub, "pf.discharges.0190", Allowed, "publishes discharge events"),
        row("discharges", Pub, "pf.care-homes.1-000000001", Allowed, "holds a bed (a care-home event)"),
        row("discharges", Pub, "pf.audit.RWE.idt-1", Allowed, "records what it accepted"),
        row("discharges", Pub, "$JS.API.STREAM.INFO.PF_DISCHARGES", Allowed, "waits for its stream"),
        row("discharges", Pub, "$JS.API.STREAM.INFO.PF_CARE_HOMES", Allowed, "waits for the care-home stream"),
        row("discharges", Pub, "$JS.API.STREAM.INFO.PF_AUDIT", Allowed, "waits for the audit stream"),
        row("discharges", Pub, "$JS.API.STREAM.MSG.GET.PF_DISCHARGES", Allowed, "reads a patient's newest event"),
        row("discharges", Pub, "$JS.API.STREAM.MSG.GET.PF_CARE_HOMES", Allowed, "reads a home's newest event"),
        row("discharges", Pub, "pf.beds.RWEAA.WD1.B01", Refused, "another service's events"),
        row("discharges", Pub, "pf.system.opel.system", Refused, "OPEL levels are pressure's"),
        // tasks: task, action and team-register events; the overdue alert.
        row("tasks", Pub, "pf.tasks.items.0190", Allowed, "publishes task and action events"),
        row("tasks", Pub, "pf.tasks.teams.RWE", Allowed, "publishes team registers"),
        row("tasks", Pub, "pf.audit.RWE.idt-1", Allowed, "records what it accepted"),
        row("tasks", Pub, "pf.alerts.action_overdue", Allowed, "raises the overdue-action alert"),
        row("tasks", Pub, "$JS.API.STREAM.INFO.PF_TASKS", Allowed, "waits for its stream"),
        row("tasks", Pub, "$JS.API.STREAM.INFO.PF_ALERTS", Allowed, "waits for the alert stream"),
        row("tasks", Pub, "$JS.API.STREAM.INFO.PF_AUDIT", Allowed, "waits for the audit stream"),
        row("tasks", Pub, "$JS.API.STREAM.MSG.GET.PF_TASKS", Allowed, "reads an item's newest event"),
        row("tasks", Pub, "$JS.API.CONSUMER.CREATE.PF_ALERTS", Allowed, "reads back the overdue alerts it raised (2.9)"),
        row("tasks", Pub, "$JS.API.CONSUMER.CREATE.PF_ALERTS.reader.pf_alerts_action_overdue", Allowed, "reads back the overdue alerts it raised (2.10+)"),
        row("tasks", Pub, "$JS.API.CONSUMER.MSG.NEXT.PF_ALERTS.reader", Allowed, "reads back the overdue alerts it raised"),
        row("tasks", Pub, "$JS.API.CONSUMER.CREATE.PF_TASKS.reader", Refused, "consumes no event stream"),
        row("tasks", Pub, "$JS.API.STREAM.PURGE.PF_ALERTS", Refused, "cannot remove alerts"),
        row("tasks", Pub, "pf.alerts.opel_level_changed", Refused, "cannot forge another kind of alert"),
        row("tasks", Pub, "pf.discharges.0190", Refused, "another service's events"),
        row("tasks", Pub, "$JS.API.STREAM.MSG.GET.PF_DISCHARGES", Refused, "cannot read patients' events"),
        row("tasks", Pub, "pf.system.opel.system", Refused, "OPEL levels are pressure's"),
        row("gateway", Pub, "pf.tasks.items.0190", Refused, "cannot forge a task or action"),
        // urgent-care: ED attendance and ambulance arrival events, and its
        // audit records.
        row("urgent-care", Pub, "pf.urgent-care.ed.RWEAA.att-1", Allowed, "publishes ED attendance events"),
        row("urgent-care", Pub, "pf.urgent-care.ambulance.RWEAA.veh-1", Allowed, "publishes ambulance arrival events"),
        row("urgent-care", Pub, "pf.audit.RWE.idt-1", Allowed, "records what it accepted"),
        row("urgent-care", Pub, "$JS.API.STREAM.INFO.PF_URGENT_CARE", Allowed, "waits for its stream"),
        row("urgent-care", Pub, "$JS.API.STREAM.INFO.PF_AUDIT", Allowed, "waits for the audit stream"),
        row("urgent-care", Pub, "$JS.API.STREAM.MSG.GET.PF_URGENT_CARE", Allowed, "reads a record's newest event"),
        row("urgent-care", Pub, "pf.beds.RWEAA.WD1.B01", Refused, "another service's events"),
        row("urgent-care", Pub, "$JS.API.CONSUMER.CREATE.PF_URGENT_CARE", Refused, "cannot read a stream through a consumer"),
        row("urgent-care", Pub, "$JS.API.STREAM.MSG.GET.PF_DISCHARGES", Refused, "cannot read patients' events"),
        row("urgent-care", Pub, "pf.system.opel.system", Refused, "OPEL levels are pressure's"),
        row("hospital-beds", Pub, "pf.urgent-care.ed.RWEAA.att-1", Refused, "cannot forge an ED attendance"),
        // gateway: audit records of refusals, follows OPEL and alerts.
        row("gateway", Pub, "pf.audit._.anonymous", Allowed, "records refused attempts"),
        row("gateway", Pub, "$JS.API.STREAM.INFO.PF_AUDIT", Allowed, "waits for the audit stream"),
        row("gateway", Pub, "$JS.API.STREAM.INFO.PF_SYSTEM", Allowed, "follows OPEL levels"),
        row("gateway", Pub, "$JS.API.STREAM.INFO.PF_ALERTS", Allowed, "follows alerts"),
        row("gateway", Pub, "$JS.API.CONSUMER.CREATE.PF_SYSTEM", Allowed, "an ordered consumer (2.9)"),
        row("gateway", Pub, "$JS.API.CONSUMER.CREATE.PF_SYSTEM.c1.pf_system_opel", Allowed, "an ordered consumer (2.10+)"),
        row("gateway", Pub, "$JS.API.CONSUMER.MSG.NEXT.PF_SYSTEM.c1", Allowed, "pulls OPEL levels"),
        row("gateway", Pub, "$JS.API.CONSUMER.CREATE.PF_ALERTS", Allowed, "an ordered consumer (2.9)"),
        row("gateway", Pub, "$JS.API.CONSUMER.CREATE.PF_ALERTS.c1.pf_alerts", Allowed, "an ordered consumer (2.10+)"),
        row("gateway", Pub, "$JS.API.CONSUMER.MSG.NEXT.PF_ALERTS.c1", Allowed, "pulls alerts"),
        row("gateway", Pub, "$JS.FC.PF_SYSTEM.c1", Allowed, "answers flow control"),
        row("gateway", Pub, "$JS.API.CONSUMER.CREATE.PF_DISCHARGES", Refused, "attack: reading patients' events from the internet-facing service"),
        row("gateway", Pub, "$JS.API.STREAM.MSG.GET.PF_DISCHARGES", Refused, "attack: reading a patient's event"),
        row("gateway", Pub, "pf.system.opel.system", Refused, "cannot forge an OPEL level"),
        row("gateway", Pub, "pf.alerts.opel_level_changed", Refused, "cannot forge an alert"),
        // pressure: OPEL levels and alerts.
        row("pressure", Pub, "pf.system.opel.RWEAA", Allowed, "publishes OPEL levels"),
        row("pressure", Pub, "pf.alerts.opel_level_changed", Allowed, "raises alerts"),
        row("pressure", Pub, "$JS.API.STREAM.INFO.PF_SYSTEM", Allowed, "waits for its streams"),
        row("pressure", Pub, "$JS.API.STREAM.INFO.PF_ALERTS", Allowed, "waits for its streams"),
        row("pressure", Pub, "$JS.API.STREAM.MSG.GET.PF_SYSTEM", Allowed, "reads a scope's last level"),
        row("pressure", Pub, "$JS.API.CONSUMER.CREATE.PF_ALERTS", Allowed, "reads the alerts already raised (2.9)"),
        row("pressure", Pub, "$JS.API.CONSUMER.CREATE.PF_ALERTS.c1.pf_alerts_occupancy_threshold", Allowed, "reads the alerts already raised (2.10+)"),
        row("pressure", Pub, "$JS.API.CONSUMER.MSG.NEXT.PF_ALERTS.c1", Allowed, "pulls the alerts already raised"),
        row("pressure", Pub, "$JS.API.CONSUMER.CREATE.PF_BEDS", Refused, "reads no event stream"),
        row("pressure", Pub, "pf.audit.RWE.idt-1", Refused, "writes no audit records"),
        row("pressure", Pub, "$JS.API.CONSUMER.CREATE.PF_DISCHARGES", Refused, "cannot read patients' events"),
        // forecast: reads the event streams from their start, raises forecast alerts.
        row("forecast", Pub, "pf.alerts.forecast_occupancy_threshold", Allowed, "raises forecast occupancy alerts"),
        row("forecast", Pub, "pf.alerts.forecast_opel_level", Allowed, "raises forecast OPEL alerts"),
        row("forecast", Pub, "$JS.API.STREAM.INFO.PF_ALERTS", Allowed, "waits for the alert stream"),
        row("forecast", Pub, "$JS.FC.PF_BEDS.c1", Allowed, "answers flow control"),
        row("forecast", Pub, "pf.alerts.opel_level_changed", Refused, "cannot forge pressure's alerts"),
        row("forecast", Pub, "pf.beds.RWEAA.WD1.B01", Refused, "attack: changing a bed from the forecaster"),
        row("forecast", Pub, "pf.system.opel.system", Refused, "OPEL levels are pressure's"),
        row("forecast", Pub, "$JS.ACK.PF_BEDS.pf-projection.1.1.1.0.0", Refused, "attack: acknowledging the projection's deliveries"),
        row("forecast", Pub, "$JS.API.CONSUMER.CREATE.PF_AUDIT", Refused, "cannot read the audit trail"),
        row("forecast", Pub, "pf.audit.RWE.idt-1", Refused, "writes no audit records"),
        // simulator-history: synthetic history into a fresh platform's event streams.
        row("simulator-history", Pub, "pf.beds.RWEAA.WD1.B01", Allowed, "writes synthetic bed history"),
        row("simulator-history", Pub, "pf.care-homes.1-000000001", Allowed, "writes synthetic care-home history"),
        row("simulator-history", Pub, "pf.discharges.0190", Allowed, "writes synthetic discharge history"),
        row("simulator-history", Pub, "$JS.API.STREAM.INFO.PF_BEDS", Allowed, "checks the stream is empty"),
        row("simulator-history", Pub, "$JS.API.STREAM.INFO.PF_CARE_HOMES", Allowed, "checks the stream is empty"),
        row("simulator-history", Pub, "$JS.API.STREAM.INFO.PF_DISCHARGES", Allowed, "checks the stream is empty"),
        row("simulator-history", Pub, "pf.audit.RWE.idt-1", Refused, "writes no audit records (no person acted)"),
        row("simulator-history", Pub, "pf.system.opel.system", Refused, "OPEL levels are pressure's"),
        row("simulator-history", Pub, "$JS.API.CONSUMER.CREATE.PF_DISCHARGES", Refused, "reads nothing"),
        // identity: audit records and reading the trail.
        row("identity", Pub, "pf.audit.RWE.admin-1", Allowed, "records what it accepted"),
        row("identity", Pub, "$JS.API.STREAM.INFO.PF_AUDIT", Allowed, "waits for the audit stream"),
        row("identity", Pub, "$JS.API.CONSUMER.CREATE.PF_AUDIT", Allowed, "reads the trail for administrators (2.9)"),
        row("identity", Pub, "$JS.API.CONSUMER.CREATE.PF_AUDIT.c1.pf_audit_RWE_x", Allowed, "reads the trail (2.10+)"),
        row("identity", Pub, "$JS.API.CONSUMER.MSG.NEXT.PF_AUDIT.c1", Allowed, "pulls audit records"),
        row("identity", Pub, "$JS.FC.PF_AUDIT.c1", Allowed, "answers flow control"),
        row("identity", Pub, "pf.care-homes.1-000000001", Allowed, "adds, edits and retires care homes (administration pages)"),
        row("identity", Pub, "$JS.API.STREAM.INFO.PF_CARE_HOMES", Allowed, "reads the care-home stream's state"),
        row("identity", Pub, "$JS.API.STREAM.MSG.GET.PF_CARE_HOMES", Allowed, "reads a home's newest event before changing it"),
        row("identity", Pub, "$JS.API.CONSUMER.CREATE.PF_CARE_HOMES", Allowed, "reads the register (2.9)"),
        row("identity", Pub, "$JS.API.CONSUMER.CREATE.PF_CARE_HOMES.c1.pf_care_homes_x", Allowed, "reads the register (2.10+)"),
        row("identity", Pub, "$JS.API.CONSUMER.MSG.NEXT.PF_CARE_HOMES.c1", Allowed, "pulls the homes' newest events"),
        row("identity", Pub, "pf.beds.RWEAA.WD1.B01", Refused, "another service's events"),
        row("identity", Pub, "pf.discharges.0190", Refused, "attack: changing a patient's discharge from the administration pages"),
        row("identity", Pub, "$JS.API.STREAM.MSG.GET.PF_DISCHARGES", Refused, "cannot read patients' events"),
        row("identity", Pub, "$JS.ACK.PF_CARE_HOMES.pf-projection.1.1.1.0.0", Refused, "attack: acknowledging the projection's deliveries"),
        // streams: the one owner of every stream.
        row("streams", Pub, "pf.beds.RWEAA.WD1.B01", Refused, "creates streams, publishes no event"),
        row("streams", Pub, "pf.audit.RWE.idt-1", Refused, "writes no audit record"),
        row("streams", Pub, "$JS.API.CONSUMER.CREATE.PF_AUDIT", Refused, "cannot read the audit trail"),
        row("streams", Pub, "$JS.API.STREAM.CREATE.OTHER", Refused, "only the platform's streams"),
        // loadtest: publishes only its own test site's beds.
        row("loadtest", Pub, "pf.beds.LOADTEST.W1.B1", Allowed, "publishes load-test bed events"),
        row("loadtest", Pub, "$JS.API.STREAM.INFO.PF_BEDS", Allowed, "checks the stream is there"),
        row("loadtest", Pub, "pf.beds.RWEAA.WD1.B01", Refused, "cannot touch a real site's beds"),
        row("loadtest", Pub, "$JS.API.STREAM.INFO.PF_AUDIT", Refused, "nothing else"),
        // projection and pressure: each its own active/standby lease.
        row("projection", Pub, "$KV.pf-leases.projection", Allowed, "acquires and renews its lease"),
        row("projection", Pub, "$JS.API.STREAM.INFO.KV_pf-leases", Allowed, "opens the lease bucket"),
        row("projection", Pub, "$JS.API.DIRECT.GET.KV_pf-leases.$KV.pf-leases.projection", Allowed, "reads its lease"),
        row("projection", Pub, "$KV.pf-leases.pressure", Refused, "attack: taking pressure's lease"),
        row("projection", Pub, "$JS.API.STREAM.PURGE.KV_pf-leases", Refused, "attack: wiping every lease"),
        row("pressure", Pub, "$KV.pf-leases.pressure", Allowed, "acquires and renews its lease"),
        row("pressure", Pub, "$JS.API.STREAM.INFO.KV_pf-leases", Allowed, "opens the lease bucket"),
        row("pressure", Pub, "$JS.API.DIRECT.GET.KV_pf-leases.$KV.pf-leases.pressure", Allowed, "reads its lease"),
        row("pressure", Pub, "$KV.pf-leases.projection", Refused, "attack: taking the projection's lease"),
        row("gateway", Pub, "$KV.pf-leases.projection", Refused, "attack: a second writer of the live state"),
        // operator: full access (the nats CLI, pf-projection check).
        row("operator", Pub, "pf.discharges.0190", Allowed, "full access"),
        row("operator", Sub, "_INBOX.>", Allowed, "full access"),
    ];
    for stream in ["PF_BEDS", "PF_CARE_HOMES", "PF_DISCHARGES", "PF_TASKS", "PF_URGENT_CARE"] {
        let why = "folds the event streams into the live state";
        rows.extend([
            row("projection", Pub, &format!("$JS.API.STREAM.INFO.{stream}"), Allowed, why),
            row("projection", Pub, &format!("$JS.API.CONSUMER.CREATE.{stream}"), Allowed, why),
            row("projection", Pub, &format!("$JS.API.CONSUMER.INFO.{stream}.pf-projection"), Allowed, why),
            row("projection", Pub, &format!("$JS.API.CONSUMER.DURABLE.CREATE.{stream}.pf-projection"), Allowed, why),
            row("projection", Pub, &format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.pf-projection"), Allowed, why),
            row("projection", Pub, &format!("$JS.ACK.{stream}.pf-projection.1.1.1.0.0"), Allowed, why),
            row("projection", Pub, &format!("$JS.FC.{stream}.pf-projection"), Allowed, why),
        ]);
    }
    for stream in ["PF_BEDS", "PF_CARE_HOMES", "PF_DISCHARGES"] {
        let why = "replays the event streams to learn the forecasts' history";
        rows.extend([
            row("forecast", Pub, &format!("$JS.API.STREAM.INFO.{stream}"), Allowed, why),
            row("forecast", Pub, &format!("$JS.API.CONSUMER.CREATE.{stream}"), Allowed, "an ordered consumer (2.9)"),
            row("forecast", Pub, &format!("$JS.API.CONSUMER.CREATE.{stream}.c1"), Allowed, "an ordered consumer (2.10+)"),
            row("forecast", Pub, &format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.c1"), Allowed, why),
            row("forecast", Pub, &format!("$JS.API.STREAM.MSG.GET.{stream}"), Refused, "reads whole streams, not single events"),
        ]);
    }
    for stream in STREAMS {
        let why = "the one owner of every stream";
        rows.extend([
            row("streams", Pub, &format!("$JS.API.STREAM.INFO.{stream}"), Allowed, why),
            row("streams", Pub, &format!("$JS.API.STREAM.CREATE.{stream}"), Allowed, why),
            row("streams", Pub, &format!("$JS.API.STREAM.UPDATE.{stream}"), Allowed, why),
        ]);
    }
    for user in SERVICE_USERS {
        let other = if user == "gateway" {
            "discharges"
        } else {
            "gateway"
        };
        rows.extend([
            row(user, Sub, &format!("_INBOX.{user}.reply"), Allowed, "reads replies on its own inbox"),
            row(user, Sub, "_INBOX.>", Refused, "attack: reading every service's replies (patient records among them)"),
            row(user, Sub, &format!("_INBOX.{other}.reply"), Refused, "attack: reading another service's replies"),
            row(user, Sub, ">", Refused, "reads nothing but its replies"),
            row(user, Sub, "pf.discharges.>", Refused, "no one listens to patients' events directly"),
            row(user, Pub, "$JS.API.STREAM.DELETE.PF_AUDIT", Refused, "attack: deleting the audit trail"),
            row(user, Pub, "$JS.API.STREAM.PURGE.PF_AUDIT", Refused, "attack: purging the audit trail"),
            row(user, Pub, "$JS.API.STREAM.MSG.DELETE.PF_AUDIT", Refused, "attack: deleting an audit record"),
            row(user, Pub, "$JS.API.INFO", Refused, "no account-wide requests"),
        ]);
        if user != "streams" {
            rows.extend([
                row(user, Pub, "$JS.API.STREAM.UPDATE.PF_AUDIT", Refused, "attack: shrinking the audit trail's limits"),
                row(user, Pub, "$JS.API.STREAM.CREATE.PF_BEDS", Refused, "only pf-streams creates streams"),
                row(user, Pub, "$JS.API.STREAM.UPDATE.PF_ALERTS", Refused, "attack: resetting a stream's settings"),
            ]);
        }
    }
    rows
}

/// Whether the rendered permissions allow `subject`.
fn permits(allow: Option<&Vec<String>>, subject: &str) -> bool {
    allow.is_none_or(|list| list.iter().any(|pattern| subject_matches(pattern, subject)))
}

/// A concrete subject that `pattern` matches.
fn concrete(pattern: &str) -> String {
    pattern
        .split('.')
        .map(|token| match token {
            "*" => "t",
            ">" => "t.u",
            other => other,
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// The table agrees with what was rendered, and covers all of it.
fn check_nats_table(rendered: &Rendered, rows: &[NatsRow]) -> Vec<String> {
    let mut problems = Vec::new();
    let users: BTreeSet<&str> = rows.iter().map(|r| r.user).collect();
    for name in rendered.nats_users.keys() {
        if !users.contains(name.as_str()) {
            problems.push(format!(
                "NATS user {name} is rendered but has no row in the table"
            ));
        }
    }
    for row in rows {
        let Some(user) = rendered.nats_users.get(row.user) else {
            problems.push(format!(
                "row for NATS user {} who is not rendered",
                row.user
            ));
            continue;
        };
        let allow = match row.op {
            Op::Pub => user.publish.as_ref(),
            Op::Sub => user.subscribe.as_ref(),
        };
        let rendered_says = if permits(allow, &row.subject) {
            Allowed
        } else {
            Refused
        };
        if rendered_says != row.expect {
            problems.push(format!(
                "{} {:?} {}: the table says {:?} ({}), the rendered configuration {:?}",
                row.user, row.op, row.subject, row.expect, row.why, rendered_says
            ));
        }
    }
    for (name, user) in &rendered.nats_users {
        for (op, allow) in [(Op::Pub, &user.publish), (Op::Sub, &user.subscribe)] {
            for pattern in allow.iter().flatten() {
                let covered = rows.iter().any(|r| {
                    r.user == name
                        && r.op == op
                        && r.expect == Allowed
                        && subject_matches(pattern, &r.subject)
                });
                if !covered {
                    problems.push(format!(
                        "NATS user {name} may {op:?} `{pattern}`, and no row shows it"
                    ));
                }
            }
        }
    }
    problems
}

async fn connect_nats(server_url: &str, name: &str, user: &NatsUser) -> async_nats::Client {
    let settings = NatsSettings {
        url: server_url.to_owned(),
        user: Some(name.to_owned()),
        password: Some(user.password.clone()),
    };
    // The services' connection retries until it gets in: a refused
    // password would wait for ever.
    tokio::time::timeout(Duration::from_secs(10), settings.connect(name))
        .await
        .unwrap_or_else(|_| panic!("NATS user {name} cannot sign in (timed out)"))
        .unwrap_or_else(|err| panic!("NATS user {name} cannot sign in: {err}"))
}

/// A subject `user` may ask JetStream about: its replies prove that the
/// server has handled everything the user sent before.
fn round_trip_subject(user: &NatsUser) -> String {
    user.publish
        .iter()
        .flatten()
        .find(|p| p.starts_with("$JS.API.STREAM.INFO.") && !p.contains(['*', '>']))
        .cloned()
        .unwrap_or_else(|| "$JS.API.STREAM.INFO.PF_BEDS".to_owned())
}

/// Asks JetStream for a stream's info and waits for the answer: the server
/// handles one connection's messages in order, so by then it has handled
/// (allowed or refused) everything this client sent before, and this
/// client has read everything the server sent it before the answer.
async fn round_trip(client: &async_nats::Client, subject: &str) {
    tokio::time::timeout(
        Duration::from_secs(5),
        client.request(subject.to_owned(), "".into()),
    )
    .await
    .unwrap_or_else(|_| panic!("no answer to {subject}"))
    .unwrap_or_else(|err| panic!("no answer to {subject}: {err}"));
}

/// Runs every row against the server; returns the rows whose outcome
/// differs from the table.
async fn run_nats_table(server: &NatsServer, rendered: &Rendered, rows: &[NatsRow]) -> Vec<String> {
    let url = server.url();
    let operator = connect_nats(&url, "operator", &rendered.nats_users["operator"]).await;
    let operator_sync = "$JS.API.STREAM.INFO.PF_BEDS";
    let mut clients = BTreeMap::new();
    for (name, user) in &rendered.nats_users {
        let client = connect_nats(&url, name, user).await;
        clients.insert(name.clone(), (client, round_trip_subject(user)));
    }
    let mut problems = Vec::new();
    for row in rows {
        let (client, sync) = &clients[row.user];
        let mut watch = match row.op {
            Op::Pub => {
                let watch = operator.subscribe(row.subject.clone()).await.unwrap();
                round_trip(&operator, operator_sync).await;
                client
                    .publish(row.subject.clone(), "access-table".into())
                    .await
                    .unwrap();
                round_trip(client, sync).await;
                round_trip(&operator, operator_sync).await;
                watch
            }
            Op::Sub => {
                let watch = client.subscribe(row.subject.clone()).await.unwrap();
                round_trip(client, sync).await;
                operator
                    .publish(concrete(&row.subject), "access-table".into())
                    .await
                    .unwrap();
                round_trip(&operator, operator_sync).await;
                round_trip(client, sync).await;
                watch
            }
        };
        let outcome = if delivered(&mut watch, row.expect).await {
            Allowed
        } else {
            Refused
        };
        if outcome != row.expect {
            problems.push(format!(
                "{:?}: {} {:?} {}: expected {:?} ({}), the server said {:?}",
                rendered.renderer, row.user, row.op, row.subject, row.expect, row.why, outcome
            ));
        }
    }
    problems
}

/// Whether a message reached `subscriber`. The round trips before this put
/// any message ahead of the last answer, so a refused row needs only a
/// short look; an allowed one is given time.
async fn delivered(subscriber: &mut async_nats::Subscriber, expect: Expect) -> bool {
    let wait = match expect {
        Allowed => Duration::from_secs(5),
        Refused => Duration::from_millis(100),
    };
    tokio::time::timeout(wait, subscriber.next())
        .await
        .is_ok_and(|m| m.is_some())
}

fn start_nats(rendered: &Rendered) -> NatsServer {
    let authorization = rendered.nats_authorization.clone();
    NatsServer::start_configured(move |path, port, store| {
        let config = format!(
            "listen: 127.0.0.1:{port}\n{}\n{authorization}",
            pf_test_support::jetstream_block(store)
        );
        std::fs::write(path, config).unwrap();
    })
}

/// pf-streams, signed in as `streams`, creates every stream on a server
/// with the rendered users.
async fn create_streams_as_owner(server: &NatsServer, rendered: &Rendered) {
    let client = connect_nats(&server.url(), "streams", &rendered.nats_users["streams"]).await;
    pf_streams::ensure(
        &async_nats::jetstream::new(client),
        &pf_streams::StreamsConfig::default(),
    )
    .await
    .unwrap_or_else(|err| {
        panic!(
            "{:?}: the streams user cannot create the streams: {err}",
            rendered.renderer
        )
    });
}

/// One row of the Redis table.
#[derive(Debug, Clone)]
struct RedisRow {
    user: &'static str,
    command: &'static [&'static str],
    expect: Expect,
    why: &'static str,
}

const fn redis_row(
    user: &'static str,
    command: &'static [&'static str],
    expect: Expect,
    why: &'static str,
) -> RedisRow {
    RedisRow {
        user,
        command,
        expect,
        why,
    }
}

/// A session key as identity stores it (the hash of an id, never the id).
const SESSION: &str = "pf-auth:session:hashed-session-id";
const REVOKED: &str = "pf-auth:revoked:idt-1";

/// The Redis table.
#[rustfmt::skip]
const REDIS_ROWS: &[RedisRow] = &[
    // projection: the only writer of the live state.
    redis_row("projection", &["HSET", "pf:site:RWEAA", "general_acute:occupied", "1"], Allowed, "writes the live state"),
    redis_row("projection", &["GET", "pf:version"], Allowed, "reads the live state"),
    redis_row("projection", &["XADD", "pf:changes", "*", "v", "1"], Allowed, "appends to the change log"),
    redis_row("projection", &["EXPIRE", "pf:trend:meta", "60"], Allowed, "keyspace commands on its keys"),
    redis_row("projection", &["EVAL", "return 1", "0"], Allowed, "closes history buckets in a script"),
    redis_row("projection", &["WATCH", "pf:version"], Allowed, "applies a batch only if no other writer moved the state since it read it"),
    redis_row("projection", &["MULTI"], Allowed, "applies a batch in one transaction"),
    redis_row("projection", &["EXEC"], Allowed, "ends that transaction"),
    redis_row("projection", &["SET", "pf-check-1:version", "1"], Allowed, "rebuilds a copy to compare (pf-projection check)"),
    redis_row("projection", &["SCAN", "0", "MATCH", "pf:*"], Allowed, "lists its keys for the check"),
    redis_row("projection", &["TYPE", "pf:version"], Allowed, "reads key types for the check"),
    redis_row("projection", &["HSET", "pf-patient:discharge:0190", "version", "1"], Allowed, "writes patients' records apart from the counts"),
    redis_row("projection", &["GET", SESSION], Refused, "reads no sign-in state"),
    redis_row("projection", &["SET", SESSION, "{}"], Refused, "attack: forging a session"),
    redis_row("projection", &["FLUSHALL"], Refused, "attack: erasing everyone's data"),
    redis_row("projection", &["KEYS", "*"], Refused, "dangerous commands"),
    redis_row("projection", &["SCRIPT", "FLUSH"], Refused, "cannot flush the scripts"),
    redis_row("projection", &["CONFIG", "GET", "*"], Refused, "no administration"),
    redis_row("projection", &["GET", "pf-care:1-000000001:key"], Refused, "another service's keys"),
    // gateway: reads the live state; checks sessions.
    redis_row("gateway", &["GET", "pf:version"], Allowed, "reads the live state"),
    redis_row("gateway", &["XRANGE", "pf:changes", "-", "+"], Allowed, "reads the change log"),
    redis_row("gateway", &["EVAL_RO", "return 1", "0"], Allowed, "reads a snapshot in a read-only script"),
    redis_row("gateway", &["MULTI"], Allowed, "reads the ED and ambulance state in one transaction (no write inside: redis_users)"),
    redis_row("gateway", &["EXEC"], Allowed, "ends that transaction"),
    redis_row("pressure", &["MULTI"], Allowed, "reads the ED and ambulance state in one transaction (no write inside: redis_users)"),
    redis_row("pressure", &["EXEC"], Allowed, "ends that transaction"),
    redis_row("gateway", &["GETEX", SESSION, "EX", "1800"], Allowed, "reads a session and refreshes its idle expiry"),
    redis_row("gateway", &["EXISTS", REVOKED], Allowed, "sees whether a person is revoked"),
    redis_row("gateway", &["HGETALL", "pf-patient:discharge:0190"], Refused, "attack: reading a patient's record (NHS number) from the internet-facing service"),
    redis_row("gateway", &["XRANGE", "pf-patient:changes", "-", "+"], Refused, "attack: reading patient-level notices"),
    redis_row("gateway", &["SET", "pf:version", "1"], Refused, "cannot write the live state"),
    redis_row("gateway", &[ "EVAL", include_str!("lua/write_version.lua"), "1", "pf:version", ], Refused, "cannot write the live state from a script"),
    redis_row("gateway", &["SET", SESSION, "{}"], Refused, "attack: forging a session"),
    redis_row("gateway", &["DEL", REVOKED], Refused, "attack: lifting a revocation"),
    redis_row("gateway", &["SCAN", "0"], Refused, "attack: listing session ids"),
    redis_row("gateway", &["RANDOMKEY"], Refused, "attack: finding keys at random"),
    redis_row("gateway", &["SMEMBERS", "pf-auth:sessions-of:idt-1"], Refused, "attack: finding a person's sessions"),
    redis_row("gateway", &["EXISTS", SESSION], Refused, "only GETEX on sessions"),
    redis_row("gateway", &["FLUSHALL"], Refused, "attack: erasing everyone's data"),
    // hospital-beds: only checks sessions.
    redis_row("hospital-beds", &["GETEX", SESSION, "EX", "1800"], Allowed, "reads a session and refreshes its idle expiry"),
    redis_row("hospital-beds", &["EXISTS", REVOKED], Allowed, "sees whether a person is revoked"),
    redis_row("hospital-beds", &["PING"], Allowed, "checks the connection"),
    redis_row("hospital-beds", &["SET", SESSION, "{}"], Refused, "attack: forging a session"),
    redis_row("hospital-beds", &["SCAN", "0"], Refused, "attack: listing session ids"),
    redis_row("hospital-beds", &["GET", "pf:version"], Refused, "reads no live state"),
    // urgent-care: only checks sessions.
    redis_row("urgent-care", &["GETEX", SESSION, "EX", "1800"], Allowed, "reads a session and refreshes its idle expiry"),
    redis_row("urgent-care", &["EXISTS", REVOKED], Allowed, "sees whether a person is revoked"),
    redis_row("urgent-care", &["PING"], Allowed, "checks the connection"),
    redis_row("urgent-care", &["SET", SESSION, "{}"], Refused, "attack: forging a session"),
    redis_row("urgent-care", &["GET", "pf:version"], Refused, "reads no live state"),
    redis_row("hospital-beds", &["SADD", "pf-auth:sessions-of:idt-1", "x"], Refused, "writes no sign-in state"),
    // adt-feed: its control ids and visit index; nothing else.
    redis_row("adt-feed", &["SET", "pf-adt:ack:uhl-epic:MSG1", "claimed", "NX", "PX", "30000"], Allowed, "claims a message's control id"),
    redis_row("adt-feed", &["GET", "pf-adt:visit:uhl-epic:V1"], Allowed, "reads the visit index"),
    redis_row("adt-feed", &["SETEX", "pf-adt:ack:uhl-epic:MSG1", "60", "ACK"], Allowed, "keeps the ACK for resends"),
    redis_row("adt-feed", &["DEL", "pf-adt:visit:uhl-epic:V1"], Allowed, "forgets a cancelled visit"),
    redis_row("adt-feed", &["PING"], Allowed, "checks the connection"),
    redis_row("adt-feed", &["GET", "pf:version"], Refused, "reads no live state"),
    redis_row("adt-feed", &["HGETALL", "pf-patient:discharge:0190"], Refused, "attack: reading a patient's record"),
    redis_row("adt-feed", &["GETEX", SESSION, "EX", "1800"], Refused, "checks no sessions"),
    redis_row("adt-feed", &["SCAN", "0"], Refused, "attack: listing keys"),
    redis_row("adt-feed", &["KEYS", "*"], Refused, "dangerous commands"),
    redis_row("adt-feed", &["FLUSHALL"], Refused, "attack: erasing everyone's data"),
    // care-homes: its idempotency keys; checks sessions.
    redis_row("care-homes", &[ "SET", "pf-care:1-000000001:key", "claimed", "NX", "PX", "60000", ], Allowed, "claims an idempotency key"),
    redis_row("care-homes", &["GET", "pf-care:1-000000001:key"], Allowed, "reads a stored answer"),
    redis_row("care-homes", &["SETEX", "pf-care:1-000000001:key", "60", "{}"], Allowed, "stores an answer"),
    redis_row("care-homes", &["DEL", "pf-care:1-000000001:key"], Allowed, "frees a key whose publish failed"),
    redis_row("care-homes", &["GETEX", SESSION, "EX", "1800"], Allowed, "reads a session and refreshes its idle expiry"),
    redis_row("care-homes", &["EXISTS", REVOKED], Allowed, "sees whether a person is revoked"),
    redis_row("care-homes", &["SET", SESSION, "{}"], Refused, "attack: forging a session"),
    redis_row("care-homes", &["DEL", SESSION], Refused, "ends no session (identity does)"),
    redis_row("care-homes", &["EXPIRE", SESSION, "999999"], Refused, "only GETEX on sessions"),
    redis_row("care-homes", &["SCAN", "0"], Refused, "attack: listing session ids"),
    redis_row("care-homes", &["GET", "pf:version"], Refused, "reads no live state"),
    // pressure: reads the live state.
    redis_row("pressure", &["GET", "pf:version"], Allowed, "reads the live state"),
    redis_row("pressure", &["EVAL_RO", "return 1", "0"], Allowed, "reads a snapshot in a read-only script"),
    redis_row("pressure", &["HGETALL", "pf-patient:discharge:0190"], Refused, "holds counts only, never a patient's record"),
    redis_row("pressure", &["SET", "pf:version", "1"], Refused, "cannot write the live state"),
    redis_row("pressure", &["GETEX", SESSION, "EX", "1800"], Allowed, "reads a session (its OPEL API is signed in)"),
    redis_row("pressure", &["EXISTS", REVOKED], Allowed, "sees whether a person is revoked"),
    redis_row("pressure", &["SET", SESSION, "{}"], Refused, "attack: forging a session"),
    redis_row("pressure", &["SCAN", "0"], Refused, "lists nothing"),
    // fhir: reads the live state (counts, bed states, care-home records); checks sessions.
    redis_row("fhir", &["HMGET", "pf:bed:RWEAA:WD15:B01", "version", "state"], Allowed, "reads a bed's state"),
    redis_row("fhir", &["GET", "pf:version"], Allowed, "reads the live state"),
    redis_row("fhir", &["EVAL_RO", "return 1", "0"], Allowed, "reads a snapshot in a read-only script"),
    redis_row("fhir", &["GETEX", SESSION, "EX", "1800"], Allowed, "reads a session and refreshes its idle expiry"),
    redis_row("fhir", &["EXISTS", REVOKED], Allowed, "sees whether a person is revoked"),
    redis_row("fhir", &["HGETALL", "pf-patient:discharge:0190"], Refused, "attack: reading a patient's record through the FHIR API"),
    redis_row("fhir", &["XRANGE", "pf-patient:changes", "-", "+"], Refused, "reads no patient-level notices"),
    redis_row("fhir", &["HSET", "pf:bed:RWEAA:WD15:B01", "state", "occupied"], Refused, "cannot write the live state"),
    redis_row("fhir", &["EVAL", include_str!("lua/write_version.lua"), "1", "pf:version"], Refused, "cannot write the live state from a script"),
    redis_row("fhir", &["SET", SESSION, "{}"], Refused, "attack: forging a session"),
    redis_row("fhir", &["SCAN", "0"], Refused, "lists nothing"),
    // discharges: reads the live state (the geo search); checks sessions.
    // tasks: reads the live state (items, registers, discharge summaries);
    // checks sessions; sees whether an owner has a live session.
    redis_row("tasks", &["HGET", "pf:item:0190", "record"], Allowed, "reads an item"),
    redis_row("tasks", &["SMEMBERS", "pf:index:items"], Allowed, "lists the items"),
    redis_row("tasks", &["GETEX", SESSION, "EX", "1800"], Allowed, "reads a session and refreshes its idle expiry"),
    redis_row("tasks", &["GET", SESSION], Allowed, "reads a session of an owner"),
    redis_row("tasks", &["TTL", SESSION], Allowed, "when an owner's session was last used"),
    redis_row("tasks", &["EXISTS", REVOKED], Allowed, "sees whether a person is revoked"),
    redis_row("tasks", &["SMEMBERS", "pf-auth:sessions-of:idt-1"], Allowed, "whether an owner has a live session"),
    redis_row("tasks", &["HGETALL", "pf-patient:discharge:0190"], Refused, "attack: reading a patient's record"),
    redis_row("tasks", &["HSET", "pf:item:0190", "version", "2"], Refused, "cannot write the live state (the projection does)"),
    redis_row("tasks", &["SET", SESSION, "{}"], Refused, "attack: forging a session"),
    redis_row("tasks", &["SADD", "pf-auth:sessions-of:idt-1", "x"], Refused, "writes no sign-in state"),
    redis_row("tasks", &["GET", "pf-auth:link:hashed-token"], Refused, "reads no sign-in links"),
    redis_row("tasks", &["SCAN", "0"], Refused, "attack: listing session ids"),
    redis_row("tasks", &["EVAL_RO", "return 1", "0"], Refused, "runs no scripts"),
    redis_row("tasks", &["PING"], Allowed, "checks the connection"),
    redis_row("discharges", &["GET", "pf:version"], Allowed, "reads the live state"),
    redis_row("discharges", &[ "GEOSEARCH", "pf:care-homes:geo", "FROMLONLAT", "-1.13", "52.63", "BYRADIUS", "10", "km", ], Allowed, "finds homes near a place"),
    redis_row("discharges", &["GETEX", SESSION, "EX", "1800"], Allowed, "reads a session and refreshes its idle expiry"),
    redis_row("discharges", &["EXISTS", REVOKED], Allowed, "sees whether a person is revoked"),
    redis_row("discharges", &["HGETALL", "pf-patient:discharge:0190"], Allowed, "reads a patient's record for its coordinators"),
    redis_row("discharges", &["HSET", "pf-patient:discharge:0190", "version", "2"], Refused, "cannot write patients' records (the projection does)"),
    redis_row("discharges", &["SET", "pf:version", "1"], Refused, "cannot write the live state"),
    redis_row("discharges", &["SET", SESSION, "{}"], Refused, "attack: forging a session"),
    redis_row("discharges", &["DEL", REVOKED], Refused, "attack: lifting a revocation"),
    redis_row("discharges", &["SCAN", "0"], Refused, "attack: listing session ids"),
    redis_row("discharges", &["EVAL_RO", "return 1", "0"], Refused, "runs no scripts"),
    redis_row("discharges", &["SET", "pf-patient-key:0190", "wrapped", "NX"], Allowed, "makes a patient's data key"),
    redis_row("discharges", &["ZADD", "pf-patient-key:shred", "1", "0190"], Allowed, "schedules a key's destruction after retention"),
    redis_row("discharges", &["PEXPIREAT", "pf-patient-key:0190", "1"], Allowed, "Redis' own expiry as the backstop"),
    redis_row("discharges", &["DEL", "pf-patient-key:0190"], Allowed, "destroys a key past retention (crypto-shredding)"),
    redis_row("discharges", &["ZREM", "pf-patient-key:shred", "0190"], Allowed, "takes a key off the schedule once destroyed"),
    redis_row("discharges", &["PERSIST", "pf-patient-key:0190"], Allowed, "keeps the key of a patient back on the list"),
    redis_row("discharges", &["SET", "pf-patient:discharge:0190", "x"], Refused, "its key store gives no write to patients' records"),
    redis_row("projection", &["GET", "pf-patient-key:0190"], Refused, "the projection never holds a key: it stores sealed records"),
    redis_row("gateway", &["GET", "pf-patient-key:0190"], Refused, "attack: reading a patient's data key"),
    // identity: the only writer of sign-in state.
    redis_row("identity", &["SET", SESSION, "{}", "EX", "1800"], Allowed, "starts a session"),
    redis_row("identity", &["GETEX", SESSION, "EX", "1800"], Allowed, "reads a session"),
    redis_row("identity", &["SADD", "pf-auth:sessions-of:idt-1", "hashed-session-id"], Allowed, "remembers a person's sessions"),
    redis_row("identity", &["EXPIRE", "pf-auth:sessions-of:idt-1", "43200"], Allowed, "keyspace commands on sign-in keys"),
    redis_row("identity", &["GETDEL", "pf-auth:link:hashed-token"], Allowed, "redeems a single-use link"),
    redis_row("identity", &["SET", REVOKED, "1"], Allowed, "revokes a person"),
    redis_row("identity", &["SET", "pf-auth:device:hashed-credential", "{}", "EX", "7776000"], Allowed, "keeps a device signed in (hash of its credential only)"),
    redis_row("identity", &["SADD", "pf-auth:devices", "device-1"], Allowed, "lists devices for administrators"),
    redis_row("identity", &["DEL", "pf-auth:device-id:device-1"], Allowed, "revokes a device"),
    redis_row("care-homes", &["GET", "pf-auth:device:hashed-credential"], Refused, "attack: reading a device credential's record"),
    redis_row("gateway", &["GETEX", "pf-auth:device:hashed-credential"], Refused, "attack: refreshing a device as if a session"),
    redis_row("fhir", &["SMEMBERS", "pf-auth:devices"], Refused, "attack: listing kept-signed-in devices"),
    redis_row("identity", &["GET", "pf:version"], Refused, "reads no live state"),
    redis_row("identity", &["SCAN", "0"], Refused, "lists nothing"),
    redis_row("identity", &["FLUSHALL"], Refused, "attack: erasing everyone's data"),
    // Every user checks its connection.
    redis_row("projection", &["PING"], Allowed, "checks the connection"),
    redis_row("gateway", &["PING"], Allowed, "checks the connection"),
    redis_row("care-homes", &["PING"], Allowed, "checks the connection"),
    redis_row("pressure", &["PING"], Allowed, "checks the connection"),
    redis_row("discharges", &["PING"], Allowed, "checks the connection"),
    redis_row("identity", &["PING"], Allowed, "checks the connection"),
    redis_row("fhir", &["PING"], Allowed, "checks the connection"),
    redis_row("forecast", &["PING"], Allowed, "checks the connection"),
    redis_row("forecast", &["GETEX", SESSION, "EX", "1800"], Allowed, "reads a session (its forecast API is signed in)"),
    redis_row("forecast", &["EXISTS", REVOKED], Allowed, "sees whether a person is revoked"),
    redis_row("forecast", &["GET", "pf:version"], Refused, "reads no live state: its history is the event streams"),
    redis_row("forecast", &["HGETALL", "pf-patient:discharge:0190"], Refused, "reads no patient's record"),
    redis_row("forecast", &["SET", SESSION, "{}"], Refused, "attack: forging a session"),
    redis_row("forecast", &["SCAN", "0"], Refused, "lists nothing"),
    redis_row("identity", &["SMEMBERS", "pf-auth:sessions-of:idt-1"], Allowed, "finds a person's sessions to end them"),
    // operator: full access.
    redis_row("operator", &["CONFIG", "GET", "maxmemory"], Allowed, "full access"),
    redis_row("operator", &["GET", "pf:version"], Allowed, "full access"),
];

/// A Redis user's grants that need a row: key patterns, commands and
/// command categories, each with the selector it belongs to ("" at the
/// root).
fn redis_grants(user: &RedisUser) -> Vec<(String, String)> {
    let mut grants = Vec::new();
    for rule in &user.rules {
        let (selector, words): (String, Vec<&str>) = match rule.strip_prefix('(') {
            Some(inner) => (
                rule.clone(),
                inner.trim_end_matches(')').split(' ').collect(),
            ),
            None => (String::new(), vec![rule.as_str()]),
        };
        for word in words {
            let wanted = word.contains('~') || (word.starts_with('+') && word != "+@all");
            if wanted || word == "~*" {
                grants.push((selector.clone(), word.to_owned()));
            }
        }
    }
    grants
}

/// Checks the Redis table covers every rendered user and grant, using the
/// server's own command categories and key positions.
async fn check_redis_table(
    operator: &mut redis::aio::MultiplexedConnection,
    rendered: &Rendered,
    allowed: &[&RedisRow],
) -> Vec<String> {
    let mut problems = Vec::new();
    let users: BTreeSet<&str> = REDIS_ROWS.iter().map(|r| r.user).collect();
    for name in rendered.redis_users.keys() {
        if !users.contains(name.as_str()) {
            problems.push(format!(
                "Redis user {name} is rendered but has no row in the table"
            ));
        }
    }
    for user in &users {
        if !rendered.redis_users.contains_key(*user) {
            problems.push(format!("rows for Redis user {user} who is not rendered"));
        }
    }
    for (name, user) in &rendered.redis_users {
        let rows: Vec<&&RedisRow> = allowed.iter().filter(|r| r.user == name).collect();
        for (selector, grant) in redis_grants(user) {
            let mut covered = false;
            for row in &rows {
                let command = row.command[0].to_ascii_lowercase();
                let hit = if let Some((_, pattern)) = grant.split_once('~') {
                    let keys: Vec<String> = redis::cmd("COMMAND")
                        .arg("GETKEYS")
                        .arg(row.command)
                        .query_async(operator)
                        .await
                        .unwrap_or_default();
                    keys.iter().any(|key| key_matches(pattern, key))
                } else if let Some(category) = grant.strip_prefix("+@") {
                    let members: Vec<String> = redis::cmd("ACL")
                        .arg("CAT")
                        .arg(category)
                        .query_async(operator)
                        .await
                        .unwrap();
                    members.contains(&command)
                } else {
                    let granted = grant.trim_start_matches('+');
                    match granted.split_once('|') {
                        Some((cmd, sub)) => {
                            cmd == command
                                && row
                                    .command
                                    .get(1)
                                    .is_some_and(|s| s.eq_ignore_ascii_case(sub))
                        }
                        None => granted == command,
                    }
                };
                if hit {
                    covered = true;
                    break;
                }
            }
            if !covered {
                let place = if selector.is_empty() {
                    String::new()
                } else {
                    format!(" (in selector {selector})")
                };
                problems.push(format!(
                    "Redis user {name} is granted `{grant}`{place}, and no allowed row shows it"
                ));
            }
        }
    }
    problems
}

fn start_redis(rendered: &Rendered) -> RedisServer {
    let acl = rendered.redis_acl.clone();
    RedisServer::start_with_acl(move |path| std::fs::write(path, acl).unwrap())
}

async fn redis_as(
    server: &RedisServer,
    name: &str,
    user: &RedisUser,
) -> redis::aio::MultiplexedConnection {
    let url = server
        .url()
        .replace("redis://", &format!("redis://{name}:{}@", user.password));
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|err| panic!("Redis user {name} cannot sign in: {err}"))
}

/// Whether Redis refused a command on permission grounds (any other error,
/// e.g. a wrong type, means the command was allowed to run).
fn refused(err: &redis::RedisError) -> bool {
    let text = err.to_string();
    text.contains("NOPERM") || text.contains("no permissions") || text.contains("NOAUTH")
}

async fn run_redis_table(server: &RedisServer, rendered: &Rendered) -> Vec<String> {
    let mut problems = Vec::new();
    let mut operator = redis_as(server, "operator", &rendered.redis_users["operator"]).await;
    let mut allowed = Vec::new();
    for row in REDIS_ROWS {
        let user = &rendered.redis_users[row.user];
        let mut connection = redis_as(server, row.user, user).await;
        let result: redis::RedisResult<redis::Value> = redis::cmd(row.command[0])
            .arg(&row.command[1..])
            .query_async(&mut connection)
            .await;
        let outcome = match &result {
            Err(err) if refused(err) => Refused,
            _ => Allowed,
        };
        if outcome == Allowed {
            allowed.push(row);
        }
        if outcome != row.expect {
            problems.push(format!(
                "{:?}: {} {:?}: expected {:?} ({}), the server said {:?}: {result:?}",
                rendered.renderer, row.user, row.command, row.expect, row.why, outcome
            ));
        }
    }
    // The default user is off: no one gets in without a user of their own.
    let anonymous = redis::Client::open(server.url()).unwrap();
    let mut connection = anonymous.get_multiplexed_async_connection().await.unwrap();
    let read: redis::RedisResult<Option<String>> = redis::cmd("GET")
        .arg("pf:version")
        .query_async(&mut connection)
        .await;
    if !read.as_ref().is_err_and(refused) {
        problems.push(format!(
            "{:?}: the default user could read: {read:?}",
            rendered.renderer
        ));
    }
    problems.extend(check_redis_table(&mut operator, rendered, &allowed).await);
    problems
}

async fn the_table_holds_for(rendered: Rendered) {
    let rows = nats_rows();
    let mut problems = check_nats_table(&rendered, &rows);
    let nats = start_nats(&rendered);
    create_streams_as_owner(&nats, &rendered).await;
    problems.extend(run_nats_table(&nats, &rendered, &rows).await);
    let redis = start_redis(&rendered);
    problems.extend(run_redis_table(&redis, &rendered).await);
    assert!(
        problems.is_empty(),
        "{:?}: {} problem(s):\n{}",
        rendered.renderer,
        problems.len(),
        problems.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_user_the_start_script_renders_may_do_only_what_the_table_says() {
    let var = tempfile::tempdir().unwrap();
    the_table_holds_for(rendered_access::from_start_script(var.path())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_user_the_helm_chart_renders_may_do_only_what_the_table_says() {
    the_table_holds_for(rendered_access::from_helm_chart()).await;
}

#[test]
fn the_script_and_the_chart_give_each_user_the_same_rights() {
    let var = tempfile::tempdir().unwrap();
    let script = rendered_access::from_start_script(var.path());
    let chart = rendered_access::from_helm_chart();
    // The same users with the same rights; only the passwords differ.
    let rights = |users: &BTreeMap<String, NatsUser>| {
        users
            .iter()
            .map(|(name, user)| {
                let mut user = user.clone();
                user.password.clear();
                (name.clone(), user)
            })
            .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(rights(&script.nats_users), rights(&chart.nats_users));
    let rules = |users: &BTreeMap<String, RedisUser>| -> BTreeMap<String, Vec<String>> {
        users
            .iter()
            .map(|(name, u)| (name.clone(), u.rules.clone()))
            .collect()
    };
    assert_eq!(rules(&script.redis_users), rules(&chart.redis_users));
}

#[test]
fn subjects_and_keys_match_the_way_the_servers_match_them() {
    assert!(subject_matches("pf.beds.>", "pf.beds.A.B.C"));
    assert!(!subject_matches("pf.beds.>", "pf.beds"));
    assert!(subject_matches(
        "$JS.API.CONSUMER.*.PF_BEDS",
        "$JS.API.CONSUMER.CREATE.PF_BEDS"
    ));
    assert!(!subject_matches(
        "$JS.API.CONSUMER.*.PF_BEDS",
        "$JS.API.CONSUMER.CREATE.PF_BEDS.x"
    ));
    assert!(!subject_matches("_INBOX.gateway.>", "_INBOX.loadtest.x"));
    assert!(key_matches("pf:*", "pf:version"));
    assert!(!key_matches("pf:*", "pf-auth:session:x"));
    assert!(key_matches("pf-check-*", "pf-check-1:x"));
    let users = rendered_access::redis_users(
        "user default off\nuser g on >pw %R~pf:* +get (%RW~a:* +getex) (~b:* +exists)\n",
    );
    assert_eq!(
        users["g"].rules,
        ["%R~pf:*", "+get", "(%RW~a:* +getex)", "(~b:* +exists)"]
    );
}

/// Streams have one owner: a service that starts leaves every stream's
/// settings as `pf-streams` set them (services used to reset the alerts'
/// retention and the audit trail's to their own defaults).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_starting_leaves_the_streams_settings_alone() {
    let nats = NatsServer::start();
    let redis = RedisServer::start();
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let configured = pf_streams::StreamsConfig {
        durability: pf_event_log::Durability {
            alerts_kept: Duration::from_secs(7 * 24 * 3600),
            ..pf_event_log::Durability::default()
        },
        audit: pf_audit::AuditConfig {
            retention: pf_audit::AuditRetention::days(3650).unwrap(),
            ..pf_audit::AuditConfig::default()
        },
        ..pf_streams::StreamsConfig::default()
    };
    pf_streams::ensure(&js, &configured).await.unwrap();

    let issuer = pf_access::LocalIssuer::new(
        pf_access::Mode::Development,
        pf_access::LocalIssuerConfig::default(),
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = tokio_util::sync::CancellationToken::new();
    tokio::spawn(pf_hospital_beds::run(
        listener,
        pf_hospital_beds::BedsConfig::local(&nats.url(), &redis.url(), issuer.issuer_config()),
        pf_hospital_model::Catalogue::from_json(pf_integration_tests::TEST_CATALOGUE).unwrap(),
        shutdown.clone(),
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !reqwest::get(format!("{url}/readyz"))
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "hospital-beds did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let max_age = |name: &'static str| {
        let js = js.clone();
        async move {
            js.get_stream(name)
                .await
                .unwrap()
                .info()
                .await
                .unwrap()
                .config
                .max_age
        }
    };
    assert_eq!(
        max_age("PF_ALERTS").await,
        Duration::from_secs(7 * 24 * 3600)
    );
    assert_eq!(
        max_age("PF_AUDIT").await,
        Duration::from_secs(3650 * 24 * 3600)
    );
    shutdown.cancel();
}

/// A copy of Redis (or a service that may read sign-in keys) holds no
/// session id that could be presented as a cookie: keys and values carry
/// only its hash.
#[tokio::test]
async fn redis_holds_no_session_id_that_could_be_used_as_a_cookie() {
    let redis = RedisServer::start();
    let store = pf_sign_in::SignInStore::connect(
        &redis.url(),
        "pf-auth:",
        pf_sign_in::SessionPolicy::default(),
    )
    .await
    .unwrap();
    let session = store
        .create_session(&pf_integration_tests::demo("demo-discharge-coordinator"))
        .await
        .unwrap();
    let client = redis::Client::open(redis.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(!keys.is_empty());
    for key in &keys {
        assert!(!key.contains(&session.id), "{key} holds the session id");
        let kind: String = redis::cmd("TYPE")
            .arg(key)
            .query_async(&mut connection)
            .await
            .unwrap();
        let values: Vec<String> = match kind.as_str() {
            "string" => vec![
                redis::cmd("GET")
                    .arg(key)
                    .query_async(&mut connection)
                    .await
                    .unwrap(),
            ],
            "set" => redis::cmd("SMEMBERS")
                .arg(key)
                .query_async(&mut connection)
                .await
                .unwrap(),
            other => panic!("unexpected {other} at {key}"),
        };
        for value in values {
            assert!(!value.contains(&session.id), "{key} holds the session id");
        }
    }
    let found = store.session(&session.id).await.unwrap().unwrap();
    assert_eq!(found.principal.id, "demo-discharge-coordinator");
    assert_eq!(found.csrf_token, session.csrf_token);
    store.end_session(&session.id).await.unwrap();
    assert!(store.session(&session.id).await.unwrap().is_none());
}
