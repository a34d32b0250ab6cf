# hardware_exporter. `make run` starts it on this host; `make test` runs
# every test. Go is the only prerequisite; lint tools are fetched through
# the Go module proxy at pinned versions.

GO          ?= go
BIN         := hardware_exporter
PREFIX      ?= /usr/local
DESTDIR     ?=
ARGS        ?=
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION    ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BRANCH      ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
VERSION_PKG := github.com/prometheus/common/version
LDFLAGS     := -X $(VERSION_PKG).Version=$(VERSION) -X $(VERSION_PKG).Revision=$(REVISION) \
               -X $(VERSION_PKG).Branch=$(BRANCH) -X $(VERSION_PKG).BuildUser=$(shell id -un)@$(shell hostname) \
               -X $(VERSION_PKG).BuildDate=$(shell date -u +%Y%m%d-%H:%M:%S)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
FIXTURE     := internal/probe/testdata/server

.PHONY: all build run demo once test race lint bench install clean

all: lint test build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/hardware_exporter

# Run on this host with built-in defaults (add ARGS='--config.file=...').
# Some series (DMI serials, SMBIOS) need root; without it they are absent.
run: build
	./$(BIN) $(ARGS)

# Run on the bundled fixture tree of a 2-socket server: the full output on
# a laptop or VM. Then: curl localhost:9816/metrics
# The tree is unpacked first because fixture names spell ":" as "%3A" (Go
# module zips refuse colons; see internal/fixture).
DEMO_TREE   ?= $(or $(TMPDIR),/tmp)/hardware_exporter-demo
demo: build
	rm -rf $(DEMO_TREE) && $(GO) run ./internal/fixture/materialize $(FIXTURE) $(DEMO_TREE)
	./$(BIN) --path.procfs=$(DEMO_TREE)/proc --path.sysfs=$(DEMO_TREE)/sys --path.rootfs=$(DEMO_TREE)/root $(ARGS)

# One probe round printed to stdout.
once: build
	./$(BIN) --once $(ARGS)

# The whole suite, with the race detector: every goroutine has an owner.
test:
	$(GO) test -race -count=1 ./...

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

# Benchmarks of the scrape path (see docs/benchmarks.md).
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./...

install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/$(BIN)
	install -D -m 0644 configs/hardware_exporter.yml $(DESTDIR)/etc/hardware_exporter/hardware_exporter.yml
	install -D -m 0644 deploy/systemd/hardware_exporter.service $(DESTDIR)/etc/systemd/system/hardware_exporter.service

clean:
	rm -f $(BIN)
