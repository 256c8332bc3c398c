//! Clock and timezone hazards (hazard log H09): a "day" is a UK day. Between
//! 23:00 and 00:00 UTC in summer it is already tomorrow in the UK (BST), and
//! the coordinators' pages must agree with the wall about which day it is.

#![allow(clippy::unwrap_used)] // test code: a failure should stop the test loudly

use pf_access::{Grant, Principal, Role};
use pf_care_home_log::Clock as _;
use pf_discharge_model::NhsNumber;
use pf_integration_tests::Platform;
use serde_json::{Value, json};
use time::macros::datetime;

fn coordinator() -> Principal {
    Principal::person("idt-clock", "Coordinator", None)
        .with_grant(Grant::parse(Role::DischargeCoordinator, &["RWE"]).unwrap())
}

async fn call(platform: &Platform, token: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let url = format!("{}{path}", platform.discharges_url);
    let request = match body {
        Some(body) => platform.http.post(url).json(&body),
        None => platform.http.get(url),
    };
    let response = request.bearer_auth(token).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_uk_midnight_in_bst_the_discharge_list_counts_the_new_uk_day() {
    let platform = Platform::start().await;
    // 23:30 UTC on 1 July 2027 is 00:30 BST on 2 July: the UK day is 2 July.
    let at = datetime!(2027-07-01 23:30 UTC);
    platform.clock.advance(at - platform.clock.now());
    let token = platform.token_for(&coordinator());
    // A patient whose Discharge Ready Date is today in the UK is accepted
    // (a UTC "today" would call 2 July a date in the future)…
    let (status, body) = call(
        &platform,
        &token,
        "/api/v1/discharges",
        Some(json!({
            "nhs_number": NhsNumber::test_number(77).as_str(),
            "sex": "female",
            "site": "RWEAA",
            "ward": "WD15",
            "discharge_ready_date": "2027-07-02",
            "pathway": 0,
            "search_postcode": "LE2 7LX",
            "delay_reason": "awaiting_assessment",
            "needs": ""
        })),
    )
    .await;
    assert_eq!(status, 201, "the UK date is 2 July: {body}");
    assert_eq!(body["delay_days"], 0, "{body}");
    // …and one ready on 1 July has waited one UK day, as the wall counts it.
    let (status, body) = call(
        &platform,
        &token,
        "/api/v1/discharges",
        Some(json!({
            "nhs_number": NhsNumber::test_number(78).as_str(),
            "sex": "male",
            "site": "RWEAA",
            "ward": "WD15",
            "discharge_ready_date": "2027-07-01",
            "pathway": 0,
            "search_postcode": "LE2 7LX",
            "delay_reason": "awaiting_assessment",
            "needs": ""
        })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["delay_days"], 1, "{body}");
    let wall = pf_live_state::discharge_counts::uk_date(at);
    assert_eq!(wall, time::macros::date!(2027 - 07 - 02), "the wall's day");
}
