//! `fiducia-sink`: configuration from the environment, then consume until
//! SIGTERM/SIGINT. See the crate docs for what it does.

use fiducia_runtime::service::{shutdown, telemetry};
use fiducia_sink::{Application, Config};

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
