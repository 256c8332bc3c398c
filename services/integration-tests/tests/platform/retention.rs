//! Patient data kept only as long as needed: an expired patient's NHS
//! number can no longer be read from any stream or store, and a replay
//! still rebuilds every count (crypto-shredding, `pf-patient-keys`).

#![allow(clippy::unwrap_used)] // test code: a failure should stop the test loudly

use std::time::{Duration, Instant};

use futures::StreamExt as _;
use pf_access::{Grant, Principal, Role};
use pf_discharge_model::NhsNumber;
use pf_integration_tests::Platform;
use serde_json::{Value, json};

fn coordinator() -> Principal {
    Principal::person("idt-1", "Coordinator idt-1", None)
        .with_grant(Grant::parse(Role::DischargeCoordinator, &["RWE"]).unwrap())
}

async fn call(
    platform: &Platform,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = platform
        .http
        .request(method, format!("{}{path}", platform.discharges_url))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Every message of every JetStream stream, headers and payload, as bytes.
async fn every_stream_message(platform: &Platform) -> Vec<(String, Vec<u8>)> {
    let js = platform.jetstream().await;
    let names: Vec<String> = js
        .stream_names()
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let mut all = Vec::new();
    for name in names {
        let stream = js.get_stream(&name).await.unwrap();
        let last = stream.cached_info().state.last_sequence;
        for sequence in 1..=last {
            let Ok(message) = stream.get_raw_message(sequence).await else {
                continue; // deleted or never stored
            };
            let mut bytes = message.payload.to_vec();
            bytes.extend_from_slice(format!("{:?}", message.headers).as_bytes());
            all.push((format!("{name}#{sequence}"), bytes));
        }
    }
    all
}

/// Every Redis key and what it holds, whatever its type, as bytes.
async fn every_redis_value(platform: &Platform) -> Vec<(String, Vec<u8>)> {
    let client = redis::Client::open(platform.redis.url()).unwrap();
    let mut redis = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut redis)
        .await
        .unwrap();
    let mut all = Vec::new();
    for key in keys {
        let kind: String = redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut redis)
            .await
            .unwrap();
        let value: redis::Value = match kind.as_str() {
            "string" => redis::cmd("GET")
                .arg(&key)
                .query_async(&mut redis)
                .await
                .unwrap(),
            "hash" => redis::cmd("HGETALL")
                .arg(&key)
                .query_async(&mut redis)
                .await
                .unwrap(),
            "set" => redis::cmd("SMEMBERS")
                .arg(&key)
                .query_async(&mut redis)
                .await
                .unwrap(),
            "zset" => redis::cmd("ZRANGE")
                .arg(&key)
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES")
                .query_async(&mut redis)
                .await
                .unwrap(),
            "list" => redis::cmd("LRANGE")
                .arg(&key)
                .arg(0)
                .arg(-1)
                .query_async(&mut redis)
                .await
                .unwrap(),
            "stream" => redis::cmd("XRANGE")
                .arg(&key)
                .arg("-")
                .arg("+")
                .query_async(&mut redis)
                .await
                .unwrap(),
            _ => redis::Value::Nil,
        };
        all.push((key, format!("{value:?}").into_bytes()));
    }
    all
}

fn holding<'a>(places: &'a [(String, Vec<u8>)], digits: &str) -> Vec<&'a str> {
    places
        .iter()
        .filter(|(_, bytes)| bytes.windows(digits.len()).any(|w| w == digits.as_bytes()))
        .map(|(place, _)| place.as_str())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_patients_nhs_number_is_gone_from_every_stream_and_store_and_replay_still_counts()
 {
    let platform = Platform::start().await;
    let token = platform.token_for(&coordinator());
    let number = NhsNumber::test_number(4242);
    let postcode = "LE2 7LX";
    let (status, body) = call(
        &platform,
        &token,
        reqwest::Method::POST,
        "/api/v1/discharges",
        Some(json!({
            "nhs_number": number.as_str(),
            "sex": "female",
            "site": "RWEAA",
            "ward": "WD15",
            "discharge_ready_date": "2026-11-27",
            "pathway": 1,
            "search_postcode": postcode,
            "delay_reason": "awaiting_package_of_care",
            "needs": "Walks with a frame"
        })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let id = body["discharge_id"].as_str().unwrap().to_owned();
    // A second patient who still waits keeps their number readable.
    let waiting = NhsNumber::test_number(4243);
    let (status, body) = call(
        &platform,
        &token,
        reqwest::Method::POST,
        "/api/v1/discharges",
        Some(json!({
            "nhs_number": waiting.as_str(),
            "sex": "male",
            "site": "RWEAA",
            "ward": "WD15",
            "discharge_ready_date": "2026-11-27",
            "pathway": 0,
            "search_postcode": postcode,
            "delay_reason": "awaiting_assessment",
            "needs": ""
        })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let waiting_id = body["discharge_id"].as_str().unwrap().to_owned();

    let (status, body) = call(
        &platform,
        &token,
        reqwest::Method::POST,
        &format!("/api/v1/discharges/{id}/discharge"),
        Some(json!({"destination": "usual_residence"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    platform.wait_until_projected().await;

    // Within the retention period the coordinators still read the number.
    let (status, body) = call(
        &platform,
        &token,
        reqwest::Method::GET,
        &format!("/api/v1/discharges/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["nhs_number"], number.spaced(), "{body}");

    // The number is in no stream and no store in the clear, even now.
    let digits = number.as_str();
    assert_eq!(
        holding(&every_stream_message(&platform).await, digits),
        Vec::<&str>::new(),
        "streams holding the NHS number in the clear"
    );
    assert_eq!(
        holding(&every_redis_value(&platform).await, digits),
        Vec::<&str>::new(),
        "Redis keys holding the NHS number in the clear"
    );

    // The retention period after discharge passes.
    platform.clock.advance(time::Duration::days(400));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = call(
            &platform,
            &token,
            reqwest::Method::GET,
            &format!("/api/v1/discharges/{id}"),
            None,
        )
        .await;
        if status == 410 {
            assert!(
                body["error"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("retention"),
                "the answer says why: {body}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the patient's details were never deleted: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Neither the number nor the search postcode can be read anywhere, in the
    // clear, and the sealed copy can no longer be opened.
    for text in [digits, postcode] {
        assert_eq!(
            holding(&every_stream_message(&platform).await, text),
            Vec::<&str>::new(),
            "{text} in a stream"
        );
        assert_eq!(
            holding(&every_redis_value(&platform).await, text),
            Vec::<&str>::new(),
            "{text} in Redis"
        );
    }
    let (status, body) = call(
        &platform,
        &token,
        reqwest::Method::GET,
        "/api/v1/discharges",
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        !body.to_string().contains(&id),
        "the expired patient is off every list: {body}"
    );

    // The patient still waiting keeps their number.
    let (status, body) = call(
        &platform,
        &token,
        reqwest::Method::GET,
        &format!("/api/v1/discharges/{waiting_id}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["nhs_number"], waiting.spaced(), "{body}");

    // A replay from the streams rebuilds exactly the live state (every count,
    // the expired patient's discharge among them).
    let js = platform.jetstream().await;
    let mut live = platform.live_state("pf:").await;
    let mut scratch = platform.live_state("pf-check-retention:").await;
    let report = pf_projection::replay::check(&js, &mut live, &mut scratch, 64)
        .await
        .unwrap();
    assert!(report.differences.is_empty(), "{:?}", report.differences);
    assert_eq!(report.replay.unusable, 0, "every event still replays");
    let client = redis::Client::open(platform.redis.url()).unwrap();
    let mut redis = client.get_multiplexed_async_connection().await.unwrap();
    let summary: String = redis::cmd("HGET")
        .arg("pf:discharges:summary")
        .arg(&id)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(summary.contains("\"discharged\""), "{summary}");
}
