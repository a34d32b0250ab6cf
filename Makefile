# hardware_exporter. `make run` starts it on this host; `make test` runs
# every test. Go is the only prerequisite; lint tools are fetched through
# the Go module proxy at pinned versions.

GO          ?= go
BIN         ?= ./hardware_exporter
PREFIX      ?= /usr/local
DESTDIR     ?=
BINDIR      ?= $(PREFIX)/bin
DATADIR     ?= $(PREFIX)/share/hardware_exporter
DOCDIR      ?= $(PREFIX)/share/doc/hardware_exporter
SYSCONFDIR  ?= /etc
UNITDIR     ?= $(SYSCONFDIR)/systemd/system
SYSUSERSDIR ?= $(SYSCONFDIR)/sysusers.d
UDEVDIR     ?= $(SYSCONFDIR)/udev/rules.d
ARGS        ?=
# The release version lives in VERSION, as in Prometheus' own projects; the
# same number goes into the binary, the packages and the image.
VERSION     ?= $(shell cat VERSION)
REVISION    ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BRANCH      ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
# The commit's time, for whatever needs a date (packages' file times): the
# same commit always gives the same bytes (https://reproducible-builds.org).
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
export SOURCE_DATE_EPOCH
VERSION_PKG := github.com/prometheus/common/version
# No BuildUser or BuildDate: they would make two builds of one commit
# differ. --version and hardware_exporter_build_info carry version,
# revision and branch.
LDFLAGS     := -X $(VERSION_PKG).Version=$(VERSION) -X $(VERSION_PKG).Revision=$(REVISION) \
               -X $(VERSION_PKG).Branch=$(BRANCH)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
FIXTURE     := internal/probe/testdata/server

.PHONY: all build run demo once test race lint bench install clean tools check-deploy e2e e2e-fleet fuzz costtest soak

all: lint test build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/hardware_exporter

# Run on this host with built-in defaults (add ARGS='--config.file=...').
# Some series (DMI serials, SMBIOS) need root; without it they are absent.
run: build
	$(BIN) $(ARGS)

# Run on the bundled fixture tree of a 2-socket server: the full output on
# a laptop or VM, every probe included (the tool probes run the fixture's
# fake tools, which print captured output). Then: curl localhost:9816/metrics
# The tree is unpacked first because fixture names spell ":" as "%3A" (see
# internal/fixture), and removed when the demo stops.
DEMO_TREE   ?= $(or $(TMPDIR),/tmp)/hardware_exporter-demo
demo: build
	rm -rf $(DEMO_TREE) && $(GO) run ./internal/fixture/materialize -config $(DEMO_TREE).yml $(FIXTURE) $(DEMO_TREE)
	trap 'rm -rf $(DEMO_TREE) $(DEMO_TREE).yml' EXIT INT TERM; \
	$(BIN) --config.file=$(DEMO_TREE).yml --state.path=$(DEMO_TREE)/state --path.procfs=$(DEMO_TREE)/proc \
		--path.sysfs=$(DEMO_TREE)/sys --path.rootfs=$(DEMO_TREE)/root $(ARGS)

# One probe round printed to stdout, and only that: `make once > f.prom` is a
# valid exposition (the build's own output goes to stderr).
once:
	@$(MAKE) -s --no-print-directory build >&2
	@$(BIN) --once $(ARGS)

# The whole suite, with the race detector: every goroutine has an owner.
# The deploy tests check the rules and the dashboard with promtool, so the
# tools come first (a no-op once installed).
test: tools
	$(GO) test -race -count=1 ./...

# prometheus, promtool and amtool from Debian's packages, when missing.
tools:
	@sh deploy/ci/install-tools.sh

# The deployment files through the tools that load them in production.
FIXTURE_TREE ?= $(or $(TMPDIR),/tmp)/hardware_exporter-check-deploy
check-deploy: tools build
	promtool check rules deploy/prometheus/rules/*.yml
	promtool test rules deploy/prometheus/tests/*.yml
	promtool check config deploy/prometheus/prometheus.yml
	promtool check config deploy/prometheus/federation.yml
	amtool check-config deploy/alertmanager/alertmanager.yml
	rm -rf $(FIXTURE_TREE) && $(GO) run ./internal/fixture/materialize -config $(FIXTURE_TREE).yml $(FIXTURE) $(FIXTURE_TREE)
	$(BIN) --once --log.level=error --config.file=$(FIXTURE_TREE).yml --no-probe.textfile --path.procfs=$(FIXTURE_TREE)/proc \
		--path.sysfs=$(FIXTURE_TREE)/sys --path.rootfs=$(FIXTURE_TREE)/root > $(FIXTURE_TREE).prom || true
	promtool check metrics < $(FIXTURE_TREE).prom
	rm -rf $(FIXTURE_TREE) $(FIXTURE_TREE).prom $(FIXTURE_TREE).yml
	@if command -v systemd-analyze >/dev/null; then \
		$(GO) test -count=1 -run 'TestSystemd' ./deploy/; \
	else echo "systemd-analyze not installed: unit checked by directives only"; $(GO) test -count=1 -run TestSystemdUnit ./deploy/; fi

# End to end: the exporter on the fixture host, scraped by a real Prometheus
# that loads the repository's rules (internal/e2e). The fleet test has its
# own target, so CI reports the two apart.
e2e: tools
	$(GO) test -tags e2e -count=1 -v -timeout 5m -skip '^TestFleet$$' ./internal/e2e/

# The fleet path of README's "Running at fleet scale": three exporters on
# variants of the fixture host, a site Prometheus with the rules, a global
# one federating from it (deploy/prometheus/federation.yml). About 15s.
e2e-fleet: tools
	$(GO) test -tags e2e -count=1 -v -timeout 4m -run '^TestFleet$$' ./internal/e2e/

# Every fuzz target briefly, FUZZ_TOTAL seconds in all (CI: about 2 minutes).
FUZZ_TOTAL ?= 120
fuzz:
	FUZZ_TOTAL=$(FUZZ_TOTAL) sh deploy/ci/fuzz.sh

# The whole daemon's cost next to node_exporter's and a static replay of its
# own bytes, on the fixture host, with a simulated day (docs/benchmarks.md).
# A benchmark, never a pass/fail on numbers. COSTTEST_FLAGS='-smoke' runs
# it in seconds; '-pprof-top FILE' also profiles the daemon's steady state.
costtest: tools
	$(GO) run ./internal/costtest $(COSTTEST_FLAGS)

# The exporter on a hostile fixture host under scrapes with random queries
# and headers, refreshes and SIGHUPs at once, for SOAK_DURATION; fails on
# growth of RSS, goroutines, threads or FDs, on any 5xx and on any panic.
# Not in CI. SOAK_FLAGS='-keep' keeps the work directory and the log.
SOAK_DURATION ?= 10m
soak:
	$(GO) run ./internal/soak -duration $(SOAK_DURATION) $(SOAK_FLAGS)

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

# Benchmarks of the scrape path (see docs/benchmarks.md).
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./...

# Binary, config (kept if it exists), systemd unit (its paths follow PREFIX),
# sysusers.d user, udev rule for /dev/ipmi0, and under $(DATADIR) the opt-in
# NVMe drop-in, Prometheus rules and config, Alertmanager example and the
# Grafana dashboard. Then, on the host:
#   systemd-sysusers && udevadm control --reload && udevadm trigger
#   systemctl daemon-reload && systemctl enable --now hardware_exporter
install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/hardware_exporter
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/hardware_exporter/hardware_exporter.yml ]; then \
		echo "keeping $(DESTDIR)$(SYSCONFDIR)/hardware_exporter/hardware_exporter.yml"; \
	else install -D -m 0644 configs/hardware_exporter.yml $(DESTDIR)$(SYSCONFDIR)/hardware_exporter/hardware_exporter.yml; fi
	install -d $(DESTDIR)$(UNITDIR)
	sed -e 's|/usr/local/bin/hardware_exporter|$(BINDIR)/hardware_exporter|' \
	    -e 's|/usr/local/share/doc/hardware_exporter|$(DOCDIR)|' \
	    -e 's|/etc/hardware_exporter/|$(SYSCONFDIR)/hardware_exporter/|' \
		deploy/systemd/hardware_exporter.service > $(DESTDIR)$(UNITDIR)/hardware_exporter.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/hardware_exporter.service
	install -D -m 0644 deploy/sysusers/hardware_exporter.conf $(DESTDIR)$(SYSUSERSDIR)/hardware_exporter.conf
	install -D -m 0644 deploy/udev/60-hardware_exporter.rules $(DESTDIR)$(UDEVDIR)/60-hardware_exporter.rules
	install -D -m 0644 deploy/systemd/hardware_exporter.service.d/nvme-smart.conf \
		$(DESTDIR)$(DATADIR)/systemd/hardware_exporter.service.d/nvme-smart.conf
	install -d $(DESTDIR)$(DATADIR)/prometheus/rules $(DESTDIR)$(DATADIR)/prometheus/targets \
		$(DESTDIR)$(DATADIR)/alertmanager $(DESTDIR)$(DATADIR)/grafana $(DESTDIR)$(DOCDIR)
	install -m 0644 deploy/prometheus/prometheus.yml deploy/prometheus/federation.yml $(DESTDIR)$(DATADIR)/prometheus/
	install -m 0644 deploy/prometheus/rules/*.yml $(DESTDIR)$(DATADIR)/prometheus/rules/
	install -m 0644 deploy/prometheus/targets/*.yml $(DESTDIR)$(DATADIR)/prometheus/targets/
	install -m 0644 deploy/alertmanager/alertmanager.yml $(DESTDIR)$(DATADIR)/alertmanager/
	install -m 0644 deploy/grafana/hardware_exporter.json $(DESTDIR)$(DATADIR)/grafana/
	install -m 0644 README.md docs/runbook.md docs/metrics.md $(DESTDIR)$(DOCDIR)/
	@[ -n "$(DESTDIR)" ] || echo "next: systemd-sysusers && udevadm control --reload && udevadm trigger --subsystem-match=ipmi && systemctl daemon-reload && systemctl enable --now hardware_exporter"

clean:
	rm -f $(BIN)
