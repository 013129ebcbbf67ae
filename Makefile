# keyrotor: the two commands are `make demo` and `make test`.
# Tools are pinned and installed into ./bin through the Go module proxy.

GO            ?= go
BIN           := $(CURDIR)/bin
TEMPORAL_CLI  := github.com/temporalio/cli/cmd/temporal@v1.5.1
WORKFLOWCHECK := go.temporal.io/sdk/contrib/tools/workflowcheck@v0.6.0
STATICCHECK   := honnef.co/go/tools/cmd/staticcheck@v0.8.2
DEMO_ARGS     ?=

export KEYROTOR_TEMPORAL_CLI := $(BIN)/temporal

.PHONY: demo test lint unit e2e bench build tools clean chaos

## demo: run a real rotation against a local Temporal dev server and the built-in emulators
demo: $(BIN)/temporal
	$(GO) run ./demo $(DEMO_ARGS)

## test: lint, workflowcheck, unit and end-to-end tests (starts its own Temporal dev server)
test: tools lint
	$(GO) test -race -count=1 -timeout 30m ./...

## bench: rotations against the emulators on a local dev server; prints calls and history sizes
bench: $(BIN)/temporal
	$(GO) test -run '^$$' -bench . -benchtime 5x -timeout 20m ./tests/

## chaos: random interleavings of operator actions and faults against the workflow, for CHAOS_DURATION
CHAOS_DURATION ?= 10m
chaos:
	KEYROTOR_CHAOS_DURATION=$(CHAOS_DURATION) $(GO) test -race -count=1 -timeout 0 -run '^TestInterleavings$$' -v ./workflows/

lint: $(BIN)/workflowcheck $(BIN)/staticcheck
	@out=$$(gofmt -l .); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(BIN)/staticcheck ./...
	$(BIN)/workflowcheck ./workflows/...

build:
	$(GO) build -o $(BIN)/ ./worker ./starter

tools: $(BIN)/temporal $(BIN)/workflowcheck $(BIN)/staticcheck

$(BIN)/temporal:
	GOBIN=$(BIN) $(GO) install $(TEMPORAL_CLI)

$(BIN)/workflowcheck:
	GOBIN=$(BIN) $(GO) install $(WORKFLOWCHECK)

$(BIN)/staticcheck:
	GOBIN=$(BIN) $(GO) install $(STATICCHECK)

clean:
	rm -rf $(BIN) .demo
