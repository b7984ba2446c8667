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
ENTRYPOINT ["delivery-gateway"]
CMD ["serve", "--listen", "0.0.0.0:4000"]
