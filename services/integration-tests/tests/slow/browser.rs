//! The control-room page in a real headless Chromium (Debian's `chromium`,
//! driven by playwright-core): live updates without reload, accessibility
//! (axe-core, WCAG 2.2 AA) at wall and phone sizes, and figures with
//! JavaScript off. The browser side is `dashboards/tests/*.test.mjs`.

#![allow(clippy::unwrap_used)] // test code: a failure should stop the test loudly

use std::process::Command;

use pf_access::{Grant, Principal, Role};
use pf_integration_tests::{Platform, dashboards_dir, demo};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_room_page_updates_live_in_chromium() {
    let _turn = crate::one_at_a_time().await;
    let platform = Platform::start().await;
    for bed in ["RWEAA/WD15/B01", "RWEAA/WD15/B02", "RWEAK/CCU/B01"] {
        platform.open_bed(bed).await;
    }
    let (status, _) = platform.set_state("RWEAK/CCU/B01", "occupied").await;
    assert_eq!(status, 200);
    platform.wait_for_version(4).await;

    let dir = dashboards_dir();
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "dashboards/node_modules is missing: run the README's test command (it runs `npm ci` in dashboards/)"
    );
    let gateway = platform.gateway_url.clone();
    let beds = platform.beds_url.clone();
    let session = platform
        .sign_in_store()
        .await
        .create_session(&demo("demo-control-room"))
        .await
        .unwrap();
    let beds_token = platform.publisher_token.clone();
    let care_homes = platform.care_homes_url.clone();
    let care_homes_token = platform.token_for(
        &Principal::machine("feed", "Feed", None)
            .with_grant(Grant::parse(Role::VacancyPublisher, &["1-000000001"]).unwrap()),
    );
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .args([
                "--test",
                "--test-reporter=spec",
                "tests/control-room.test.mjs",
            ])
            .current_dir(&dir)
            .env("PF_GATEWAY_URL", gateway)
            .env("PF_HOSPITAL_BEDS_URL", beds)
            .env("PF_TEST_BED", "RWEAA/WD15/B01")
            .env("PF_SESSION_COOKIE", session.id)
            .env("PF_BEDS_TOKEN", beds_token)
            .env("PF_CARE_HOMES_URL", care_homes)
            .env("PF_CARE_HOMES_TOKEN", care_homes_token)
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
}
