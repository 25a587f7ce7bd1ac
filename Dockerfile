# syntax=docker/dockerfile:1.7
#
# allocation-worker image: `docker build -t allocation-worker .`
#   build:   the Rust toolchain + what rdkafka's bundled librdkafka (cmake-build) needs
#   runtime: debian slim with the shared libraries librdkafka links against, non-root, no shell
#            tooling beyond the base image's
#
# The image runs `/usr/local/bin/allocation-worker <verb>` (run, serve, topics, produce,
# contract); the Helm chart and docker-compose.yml pass the verb as the command.
# Base images are pinned to exact releases (Rust 1.95.0, Debian 12.11); pin them by digest in
# your registry mirror for bit-for-bit rebuilds.

FROM rust:1.95.0-slim-bookworm AS build
# librdkafka (rdkafka-sys, cmake-build with ssl/sasl/curl/zstd/zlib).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config libssl-dev libsasl2-dev libcurl4-openssl-dev \
      zlib1g-dev libzstd-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Sources only (see .dockerignore); the registry index and target dir are BuildKit caches.
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY schemas ./schemas
COPY benches ./benches
COPY tests ./tests
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin allocation-worker \
 && install -D -m 0755 target/release/allocation-worker /out/allocation-worker

FROM debian:12.11-slim AS runtime
# Shared libraries of the bundled librdkafka, and the CA bundle for TLS to brokers/registry.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libssl3 libsasl2-2 libcurl4 zlib1g libzstd1 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 allocation \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin allocation
COPY --from=build /out/allocation-worker /usr/local/bin/allocation-worker
USER 10001:10001
ENV LOG_FORMAT=json \
    HTTP_ADDR=0.0.0.0:8080
EXPOSE 8080
# Kubernetes probes GET /healthz and /readyz; the image has no HTTP client for a Docker
# HEALTHCHECK (docker-compose.yml leaves it to restart policies too).
HEALTHCHECK NONE
# SIGTERM: commit the open batch, leave the group, exit 0 within SHUTDOWN_TIMEOUT_MS.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/allocation-worker"]
CMD ["run"]
