# syntax=docker/dockerfile:1
# Fiducia's three service images from one build (deploy/containers/README.md):
#
#   docker build --target collector -t fiducia-collector .
#   docker build --target enricher  -t fiducia-enricher  .
#   docker build --target sink      -t fiducia-sink      .
#
# One Dockerfile at the root, one target per service: the context has to be
# the whole workspace anyway (one Cargo.lock, the proto crate, the tag's
# committed build the collector embeds), and the three targets share one
# builder stage, so BuildKit compiles the workspace once for all three images
# (deploy/compose/compose.yaml builds them this way).

# Pinned to rust-toolchain.toml's channel (deploy/containers/check asserts it).
ARG RUST_VERSION=1.95.0
# Builder and runtime on the same Debian release: the binaries link its glibc.
ARG DEBIAN_RELEASE=trixie

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS builder
ARG RUST_VERSION
# rdkafka builds its bundled librdkafka from source with make, a C and a C++
# compiler (`make libs` builds librdkafka++ too) and links the system zlib
# (rdkafka's default `libz` feature, found through pkg-config); no SSL, no
# SASL, no zstd, no curl, no cmake. The schema compiles with protox (pure
# Rust): no protoc.
# hadolint ignore=DL3008 # the packages come with the pinned Debian release; exact revisions vanish from its archive at each point release and would break the build, and nothing from them but libz's headers reaches the images
RUN apt-get update \
    && apt-get install -y --no-install-recommends make g++ pkg-config zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*
# The image's toolchain, not rust-toolchain.toml's component list (rustfmt
# and clippy are not needed to build, and installing them needs the network).
ENV RUSTUP_TOOLCHAIN=${RUST_VERSION} \
    CARGO_TERM_COLOR=never \
    # Function names stay for backtraces; line tables (Cargo.toml's release
    # profile keeps them for benches/ profiles) would quadruple the image.
    CARGO_PROFILE_RELEASE_STRIP=debuginfo
WORKDIR /src
COPY . .
# Dependency caching with BuildKit cache mounts rather than cargo-chef: the
# registry and the target directory persist between builds, so a change to
# one service recompiles that crate and its dependents only, with no extra
# tool and no recipe stage. The binaries are copied out of the cache mount.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --bins \
        -p fiducia-collector -p fiducia-enricher -p fiducia-sink \
    && mkdir -p /out \
    && cp target/release/fiducia-collector target/release/fiducia-enricher \
        target/release/fiducia-sink /out/

# What every service image has: glibc, libgcc_s and zlib (all the binaries
# link, checked with ldd), bash for the health probe, the example sites file,
# a non-root numeric user. debian-slim rather than distroless: distroless has
# no shell, so no HEALTHCHECK (compose's depends_on: service_healthy needs
# one), and the images come only from Docker Hub's official repositories.
FROM debian:${DEBIAN_RELEASE}-slim AS runtime
COPY --chmod=0555 deploy/containers/probe /usr/local/bin/fiducia-probe
# deploy/sites.toml (the demo and test sites) so an image starts as it is;
# compose mounts the same file, Kubernetes a ConfigMap over it.
COPY --chmod=0444 deploy/sites.toml /etc/fiducia/sites.toml
ENV FIDUCIA_SITES_FILE=/etc/fiducia/sites.toml \
    RUST_LOG=info
# 65532: distroless's "nonroot"; no passwd entry is needed. Nothing in the
# image is writable by it, and nothing needs to be: the services keep their
# state in Kafka and ClickHouse (a root filesystem mounted read-only works).
USER 65532:65532
WORKDIR /

# The collector: public API on 8080, admin (/metrics, /healthz, /readyz) on
# 18080. SIGTERM: stop accepting, let requests finish (10 s), flush the
# producer (10 s), so stop it with at least 30 s of grace.
FROM runtime AS collector
COPY --from=builder /out/fiducia-collector /usr/local/bin/fiducia-collector
ENV FIDUCIA_COLLECTOR_LISTEN_ADDR=0.0.0.0:8080 \
    FIDUCIA_COLLECTOR_ADMIN_ADDR=0.0.0.0:18080
EXPOSE 8080 18080
# /readyz: the broker answers and the consent ledger is read to its end.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["fiducia-probe", "FIDUCIA_COLLECTOR_ADMIN_ADDR", "/readyz"]
ENTRYPOINT ["/usr/local/bin/fiducia-collector"]

# The enricher: admin on 18082. SIGTERM: finish the batch, store offsets,
# flush (10 s).
FROM runtime AS enricher
COPY --from=builder /out/fiducia-enricher /usr/local/bin/fiducia-enricher
ENV FIDUCIA_ENRICHER_ADMIN_ADDR=0.0.0.0:18082
EXPOSE 18082
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["fiducia-probe", "FIDUCIA_ENRICHER_ADMIN_ADDR", "/readyz"]
ENTRYPOINT ["/usr/local/bin/fiducia-enricher"]

# The sink: admin on 18083. SIGTERM: finish the batch in hand (an insert may
# take FIDUCIA_CLICKHOUSE_INSERT_TIMEOUT_MS, 30 s), commit, flush (10 s).
FROM runtime AS sink
COPY --from=builder /out/fiducia-sink /usr/local/bin/fiducia-sink
ENV FIDUCIA_SINK_ADMIN_ADDR=0.0.0.0:18083
EXPOSE 18083
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["fiducia-probe", "FIDUCIA_SINK_ADMIN_ADDR", "/readyz"]
ENTRYPOINT ["/usr/local/bin/fiducia-sink"]
