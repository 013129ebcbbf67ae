# keyrotor: the two commands are `make demo` and `make test`.
# Tools are pinned and installed into ./bin through the Go module proxy.

GO            ?= go
BIN           := $(CURDIR)/bin
TEMPORAL_CLI  := github.com/temporalio/cli/cmd/temporal@v1.5.1
# The Temporal server and its schema tool, for the cluster test (tests/cluster):
# a real cluster on PostgreSQL. Same version for both: the schema must match.
TEMPORAL_SERVER_VERSION := v1.29.1
TEMPORAL_SERVER   := go.temporal.io/server/cmd/server@$(TEMPORAL_SERVER_VERSION)
TEMPORAL_SQL_TOOL := go.temporal.io/server/cmd/tools/sql@$(TEMPORAL_SERVER_VERSION)
WORKFLOWCHECK := go.temporal.io/sdk/contrib/tools/workflowcheck@v0.6.0
STATICCHECK   := honnef.co/go/tools/cmd/staticcheck@v0.8.2
GOLANGCI_LINT := github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
# Every package but the end-to-end tests, which need a Temporal dev server.
UNIT_PKGS      = $$($(GO) list ./... | grep -v -e '/tests$$' -e '/tests/cluster$$')
DEMO_ARGS     ?=

export KEYROTOR_TEMPORAL_CLI := $(BIN)/temporal
export KEYROTOR_TEMPORAL_SERVER := $(BIN)/temporal-server
export KEYROTOR_TEMPORAL_SQL_TOOL := $(BIN)/temporal-sql-tool

.PHONY: demo test lint unit e2e bench build tools clean chaos webui

## demo: run a real rotation against a local Temporal dev server and the built-in emulators
demo: $(BIN)/temporal
	$(GO) run ./demo $(DEMO_ARGS)

## test: lint (gofmt, vet, staticcheck, golangci-lint, workflowcheck), then the unit and end-to-end tests
# The cluster test runs after the rest, not beside the dev-server tests: on
# two cores the two stacks at once starve the timing-sensitive fleet tests.
test: tools lint
	$(GO) test -race -count=1 -timeout 30m $$($(GO) list ./... | grep -v -e '/tests/cluster$$')
	$(GO) test -race -count=1 -timeout 30m ./tests/cluster/

## unit: every test that needs no server: workflows on the SDK's test environment, activities against the emulators, the base
unit:
	$(GO) test -race -count=1 -timeout 15m $(UNIT_PKGS)

## e2e: the end-to-end tests: tests/ on a Temporal dev server from the pinned CLI, tests/cluster/ on a Temporal cluster on PostgreSQL
e2e: tools
	$(GO) test -race -count=1 -timeout 30m ./tests/ ./tests/cluster/

## bench: sealing a GitHub secret; rotations against the emulators on a local dev server: one at a time (5 each), then a 1,000-user fleet, quota pacing and the AWS CLI comparison (once each); then the fleet on the PostgreSQL cluster beside a dev server
# KEYROTOR_BENCH_FLEET=10000 make bench: the fleets of 10,000 users instead (about 6 minutes on 2 cores on the dev server);
# KEYROTOR_BENCH_FLEET_WINDOW=N: N of the dev-server fleet's rotations at once (50 when unset; 0: all at once)
bench: $(BIN)/temporal $(BIN)/temporal-server $(BIN)/temporal-sql-tool
	$(GO) test -run '^$$' -bench . ./internal/sealedbox/
	$(GO) test -run '^$$' -bench 'Rotation$$' -benchtime 5x -timeout 20m ./tests/
	$(GO) test -run '^$$' -bench 'Fleet|Quota|CLI' -benchtime 1x -timeout 60m ./tests/
	$(GO) test -run '^$$' -bench 'ClusterFleet' -benchtime 1x -timeout 60m ./tests/cluster/

## webui: a rotation checked in headless Chromium through the Temporal Web UI (needs node 20+, npm and chromium; not part of make test)
webui: $(BIN)/temporal
	@if command -v npm >/dev/null 2>&1; then cd tests/webui && npm ci --no-audit --no-fund --loglevel=error; \
	  else echo "make webui: npm not found; the check will skip (install Node.js 20 or later)"; fi
	KEYROTOR_WEBUI=1 $(GO) test -count=1 -timeout 10m -v -run '^TestWebUI$$' ./tests/webui/

## chaos: random interleavings of operator actions and faults against the workflow, for CHAOS_DURATION
CHAOS_DURATION ?= 10m
chaos:
	KEYROTOR_CHAOS_DURATION=$(CHAOS_DURATION) $(GO) test -race -count=1 -timeout 0 -run '^TestInterleavings$$' -v ./workflows/

## lint: gofmt, go vet, staticcheck, golangci-lint (import layers, errcheck, revive: .golangci.yml) and workflowcheck
lint: $(BIN)/workflowcheck $(BIN)/staticcheck $(BIN)/golangci-lint
	@out=$$(gofmt -l .); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(BIN)/staticcheck ./...
	$(BIN)/golangci-lint run ./...
	$(BIN)/workflowcheck ./workflows/...

build:
	$(GO) build -o $(BIN)/ ./worker ./starter

tools: $(BIN)/temporal $(BIN)/temporal-server $(BIN)/temporal-sql-tool $(BIN)/workflowcheck $(BIN)/staticcheck $(BIN)/golangci-lint

$(BIN)/temporal:
	GOBIN=$(BIN) $(GO) install $(TEMPORAL_CLI)

# go install names them server and sql: install into a scratch directory, then rename.
$(BIN)/temporal-server:
	tmp=$$(mktemp -d) && GOBIN=$$tmp $(GO) install $(TEMPORAL_SERVER) && mkdir -p $(BIN) && mv $$tmp/server $@ && rm -rf $$tmp

$(BIN)/temporal-sql-tool:
	tmp=$$(mktemp -d) && GOBIN=$$tmp $(GO) install $(TEMPORAL_SQL_TOOL) && mkdir -p $(BIN) && mv $$tmp/sql $@ && rm -rf $$tmp

$(BIN)/workflowcheck:
	GOBIN=$(BIN) $(GO) install $(WORKFLOWCHECK)

$(BIN)/staticcheck:
	GOBIN=$(BIN) $(GO) install $(STATICCHECK)

$(BIN)/golangci-lint:
	GOBIN=$(BIN) $(GO) install $(GOLANGCI_LINT)

clean:
	rm -rf $(BIN) .demo

## image: build the container image $(IMAGE) from the Dockerfile (needs a running Docker engine)
IMAGE          ?= keyrotor:dev
IMAGE_VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
IMAGE_REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
.PHONY: image
image:
	@command -v docker >/dev/null 2>&1 || { echo "make image: docker not found; install Docker to build $(IMAGE) (or build the Dockerfile with another OCI image builder)" >&2; exit 1; }
	@docker info >/dev/null 2>&1 || { echo "make image: no Docker engine answers (docker info failed); start one, or set DOCKER_HOST, to build $(IMAGE)" >&2; exit 1; }
	docker build --file Dockerfile --tag $(IMAGE) --build-arg VERSION=$(IMAGE_VERSION) --build-arg REVISION=$(IMAGE_REVISION) .
