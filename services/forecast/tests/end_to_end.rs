//! The forecast service end to end on generated history: history written
//! into a real JetStream by the simulator's history mode (with an hour
//! missing, as when a feed is down), the service started for real, its
//! API read with a real token.

#![allow(clippy::unwrap_used)] // test code: a failure should stop the test loudly

use std::time::Duration;

use pf_care_home_model::Register;
use pf_forecast::ForecastConfig;
use pf_hospital_model::{Catalogue, GA_KINDS};
use pf_proto::v1::{self, event_envelope::Payload};
use pf_simulator::history::{self, ADMISSIONS_BY_HOUR, HistoryPlan};
use pf_test_support::{NatsServer, RedisServer};
use serde_json::Value;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

fn millis(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// Pearson correlation.
fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

fn values(series: &Value, field: &str) -> Vec<f64> {
    series["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[field].as_f64().unwrap_or(f64::NAN))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forecasts_learn_the_generated_pattern_with_widening_intervals_despite_a_missing_hour() {
    let nats = NatsServer::start();
    let redis = RedisServer::start();
    let client = async_nats::connect(nats.url()).await.unwrap();
    let jetstream = async_nats::jetstream::new(client);
    pf_streams::ensure(&jetstream, &pf_streams::StreamsConfig::default())
        .await
        .unwrap();

    let catalogue = Catalogue::llr().unwrap();
    let register = Register::llr_demo().unwrap();
    let end = pf_forecast::hour_start(OffsetDateTime::now_utc());
    let plan = HistoryPlan {
        weeks: 4,
        seed: 11,
        end,
    };
    let mut generated = history::generate(&catalogue, &register, &plan);
    // An hour with no events at all (a feed was down), a day and a half ago.
    let gap = millis(end - time::Duration::hours(36));
    let at = |p: &history::Planned| pf_proto::envelope::unix_millis(p.event.occurred_at.as_ref());
    generated
        .events
        .retain(|p| !(gap..gap + 3_600_000).contains(&at(p)));
    // What the generator did: G&A admissions a day over the last week.
    let week_ago = millis(end - time::Duration::days(7));
    let admitted_last_week = generated
        .events
        .iter()
        .filter(|p| at(p) >= week_ago)
        .filter(|p| match &p.event.payload {
            Some(Payload::BedStateChanged(c)) => {
                c.state == v1::BedState::Occupied as i32
                    && pf_hospital_model::BedKind::from_proto(c.kind)
                        .is_some_and(|k| GA_KINDS.contains(&k))
            }
            _ => false,
        })
        .count() as f64;
    let written = history::write(&jetstream, &generated).await.unwrap();
    assert_eq!(written.stored as usize, generated.events.len());

    let issuer = pf_access::LocalIssuer::new(
        pf_access::Mode::Development,
        pf_access::LocalIssuerConfig::default(),
    )
    .unwrap();
    let viewer = pf_access::demo_principals()
        .into_iter()
        .find(|p| p.id == "demo-control-room")
        .unwrap();
    let token = issuer.issue(&viewer, Duration::from_secs(3600)).unwrap();
    let sign_in = pf_sign_in::SignInSettings::local(issuer.issuer_config(), &redis.url());
    let mut config = ForecastConfig::local(&nats.url(), &redis.url(), sign_in);
    config.history_weeks = 4;
    config.refit_events = 1;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    tokio::spawn(pf_forecast::run(
        listener,
        config,
        catalogue,
        shutdown.clone(),
    ));
    let http = reqwest::Client::new();
    let get = |path: &str, token: Option<&str>| {
        let mut request = http.get(format!("{url}{path}"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };

    // Waits (however long the fit takes on a busy machine) for the board;
    // ten minutes without one is a failure, not slowness.
    let deadline = std::time::Instant::now() + Duration::from_secs(600);
    let summary: Value = loop {
        assert!(
            std::time::Instant::now() < deadline,
            "no forecast board came"
        );
        if let Ok(response) = get("/api/v1/forecast", Some(&token)).await
            && response.status() == 200
        {
            break response.json().await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        summary["synthetic_events"], summary["events"],
        "every event read was synthetic history"
    );
    assert!(summary["events"].as_u64().unwrap() > 10_000);
    // For people reading the output: how long fitting every series took
    // (not asserted: speed is not a test's business).
    println!(
        "{} series fitted in {:.1} s",
        summary["series_fitted"],
        summary["fit_seconds"].as_f64().unwrap_or(f64::NAN)
    );

    let system: Value = get("/api/v1/forecast/system", Some(&token))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let scope = &system["scope"];
    assert_eq!(
        scope["unavailable"],
        serde_json::json!({}),
        "{}",
        scope["unavailable"]
    );
    for (name, series) in scope["series"].as_object().unwrap() {
        for field in ["value", "lower_80", "upper_80", "lower_95", "upper_95"] {
            let v = values(series, field);
            assert_eq!(v.len(), 72, "{name}");
            assert!(v.iter().all(|x| x.is_finite()), "{name}.{field} has a hole");
        }
    }

    // The known pattern: about as many admissions a day as last week, in
    // the generator's daily curve.
    let admissions = &scope["series"]["admissions"];
    let point = values(admissions, "value");
    let next_day: f64 = point[..24].iter().sum();
    let daily = admitted_last_week / 7.0;
    assert!(
        (next_day - daily).abs() < 0.25 * daily,
        "forecast {next_day:.0} admissions in the next 24 h; the last week averaged {daily:.0} a day"
    );
    let from = OffsetDateTime::parse(
        admissions["points"][0]["at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let uk_hour = |h: usize| {
        let t = from + time::Duration::hours(h as i64);
        let summer = pf_hl7_adt::timestamp::is_summer_time(t);
        usize::from(
            (if summer {
                t + time::Duration::hours(1)
            } else {
                t
            })
            .hour(),
        )
    };
    let curve: Vec<f64> = (0..24).map(|h| ADMISSIONS_BY_HOUR[uk_hour(h)]).collect();
    let r = correlation(&point[..24], &curve);
    // A flat or shifted forecast scores near 0 or below; a good one 0.78 to
    // 0.95, depending on the hour the run starts (a Monday surge or a
    // weekend in the next 24 h bends the curve the forecaster learnt).
    assert!(r > 0.7, "the forecast follows the daily curve (r = {r:.2})");

    // Intervals widen with the horizon.
    let occupied = &scope["series"]["occupied_ga_beds"];
    let width = |h: usize| values(occupied, "upper_95")[h] - values(occupied, "lower_95")[h];
    assert!(
        width(71) > width(0),
        "95% width at 72 h {} vs 1 h {}",
        width(71),
        width(0)
    );
    let w80 = values(occupied, "upper_80")[47] - values(occupied, "lower_80")[47];
    assert!(w80 < width(47), "the 80% interval sits inside the 95%");

    // The OPEL level implied for tomorrow 08:00, with what was held.
    let tomorrow = &scope["opel"]["tomorrow_0800"];
    assert!(tomorrow["level"].is_string(), "{}", scope["opel"]);
    assert_eq!(
        tomorrow["held_at_latest"],
        serde_json::json!(["escalation_beds_open"])
    );
    assert!(tomorrow["parameters"]["ga_occupancy_pct"].as_f64().unwrap() > 50.0);

    // People who may not see the control room, and bad scopes, are refused.
    assert_eq!(
        get("/api/v1/forecast/system", None).await.unwrap().status(),
        401
    );
    let unknown = get("/api/v1/forecast/NOPE", Some(&token)).await.unwrap();
    assert_eq!(unknown.status(), 404);
    let body: Value = unknown.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("There is no forecast for `NOPE`")
    );

    // New events (here one, with PF_FORECAST_REFIT_EVENTS=1) refit at once.
    let mut more = generated.clone();
    more.events.truncate(1);
    more.events[0].event.event_id = uuid::Uuid::now_v7().to_string();
    let message = async_nats::jetstream::message::PublishMessage::build()
        .payload(more.events[0].event.to_bytes().into())
        .message_id(&more.events[0].event.event_id);
    jetstream
        .send_publish(more.events[0].subject.clone(), message)
        .await
        .unwrap()
        .await
        .unwrap();
    loop {
        assert!(std::time::Instant::now() < deadline, "no refit came");
        let metrics = get("/metrics", None).await.unwrap().text().await.unwrap();
        if metrics.contains("pf_forecast_refits_total{reason=\"rebuild\"} 1") {
            assert!(metrics.contains("pf_forecast_fit_seconds_count"));
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The backtest scores reach the metrics.
    loop {
        assert!(std::time::Instant::now() < deadline, "no backtest came");
        let metrics = get("/metrics", None).await.unwrap().text().await.unwrap();
        if metrics.contains("pf_forecast_backtest_mase{horizon_hours=\"24\",series=\"admissions\"}")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    shutdown.cancel();
}
