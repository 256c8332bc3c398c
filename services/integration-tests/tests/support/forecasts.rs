//! A forecast service (`pf-forecast`) beside a [`Platform`], fitted on
//! history the simulator's history mode wrote into a JetStream of its own
//! (the platform's streams stay as its tests make them), signing callers in
//! with the platform's issuer and sessions. Shared by the platform tests
//! (`fhir`) and the slow ones (`forecast_band_browser`) through `#[path]`.

use std::time::{Duration, Instant};

use pf_care_home_model::Register;
use pf_hospital_model::Catalogue;
use pf_simulator::history::{self, HistoryPlan};
use pf_test_support::NatsServer;
use serde_json::Value;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use pf_integration_tests::Platform;

/// A running, fitted forecast service.
pub struct Forecasts {
    /// Its NATS (the history), kept running while it runs.
    _nats: NatsServer,
    /// Its base URL.
    pub url: String,
    shutdown: CancellationToken,
}

impl Drop for Forecasts {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Forecasts {
    /// Writes `weeks` of generated history for `catalogue` and the test
    /// register, starts the service and waits (as long as the fit takes;
    /// ten minutes without a board is a failure) until its first forecast.
    pub async fn start(platform: &Platform, catalogue: &str, weeks: u32) -> Self {
        let nats = NatsServer::start();
        pf_integration_tests::create_streams(&nats.url()).await;
        let jetstream = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
        let catalogue = Catalogue::from_json(catalogue).unwrap();
        let register = Register::from_json(pf_integration_tests::TEST_REGISTER).unwrap();
        let plan = HistoryPlan {
            weeks,
            seed: 5,
            end: pf_forecast::hour_start(OffsetDateTime::now_utc()),
        };
        let generated = history::generate(&catalogue, &register, &plan);
        history::write(&jetstream, &generated).await.unwrap();

        let sign_in = pf_sign_in::SignInSettings::local(
            platform.issuer.issuer_config(),
            &platform.redis.url(),
        );
        let mut config =
            pf_forecast::ForecastConfig::local(&nats.url(), &platform.redis.url(), sign_in);
        config.history_weeks = weeks;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        tokio::spawn(pf_forecast::run(
            listener,
            config,
            catalogue,
            shutdown.clone(),
        ));
        let forecasts = Self {
            _nats: nats,
            url,
            shutdown,
        };
        forecasts.summary(platform).await;
        forecasts
    }

    /// `GET /api/v1/forecast/{scope}` as the control room.
    pub async fn scope(&self, platform: &Platform, scope: &str) -> Value {
        let response = platform
            .http
            .get(format!("{}/api/v1/forecast/{scope}", self.url))
            .bearer_auth(&platform.viewer_token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "forecast for {scope}");
        response.json().await.unwrap()
    }

    /// `GET /api/v1/forecast` as the control room, once the first fit is
    /// done.
    pub async fn summary(&self, platform: &Platform) -> Value {
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            assert!(Instant::now() < deadline, "no forecast board came");
            if let Ok(response) = platform
                .http
                .get(format!("{}/api/v1/forecast", self.url))
                .bearer_auth(&platform.viewer_token)
                .send()
                .await
                && response.status() == 200
            {
                return response.json().await.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
