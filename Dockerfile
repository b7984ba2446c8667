# One image for the gateway and the demo upstreams (the same binary, two subcommands).
# Built with the `dist` profile when Cargo.toml has one, else `release`.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Dependencies first, so editing the gateway does not rebuild them.
COPY Cargo.toml Cargo.lock ./
RUN PROFILE=$(grep -q '^\[profile\.dist\]' Cargo.toml && echo dist || echo release) \
    && echo "$PROFILE" > /profile \
    && mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && (cargo build --profile "$PROFILE" --locked --lib 2>/dev/null || true)
COPY src src
COPY schema schema
RUN PROFILE=$(cat /profile) \
    && touch src/main.rs src/lib.rs \
    && cargo build --profile "$PROFILE" --locked \
    && cp "target/$PROFILE/delivery-gateway" /delivery-gateway

FROM debian:bookworm-slim
# ca-certificates: the platform roots that TLS to upstreams, JWKS, OTLP and Redis trust.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin gateway
COPY --from=build /delivery-gateway /usr/local/bin/delivery-gateway
USER 10001:10001
EXPOSE 4000
# Production mode on all interfaces: the image starts only once it is given a secret
# (GATEWAY_AUTH__JWT_SECRET, or RS256/ES256 keys) and the upstreams' URLs
# (GATEWAY_UPSTREAMS__BASE_URL); without them it prints what to set and exits 1.
# Development mode (the embedded demo, a public secret) is for a laptop, not an image.
# tests/api/hardening.rs runs the binary with these variables and this command.
ENV GATEWAY_SERVER__MODE=production \
    GATEWAY_SERVER__LISTEN=0.0.0.0:4000
# The binary checks itself (no curl in the image): GET /health/live.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["delivery-gateway", "health", "--addr", "127.0.0.1:4000"]
# SIGTERM starts the drain window (server.drain_delay, then server.shutdown_grace):
# give `docker stop` at least their sum (docker stop -t 20).
STOPSIGNAL SIGTERM
ENTRYPOINT ["delivery-gateway"]
CMD ["serve"]
