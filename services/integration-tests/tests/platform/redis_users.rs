//! The Redis users `scripts/start` configures (`scripts/redis-users.sh`):
//! only the projection writes the live state, the gateway reads it, the
//! services that check sessions touch only sign-in state, care-homes
//! keeps its idempotency keys under `pf-care:`, and the discharges service
//! reads the live state (care homes, discharges, the geo search) without
//! being able to change it.

#![allow(clippy::unwrap_used)] // test code: a failure should stop the test loudly

use std::time::Duration;

use pf_hospital_model::{BedKind, BedState};
use pf_integration_tests::redis_users::url_as;
use pf_live_state::{BedUpdate, Keys, LiveState};

fn update() -> BedUpdate {
    BedUpdate {
        event_id: "01900000-0000-7000-8000-000000000001".into(),
        event_type: "bed.opened".into(),
        entity_version: 1,
        site: "RWEAA".into(),
        ward: "WD1".into(),
        bed: "B01".into(),
        open: true,
        state: Some(BedState::Available),
        kind: BedKind::GeneralAcute,
        escalation: false,
        reason: String::new(),
        occurred_at_ms: 0,
    }
}

#[tokio::test]
async fn only_the_projection_writes_the_live_state() {
    let server = pf_integration_tests::redis_users::start();
    let timeout = Duration::from_secs(5);

    let mut projection =
        LiveState::connect(&url_as(&server, "projection"), Keys::default(), timeout)
            .await
            .unwrap();
    projection.apply_beds(&[update()]).await.unwrap();

    let mut gateway = LiveState::connect(&url_as(&server, "gateway"), Keys::default(), timeout)
        .await
        .unwrap();
    let snapshot = gateway.snapshot().await.unwrap();
    assert_eq!(snapshot.version, 1, "the gateway reads the live state");
    assert!(
        gateway.apply_beds(&[update()]).await.is_err(),
        "but cannot write it"
    );

    let mut beds = LiveState::connect(&url_as(&server, "hospital-beds"), Keys::default(), timeout)
        .await
        .unwrap();
    assert!(
        beds.snapshot().await.is_err(),
        "hospital-beds cannot read the live state"
    );

    let client = redis::Client::open(url_as(&server, "gateway")).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let flushed: redis::RedisResult<()> = redis::cmd("FLUSHALL").query_async(&mut connection).await;
    assert!(flushed.is_err(), "no service may flush Redis");
    let anonymous = redis::Client::open(server.url()).unwrap();
    let mut connection = anonymous.get_multiplexed_async_connection().await.unwrap();
    let read: redis::RedisResult<Option<String>> = redis::cmd("GET")
        .arg("pf:version")
        .query_async(&mut connection)
        .await;
    assert!(read.is_err(), "the default user is off");
}

#[tokio::test]
async fn care_homes_keeps_its_keys_and_cannot_touch_the_live_state() {
    let server = pf_integration_tests::redis_users::start();
    let timeout = Duration::from_secs(5);
    let mut projection =
        LiveState::connect(&url_as(&server, "projection"), Keys::default(), timeout)
            .await
            .unwrap();
    projection.apply_beds(&[update()]).await.unwrap();

    let client = redis::Client::open(url_as(&server, "care-homes")).unwrap();
    let mut care = client.get_multiplexed_async_connection().await.unwrap();
    // Its idempotency keys: claim (SET NX PX), read, answer (SETEX), expire, free.
    let claimed: Option<String> = redis::cmd("SET")
        .arg("pf-care:x")
        .arg("claimed")
        .arg("NX")
        .arg("PX")
        .arg(30_000)
        .query_async(&mut care)
        .await
        .unwrap();
    assert_eq!(claimed.as_deref(), Some("OK"));
    let value: Option<String> = redis::cmd("GET")
        .arg("pf-care:x")
        .query_async(&mut care)
        .await
        .unwrap();
    assert_eq!(value.as_deref(), Some("claimed"));
    let _: () = redis::cmd("SETEX")
        .arg("pf-care:x")
        .arg(60)
        .arg("{}")
        .query_async(&mut care)
        .await
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg("pf-care:y")
        .arg("1")
        .arg("EX")
        .arg(60)
        .query_async(&mut care)
        .await
        .unwrap();
    let _: i64 = redis::cmd("DEL")
        .arg("pf-care:y")
        .query_async(&mut care)
        .await
        .unwrap();
    // Sessions, as every service that checks them.
    let session: Option<String> = redis::cmd("GETEX")
        .arg("pf-auth:session:nobody")
        .arg("EX")
        .arg(60)
        .query_async(&mut care)
        .await
        .unwrap();
    assert_eq!(session, None);

    // Never the live state, nor anything else.
    let live: redis::RedisResult<Option<String>> = redis::cmd("GET")
        .arg("pf:version")
        .query_async(&mut care)
        .await;
    assert!(live.is_err(), "care-homes cannot read the live state");
    let written: redis::RedisResult<()> = redis::cmd("SET")
        .arg("pf:version")
        .arg("0")
        .query_async(&mut care)
        .await;
    assert!(written.is_err(), "nor write it");
    let deleted: redis::RedisResult<i64> = redis::cmd("DEL")
        .arg("pf:version")
        .query_async(&mut care)
        .await;
    assert!(deleted.is_err(), "nor delete it");
    let other: redis::RedisResult<()> = redis::cmd("SET")
        .arg("elsewhere")
        .arg("1")
        .query_async(&mut care)
        .await;
    assert!(other.is_err(), "nor keys outside its own");
    let flushed: redis::RedisResult<()> = redis::cmd("FLUSHALL").query_async(&mut care).await;
    assert!(flushed.is_err(), "and cannot flush Redis");
    let keys: redis::RedisResult<Vec<String>> =
        redis::cmd("KEYS").arg("*").query_async(&mut care).await;
    assert!(keys.is_err(), "nor list every key");

    let mut gateway = LiveState::connect(&url_as(&server, "gateway"), Keys::default(), timeout)
        .await
        .unwrap();
    assert_eq!(
        gateway.snapshot().await.unwrap().version,
        1,
        "the live state is intact"
    );
}

#[tokio::test]
async fn discharges_reads_the_live_state_but_cannot_write_it() {
    let server = pf_integration_tests::redis_users::start();
    let timeout = Duration::from_secs(5);
    let keys = Keys::default();
    let mut projection = LiveState::connect(&url_as(&server, "projection"), keys.clone(), timeout)
        .await
        .unwrap();
    projection.apply_beds(&[update()]).await.unwrap();
    let operator = redis::Client::open(url_as(&server, "operator")).unwrap();
    let mut operator = operator.get_multiplexed_async_connection().await.unwrap();
    let _: i64 = redis::cmd("GEOADD")
        .arg(keys.care_homes_geo())
        .arg(-1.11)
        .arg(52.61)
        .arg("1-000000001")
        .query_async(&mut operator)
        .await
        .unwrap();

    // What the service reads: care homes, discharges, homes near a place.
    let mut discharges = LiveState::connect(&url_as(&server, "discharges"), keys.clone(), timeout)
        .await
        .unwrap();
    let near = discharges
        .care_homes_near(-1.13, 52.63, 25.0)
        .await
        .unwrap();
    assert_eq!(near.len(), 1, "GEOSEARCH is a read: {near:?}");
    assert_eq!(near[0].0, "1-000000001");
    assert!(
        discharges.apply_beds(&[update()]).await.is_err(),
        "it cannot change the live state through the projection's scripts"
    );

    let client = redis::Client::open(url_as(&server, "discharges")).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let version: Option<String> = redis::cmd("GET")
        .arg("pf:version")
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(version.as_deref(), Some("1"), "it reads the live state");
    // The indexes and records its list and search read.
    let _: Vec<String> = redis::cmd("SMEMBERS")
        .arg(keys.care_homes_index())
        .query_async(&mut connection)
        .await
        .unwrap();
    let _: Vec<String> = redis::cmd("SMEMBERS")
        .arg(keys.discharges_index())
        .query_async(&mut connection)
        .await
        .unwrap();
    let record: Option<String> = redis::cmd("HGET")
        .arg(keys.care_home("1-000000001"))
        .arg("record")
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(record, None);
    for (what, command) in [
        ("SET", redis::cmd("SET").arg("pf:version").arg("0").clone()),
        ("DEL", redis::cmd("DEL").arg("pf:version").clone()),
        (
            "HSET",
            redis::cmd("HSET")
                .arg("pf:care-home:1-000000001")
                .arg("record")
                .arg("{}")
                .clone(),
        ),
        (
            "GEOADD",
            redis::cmd("GEOADD")
                .arg(keys.care_homes_geo())
                .arg(-1.0)
                .arg(52.0)
                .arg("1-000000999")
                .clone(),
        ),
        (
            "EXPIRE",
            redis::cmd("EXPIRE").arg("pf:version").arg(1).clone(),
        ),
        (
            "SET elsewhere",
            redis::cmd("SET").arg("pf-care:x").arg("1").clone(),
        ),
        ("FLUSHALL", redis::cmd("FLUSHALL").clone()),
    ] {
        let result: redis::RedisResult<redis::Value> = command.query_async(&mut connection).await;
        assert!(result.is_err(), "discharges may not {what}");
    }
    // Sessions, as every service that checks them.
    let session: Option<String> = redis::cmd("GETEX")
        .arg("pf-auth:session:nobody")
        .arg("EX")
        .arg(60)
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(session, None);
    let forged: redis::RedisResult<()> = redis::cmd("SET")
        .arg("pf-auth:session:x")
        .arg("{}")
        .arg("EX")
        .arg(60)
        .query_async(&mut connection)
        .await;
    assert!(forged.is_err(), "only identity writes sessions");

    let mut gateway = LiveState::connect(&url_as(&server, "gateway"), keys, timeout)
        .await
        .unwrap();
    assert_eq!(
        gateway.snapshot().await.unwrap().version,
        1,
        "the live state is intact"
    );
}

/// Every byte of a Redis reply, flattened (to search it for patient data).
fn reply_bytes(value: &redis::Value, out: &mut Vec<u8>) {
    match value {
        redis::Value::BulkString(bytes) => out.extend_from_slice(bytes),
        redis::Value::SimpleString(text) | redis::Value::VerbatimString { text, .. } => {
            out.extend_from_slice(text.as_bytes())
        }
        redis::Value::Array(items) | redis::Value::Set(items) => {
            for item in items {
                reply_bytes(item, out);
                out.push(b'\n');
            }
        }
        redis::Value::Map(pairs) => {
            for (key, value) in pairs {
                reply_bytes(key, out);
                out.push(b'\n');
                reply_bytes(value, out);
                out.push(b'\n');
            }
        }
        redis::Value::Int(n) => out.extend_from_slice(n.to_string().as_bytes()),
        other => out.extend_from_slice(format!("{other:?}").as_bytes()),
    }
}

/// A discharge whose record carries patient-identifiable data.
fn discharge(
    version: u64,
    status: pf_discharge_model::DischargeStatus,
) -> pf_live_state::DischargeUpdate {
    use pf_discharge_model::{DelayReason, DischargeRecord, Funding, NhsNumber, Pathway};
    pf_live_state::DischargeUpdate {
        event_id: format!("01900000-0000-7000-8000-00000000010{version}"),
        event_type: "discharge.patient_ready".into(),
        entity_version: version,
        record: DischargeRecord {
            discharge_id: "01900000-0000-7000-8000-0000000000d1".into(),
            nhs_number: Some(NhsNumber::parse(PATIENT_NHS_NUMBER).unwrap()),
            sex: pf_care_home_model::SexAccepted::Female,
            trust: "RWE".into(),
            site: "RWEAA".into(),
            ward: "WD1".into(),
            discharge_ready_date: time::macros::date!(2026 - 11 - 20),
            pathway: Pathway::P3,
            care_needed: None,
            search_postcode: PATIENT_POSTCODE.into(),
            place: None,
            funding: Funding::NotYetKnown,
            preferred_home: None,
            delay_reason: DelayReason::NotYetKnown,
            status,
            needs: PATIENT_NEEDS.into(),
            destination: None,
            destination_home: None,
            discharged_at: None,
            cancel_reason: String::new(),
            managed_by: "RWE".into(),
            sealed: None,
        },
        occurred_at_ms: 1_764_500_000_000,
    }
}

/// A care home with a bed held for the discharge: the hold carries what the
/// home is told about the patient.
fn care_home_holding_a_bed() -> pf_live_state::CareHomeUpdate {
    let registration = pf_care_home_model::Register::llr_demo()
        .unwrap()
        .homes()
        .next()
        .unwrap()
        .clone();
    let category = registration.categories[0];
    let at = time::macros::datetime!(2026-11-30 10:00 UTC);
    let record = pf_care_home_model::CareHomeRecord::registered(registration).with_hold(
        pf_care_home_model::Hold {
            hold_id: "01900000-0000-7000-8000-0000000000h1".into(),
            discharge_id: "01900000-0000-7000-8000-0000000000d1".into(),
            category,
            sex: pf_care_home_model::SexAccepted::Female,
            held_by_organisation: "RWE".into(),
            held_by_name: "Coordinator".into(),
            held_at: at,
            expires_at: at + time::Duration::hours(4),
            state: pf_care_home_model::HoldState::Requested,
            pathway: 3,
            discharge_ready_date: PATIENT_READY_DATE.into(),
            needs: PATIENT_NEEDS.into(),
        },
    );
    pf_live_state::CareHomeUpdate {
        event_id: "01900000-0000-7000-8000-000000000201".into(),
        event_type: "care_home.bed_held".into(),
        entity_version: 1,
        record,
        occurred_at_ms: 1_764_500_000_000,
    }
}

const PATIENT_NHS_NUMBER: &str = "9434765919";
const PATIENT_READY_DATE: &str = "2026-11-20";
const PATIENT_POSTCODE: &str = "LE1 5WW";
const PATIENT_NEEDS: &str = "Needs help with stairs after a fall";

#[tokio::test]
async fn the_gateway_and_pressure_cannot_read_a_discharge_record() {
    use pf_discharge_model::DischargeStatus;
    use pf_live_state::Update;

    let server = pf_integration_tests::redis_users::start();
    let timeout = Duration::from_secs(5);
    let mut projection =
        LiveState::connect(&url_as(&server, "projection"), Keys::default(), timeout)
            .await
            .unwrap();
    projection
        .apply_through(
            &[
                Update::Bed(update()),
                Update::CareHome(Box::new(care_home_holding_a_bed())),
                Update::Discharge(Box::new(discharge(1, DischargeStatus::Ready))),
                Update::Discharge(Box::new(discharge(2, DischargeStatus::Searching))),
            ],
            Some(("DISCHARGES", 2)),
        )
        .await
        .unwrap();

    // Every key there is, as the operator sees them.
    let operator = redis::Client::open(url_as(&server, "operator")).unwrap();
    let mut operator = operator.get_multiplexed_async_connection().await.unwrap();
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut operator)
        .await
        .unwrap();
    keys.sort();
    let mut holding_patient_data = 0;
    for key in &keys {
        let dump: Vec<u8> = redis::cmd("DUMP")
            .arg(key)
            .query_async(&mut operator)
            .await
            .unwrap();
        if dump
            .windows(PATIENT_NHS_NUMBER.len())
            .any(|w| w == PATIENT_NHS_NUMBER.as_bytes())
        {
            holding_patient_data += 1;
        }
    }
    assert!(
        holding_patient_data > 0,
        "the discharge record is somewhere in Redis: {keys:?}"
    );

    for user in ["gateway", "pressure"] {
        let client = redis::Client::open(url_as(&server, user)).unwrap();
        let mut connection = client.get_multiplexed_async_connection().await.unwrap();
        for key in &keys {
            // Every way to read a key of any type, directly and from a script.
            let reads = [
                redis::cmd("GET").arg(key).clone(),
                redis::cmd("HGETALL").arg(key).clone(),
                redis::cmd("XRANGE").arg(key).arg("-").arg("+").clone(),
                redis::cmd("SMEMBERS").arg(key).clone(),
                redis::cmd("ZRANGE").arg(key).arg(0).arg(-1).clone(),
                redis::cmd("DUMP").arg(key).clone(),
                redis::cmd("EVAL_RO")
                    .arg(include_str!("lua/read_any_key.lua"))
                    .arg(1)
                    .arg(key)
                    .clone(),
            ];
            for read in reads {
                let Ok(reply) = read.query_async::<redis::Value>(&mut connection).await else {
                    continue; // refused (or the wrong type)
                };
                let mut bytes = Vec::new();
                reply_bytes(&reply, &mut bytes);
                for secret in [PATIENT_NHS_NUMBER, PATIENT_POSTCODE, PATIENT_NEEDS] {
                    // (The Discharge Ready Date is in the summary the counts
                    // need; it is not the patient's identity.)
                    assert!(
                        !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                        "{user} read `{secret}` from {key} with {:?}",
                        read.get_packed_command().escape_ascii().to_string()
                    );
                }
            }
        }
        // What they need still works: the snapshot and the change log.
        let mut live = LiveState::connect(&url_as(&server, user), Keys::default(), timeout)
            .await
            .unwrap();
        let snapshot = live.snapshot().await.unwrap();
        assert_eq!(snapshot.version, 4, "{user} reads the live state");
        let home = snapshot.care_homes.values().next().unwrap();
        assert_eq!(
            home.holds[0].discharge_id, "01900000-0000-7000-8000-0000000000d1",
            "and which beds are held for whom"
        );
        let summary = &snapshot.discharges["01900000-0000-7000-8000-0000000000d1"];
        assert_eq!(
            (summary.site.as_str(), summary.status),
            ("RWEAA", DischargeStatus::Searching),
            "and what the discharge figures need"
        );
        assert_eq!(live.changes_after(0, 10, None).await.unwrap().len(), 4);
        assert!(
            live.discharge("01900000-0000-7000-8000-0000000000d1")
                .await
                .is_err(),
            "{user} may not read the record"
        );
        assert!(
            live.patient_notices_after(0, 10).await.is_err(),
            "nor the discharge views' notices"
        );
    }

    // The discharges service still reads the whole record.
    let mut discharges =
        LiveState::connect(&url_as(&server, "discharges"), Keys::default(), timeout)
            .await
            .unwrap();
    let record = discharges
        .discharge("01900000-0000-7000-8000-0000000000d1")
        .await
        .unwrap()
        .expect("the record");
    assert_eq!(
        record.nhs_number.as_ref().map(|n| n.as_str()),
        Some(PATIENT_NHS_NUMBER)
    );
    assert_eq!(record.status, DischargeStatus::Searching);
    assert_eq!(discharges.all_discharges().await.unwrap().len(), 1);
    // And the discharge views' notices: which discharge, for which
    // organisation, with the change version of the count feed's entry.
    let notices = discharges.patient_notices_after(0, 10).await.unwrap();
    assert_eq!(
        notices,
        [3, 4]
            .map(|version| pf_live_state::PatientNotice::Discharge {
                version,
                id: "01900000-0000-7000-8000-0000000000d1".into(),
                entity_version: version - 2,
                managed_by: "RWE".into(),
                event_type: "discharge.patient_ready".into(),
                occurred_at_ms: 1_764_500_000_000,
            })
            .to_vec()
    );
}

#[tokio::test]
async fn the_gateway_and_pressure_read_the_ed_and_ambulance_state_in_one_step_but_cannot_write_it()
{
    let server = pf_integration_tests::redis_users::start();
    let today = time::macros::date!(2026 - 12 - 07);
    for user in ["gateway", "pressure"] {
        let mut live = LiveState::connect(
            &url_as(&server, user),
            Keys::default(),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        // Read in one MULTI/EXEC, so that the figures of one moment go together.
        let read = live.urgent_care(today).await;
        assert!(read.is_ok(), "{user} reads the urgent-care state: {read:?}");

        // A transaction is no way round the user's read-only keys.
        let client = redis::Client::open(url_as(&server, user)).unwrap();
        let mut connection = client.get_multiplexed_async_connection().await.unwrap();
        let written: redis::RedisResult<()> = redis::pipe()
            .atomic()
            .hset(Keys::default().ed_in_department(), "RWEAA|forged", "{}")
            .query_async(&mut connection)
            .await;
        assert!(written.is_err(), "{user} cannot write inside a transaction");
    }
}
