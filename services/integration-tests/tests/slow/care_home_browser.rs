//! The care-home form in a real headless Chromium (Debian's `chromium`,
//! driven by playwright-core), as a nurse uses it: signing in with a link,
//! saving with and without JavaScript, through a dropped connection and a
//! slow one, keeping a phone signed in (and an administrator revoking it), and
//! accessibility (axe-core, WCAG 2.2 AA) of every state on a phone and a
//! desktop. The browser side is `dashboards/tests/care-home-form.test.mjs`.

#![allow(clippy::unwrap_used)] // test code: a failure should stop the test loudly

use pf_access::{Grant, Principal, Role};
use pf_integration_tests::{Platform, dashboards_dir, demo};

/// The longest the whole browser run may take (each of its tests is bounded at 3 minutes, each
/// wait in them at 15 s).
const BROWSER_RUN_SECS: u64 = 900;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nurse_keeps_the_homes_vacancies_live_from_a_phone() {
    let _turn = crate::one_at_a_time().await;
    let platform = Platform::start().await;
    let dir = dashboards_dir();
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "dashboards/node_modules is missing: run the README's test command (it runs `npm ci` in dashboards/)"
    );

    // The identity service, for sign-in links; it lands care-home staff on the form.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let identity_url = format!("http://{}", listener.local_addr().unwrap());
    let mut config = pf_identity::IdentityConfig::local(
        &platform.redis.url(),
        &platform.nats.url(),
        dir.clone(),
    );
    config.public_url = identity_url.clone();
    config.care_homes_url = Some(platform.care_homes_url.clone());
    config.return_origins = vec![platform.care_homes_url.clone()];
    let shutdown = tokio_util::sync::CancellationToken::new();
    tokio::spawn(pf_identity::run(listener, config, shutdown.clone()));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !platform
        .http
        .get(format!("{identity_url}/readyz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "identity did not start"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // A nurse working at two homes, and links as an administrator would issue them.
    let nurse = Principal::person("nurse-alder", "Nurse at Alder House (demo)", None)
        .with_grant(Grant::parse(Role::CareHomeEditor, &["1-000000001", "1-000000003"]).unwrap());
    let store = platform.sign_in_store().await;
    let link = |token: String| format!("{identity_url}/sign-in/link/{token}");
    let link_js = link(store.create_link(&nurse).await.unwrap());
    let link_no_js = link(store.create_link(&nurse).await.unwrap());
    let link_sign_out = link(store.create_link(&nurse).await.unwrap());
    // A manager who keeps their own phone signed in, and an administrator.
    let manager = Principal::person("manager-sandy", "Manager at Sandy House (demo)", None)
        .with_grant(Grant::parse(Role::CareHomeEditor, &["1-000000001"]).unwrap());
    let link_device = link(store.create_link(&manager).await.unwrap());
    let link_device_no_js = link(store.create_link(&manager).await.unwrap());
    let admin = demo("demo-system-admin");
    let admin_session = store.create_session(&admin).await.unwrap();
    let viewer = store
        .create_session(&demo("demo-control-room"))
        .await
        .unwrap();
    let reader = platform.token_for(
        &Principal::machine("reader", "Test reader", None)
            .with_grant(Grant::parse(Role::VacancyPublisher, &["1-000000001"]).unwrap()),
    );

    // The browser side bounds each of its waits and each test; this bounds the whole run, so that
    // a stall ends in a failure that shows what node printed up to then.
    let out = tempfile::NamedTempFile::new().unwrap();
    let err = tempfile::NamedTempFile::new().unwrap();
    let mut node = tokio::process::Command::new("node")
        .args([
            "--test",
            "--test-reporter=spec",
            "tests/care-home-form.test.mjs",
        ])
        .current_dir(&dir)
        .env("PF_CARE_HOMES_URL", &platform.care_homes_url)
        .env("PF_GATEWAY_URL", &platform.gateway_url)
        .env("PF_SESSION_COOKIE", viewer.id)
        .env("PF_SIGN_IN_LINK_JS", link_js)
        .env("PF_SIGN_IN_LINK_NOJS", link_no_js)
        .env("PF_SIGN_IN_LINK_SIGN_OUT", link_sign_out)
        .env("PF_IDENTITY_URL", identity_url)
        .env("PF_TEST_HOME", "1-000000001")
        .env("PF_CARE_HOMES_TOKEN", reader)
        .env("PF_SIGN_IN_LINK_DEVICE", link_device)
        .env("PF_SIGN_IN_LINK_DEVICE_NOJS", link_device_no_js)
        .env("PF_DEVICE_PERSON", "manager-sandy")
        .env("PF_ADMIN_SESSION", admin_session.id)
        .stdout(out.reopen().unwrap())
        .stderr(err.reopen().unwrap())
        .kill_on_drop(true)
        .spawn()
        .expect("node is not installed: run the README's test command");
    let status = tokio::time::timeout(
        std::time::Duration::from_secs(BROWSER_RUN_SECS),
        node.wait(),
    )
    .await;
    shutdown.cancel();
    let stdout = std::fs::read_to_string(out.path()).unwrap();
    let stderr = std::fs::read_to_string(err.path()).unwrap();
    let Ok(status) = status else {
        node.kill().await.unwrap();
        panic!(
            "the browser tests were still running after {BROWSER_RUN_SECS} s (stopped); their output so far:\n{stdout}\n{stderr}"
        );
    };
    assert!(
        status.unwrap().success(),
        "browser tests failed:\n{stdout}\n{stderr}"
    );
    println!("{stdout}");
}
