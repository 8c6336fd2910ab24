//! `fiducia-collector`: configuration from the environment, then serve until
//! SIGTERM/SIGINT. See the crate docs for what it does.

use fiducia_collector::{Application, Config};
use fiducia_runtime::service::{shutdown, telemetry};

#[global_allocator]
static ALLOCATOR: fiducia_runtime::service::Allocator = fiducia_runtime::service::ALLOCATOR;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init();
    let config = Config::from_env()?;
    let shutdown = shutdown::on_signals();
    Application::build(config, shutdown)
        .await?
        .run_until_stopped()
        .await?;
    Ok(())
}
