//! ED attendances and ambulance arrivals, through the urgent-care API, as
//! the trusts' ED systems and the ambulance service's feed send them.
//!
//! On start every acute site gets a believable department: 25-45 patients
//! who arrived over the last 14 hours (so a few are past 4 and 12 hours), a
//! third of those past 3 hours with a decision to admit, and 1-4 vehicles
//! waiting to hand over that arrived within the last 80 minutes. Then, at
//! `PF_SIM_SPEED` (about one event a second at 1.0): arrivals (about one in
//! four by ambulance, which also hands over later), decisions to admit,
//! departures (admitted after a decision; else mostly discharged, a few
//! transferred), handovers and vehicles clearing. Ids are opaque
//! (`sim-{run}-{n}`): no patient data. Refusals are logged and the record
//! forgotten; an unavailable API is retried on the next beat.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng as _;
use rand::rngs::StdRng;
use reqwest::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio_util::sync::CancellationToken;

use crate::client::send_signed;
use crate::credentials::TokenProvider;

/// Patients the flow aims to keep in each department.
const TARGET_IN_DEPARTMENT: usize = 35;

/// One attendance the flow keeps track of.
#[derive(Debug, Clone)]
struct Attendance {
    site: String,
    id: String,
    decided: bool,
}

/// One vehicle at a hospital.
#[derive(Debug, Clone)]
struct Vehicle {
    site: String,
    id: String,
    handed_over: bool,
}

/// What the flow did.
#[derive(Debug, Default, Clone, Copy)]
pub struct UrgentCareStats {
    /// Events the API stored.
    pub sent: u64,
    /// Events refused (4xx).
    pub refused: u64,
    /// Requests that failed (transport or 5xx).
    pub failed: u64,
}

/// The running ED and ambulance flow.
pub struct Flow {
    http: reqwest::Client,
    url: String,
    credentials: Option<Arc<TokenProvider>>,
    sites: Vec<String>,
    rng: StdRng,
    speed: f64,
    run: String,
    next: u64,
    department: Vec<Attendance>,
    vehicles: Vec<Vehicle>,
    stats: UrgentCareStats,
}

impl Flow {
    /// A flow for `sites` (acute sites' ODS codes) against the API at `url`.
    pub fn new(
        http: reqwest::Client,
        url: &str,
        credentials: Option<Arc<TokenProvider>>,
        sites: Vec<String>,
        mut rng: StdRng,
        speed: f64,
    ) -> Self {
        let run = format!("{:06x}", rng.random::<u32>() & 0xff_ffff);
        Self {
            http,
            url: url.trim_end_matches('/').to_owned(),
            credentials,
            sites,
            rng,
            speed: speed.max(0.01),
            run,
            next: 0,
            department: Vec::new(),
            vehicles: Vec::new(),
            stats: UrgentCareStats::default(),
        }
    }

    /// What the flow did so far.
    pub fn stats(&self) -> UrgentCareStats {
        self.stats
    }

    fn new_id(&mut self) -> String {
        self.next += 1;
        format!("sim-{}-{}", self.run, self.next)
    }

    /// Sends one event; true when the API stored it (or already had it).
    async fn send(&mut self, path: &str, body: Value) -> bool {
        self.try_send(path, body).await == Some(true)
    }

    /// Sends one event: `Some(true)` stored, `Some(false)` refused (4xx),
    /// `None` failed.
    async fn try_send(&mut self, path: &str, body: Value) -> Option<bool> {
        let url = format!("{}{path}", self.url);
        let http = self.http.clone();
        let sent = send_signed(self.credentials.as_deref(), || http.post(&url).json(&body)).await;
        match sent {
            Ok(response) if response.status().is_success() => {
                self.stats.sent += 1;
                Some(true)
            }
            Ok(response) if response.status().is_client_error() => {
                let status = response.status();
                let answer = response.text().await.unwrap_or_default();
                if status != StatusCode::TOO_MANY_REQUESTS {
                    self.stats.refused += 1;
                }
                tracing::warn!(%status, %path, %answer, "urgent-care event refused");
                Some(false).filter(|_| status != StatusCode::TOO_MANY_REQUESTS)
            }
            Ok(response) => {
                self.stats.failed += 1;
                tracing::warn!(status = %response.status(), %path, "urgent-care API failed");
                None
            }
            Err(error) => {
                self.stats.failed += 1;
                tracing::warn!(%error, %path, "urgent-care API unavailable");
                None
            }
        }
    }

    fn at(minutes_ago: i64) -> Value {
        let at = OffsetDateTime::now_utc() - time::Duration::minutes(minutes_ago);
        json!({ "occurred_at": at.format(&Rfc3339).unwrap_or_default() })
    }

    /// Fills each department and forecourt to a believable start.
    async fn seed(&mut self, cancel: &CancellationToken) {
        for site in self.sites.clone() {
            let patients = self.rng.random_range(25..=45);
            for _ in 0..patients {
                if cancel.is_cancelled() {
                    return;
                }
                // Most stays are short; a tail is long.
                let minutes: i64 = if self.rng.random_bool(0.8) {
                    self.rng.random_range(5..300)
                } else {
                    self.rng.random_range(300..840)
                };
                let id = self.new_id();
                if !self
                    .send(
                        &format!("/api/v1/ed/{site}/{id}/arrival"),
                        Self::at(minutes),
                    )
                    .await
                {
                    continue;
                }
                let mut attendance = Attendance {
                    site: site.clone(),
                    id,
                    decided: false,
                };
                if minutes > 180 && self.rng.random_bool(0.35) {
                    let decided_ago = self.rng.random_range(0..minutes - 120);
                    attendance.decided = self
                        .send(
                            &format!("/api/v1/ed/{site}/{}/decision-to-admit", attendance.id),
                            Self::at(decided_ago),
                        )
                        .await;
                }
                self.department.push(attendance);
            }
            for _ in 0..self.rng.random_range(1..=4) {
                let id = self.new_id();
                let minutes = self.rng.random_range(2..80);
                if self
                    .send(
                        &format!("/api/v1/ambulance/{site}/{id}/arrival"),
                        Self::at(minutes),
                    )
                    .await
                {
                    self.vehicles.push(Vehicle {
                        site: site.clone(),
                        id,
                        handed_over: false,
                    });
                }
            }
        }
    }

    /// Seeds, then sends events until `cancel`.
    pub async fn run(&mut self, cancel: &CancellationToken) {
        if self.sites.is_empty() {
            return;
        }
        self.seed(cancel).await;
        let beat = Duration::from_secs_f64(1.0 / self.speed);
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(beat) => {}
            }
            self.step().await;
        }
    }

    /// One event, chosen by what the departments need.
    async fn step(&mut self) {
        let site = self.sites[self.rng.random_range(0..self.sites.len())].clone();
        let here = self.department.iter().filter(|a| a.site == site).count();
        let arrive_weight = if here < TARGET_IN_DEPARTMENT { 4 } else { 2 };
        let choice = self.rng.random_range(0..(arrive_weight + 6));
        if choice < arrive_weight {
            let id = self.new_id();
            if self
                .send(&format!("/api/v1/ed/{site}/{id}/arrival"), json!({}))
                .await
            {
                if self.rng.random_bool(0.25) {
                    let vehicle = self.new_id();
                    if self
                        .send(
                            &format!("/api/v1/ambulance/{site}/{vehicle}/arrival"),
                            json!({}),
                        )
                        .await
                    {
                        self.vehicles.push(Vehicle {
                            site: site.clone(),
                            id: vehicle,
                            handed_over: false,
                        });
                    }
                }
                self.department.push(Attendance {
                    site,
                    id,
                    decided: false,
                });
            }
            return;
        }
        match choice - arrive_weight {
            0 => self.decide_to_admit().await,
            1..=3 => self.depart().await,
            4 => self.hand_over().await,
            _ => self.clear().await,
        }
    }

    async fn decide_to_admit(&mut self) {
        let waiting: Vec<usize> = (0..self.department.len())
            .filter(|&i| !self.department[i].decided)
            .collect();
        if waiting.is_empty() {
            return;
        }
        let i = waiting[self.rng.random_range(0..waiting.len())];
        let Attendance { site, id, .. } = self.department[i].clone();
        if self
            .send(
                &format!("/api/v1/ed/{site}/{id}/decision-to-admit"),
                json!({}),
            )
            .await
        {
            self.department[i].decided = true;
        }
    }

    async fn depart(&mut self) {
        if self.department.is_empty() {
            return;
        }
        let i = self.rng.random_range(0..self.department.len());
        let Attendance { site, id, decided } = self.department[i].clone();
        let outcome = if decided {
            "admitted"
        } else if self.rng.random_bool(0.95) {
            "discharged"
        } else {
            "transferred"
        };
        // Refused (already gone) or stored: either way it has left.
        let answered = self
            .try_send(
                &format!("/api/v1/ed/{site}/{id}/departure"),
                json!({ "outcome": outcome }),
            )
            .await;
        if answered.is_some() {
            self.department.swap_remove(i);
        }
    }

    async fn hand_over(&mut self) {
        let waiting: Vec<usize> = (0..self.vehicles.len())
            .filter(|&i| !self.vehicles[i].handed_over)
            .collect();
        if waiting.is_empty() {
            return;
        }
        let i = waiting[self.rng.random_range(0..waiting.len())];
        let Vehicle { site, id, .. } = self.vehicles[i].clone();
        if self
            .send(
                &format!("/api/v1/ambulance/{site}/{id}/handover"),
                json!({}),
            )
            .await
        {
            self.vehicles[i].handed_over = true;
        }
    }

    async fn clear(&mut self) {
        let Some(i) = self.vehicles.iter().position(|v| v.handed_over) else {
            return;
        };
        let Vehicle { site, id, .. } = self.vehicles[i].clone();
        if self
            .send(&format!("/api/v1/ambulance/{site}/{id}/clear"), json!({}))
            .await
        {
            self.vehicles.swap_remove(i);
        }
    }
}
