# The operator image: only the `cache-operator` binary (no simulators, no sandbox).
#   docker build -t cache-operator:dev .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p cache-operator --bin cache-operator \
 && cp target/release/cache-operator /cache-operator

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /cache-operator /usr/local/bin/cache-operator
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/cache-operator"]
CMD ["run"]
