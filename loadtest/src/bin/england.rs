//! `pf-england`: the synthetic England of `pf_loadtest::england`.
//!
//! ```sh
//! pf-england list                              # the ICSs and their sizes
//! pf-england region --ics QB3 --out /tmp/qb3   # one ICS as a region data set
//! pf-england wall-sizes --ics QB3              # the wall's frames at England's size
//! ```
//!
//! `PF_REGION_DIR=/tmp/qb3` then starts a service (the gateway, hospital
//! beds, care homes …) for that ICS; `pf-loadtest --england` publishes the
//! whole country's events.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use pf_loadtest::england::{DEFAULT_SEED, England};

#[derive(Parser, Debug)]
#[command(
    name = "pf-england",
    about = "A synthetic England (42 ICSs, 140 trusts, 1,500 sites, ~100,000 beds, 15,000 care homes)"
)]
struct Args {
    /// Seed (the same seed gives the same country).
    #[arg(long, global = true, default_value_t = DEFAULT_SEED)]
    seed: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Lists the ICSs: code, name, trusts, sites, beds, care homes.
    List,
    /// Writes one ICS's region data set (the `data/regions/<x>/` shape).
    Region {
        /// The ICS's code (`pf-england list`).
        #[arg(long)]
        ics: String,
        /// The directory to write (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
    /// Measures the wall's snapshot and delta frames of one ICS with all of
    /// England in the live state, with the gateway's control-room model.
    WallSizes {
        /// The ICS's code.
        #[arg(long)]
        ics: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // The whole cause chain on one line, without a backtrace.
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let england = England::generate(args.seed);
    match args.command {
        Command::List => {
            println!("code  trusts  sites   beds  homes  name");
            for ics in &england.icss {
                println!(
                    "{:<5} {:>6} {:>6} {:>6} {:>6}  {}",
                    ics.code(),
                    ics.catalogue.trusts.len(),
                    ics.sites().count(),
                    ics.beds(),
                    ics.homes.len(),
                    ics.region.ics.name
                );
            }
            println!(
                "England: {} ICSs, {} sites, {} beds, {} care homes (seed {})",
                england.icss.len(),
                england.sites().count(),
                england.beds(),
                england.homes().count(),
                england.seed
            );
        }
        Command::Region { ics, out } => {
            england
                .write_region(&ics, &out)
                .with_context(|| format!("failed to write the region data set of {ics}"))?;
            let code = england.ics(&ics)?.code();
            println!("wrote {code} (PF_REGION_DIR={})", out.display());
        }
        Command::WallSizes { ics, json } => {
            let sizes = pf_loadtest::wall_size::measure(&england, &ics)
                .with_context(|| format!("failed to measure the wall of {ics}"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&sizes)?);
            } else {
                println!("{sizes}");
            }
        }
    }
    Ok(())
}
