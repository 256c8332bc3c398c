//! The load-test report: what was published, what the clients saw, latency.

use std::fmt;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::clients::{ClientResult, new_histogram};
use crate::publisher::{PublishStats, StreamSettings};

/// The parameters of the run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunInfo {
    /// Site code of the load-test events.
    pub site: String,
    /// Ward code of this run.
    pub ward: String,
    /// Target events per second.
    pub target_rate: u32,
    /// Seconds of publishing.
    pub duration_s: u64,
    /// Beds in the ward.
    pub beds: u32,
    /// Websocket clients asked for.
    pub clients: u32,
    /// Most publish acks outstanding at once.
    pub in_flight: u32,
    /// What the figures were measured with.
    pub settings: StreamSettings,
}

/// What the publisher did.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PublishSummary {
    /// Events sent.
    pub sent: u64,
    /// Events stored by JetStream.
    pub acked: u64,
    /// Acks flagged as duplicates.
    pub duplicates: u64,
    /// Failed publishes or acks.
    pub failed: u64,
    /// Seconds from the first publish to the last ack.
    pub elapsed_s: f64,
    /// Acked events per second over that time.
    pub acked_per_s: f64,
    /// The first failure, if any.
    pub first_error: Option<String>,
}

/// Smallest, mean and largest of a per-client count.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Default)]
pub struct Spread {
    /// Smallest.
    pub min: f64,
    /// Mean.
    pub mean: f64,
    /// Largest.
    pub max: f64,
}

/// Spread of `values`; all zero when there are none.
pub fn spread(values: &[f64]) -> Spread {
    if values.is_empty() {
        return Spread::default();
    }
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    Spread { min, mean, max }
}

/// What the websocket clients saw, summed or spread over clients.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClientSummary {
    /// Clients that connected and received a first frame.
    pub connected: u32,
    /// Clients that stopped with an error.
    pub failed: u32,
    /// The first client error, if any.
    pub first_error: Option<String>,
    /// Delta frames per client (all sites).
    pub deltas_per_client: Spread,
    /// Load-test deltas per client.
    pub loadtest_deltas_per_client: Spread,
    /// Load-test deltas per second per client (first to last arrival).
    pub loadtest_deltas_per_s: Spread,
    /// Deltas that skipped versions (or came before a snapshot), all clients.
    pub gaps: u64,
    /// Versions skipped, all clients.
    pub missing_versions: u64,
    /// Deltas not newer than the previous one, all clients.
    pub stale_deltas: u64,
    /// Snapshots after the first (the gateway made a client start again), all clients.
    pub resyncs: u64,
    /// Reconnections, all clients.
    pub reconnects: u64,
    /// Frames that could not be read, all clients.
    pub parse_errors: u64,
}

/// Latency from `occurred_at` to arrival at a client, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Default)]
pub struct LatencySummary {
    /// Samples.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: u64,
    /// 95th percentile.
    pub p95: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Largest.
    pub max: u64,
}

/// Percentiles of `histogram`; all zero when it is empty.
pub fn latency_summary(histogram: &Histogram<u64>) -> LatencySummary {
    if histogram.is_empty() {
        return LatencySummary::default();
    }
    LatencySummary {
        count: histogram.len(),
        mean: histogram.mean(),
        p50: histogram.value_at_quantile(0.50),
        p95: histogram.value_at_quantile(0.95),
        p99: histogram.value_at_quantile(0.99),
        max: histogram.max(),
    }
}

/// The whole report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    /// Parameters.
    pub run: RunInfo,
    /// Publishing.
    pub publish: PublishSummary,
    /// Websocket clients.
    pub clients: ClientSummary,
    /// End-to-end latency, all clients merged.
    pub latency_ms: LatencySummary,
    /// The gateway's resident memory, when `--gateway-pid` was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<GatewayMemory>,
}

/// The gateway's resident memory (VmRSS) during the run, in KiB.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct GatewayMemory {
    /// Before any client connected.
    pub before_kib: u64,
    /// Once the clients were connected.
    pub connected_kib: u64,
    /// When publishing ended.
    pub end_kib: u64,
    /// (end − before) / connected clients.
    pub per_client_kib: f64,
}

impl GatewayMemory {
    /// The figures from three readings and the clients connected.
    pub fn new(before_kib: u64, connected_kib: u64, end_kib: u64, clients: u32) -> Self {
        let grown = end_kib.max(connected_kib).saturating_sub(before_kib);
        Self {
            before_kib,
            connected_kib,
            end_kib,
            per_client_kib: if clients > 0 {
                grown as f64 / f64::from(clients)
            } else {
                0.0
            },
        }
    }
}

/// A process's resident memory in KiB (`VmRSS` of `/proc/<pid>/status`).
pub fn resident_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    vm_rss_kib(&status)
}

/// The `VmRSS:` line of a `/proc/<pid>/status` text, in KiB.
pub fn vm_rss_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

impl Report {
    /// Builds the report from the publisher's stats and each client's result.
    pub fn build(run: RunInfo, publish: &PublishStats, clients: &[ClientResult]) -> Self {
        let elapsed_s = publish.elapsed.as_secs_f64();
        let publish = PublishSummary {
            sent: publish.sent,
            acked: publish.acked,
            duplicates: publish.duplicates,
            failed: publish.failed,
            elapsed_s,
            acked_per_s: if elapsed_s > 0.0 {
                publish.acked as f64 / elapsed_s
            } else {
                0.0
            },
            first_error: publish.first_error.clone(),
        };

        let mut merged = new_histogram();
        for client in clients {
            if let Err(err) = merged.add(&client.latencies) {
                tracing::warn!(cause = %err, "could not merge a client's latencies");
            }
        }
        let per_client = |f: &dyn Fn(&ClientResult) -> f64| -> Spread {
            spread(
                &clients
                    .iter()
                    .filter(|c| c.connected)
                    .map(f)
                    .collect::<Vec<_>>(),
            )
        };
        let rates: Vec<f64> = clients
            .iter()
            .filter_map(ClientResult::loadtest_rate)
            .collect();
        let sum = |f: &dyn Fn(&ClientResult) -> u64| clients.iter().map(f).sum::<u64>();
        let summary = ClientSummary {
            connected: clients.iter().filter(|c| c.connected).count() as u32,
            failed: clients.iter().filter(|c| c.error.is_some()).count() as u32,
            first_error: clients.iter().find_map(|c| c.error.clone()),
            deltas_per_client: per_client(&|c| c.deltas as f64),
            loadtest_deltas_per_client: per_client(&|c| c.loadtest_deltas as f64),
            loadtest_deltas_per_s: spread(&rates),
            gaps: sum(&|c| c.versions.gaps),
            missing_versions: sum(&|c| c.versions.missing),
            stale_deltas: sum(&|c| c.versions.stale),
            resyncs: sum(&|c| c.versions.resyncs),
            reconnects: sum(&|c| u64::from(c.reconnects)),
            parse_errors: sum(&|c| c.parse_errors),
        };
        Self {
            run,
            publish,
            clients: summary,
            latency_ms: latency_summary(&merged),
            gateway: None,
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (r, p, c, l) = (&self.run, &self.publish, &self.clients, &self.latency_ms);
        writeln!(f, "Patient Flow load test: site {} ward {}", r.site, r.ward)?;
        writeln!(
            f,
            "  target {} events/s for {} s over {} beds, {} clients, {} acks in flight",
            r.target_rate, r.duration_s, r.beds, r.clients, r.in_flight
        )?;
        writeln!(
            f,
            "  measured with nats-server {}, {} R{} ({} storage; fsync as the server's sync_interval says)",
            r.settings.nats_server,
            crate::publisher::STREAM,
            r.settings.replicas,
            r.settings.storage
        )?;
        writeln!(f, "Publishing (JetStream)")?;
        writeln!(
            f,
            "  sent {}  acked {}  duplicate {}  failed {}",
            p.sent, p.acked, p.duplicates, p.failed
        )?;
        writeln!(
            f,
            "  achieved {:.0} acked events/s over {:.1} s",
            p.acked_per_s, p.elapsed_s
        )?;
        if let Some(err) = &p.first_error {
            writeln!(f, "  first error: {err}")?;
        }
        writeln!(f, "Websocket clients")?;
        writeln!(
            f,
            "  connected {} of {}  failed {}",
            c.connected, r.clients, c.failed
        )?;
        let s = |s: &Spread| format!("min {:.0}  mean {:.1}  max {:.0}", s.min, s.mean, s.max);
        writeln!(
            f,
            "  deltas per client (all sites):  {}",
            s(&c.deltas_per_client)
        )?;
        writeln!(
            f,
            "  load-test deltas per client:    {}",
            s(&c.loadtest_deltas_per_client)
        )?;
        writeln!(
            f,
            "  end-to-end events/s per client: {}",
            s(&c.loadtest_deltas_per_s)
        )?;
        writeln!(
            f,
            "  gaps {} ({} versions missing)  stale {}  resyncs {}  reconnects {}  unreadable frames {}",
            c.gaps, c.missing_versions, c.stale_deltas, c.resyncs, c.reconnects, c.parse_errors
        )?;
        if let Some(err) = &c.first_error {
            writeln!(f, "  first client error: {err}")?;
        }
        writeln!(f, "Latency occurred_at -> client (ms, {} samples)", l.count)?;
        write!(
            f,
            "  p50 {}  p95 {}  p99 {}  max {}  mean {:.1}",
            l.p50, l.p95, l.p99, l.max, l.mean
        )?;
        if let Some(g) = &self.gateway {
            write!(
                f,
                "\nGateway resident memory (KiB)\n  before {}  clients connected {}  end {}  per client {:.1}",
                g.before_kib, g.connected_kib, g.end_kib, g.per_client_kib
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_gateways_memory_is_read_from_proc_status_and_shared_per_client() {
        let status = "Name:\tpf-gateway\nVmPeak:\t  900 kB\nVmRSS:\t   20480 kB\nThreads:\t3\n";
        assert_eq!(vm_rss_kib(status), Some(20_480));
        assert_eq!(vm_rss_kib("Name:\tx\n"), None);
        let memory = GatewayMemory::new(20_000, 60_000, 70_000, 5_000);
        assert!((memory.per_client_kib - 10.0).abs() < 1e-9);
        // This process's own memory can be read.
        assert!(resident_kib(std::process::id()).is_some_and(|kib| kib > 0));
    }

    #[test]
    fn percentiles_of_one_to_a_hundred() {
        let mut histogram = new_histogram();
        for ms in 1..=100 {
            histogram.record(ms).expect("in range");
        }
        let summary = latency_summary(&histogram);
        assert_eq!(
            (
                summary.count,
                summary.p50,
                summary.p95,
                summary.p99,
                summary.max
            ),
            (100, 50, 95, 99, 100)
        );
        assert!((summary.mean - 50.5).abs() < 0.01);
    }

    #[test]
    fn an_empty_histogram_reports_zeros() {
        assert_eq!(latency_summary(&new_histogram()), LatencySummary::default());
    }

    #[test]
    fn large_latencies_keep_three_significant_figures() {
        let mut histogram = new_histogram();
        histogram.saturating_record(12_345);
        histogram.saturating_record(10 * crate::clients::MAX_LATENCY_MS);
        let summary = latency_summary(&histogram);
        assert!(summary.p50.abs_diff(12_345) <= 12_345 / 1000);
        assert!(
            summary.max.abs_diff(crate::clients::MAX_LATENCY_MS)
                <= crate::clients::MAX_LATENCY_MS / 1000
        );
    }

    #[test]
    fn spread_of_counts() {
        assert_eq!(spread(&[]), Spread::default());
        assert_eq!(
            spread(&[2.0, 4.0, 9.0]),
            Spread {
                min: 2.0,
                mean: 5.0,
                max: 9.0
            }
        );
    }

    #[test]
    fn report_merges_clients_and_computes_the_publish_rate() {
        let run = RunInfo {
            site: "LOADTEST".into(),
            ward: "R1".into(),
            target_rate: 100,
            duration_s: 2,
            beds: 10,
            clients: 2,
            in_flight: 8,
            settings: StreamSettings {
                nats_server: "2.9.10".into(),
                replicas: 3,
                storage: "file".into(),
            },
        };
        let publish = PublishStats {
            sent: 200,
            acked: 198,
            duplicates: 1,
            failed: 1,
            elapsed: Duration::from_secs(2),
            first_error: Some("timed out".into()),
        };
        let now = tokio::time::Instant::now();
        let mut clients = Vec::new();
        for (i, latency) in [(0u64, 10u64), (1, 30)] {
            let mut c = client_result();
            c.connected = true;
            c.versions.snapshot(1);
            for v in 2..=5 + i {
                c.handle_text(
                    &format!(
                        r#"{{"type":"delta","from_version":{},"version":{v},"occurred_at_ms":0,"sites":[{{"code":"LOADTEST"}}]}}"#,
                        v - 1
                    ),
                    now + Duration::from_secs(v),
                    i64::try_from(latency).expect("small"),
                );
            }
            clients.push(c);
        }
        clients[1].handle_text(r#"{"type":"delta","from_version":8,"version":9}"#, now, 0);

        let report = Report::build(run, &publish, &clients);
        assert_eq!(report.publish.acked_per_s, 99.0);
        assert_eq!(report.clients.connected, 2);
        assert_eq!(
            report.clients.loadtest_deltas_per_client,
            Spread {
                min: 4.0,
                mean: 4.5,
                max: 5.0
            }
        );
        assert_eq!(report.clients.loadtest_deltas_per_s.mean, 1.0);
        assert_eq!(
            (report.clients.gaps, report.clients.missing_versions),
            (1, 2)
        );
        assert_eq!(report.latency_ms.count, 9);
        assert_eq!((report.latency_ms.p50, report.latency_ms.max), (30, 30));
        let text = report.to_string();
        assert!(text.contains("acked 198"), "{text}");
        assert!(
            text.contains("measured with nats-server 2.9.10, PF_BEDS R3 (file storage"),
            "{text}"
        );
        let json = serde_json::to_value(&report).expect("serialises");
        assert_eq!(json["latency_ms"]["p99"], 30);
        assert_eq!(json["run"]["settings"]["replicas"], 3);
    }

    fn client_result() -> ClientResult {
        ClientResult {
            connected: false,
            error: None,
            versions: Default::default(),
            deltas: 0,
            changes: 0,
            loadtest_deltas: 0,
            parse_errors: 0,
            reconnects: 0,
            loadtest_window: None,
            latencies: new_histogram(),
            timed_site: None,
        }
    }
}
