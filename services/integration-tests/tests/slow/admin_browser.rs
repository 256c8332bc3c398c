//! The administration pages in a real headless Chromium (Debian's
//! `chromium`, driven by playwright-core) with axe-core on every state,
//! with and without JavaScript, against a real identity service, Redis,
//! NATS and a GOV.UK Notify stand-in. The browser side is
//! `dashboards/tests/admin.test.mjs`; this side checks what reached Notify,
//! the care-home stream (the CQC import, the edit and the retirement) and
//! the audit trail.

#![allow(clippy::unwrap_used)] // test code: a failure should stop the test loudly

use std::process::Command;

use pf_identity::admin_pages::notify::NotifyConfig;
use pf_identity::admin_pages::notify_stand_in::NotifyStandIn;
use pf_identity::{Identity, IdentityConfig};
use pf_integration_tests::{create_streams, dashboards_dir};
use pf_test_support::{NatsServer, RedisServer};
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_administration_pages_work_in_chromium() {
    let _turn = crate::one_at_a_time().await;
    let redis = RedisServer::start();
    let nats = NatsServer::start();
    create_streams(&nats.url()).await;
    let notify = NotifyStandIn::start().await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let identity = format!("http://{}", listener.local_addr().unwrap());
    let mut config = IdentityConfig::local(&redis.url(), &nats.url(), dashboards_dir());
    config.public_url = identity.clone();
    config.notify = Some(
        NotifyConfig::new(
            &notify.base_url,
            &notify.api_key,
            Some("f33517ff-2a88-4f6e-b855-c550268ce08a".to_owned()),
            Some("a1b2c3d4-2a88-4f6e-b855-c550268ce08a".to_owned()),
        )
        .unwrap(),
    );
    // A staff provider, so that the people page shows its role mapping
    // (Entra ID's, as docs/sign-in/entra.json gives it); never signed in to.
    let mut staff = pf_access::IssuerConfig::new(
        "https://login.microsoftonline.com/example-tenant/v2.0",
        "api://patient-flow",
        pf_access::JwksSource::Url("http://127.0.0.1:9/keys".to_owned()),
    );
    staff.claims = pf_access::ClaimMapping::from_file(
        &pf_integration_tests::oidc_provider::repo().join("docs/sign-in/entra.json"),
    )
    .unwrap();
    config.staff_issuer = Some(staff);
    // A set-up screen lands where the test can read who it is.
    config.control_room_url = format!("{identity}/api/v1/me");
    let shutdown = CancellationToken::new();
    tokio::spawn(
        Identity::build(config)
            .await
            .unwrap()
            .serve(listener, shutdown.clone()),
    );

    let dir = dashboards_dir();
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "dashboards/node_modules is missing: run the README's test command (it runs `npm ci` in dashboards/)"
    );
    let url = identity.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .args(["--test", "--test-reporter=spec", "tests/admin.test.mjs"])
            .current_dir(&dir)
            .env("PF_IDENTITY_URL", url)
            .env("PF_PERSON_TO_REVOKE", "demo-discharge-coordinator")
            .output()
    })
    .await
    .expect("the browser test task panicked")
    .expect("node is not installed: run the README's test command");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "browser tests failed:\n{stdout}\n{stderr}"
    );
    println!("{stdout}");

    // Both runs (with and without JavaScript) sent an email and a text.
    let sent = notify.sent();
    for suffix in ["js", "nojs"] {
        assert!(
            sent.iter()
                .any(|s| s.kind == "email" && s.to == format!("jo.{suffix}@example.nhs.uk")),
            "{sent:?}"
        );
    }
    assert_eq!(
        sent.iter()
            .filter(|s| s.kind == "sms" && s.personalisation["name"] == "Al Smith")
            .count(),
        2,
        "{sent:?}"
    );
    assert_eq!(sent.len(), 4, "nothing was sent for the refused batches");
    // The CQC imports (one with JavaScript, one without): exactly the good
    // rows became homes, by the administrator; the edited home was retired.
    let homes = pf_care_home_log::HomeLog::new(
        async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap()),
        "test",
    );
    for n in [1, 2] {
        let current = |id: String| {
            let homes = homes.clone();
            async move {
                homes
                    .current(&pf_care_home_model::CqcLocationId::parse(&id).unwrap())
                    .await
                    .unwrap()
            }
        };
        let quorn = current(format!("1-91000001{n}")).await.expect("imported");
        assert_eq!(quorn.event_type, "care_home.registered");
        assert_eq!(quorn.record.registration.registered_beds, 38);
        assert!(!quorn.record.is_retired());
        let lodge = current(format!("1-91000002{n}")).await.expect("imported");
        assert_eq!(lodge.event_type, "care_home.retired");
        assert_eq!(lodge.version, 3, "imported, edited, retired");
        assert_eq!(lodge.record.registration.registered_beds, 30);
        assert_eq!(
            lodge.record.retired.as_ref().map(|r| r.reason.as_str()),
            Some("Closed in March 2027")
        );
        for refused in [format!("1-91000003{n}"), format!("1-91000005{n}")] {
            assert!(
                current(refused.clone()).await.is_none(),
                "{refused} was refused"
            );
        }
    }
    let audit = pf_audit::AuditLog::new(async_nats::jetstream::new(
        async_nats::connect(nats.url()).await.unwrap(),
    ));
    let revoked = audit
        .query(&pf_audit::AuditQuery {
            entity: Some("person/demo-discharge-coordinator".to_owned()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        revoked
            .iter()
            .any(|r| r.action == "access.revoked" && r.actor.id == "demo-system-admin"),
        "{revoked:?}"
    );
    shutdown.cancel();
}
