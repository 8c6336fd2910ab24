//! The public listener, assembled from actix-web's own parts (as
//! `actix_web::HttpServer` does, HTTP/1 only) so that every connection can be
//! bounded and every refusal counted:
//!
//! * the socket is bound with a chosen backlog, and each worker serves at
//!   most `max_connections_per_worker` connections at once (past it, new
//!   connections wait in the backlog);
//! * actix-http's codec answers what never becomes a request: a head over
//!   its 128 KiB buffer or 96 headers `431`, a malformed or ambiguous head
//!   (both `Content-Length` and `Transfer-Encoding`, two `Content-Length`s,
//!   a transfer coding other than `chunked`, obs-fold) `400`, each with an
//!   empty body and the connection closed, so nothing after it is ever read
//!   as a request; a first head not received within
//!   `client_request_timeout` gets `408` and a close. These are counted
//!   here (`header_too_large`, `malformed_request`), the head timeout
//!   excepted: actix-http reports it to nobody;
//! * every connection runs under a [`Deadline`]: one the collector has not
//!   written to for too long is closed (`stalled_connection`).

mod deadline;

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use actix_http::body::MessageBody;
use actix_http::error::{DispatchError, ParseError};
use actix_http::{HttpService, Request, Response};
use actix_server::Server;
use actix_service::{
    IntoServiceFactory, ServiceFactory, ServiceFactoryExt, fn_service, map_config,
};
use actix_web::dev::AppConfig;
use actix_web::rt::net::TcpStream;

pub use deadline::Deadline;

use crate::config::Config;
use crate::metrics;

/// Binds `config.listen_addr` and serves the app `factory` builds (once per
/// worker) on it. Returns the server to run and the address it listens on.
///
/// # Errors
/// When the address cannot be bound.
pub fn serve<F, I, S, B>(config: &Config, factory: F) -> std::io::Result<(Server, SocketAddr)>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::InitError: fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    B: MessageBody + 'static,
{
    let connections = config.connections.clone();
    let listener = bind(config.listen_addr, connections.backlog)?;
    let addr = listener.local_addr()?;
    let deadline = write_deadline(config);
    let builder = Server::build();
    let draining = builder.graceful_shutdown_signal();
    let server = builder
        .workers(config.workers)
        .max_concurrent_connections(connections.max_connections_per_worker)
        .shutdown_timeout(config.shutdown_timeout.as_secs().max(1))
        .disable_signals()
        .listen("fiducia-collector", listener, move || {
            let draining = draining.clone();
            let app = factory()
                .into_factory()
                .map_err(|error| error.into().error_response());
            // The app's config only feeds `ConnectionInfo` and `url_for`,
            // which the collector does not use.
            let app = map_config(app, |()| AppConfig::default());
            let http = HttpService::build()
                .keep_alive(connections.keep_alive)
                .client_request_timeout(connections.client_request_timeout)
                .client_disconnect_timeout(connections.client_disconnect_timeout)
                .local_addr(addr)
                // As HttpServer does: on stop, idle connections close at once.
                .graceful_shutdown_signal(move || {
                    let draining = draining.clone();
                    async move { draining.notified().await }
                })
                .h1(app);
            fn_service(move |stream: TcpStream| {
                let peer = stream.peer_addr().ok();
                std::future::ready(Ok::<_, DispatchError>((
                    Deadline::new(stream, deadline),
                    peer,
                )))
            })
            .and_then(http)
            .map_err(|error| count(&error))
        })?
        .run();
    Ok((server, addr))
}

/// The longest an honest exchange leaves a connection without a write
/// (see [`Deadline`]), plus a second for the work between.
#[must_use]
pub fn write_deadline(config: &Config) -> Duration {
    let c = &config.connections;
    c.keep_alive
        + c.client_request_timeout
        + config.limits.body_timeout
        + config.kafka_message_timeout
        + Duration::from_secs(1)
}

/// A listening socket with `backlog` (std's `bind` does not take one).
fn bind(addr: SocketAddr, backlog: u32) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    Ok(socket.into())
}

/// Counts a refusal of actix-http's codec (the app counts its own).
fn count(error: &DispatchError) {
    let reason = match error {
        DispatchError::Parse(ParseError::TooLarge) => "header_too_large",
        DispatchError::Parse(_) => "malformed_request",
        // Clients gone, handlers that did not read a body they refused:
        // nothing the collector refused here.
        _ => return,
    };
    ::metrics::counter!(metrics::REQUESTS_REJECTED, "reason" => reason).increment(1);
    tracing::info!(reason, "request refused by the HTTP codec");
}
