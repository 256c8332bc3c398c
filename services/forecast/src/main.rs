//! `pf-forecast`: the forecast service, and its backtest command.
//!
//! - `pf-forecast`: serves (configuration: [`pf_forecast::ForecastConfig::from_env`]).
//! - `pf-forecast backtest [--weeks N] [--seed S] [--end YYYY-MM-DD]`:
//!   generates N weeks (default 12) of synthetic history, ending at 00:00
//!   UTC on the given day (default today), as `pf-simulator history` would
//!   write it, folds it as the service does and prints the rolling-origin
//!   backtest table (Markdown), regime-change weeks apart.
//! - `pf-forecast backtest --csv FILE`: the same on a trust's daily
//!   admissions and discharges (`date,admissions,discharges[,site]`).

use anyhow::Context as _;
use pf_forecast::backtest;
use pf_forecast_model::backtest::{Row, Spec, Table};
use pf_forecast_model::{fit_forecast, seasonal_naive};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("backtest") {
        let table = backtest_command(&args[1..])?;
        print!("{}", table.to_markdown());
        return Ok(());
    }
    pf_runtime::telemetry::init("forecast");
    let config = pf_forecast::ForecastConfig::from_env()?;
    let (region_files, region) = pf_region::from_env().context("failed to load the region")?;
    let catalogue = pf_hospital_model::Catalogue::load(&region_files, &region)
        .context("failed to load the site catalogue")?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("failed to listen on {}", config.listen))?;
    let shutdown = pf_runtime::shutdown::on_signal();
    pf_forecast::run(listener, config, catalogue, shutdown).await
}

fn backtest_command(args: &[String]) -> anyhow::Result<Table> {
    let (mut weeks, mut seed, mut csv) = (12u32, 7u64, None::<String>);
    // The history ends at 00:00 UTC today unless told: the table depends on
    // the dates (bank holidays, the winter rise) and the hour origins fall at.
    let now = time::OffsetDateTime::now_utc();
    let mut end = now.replace_time(time::Time::MIDNIGHT);
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let value = rest
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--weeks" => {
                weeks = value
                    .parse()
                    .ok()
                    .filter(|w| (5..=104).contains(w))
                    .with_context(|| format!("--weeks must be 5 to 104, not `{value}`"))?;
            }
            "--seed" => {
                seed = value
                    .parse()
                    .with_context(|| format!("--seed must be a whole number, not `{value}`"))?;
            }
            "--csv" => csv = Some(value.clone()),
            "--end" => {
                let format = time::macros::format_description!("[year]-[month]-[day]");
                end = time::Date::parse(value, format)
                    .with_context(|| {
                        format!("--end must be a date like 2026-02-02, not `{value}`")
                    })?
                    .midnight()
                    .assume_utc();
            }
            other => {
                anyhow::bail!(
                    "unknown option `{other}`: use --weeks N, --seed S, --end YYYY-MM-DD or --csv FILE"
                )
            }
        }
    }
    if let Some(path) = csv {
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
        let sites = pf_forecast_model::daily_csv::read(&text)?;
        let mut rows = Vec::new();
        for (site, history) in &sites {
            for (name, series) in [
                ("admissions", &history.admissions),
                ("discharges", &history.discharges),
            ] {
                for (method, evaluation) in [
                    (
                        "mstl+ets",
                        pf_forecast_model::backtest::rolling_origin(
                            series,
                            Spec::daily(),
                            &[],
                            fit_forecast,
                        ),
                    ),
                    (
                        "seasonal-naive",
                        pf_forecast_model::backtest::rolling_origin(
                            series,
                            Spec::daily(),
                            &[],
                            seasonal_naive,
                        ),
                    ),
                ] {
                    rows.push(Row {
                        series: format!("{site} daily {name}"),
                        method: method.to_owned(),
                        evaluation,
                    });
                }
            }
        }
        return Ok(Table { rows });
    }
    let (files, region) = pf_region::from_env().context("failed to load the region")?;
    let catalogue = pf_hospital_model::Catalogue::load(&files, &region)
        .context("failed to load the site catalogue")?;
    let register = pf_care_home_model::Register::load(&files, &region)
        .context("failed to load the care homes")?;
    let plan = pf_simulator::history::HistoryPlan { weeks, seed, end };
    Ok(backtest::generated(&catalogue, &register, &plan))
}
