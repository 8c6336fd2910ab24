//! `fiducia-sink`: configuration from the environment, then consume until
//! SIGTERM/SIGINT. See the crate docs for what it does.

use fiducia_proto::service::{shutdown, telemetry};
use fiducia_sink::{Application, Config};

/// mimalloc instead of glibc's malloc: the sink allocates and frees every
/// field of every row of a batch at once, and glibc's free-list
/// consolidation took a third of its CPU (`sink/benches/insert.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
