# Diwan — build, run and test. `make run` and `make test` need nothing but Go
# (tests that need PostgreSQL or versitygw skip without them, except under
# CI=true; .ci/run installs what they need).

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -X diwan.gov.sy/diwan/internal/app.Version=$(VERSION) -X diwan.gov.sy/diwan/internal/app.Commit=$(COMMIT)
CONFIG   ?= configs/dev.yaml
TESTFLAGS ?=

.PHONY: all build run test vet fmt bench clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/diwan ./cmd/diwan

run: build
	./bin/diwan serve --config $(CONFIG)

# The whole suite, race detector on.
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 30m $(TESTFLAGS) ./...

vet:
	$(GO) vet ./...

fmt:
	gofmt -w cmd internal web migrations

# Benchmarks report figures; they are not part of `make test`.
bench:
	$(GO) test -run '^$$' -bench . -benchtime 3x ./...

clean:
	rm -rf bin
