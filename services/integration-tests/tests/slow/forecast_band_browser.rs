//! The wall's forecast band in a real headless Chromium: the platform's
//! wall (gateway) and a forecast service fitted on generated history; the
//! browser side is `dashboards/tests/forecast-band.test.mjs`.
//!
//! The band reads `/api/v1/forecast/{scope}` at the wall's own origin,
//! which the gateway does not serve: the Helm chart's ingress routes it to
//! pf-forecast. The browser side does that routing (to the real service,
//! nothing stubbed) for the first case, and checks the gateway alone (as
//! `scripts/start` serves the wall) leaves the wall as it is.

#![allow(clippy::unwrap_used)] // test code: a failure should stop the test loudly

use std::process::Command;

#[path = "../support/forecasts.rs"]
#[allow(dead_code)] // the platform tests use the rest
mod forecasts;

use forecasts::Forecasts;
use pf_integration_tests::{Platform, TEST_CATALOGUE, dashboards_dir, demo};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_forecast_band_shows_the_forecast_service_figures_where_the_ingress_routes_it() {
    let _turn = crate::one_at_a_time().await;
    let dir = dashboards_dir();
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "dashboards/node_modules is missing: run the README's test command (it runs `npm ci` in dashboards/)"
    );
    let platform = Platform::start().await;
    // The site's 24-hour chart is drawn once its beds are on the wall.
    for bed in ["RWEAA/WD15/B01", "RWEAA/WD15/B02"] {
        platform.open_bed(bed).await;
    }
    assert_eq!(
        platform.set_state("RWEAA/WD15/B01", "occupied").await.0,
        200
    );
    platform.wait_until_projected().await;
    let forecasts = Forecasts::start(&platform, TEST_CATALOGUE, 3).await;
    let session = platform
        .sign_in_store()
        .await
        .create_session(&demo("demo-control-room"))
        .await
        .unwrap();
    let gateway = platform.gateway_url.clone();
    let forecast = forecasts.url.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .args([
                "--test",
                "--test-reporter=spec",
                "tests/forecast-band.test.mjs",
            ])
            .current_dir(&dir)
            .env("PF_GATEWAY_URL", gateway)
            .env("PF_FORECAST_URL", forecast)
            .env("PF_VIEWER_SESSION", session.id)
            .env("PF_FORECAST_SITE", "RWEAA")
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
