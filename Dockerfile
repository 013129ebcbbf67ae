# syntax=docker/dockerfile:1
#
# keyrotor's image: the worker and the starter (operator CLI and codec
# server), static binaries on a distroless base, running as uid 65532.
#
#   make image                                  # or:
#   docker build -t keyrotor:dev --build-arg VERSION=$(git describe --always) .
#
# The default command runs the worker with /etc/keyrotor/keyrotor.yaml;
# `starter ...` (e.g. `starter codec-server ...`) runs the other binary.
# The tests in deploy/ (go test ./deploy/) check this file.

# Build stage. The Go version matches go.mod's `go` line (GOTOOLCHAIN=local:
# the build fails instead of fetching another toolchain). Built on the build
# platform and cross-compiled, so multi-platform builds need no emulation.
FROM --platform=$BUILDPLATFORM golang:1.26.8-trixie AS build
ENV GOTOOLCHAIN=local
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
ARG TARGETOS=linux
ARG TARGETARCH=amd64
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -buildvcs=false -ldflags "-s -w" -o /out/ ./worker ./starter

# Runtime stage: distroless static (CA certificates, tzdata, /etc/passwd with
# nonroot = 65532; no shell, no package manager). Pinned by tag and by the
# tag's multi-platform index digest; refresh both together with
#   crane digest gcr.io/distroless/static-debian12:nonroot
FROM gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="keyrotor" \
      org.opencontainers.image.description="Rotates AWS IAM user access keys and pushes each new key to GitHub and GitLab CI (Temporal worker, operator CLI and codec server)" \
      org.opencontainers.image.source="https://github.com/keyrotor/keyrotor" \
      org.opencontainers.image.url="https://github.com/keyrotor/keyrotor" \
      org.opencontainers.image.documentation="https://github.com/keyrotor/keyrotor#run-it-in-production" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="gcr.io/distroless/static-debian12:nonroot" \
      org.opencontainers.image.base.digest="sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab"
COPY --from=build /out/worker /usr/local/bin/worker
COPY --from=build /out/starter /usr/local/bin/starter
USER 65532:65532
WORKDIR /home/nonroot
CMD ["/usr/local/bin/worker", "--config", "/etc/keyrotor/keyrotor.yaml"]
