//! What every Fiducia service has: JSON logs ([`telemetry`]), the Prometheus
//! recorder and admin endpoints ([`admin`]), typed environment config
//! ([`config`]), the one sites file every service reads ([`sites`]), one
//! shutdown token ([`shutdown`]) and one memory allocator ([`Allocator`]).

pub mod admin;
pub mod config;
pub mod shutdown;
pub mod sites;
pub mod telemetry;

/// The allocator every service binary installs (and every benchmark of a
/// service's code, so its figures are the service's):
///
/// ```ignore
/// #[global_allocator]
/// static ALLOCATOR: fiducia_runtime::service::Allocator = fiducia_runtime::service::ALLOCATOR;
/// ```
///
/// mimalloc, not glibc's malloc: the services allocate many small strings
/// per event and free whole batches at once, and profiles showed glibc's
/// allocator (free-list consolidation above all) taking a third of the
/// sink's CPU and about as much of the collector's. Built as mimalloc 2
/// with transparent huge pages off for the process (root `Cargo.toml`):
/// the collector under 20-event batches at 256 connections then did 211k
/// events per CPU-second at 47 MB peak RSS, against 144k at 32 MB with
/// glibc and 203k at 48-67 MB with mimalloc 3 (with and without huge pages).
/// C code (librdkafka) keeps glibc's `malloc`: overriding it too (feature
/// `override`) cut the sink's CPU by 12% but took the collector to 52 MB
/// and 190k events per CPU-second.
pub type Allocator = mimalloc::MiMalloc;

/// The [`Allocator`] value for a `#[global_allocator]` static.
pub const ALLOCATOR: Allocator = mimalloc::MiMalloc;
