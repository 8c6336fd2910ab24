//! `fiducia-enricher`: configuration from the environment, then consume until
//! SIGTERM/SIGINT (`run`, the default), or feed dead letters back (`replay`).
//! See the crate docs for what it does.

use clap::{Parser, Subcommand};
use fiducia_enricher::replay::{self, ReplayOptions};
use fiducia_enricher::{Application, Config};
use fiducia_runtime::service::{shutdown, telemetry};

#[global_allocator]
static ALLOCATOR: fiducia_runtime::service::Allocator = fiducia_runtime::service::ALLOCATOR;

#[derive(Parser)]
#[command(
    version,
    about = "Fiducia enricher: raw events in, analysis-ready events out"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Consume raw events until SIGTERM or SIGINT (the default).
    Run,
    /// Feed the enricher's dead letters back to the raw topic; prints a JSON report.
    Replay(ReplayOptions),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init();
    let cli = Cli::parse();
    let config = Config::from_env()?;
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => {
            let shutdown = shutdown::on_signals();
            let app = Application::build(config, shutdown).await?;
            app.run_until_stopped().await?;
        }
        Command::Replay(options) => {
            let report = replay::replay(&config, &options).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
    }
    Ok(())
}
