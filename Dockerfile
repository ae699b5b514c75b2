# syntax=docker/dockerfile:1
#
# The users-api image: a release build of the workspace's `users-api` binary on Debian 12.
#
#   docker build -t users-api .
#   docker run --rm -p 5000:5000 -e SECRET_KEY="$(head -c 48 /dev/urandom | base64)" users-api
#
# BuildKit (the default builder since Docker 23) is needed for the cache mounts below.
# The image serves in the production profile: SECRET_KEY (32+ bytes) is required. Without
# DATABASE_URL it uses the SQLite file /data/users.db (mount a volume on /data to keep it);
# with DATABASE_URL=postgres://... nothing is written to disk. The container's command is a
# `users-api` subcommand (`serve` by default): `docker run ... users-api migrate`, `config`, ...

# ---- builder ------------------------------------------------------------------------------
FROM rust:1-bookworm AS builder

# pkg-config and the OpenSSL headers: openssl-sys (linked by the bundled libpq for TLS to
# PostgreSQL) finds OpenSSL with pkg-config. SQLite and libpq are compiled from source.
# Not pinned: Debian stable only moves for security fixes, and an exact pin breaks as soon
# as the archive drops the old version.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends pkg-config libssl-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# The workspace: manifests and lock file, the crates, the migrations (embedded at compile
# time by users-db) and .cargo/config.toml (LIBSQLITE3_FLAGS for the bundled SQLite).
COPY Cargo.toml Cargo.lock ./
COPY .cargo ./.cargo
COPY crates ./crates
COPY migrations ./migrations

# Dependency caching: the cargo registry and the target directory are BuildKit cache mounts,
# so a rebuild after a source change recompiles only the workspace's crates. The target
# directory of a cache mount is not part of the image, so the binary is copied out of it in
# the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release -p users-api --locked \
    && install -D -m 0755 target/release/users-api /out/users-api

# ---- runtime ------------------------------------------------------------------------------
FROM debian:bookworm-slim

# libssl3: the binary links libssl.so.3 and libcrypto.so.3 (besides libc). ca-certificates:
# TLS to PostgreSQL or an SMTP relay. curl: the HEALTHCHECK below (the binary has no
# health-check subcommand).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libssl3 curl \
    && rm -rf /var/lib/apt/lists/*

# A non-root user, and its working directory /data: the default SQLite database (users.db)
# and an optional .env file are read there.
RUN groupadd --gid 10001 users-api \
    && useradd --uid 10001 --gid 10001 --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin users-api \
    && install -d -o 10001 -g 10001 -m 0750 /data

COPY --from=builder /out/users-api /usr/local/bin/users-api

WORKDIR /data
USER 10001:10001

ENV HOST=0.0.0.0 PORT=5000 APP_ENV=production
EXPOSE 5000

# /health answers 200 while the process runs (liveness); /ready also checks the database.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["/bin/sh", "-c", "curl -fsS -o /dev/null \"http://127.0.0.1:${PORT}/health\" || exit 1"]

# The binary is PID 1 and handles SIGTERM itself: it stops accepting, finishes the requests
# in flight (up to 30 s) and exits 0. Give `docker stop` more than that: `-t 40`.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/users-api"]
CMD ["serve"]
