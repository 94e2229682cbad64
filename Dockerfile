# syntax=docker/dockerfile:1
# One image holds the four services and the operators' `admin` command; docker-compose.yml
# picks the binary with `command` (`docker compose run --rm intake-api admin ...`).
#   docker build -t patient-registration .
# BuildKit (the default builder since Docker 23) keeps the cargo registry and target/
# in cache mounts, so a rebuild after a code change only recompiles the workspace crates.

FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --bins \
    && mkdir -p /out \
    && cp target/release/intake-api target/release/registration-worker target/release/notification-worker \
       target/release/webhook-worker target/release/admin /out/

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin app
COPY --from=builder /out/ /usr/local/bin/
# The binaries embed their migrations; the SQL ships too for inspection and manual runs.
COPY migrations/ /app/migrations/
WORKDIR /app
ENV APP_ENV=production \
    RUST_LOG=info
USER 10001:10001
# No CMD: run one of intake-api, registration-worker, notification-worker, webhook-worker, admin.
