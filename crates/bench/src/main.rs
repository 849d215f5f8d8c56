//! The `gridmq-bench` binary: parses the command line, runs one scenario under a hard
//! deadline, and prints its summary.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use gridmq_bench::cli::{Cli, Scenario};
use gridmq_bench::connections::{raise_nofile_limit, run_connections};
use gridmq_bench::layout::Layout;
use gridmq_bench::run::run_messages;

/// Slack past a run's planned end before the hard deadline stops it.
const DEADLINE_SLACK: Duration = Duration::from_secs(30);
/// Exit status of a run that finished but lost QoS 1/2 messages or had client errors.
const EXIT_NOT_OK: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(EXIT_NOT_OK),
        Err(err) => {
            eprintln!("gridmq-bench: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<bool> {
    let conn = cli.scenario.conn().clone();
    let deadline = hard_deadline(&cli.scenario);
    if let Scenario::Connections(args) = &cli.scenario {
        let wanted = u64::from(args.connections) + 1_024;
        let limit = raise_nofile_limit(wanted)?;
        if limit < wanted {
            eprintln!("gridmq-bench: open-file limit is {limit}, below the {wanted} needed");
        }
    }
    spawn_watchdog(deadline);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(usize::from(conn.threads))
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async {
        let work = async {
            match cli.scenario {
                Scenario::Connections(args) => {
                    let summary = run_connections(&args).await?;
                    print(&summary, summary.text(), conn.json)?;
                    anyhow::Ok(summary.ok)
                }
                other => {
                    let (layout, load) = message_scenario(other);
                    let summary = run_messages(layout, &load, &conn).await?;
                    print(&summary, summary.text(), conn.json)?;
                    anyhow::Ok(summary.ok)
                }
            }
        };
        tokio::time::timeout(deadline, work)
            .await
            .with_context(|| format!("run did not finish within its deadline of {deadline:?}"))?
    })
}

fn message_scenario(scenario: Scenario) -> (Layout, gridmq_bench::cli::LoadArgs) {
    match scenario {
        Scenario::FanIn(a) => (
            Layout::FanIn {
                publishers: a.publishers,
                subscribers: a.subscribers,
            },
            a.load,
        ),
        Scenario::FanOut(a) => (
            Layout::FanOut {
                subscribers: a.subscribers,
            },
            a.load,
        ),
        Scenario::Pairs(a) => (Layout::Pairs { pairs: a.pairs }, a.load),
        Scenario::Shared(a) => (
            Layout::Shared {
                publishers: a.publishers,
                subscribers: a.subscribers,
                group: a.group,
            },
            a.load,
        ),
        Scenario::HttpPublish(a) => (
            Layout::HttpPublish {
                requesters: a.requesters,
                subscribers: a.subscribers,
                http_port: a.http_port,
            },
            a.load,
        ),
        Scenario::Connections(_) => unreachable!("handled by the caller"),
    }
}

/// The longest a run may take: its phases, the time to connect, and slack.
fn hard_deadline(scenario: &Scenario) -> Duration {
    let conn = scenario.conn();
    let planned = match scenario {
        Scenario::FanIn(a) => a.load.warmup + a.load.duration + a.load.drain,
        Scenario::FanOut(a) => a.load.warmup + a.load.duration + a.load.drain,
        Scenario::Pairs(a) => a.load.warmup + a.load.duration + a.load.drain,
        Scenario::Shared(a) => a.load.warmup + a.load.duration + a.load.drain,
        Scenario::HttpPublish(a) => a.load.warmup + a.load.duration + a.load.drain,
        Scenario::Connections(a) => {
            let opening = match a.connect_rate {
                Some(rate) => Duration::from_secs_f64(f64::from(a.connections) / f64::from(rate)),
                None => Duration::ZERO,
            };
            a.duration + opening + Duration::from_secs(10)
        }
    };
    planned + conn.connect_timeout * 2 + DEADLINE_SLACK
}

/// A thread that ends the process if the runtime itself stops making progress.
fn spawn_watchdog(deadline: Duration) {
    let backstop = deadline + Duration::from_secs(15);
    std::thread::spawn(move || {
        std::thread::sleep(backstop);
        eprintln!("gridmq-bench: hard deadline of {backstop:?} passed, exiting");
        std::process::exit(3);
    });
}

fn print<T: serde::Serialize>(summary: &T, text: String, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(summary)?);
    } else {
        print!("{text}");
    }
    Ok(())
}
