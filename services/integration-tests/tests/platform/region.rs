//! Another region: the platform started on a made-up ICS's data set
//! (`fixtures/regions/north-fells/`) serves that region's sites, beds, care
//! homes, localities and postcodes, and nothing of the built-in LLR.

#![allow(clippy::unwrap_used)] // test code: a failure should stop the test loudly

use std::path::PathBuf;

use pf_access::{Grant, Principal, Role};
use pf_discharge_model::NhsNumber;
use pf_integration_tests::{ControlRoomClient, Platform, site};
use serde_json::{Value, json};

fn north_fells() -> pf_region::RegionFiles {
    pf_region::RegionFiles::dir(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/regions/north-fells"),
    )
}

async fn post(platform: &Platform, token: &str, url: String, body: Value) -> (u16, Value) {
    let response = platform
        .http
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_on_another_regions_data_serves_that_region() {
    let platform = Platform::start_in_region(north_fells()).await;

    // The wall lists the region's sites, with its locality names, and its
    // care homes by its localities in its order.
    let mut room = ControlRoomClient::connect(&platform, None).await;
    let snapshot = room.next().await;
    assert_eq!(snapshot["type"], "snapshot");
    let fellside = site(&snapshot, "RZZAA").expect("the region's site is listed");
    assert_eq!(fellside["name"], "Fellside General Hospital");
    assert_eq!(fellside["locality"], "Upper Dale");
    assert_eq!(site(&snapshot, "RZZAB").unwrap()["locality"], "Lower Dale");
    assert!(site(&snapshot, "RWEAA").is_none(), "no LLR site");
    let localities: Vec<(&str, &str, u64)> = snapshot["care_homes"]["localities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["locality"].as_str().unwrap(),
                l["label"].as_str().unwrap(),
                l["homes"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        localities,
        [
            ("upper_dale", "Upper Dale", 1),
            ("lower_dale", "Lower Dale", 1)
        ]
    );

    // The wall's page names the region and its localities, nothing of LLR.
    let page = platform
        .http
        .get(format!("{}/control-room", platform.gateway_url))
        .bearer_auth(&platform.viewer_token)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    for words in [
        "North Fells Integrated Care System",
        "Upper Dale",
        "Fellside General",
    ] {
        assert!(page.contains(words), "{words} missing from the page");
    }
    assert!(!page.contains("Leicester"), "an LLR name on the page");

    // hospital-beds knows the region's beds and no other.
    let publisher = platform.token_for(
        &Principal::machine("fells-feed", "Fells PAS", None)
            .with_grant(Grant::parse(Role::BedPublisher, &["RZZ", "RWE"]).unwrap()),
    );
    let beds = |bed: &str| format!("{}/api/v1/beds/{bed}/open", platform.beds_url);
    let (status, body) = post(&platform, &publisher, beds("RZZAA/WD1/B01"), json!({})).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = post(&platform, &publisher, beds("RWEAA/WD15/B01"), json!({})).await;
    assert!(
        (400..500).contains(&status),
        "an LLR bed is refused: {status} {body}"
    );

    // The discharge search takes the region's postcodes and names the region.
    let coordinator = platform.token_for(
        &Principal::person("fells-idt", "Coordinator", None)
            .with_grant(Grant::parse(Role::DischargeCoordinator, &["RZZ"]).unwrap()),
    );
    let referral = |postcode: &str| {
        json!({
            "nhs_number": NhsNumber::test_number(7).as_str(),
            "sex": "female",
            "site": "RZZAA",
            "ward": "WD1",
            "discharge_ready_date": "2026-11-27",
            "pathway": 3,
            "care_needed": "residential",
            "search_postcode": postcode,
            "delay_reason": "awaiting_care_home_place",
        })
    };
    let discharges = format!("{}/api/v1/discharges", platform.discharges_url);
    let (status, body) = post(
        &platform,
        &coordinator,
        discharges.clone(),
        referral("LE2 7LX"),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body.to_string()
            .contains("Enter a postcode in North Fells, like ZZ1 4QT"),
        "{body}"
    );
    let (status, body) = post(&platform, &coordinator, discharges, referral("zz3 9xy")).await;
    assert_eq!(status, 201, "{body}");
    let id = body["discharge_id"].as_str().unwrap().to_owned();

    // Both homes report a free bed; the search finds them nearest first.
    let feed = platform.token_for(
        &Principal::machine("fells-homes", "Care records", None).with_grant(
            Grant::parse(Role::VacancyPublisher, &["1-900000001", "1-900000002"]).unwrap(),
        ),
    );
    for (home, vacancies) in [
        (
            "1-900000001",
            json!({"residential": {"vacant": 1}, "nursing": {"vacant": 0}}),
        ),
        ("1-900000002", json!({"residential": {"vacant": 1}})),
    ] {
        let response = platform
            .http
            .put(format!(
                "{}/api/v1/care-homes/{home}/vacancies",
                platform.care_homes_url
            ))
            .bearer_auth(&feed)
            .header("Idempotency-Key", uuid::Uuid::now_v7().to_string())
            .json(&json!({ "vacancies": vacancies }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }
    platform.wait_until_projected().await;
    let response = platform
        .http
        .get(format!(
            "{}/api/v1/discharges/{id}/matches",
            platform.discharges_url
        ))
        .bearer_auth(&coordinator)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let found: Value = response.json().await.unwrap();
    let homes: Vec<(&str, &str)> = found["homes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["cqc_location_id"].as_str().unwrap(),
                h["locality"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        homes,
        [("1-900000002", "Lower Dale"), ("1-900000001", "Upper Dale")],
        "{found}"
    );
}
