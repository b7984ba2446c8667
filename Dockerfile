# One image for both services of docker-compose.yml: the gateway and the demo
# upstreams are the same binary with different subcommands.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Dependencies first, so editing the gateway does not rebuild them.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked --lib 2>/dev/null || true
COPY src src
COPY schema schema
RUN touch src/main.rs src/lib.rs && cargo build --release --locked

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --no-create-home gateway
COPY --from=build /src/target/release/delivery-gateway /usr/local/bin/delivery-gateway
USER gateway
EXPOSE 4000
# Production mode on all interfaces: the image starts only once it is given a secret
# (GATEWAY_AUTH__JWT_SECRET, or RS256/ES256 keys) and the upstreams' URLs
# (GATEWAY_UPSTREAMS__BASE_URL); without them it prints what to set and exits 1.
# Development mode (the embedded demo, a public secret) is for a laptop, not an image.
# tests/api/hardening.rs runs the binary with these variables and this command.
ENV GATEWAY_SERVER__MODE=production \
    GATEWAY_SERVER__LISTEN=0.0.0.0:4000
ENTRYPOINT ["delivery-gateway"]
CMD ["serve"]
