# godel-prober image: the static-ish `prober` binary (rustls, no OpenSSL) and the `helm` client
# (for `helm rollback`) on distroless cc, running as the distroless `nonroot` user (65532).
#   docker build -t ghcr.io/godel/godel-prober:0.1.0 .
# The Helm chart (charts/godel-prober) expects this layout: /usr/local/bin/prober as the
# entrypoint, helm on PATH, a writable /tmp (an emptyDir) for helm's cache.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p prober && cp target/release/prober /prober

FROM debian:bookworm-slim AS helm
ARG HELM_VERSION=v3.16.4
ARG TARGETARCH=amd64
ADD https://get.helm.sh/helm-${HELM_VERSION}-linux-${TARGETARCH}.tar.gz /helm.tar.gz
ADD https://get.helm.sh/helm-${HELM_VERSION}-linux-${TARGETARCH}.tar.gz.sha256sum /helm.tar.gz.sha256sum
RUN cd / && echo "$(cut -d' ' -f1 helm.tar.gz.sha256sum)  helm.tar.gz" | sha256sum -c - \
    && tar -xzf helm.tar.gz && mv linux-${TARGETARCH}/helm /helm

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /prober /usr/local/bin/prober
COPY --from=helm /helm /usr/local/bin/helm
USER 65532:65532
EXPOSE 17373
ENTRYPOINT ["/usr/local/bin/prober"]
CMD ["run"]
