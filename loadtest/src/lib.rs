//! `pf-loadtest`: drives the Patient Flow platform end to end and measures it.
//!
//! It publishes bed events straight into the JetStream stream `PF_BEDS` at a
//! target rate (pipelined: many publish acks outstanding at once), while a
//! number of websocket clients watch the gateway's control-room feed. Each
//! client times every delta for the load-test site from the event's
//! `occurred_at` to its arrival, and checks that versions go up by exactly one.
//! The run is bounded in count and time and stops by itself.
//!
//! # Layout
//! - [`config`]: the command-line arguments and the loopback-only guard.
//! - [`auth`]: the websocket clients' bearer token (given, or fetched with the
//!   OAuth client-credentials grant) and the publisher's NATS user.
//! - [`beds`]: the synthetic ward and the bed-state cycle that produces events.
//! - [`england`]: the synthetic England (42 ICSs, 140 trusts, 1,500 sites,
//!   ~100,000 beds, 15,000 care homes), its events, and one ICS written out
//!   as a region data set.
//! - [`wall_size`]: the wall's snapshot and delta frames measured at
//!   England's size, with the gateway's own control-room model.
//! - [`publisher`]: publishing to JetStream at a rate with bounded in-flight acks.
//! - [`clients`]: websocket clients, frame parsing, version-gap checking, latencies.
//! - [`report`]: merging the results and printing them as text or JSON.
//! - [`run`]: the whole load test: clients first, then the publisher, then the report.
#![forbid(unsafe_code)]

pub mod auth;
pub mod beds;
pub mod clients;
pub mod config;
pub mod england;
pub mod publisher;
pub mod report;
pub mod wall_size;

use std::time::Duration;

use anyhow::Context as _;
use tokio::time::Instant;

use crate::beds::BedCycle;
use crate::clients::ClientPlan;
use crate::config::Args;
use crate::england::{England, EnglandEvents};
use crate::publisher::PublishPlan;
use crate::report::{Report, RunInfo};

/// The site code every load-test event uses; deltas for other sites are not timed.
pub const SITE: &str = "LOADTEST";

/// The websocket clients' bearer token: `--token`, or one fetched with
/// `--client-id`/`--client-secret` from `--identity-url`, or none.
async fn clients_token(args: &Args) -> anyhow::Result<Option<auth::Secret>> {
    if let Some(token) = &args.token {
        return Ok(Some(token.clone()));
    }
    let (Some(client_id), Some(secret)) = (&args.client_id, &args.client_secret) else {
        return Ok(None);
    };
    let token = auth::fetch_token(&args.identity_url, client_id, secret)
        .await
        .context("failed to sign the websocket clients in")?;
    tracing::info!(%client_id, "websocket clients signed in with client credentials");
    Ok(Some(token))
}

/// Runs one load test as `args` describes and returns its report.
///
/// Order: connect the websocket clients and wait for their first snapshot,
/// then publish for `--duration` seconds, keep the clients listening for
/// `--drain` seconds more, and merge everything into a [`Report`].
pub async fn run(args: &Args) -> anyhow::Result<Report> {
    args.check_targets()?;
    let ward = args.ward_code();
    tracing::info!(%ward, rate = args.rate, duration_s = args.duration, beds = args.beds,
        clients = args.clients, "starting load test");

    // Fail fast (and clearly) when NATS or the stream is missing, before
    // opening any websocket.
    let nats_credentials = args.nats_credentials();
    let js = publisher::connect_with(&args.nats_url, args.in_flight, nats_credentials.as_ref())
        .await
        .context("failed to prepare the JetStream publisher")?;
    let settings = publisher::stream_settings(&js).await?;
    tracing::info!(?settings, "measuring with these durability settings");
    let token = clients_token(args).await?;
    let rss_before = args.gateway_pid.and_then(report::resident_kib);
    if args.gateway_pid.is_some() && rss_before.is_none() {
        tracing::warn!("cannot read the gateway's memory (/proc/<pid>/status); not reporting it");
    }

    let duration = Duration::from_secs(args.duration);
    let drain = Duration::from_secs(args.drain);
    let connect_deadline = Instant::now() + Duration::from_secs(args.connect_timeout);
    // The clients stop at a deadline fixed once they are all connected.
    let (clients, ready) = clients::spawn(ClientPlan {
        gateway_url: args.gateway_url.clone(),
        clients: args.clients,
        connect_deadline,
        run_for: duration + drain,
        token,
        timed_site: (!args.england).then(|| SITE.to_owned()),
    });
    let connected = ready.await;
    if connected < args.clients {
        tracing::warn!(
            connected,
            wanted = args.clients,
            "not every websocket client connected; publishing anyway"
        );
    } else {
        tracing::info!(connected, "websocket clients ready");
    }
    let rss_connected = args.gateway_pid.and_then(report::resident_kib);

    let plan = PublishPlan {
        rate: args.rate,
        duration,
        in_flight: args.in_flight,
    };
    let publish = if args.england {
        let england = England::generate(args.england_seed);
        let events = EnglandEvents::new(&england, args.england_homes_every);
        publisher::run(&js, plan, events).await
    } else {
        publisher::run(&js, plan, BedCycle::new(SITE, &ward, args.beds)).await
    };
    tracing::info!(
        acked = publish.acked,
        failed = publish.failed,
        "publishing finished"
    );

    let rss_end = args.gateway_pid.and_then(report::resident_kib);
    let client_results = clients.join().await;
    let mut report = Report::build(
        RunInfo {
            site: if args.england {
                "England (synthetic)".to_owned()
            } else {
                SITE.to_owned()
            },
            ward,
            target_rate: args.rate,
            duration_s: args.duration,
            beds: args.beds,
            clients: args.clients,
            in_flight: args.in_flight,
            settings,
        },
        &publish,
        &client_results,
    );
    if let (Some(before), Some(connected_kib), Some(end)) = (rss_before, rss_connected, rss_end) {
        report.gateway = Some(report::GatewayMemory::new(
            before,
            connected_kib,
            end,
            connected,
        ));
    }
    Ok(report)
}
