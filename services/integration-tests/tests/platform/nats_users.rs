//! The NATS users `scripts/start` configures: each service may use only its
//! own subjects. The configuration is the script's own (`scripts/nats-users.sh`).

#![allow(clippy::unwrap_used)] // test code: a failure should stop the test loudly

use std::path::Path;
use std::process::Command;

use pf_event_log::NatsSettings;
use pf_test_support::NatsServer;

fn write_config(path: &Path, port: u16, store: &Path) {
    let secrets = path.parent().unwrap().join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let status = Command::new("bash")
        .arg("-c")
        .arg(r#". scripts/nats-users.sh && write_nats_config "$1" "$2" "$3""#)
        .arg("bash")
        .arg(path)
        .arg(port.to_string())
        .arg(store)
        .current_dir(repo)
        .env("VAR", path.parent().unwrap())
        .status()
        .unwrap();
    assert!(status.success(), "scripts/nats-users.sh failed");
}

/// The streams as `scripts/start` configures them on one machine: its
/// configuration sets no `max_file_store`, and the start script bounds the
/// audit trail at 1 GiB (`PF_AUDIT_MAX_BYTES`) so that it fits a laptop's
/// disk.
fn one_machine_streams() -> pf_streams::StreamsConfig {
    let mut config = pf_streams::StreamsConfig::default();
    config.audit.max_bytes = 1 << 30;
    config
}

async fn connect_as(server: &NatsServer, user: &str) -> async_nats::jetstream::Context {
    let dir = tempfile_dir(server);
    let password =
        std::fs::read_to_string(dir.join("secrets").join(format!("nats-{user}"))).unwrap();
    let settings = NatsSettings {
        url: server.url(),
        user: Some(user.to_owned()),
        password: Some(password.trim().to_owned()),
    };
    // A refused JetStream request gets no answer: wait 2 s for one, not 5.
    async_nats::jetstream::ContextBuilder::new()
        .timeout(std::time::Duration::from_secs(2))
        .build(settings.connect(user).await.unwrap())
}

fn tempfile_dir(server: &NatsServer) -> std::path::PathBuf {
    server.config_dir().unwrap().to_path_buf()
}

async fn publish_acked(js: &async_nats::jetstream::Context, subject: &str) -> bool {
    match js.publish(subject.to_owned(), "x".into()).await {
        Ok(ack) => tokio::time::timeout(std::time::Duration::from_secs(2), ack)
            .await
            .is_ok_and(|ack| ack.is_ok()),
        Err(_) => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_service_may_use_only_its_own_subjects() {
    let server = NatsServer::start_configured(write_config);
    // pf-streams, the streams' one owner, creates them as its own user.
    pf_streams::ensure(
        &connect_as(&server, "streams").await,
        &one_machine_streams(),
    )
    .await
    .unwrap();
    let beds = connect_as(&server, "hospital-beds").await;

    assert!(
        publish_acked(&beds, "pf.beds.RWEAA.WD1.B01").await,
        "hospital-beds publishes bed events"
    );
    assert!(
        !publish_acked(&beds, "pf.deadletter.PF_BEDS").await,
        "but not dead letters"
    );
    let stream = beds.get_stream("PF_BEDS").await.unwrap();
    assert!(
        stream
            .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default())
            .await
            .is_err(),
        "hospital-beds cannot read the stream through a consumer"
    );

    let projection = connect_as(&server, "projection").await;
    assert!(
        !publish_acked(&projection, "pf.beds.RWEAA.WD1.B01").await,
        "the projection cannot publish bed events"
    );
    assert!(
        publish_acked(&projection, "pf.deadletter.PF_BEDS").await,
        "it dead-letters"
    );
    let stream = projection.get_stream("PF_BEDS").await.unwrap();
    assert!(
        stream
            .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default())
            .await
            .is_ok(),
        "and reads the bed stream"
    );

    let loadtest = connect_as(&server, "loadtest").await;
    assert!(publish_acked(&loadtest, "pf.beds.LOADTEST.R1.B0001").await);
    assert!(
        !publish_acked(&loadtest, "pf.beds.RWEAA.WD1.B01").await,
        "the load test stays in its own site"
    );
    assert!(
        loadtest.delete_stream("PF_BEDS").await.is_err(),
        "and cannot delete streams"
    );

    let care_homes = connect_as(&server, "care-homes").await;
    assert!(
        publish_acked(&care_homes, "pf.care-homes.1-000000001").await,
        "care-homes publishes care-home events"
    );
    assert!(
        !publish_acked(&care_homes, "pf.beds.RWEAA.WD1.B01").await,
        "but not bed events"
    );
    assert!(
        !publish_acked(&care_homes, "pf.deadletter.PF_CARE_HOMES").await,
        "nor dead letters"
    );
    // It follows the homes' newest events (register changes) through an
    // ephemeral ordered consumer; it may not delete or read another
    // service's consumer (rows in access_table.rs).
    let stream = care_homes.get_stream("PF_CARE_HOMES").await.unwrap();
    assert!(
        stream
            .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig {
                filter_subject: "pf.care-homes.>".to_owned(),
                deliver_policy: async_nats::jetstream::consumer::DeliverPolicy::LastPerSubject,
                ..Default::default()
            })
            .await
            .is_ok(),
        "care-homes follows the register's changes"
    );
    assert!(
        care_homes.delete_stream("PF_CARE_HOMES").await.is_err(),
        "and cannot delete streams"
    );

    let discharges = connect_as(&server, "discharges").await;
    assert!(
        publish_acked(
            &discharges,
            "pf.discharges.01900000-0000-7000-8000-000000000001"
        )
        .await,
        "discharges publishes discharge events"
    );
    assert!(
        publish_acked(&discharges, "pf.care-homes.1-000000001").await,
        "and care-home events (holds)"
    );
    assert!(
        !publish_acked(&discharges, "pf.beds.RWEAA.WD1.B01").await,
        "but not bed events"
    );
    assert!(
        !publish_acked(&discharges, "pf.deadletter.PF_DISCHARGES").await,
        "nor dead letters"
    );
    let stream = discharges.get_stream("PF_DISCHARGES").await.unwrap();
    assert!(
        stream
            .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default())
            .await
            .is_err(),
        "discharges reads a discharge's last event, never the stream through a consumer"
    );
    assert!(
        discharges.delete_stream("PF_DISCHARGES").await.is_err(),
        "and cannot delete streams"
    );

    let tasks = connect_as(&server, "tasks").await;
    assert!(
        publish_acked(
            &tasks,
            "pf.tasks.items.01900000-0000-7000-8000-000000000001"
        )
        .await,
        "tasks publishes task and action events"
    );
    let alert = serde_json::json!({"kind": "action_overdue",
        "details": {"item_id": "01900000-0000-7000-8000-000000000001", "due_ms": 5}});
    let ack = tasks
        .publish("pf.alerts.action_overdue", alert.to_string().into())
        .await
        .unwrap();
    assert!(ack.await.is_ok(), "and the overdue-action alert");
    assert!(
        !publish_acked(&tasks, "pf.alerts.opel_level_changed").await,
        "but no other kind of alert"
    );
    assert!(
        !publish_acked(&tasks, "pf.discharges.01900000-0000-7000-8000-000000000001").await,
        "nor discharge events"
    );
    let alerted = pf_tasks::overdue::already_alerted(&tasks).await.unwrap();
    assert_eq!(
        alerted.into_iter().collect::<Vec<_>>(),
        [("01900000-0000-7000-8000-000000000001".to_owned(), 5)],
        "it reads back the overdue alerts it raised"
    );
    let stream = tasks.get_stream("PF_TASKS").await.unwrap();
    assert!(
        stream
            .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default())
            .await
            .is_err(),
        "tasks reads an item's last event, never the stream through a consumer"
    );

    let anonymous = async_nats::connect(server.url()).await;
    assert!(anonymous.is_err(), "no anonymous connections");
}
