//! The service's own metrics: fit time and backtest scores.

use prometheus::{
    Gauge, GaugeVec, Histogram, HistogramOpts, IntCounterVec, IntGauge, Opts, Registry,
};

/// Metrics of the forecasts.
#[derive(Clone)]
pub struct ForecastMetrics {
    /// Seconds one refit of every series took.
    pub fit_seconds: Histogram,
    /// Series forecast at the last refit.
    pub series: IntGauge,
    /// Series that could not be forecast at the last refit.
    pub unavailable: IntGauge,
    /// Refits, by reason (`start`, `schedule`, `rebuild`).
    pub refits: IntCounterVec,
    /// Alerts raised, by kind.
    pub alerts: IntCounterVec,
    /// Backtest MASE of the system's series, by series and horizon.
    pub backtest_mase: GaugeVec,
    /// Backtest interval coverage of the system's series, by series,
    /// horizon and level.
    pub backtest_coverage: GaugeVec,
    /// Unix time of the last good refit.
    pub last_fit: Gauge,
}

impl ForecastMetrics {
    /// Registers the metrics in `registry`.
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let fit_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "pf_forecast_fit_seconds",
                "Seconds one refit of every forecast series took",
            )
            .buckets(vec![0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0]),
        )?;
        let series = IntGauge::new("pf_forecast_series", "Series forecast at the last refit")?;
        let unavailable = IntGauge::new(
            "pf_forecast_series_unavailable",
            "Series that could not be forecast at the last refit (too little history, a failed fit)",
        )?;
        let refits = IntCounterVec::new(
            Opts::new("pf_forecast_refits_total", "Refits, by reason"),
            &["reason"],
        )?;
        let alerts = IntCounterVec::new(
            Opts::new(
                "pf_forecast_alerts_total",
                "Forecast alerts raised, by kind",
            ),
            &["kind"],
        )?;
        let backtest_mase = GaugeVec::new(
            Opts::new(
                "pf_forecast_backtest_mase",
                "Rolling-origin backtest MASE (scaled by seasonal-naive at lag 168 h) of the system's series, usual weeks",
            ),
            &["series", "horizon_hours"],
        )?;
        let backtest_coverage = GaugeVec::new(
            Opts::new(
                "pf_forecast_backtest_coverage",
                "Rolling-origin backtest share of actual values inside the interval, system's series, usual weeks",
            ),
            &["series", "horizon_hours", "level"],
        )?;
        let last_fit = Gauge::new(
            "pf_forecast_last_fit_timestamp_seconds",
            "Unix time of the last good refit",
        )?;
        registry.register(Box::new(fit_seconds.clone()))?;
        registry.register(Box::new(series.clone()))?;
        registry.register(Box::new(unavailable.clone()))?;
        registry.register(Box::new(refits.clone()))?;
        registry.register(Box::new(alerts.clone()))?;
        registry.register(Box::new(backtest_mase.clone()))?;
        registry.register(Box::new(backtest_coverage.clone()))?;
        registry.register(Box::new(last_fit.clone()))?;
        Ok(Self {
            fit_seconds,
            series,
            unavailable,
            refits,
            alerts,
            backtest_mase,
            backtest_coverage,
            last_fit,
        })
    }
}
