//! Organisation sign-in in a real headless Chromium (Debian's `chromium`,
//! driven by playwright-core) through a real OpenID provider (the npm
//! package `oidc-provider`) shaped like NHS CIS2 and like Entra ID: staff
//! click "Sign in with your organisation's account", sign in on the
//! provider's page and come back signed in with the role the trust's
//! mapping file (`docs/sign-in/`) gives; a person with no mapped role gets
//! a plain, accessible page. The browser side is
//! `dashboards/tests/organisation-sign-in.test.mjs`.

#![allow(clippy::unwrap_used)] // test code: a failure should stop the test loudly

use std::process::Command;

use pf_identity::config::ClientAuth;
use pf_integration_tests::dashboards_dir;
use pf_integration_tests::oidc_provider::{Provider, identity, streams};
use pf_test_support::{NatsServer, RedisServer};

/// Runs the browser side against `identity_url`.
async fn browser(identity_url: String, people: &str, no_role: &str) {
    let dir = dashboards_dir();
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "dashboards/node_modules is missing: run the README's test command (it runs `npm ci` in dashboards/)"
    );
    let (people, no_role) = (people.to_owned(), no_role.to_owned());
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .args([
                "--test",
                "--test-reporter=spec",
                "tests/organisation-sign-in.test.mjs",
            ])
            .current_dir(&dir)
            .env("PF_IDENTITY_URL", identity_url)
            .env("PF_SIGN_IN_PEOPLE", people)
            .env("PF_SIGN_IN_NO_ROLE", no_role)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_sign_in_with_cis2_and_with_entra_id_in_a_browser() {
    let _turn = crate::one_at_a_time().await;
    let redis = RedisServer::start();
    let nats = NatsServer::start();
    streams(&nats).await;

    for (shape, auth, client_auth, scopes, mapping, people, no_role) in [
        (
            "cis2",
            "client_secret_basic",
            ClientAuth::Basic,
            "openid profile nationalrbacaccess associatedorgs selectedrole",
            "cis2.json",
            "cis2-coordinator=discharge_coordinator,cis2-viewer=control_room_viewer,cis2-admin=system_admin",
            "cis2-no-role",
        ),
        (
            "entra",
            "client_secret_post",
            ClientAuth::Post,
            "openid profile email",
            "entra.json",
            "entra-coordinator=discharge_coordinator,entra-viewer=control_room_viewer,entra-admin=system_admin",
            "entra-no-role",
        ),
    ] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let redirect = format!(
            "http://{}/sign-in/oidc/callback",
            listener.local_addr().unwrap()
        );
        let provider = Provider::start(shape, auth, &redirect);
        let service = identity(
            &redis,
            &nats,
            listener,
            &provider,
            client_auth,
            scopes,
            mapping,
        )
        .await;
        browser(service.base.clone(), people, no_role).await;
    }
}
