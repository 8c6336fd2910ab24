//! `fiducia-bare`: the baseline of scenario (a), a bare actix-web handler
//! that reads the whole body and answers `204`. Same framework, same
//! worker count rule (one per core it may run on) and same allocator as the
//! collector, so the ratio between them is the cost of what the collector
//! does per request.
//!
//! Usage: `fiducia-bare 127.0.0.1:8481` (runs until killed).

use actix_web::{App, HttpResponse, HttpServer, web};

#[global_allocator]
static ALLOCATOR: fiducia_runtime::service::Allocator = fiducia_runtime::service::ALLOCATOR;

async fn events(body: web::Bytes) -> HttpResponse {
    // The body is read in full, as the collector reads it; its length is
    // looked at so the read cannot be optimised away.
    if body.is_empty() {
        HttpResponse::BadRequest().finish()
    } else {
        HttpResponse::NoContent().finish()
    }
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8481".to_owned());
    let workers = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    HttpServer::new(|| {
        App::new()
            .app_data(web::PayloadConfig::new(64 * 1024))
            .route("/v1/events", web::post().to(events))
    })
    .workers(workers)
    .bind(&addr)?
    .run()
    .await?;
    Ok(())
}
