# hardware_exporter. `make run` starts it on this host; `make test` runs
# every test. Go is the only prerequisite; lint tools are fetched through
# the Go module proxy at pinned versions.

GO          ?= go
BIN         ?= ./hardware_exporter
# Install layout: the vendor directories a distribution uses, under PREFIX
# (systemd, systemd-sysusers and udev read /usr/local/lib/... as well as
# /usr/lib/...), so the admin's /etc/systemd/system, /etc/sysusers.d and
# /etc/udev/rules.d stay free for overrides. `make package` stages the
# packages through the same recipe with PREFIX=/usr.
PREFIX      ?= /usr/local
DESTDIR     ?=
BINDIR      ?= $(PREFIX)/bin
DATADIR     ?= $(PREFIX)/share/hardware_exporter
DOCDIR      ?= $(PREFIX)/share/doc/hardware_exporter
MANDIR      ?= $(PREFIX)/share/man
SYSCONFDIR  ?= /etc
UNITDIR     ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
UDEVDIR     ?= $(PREFIX)/lib/udev/rules.d
# ARGS="" for the unit's EnvironmentFile= (the RPM uses /etc/sysconfig).
DEFAULTSFILE ?= $(SYSCONFDIR)/default/hardware_exporter
# The man page, from the flags (--help-man); see install.
MANPAGE     ?= $(BIN).1
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

.PHONY: all build run demo once test race lint bench install install-files uninstall package check-package e2e-package clean tools \
	check-deploy e2e e2e-fleet fuzz costtest costtest-realtime costtest-churn soak dist-binaries image image-check check-kubernetes release dist-tarballs sbom FORCE

all: lint test build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/hardware_exporter

# Run on this host with built-in defaults (add ARGS='--config.file=...').
# Some series (DMI serials, SMBIOS) need root; without it they are absent.
# State files go to RUN_STATE, not the installed service's
# /var/lib/hardware_exporter/state, which a run as root would overwrite.
RUN_STATE   ?= $(or $(TMPDIR),/tmp)/hardware_exporter-run/state
run: build
	$(BIN) --state.path=$(RUN_STATE) $(ARGS)

# Run on the bundled fixture tree of a 2-socket server: the full output on
# a laptop or VM, every probe included (the tool probes run the fixture's
# fake tools, which print captured output). Then: curl localhost:9816/metrics
# The tree is unpacked first because fixture names spell ":" as "%3A" (see
# internal/test/fixture), and removed when the demo stops.
DEMO_TREE   ?= $(or $(TMPDIR),/tmp)/hardware_exporter-demo
demo: build
	rm -rf $(DEMO_TREE) && $(GO) run ./internal/test/fixture/materialize -config $(DEMO_TREE).yml $(FIXTURE) $(DEMO_TREE)
	trap 'rm -rf $(DEMO_TREE) $(DEMO_TREE).yml' EXIT INT TERM; \
	$(BIN) --config.file=$(DEMO_TREE).yml --state.path=$(DEMO_TREE)/state --path.procfs=$(DEMO_TREE)/proc \
		--path.sysfs=$(DEMO_TREE)/sys --path.rootfs=$(DEMO_TREE)/root $(ARGS)

# One probe round printed to stdout, and only that: `make once > f.prom` is a
# valid exposition (the build's own output goes to stderr).
once:
	@$(MAKE) -s --no-print-directory build >&2
	@$(BIN) --once $(ARGS)

# The packages whose code differs with the nvml build tag (NVML loaded in
# process through purego, which makes the binary dynamically linked: see
# internal/host/nvml), linted both ways; with the tag, the nvml package and the
# probe's GPU tests run again (the rest of the probe package is the same
# code). The tests build a fake libnvidia-ml with gcc (make tools installs it).
NVML_PKGS := ./internal/host/nvml/... ./internal/probe/

# The whole suite, with the race detector: every goroutine has an owner.
# The deploy tests check the rules and the dashboard with promtool, so the
# tools come first (a no-op once installed).
test: tools
	$(GO) test -race -count=1 ./...
	$(GO) test -race -count=1 -tags nvml ./internal/host/nvml/...
	$(GO) test -race -count=1 -tags nvml -run GPU ./internal/probe/
	cd tools && $(GO) test -race -count=1 ./...

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
	rm -rf $(FIXTURE_TREE) && $(GO) run ./internal/test/fixture/materialize -config $(FIXTURE_TREE).yml $(FIXTURE) $(FIXTURE_TREE)
	$(BIN) --once --log.level=error --config.file=$(FIXTURE_TREE).yml --no-probe.textfile --path.procfs=$(FIXTURE_TREE)/proc \
		--path.sysfs=$(FIXTURE_TREE)/sys --path.rootfs=$(FIXTURE_TREE)/root > $(FIXTURE_TREE).prom || true
	promtool check metrics < $(FIXTURE_TREE).prom
	rm -rf $(FIXTURE_TREE) $(FIXTURE_TREE).prom $(FIXTURE_TREE).yml
	$(MAKE) --no-print-directory check-kubernetes
	@if command -v systemd-analyze >/dev/null; then \
		$(GO) test -count=1 -run 'TestSystemd' ./deploy/; \
	else echo "systemd-analyze not installed: unit checked by directives only"; $(GO) test -count=1 -run TestSystemdUnit ./deploy/; fi

# End to end: the exporter on the fixture host, scraped by a real Prometheus
# that loads the repository's rules (internal/test/e2e). The fleet test has its
# own target, so CI reports the two apart.
e2e: tools
	$(GO) test -tags e2e -count=1 -v -timeout 5m -skip '^TestFleet$$' ./internal/test/e2e/

# The fleet paths of README's "Running at fleet scale": four exporters on
# variants of the fixture host, a site Prometheus with the rules and a global
# one federating from it (deploy/prometheus/federation.yml); and the same
# exporters through a Prometheus agent remote-writing to VictoriaMetrics,
# with vmalert evaluating the rules (install-tools.sh --fleet installs
# Debian's victoria-metrics). About a minute.
e2e-fleet:
	@sh deploy/ci/install-tools.sh --fleet
	$(GO) test -tags e2e -count=1 -v -timeout 4m -run '^TestFleet$$' ./internal/test/e2e/

# Every fuzz target briefly, FUZZ_TOTAL seconds in all (CI: about 2 minutes).
FUZZ_TOTAL ?= 120
fuzz:
	FUZZ_TOTAL=$(FUZZ_TOTAL) sh deploy/ci/fuzz.sh

# The whole daemon's cost next to node_exporter's and a static replay of its
# own bytes, on the fixture host, with a simulated day at time compression
# K=20 (about 20 minutes: 6h ÷ 20, so every probe runs) and, in
# costtest-realtime, in real time for 10 minutes (the Go runtime's idle
# cost as a host pays it); docs/benchmarks.md. A benchmark, never a
# pass/fail on numbers. COSTTEST_FLAGS='-smoke' runs it in seconds;
# '-compress K', '-day D' change the day; '-pprof-top FILE' writes the
# whole daemon's profile top. node_exporter is installed here, not by
# `make tools` (Debian enables it). costtest-churn is costtest with the
# tree's readings rewritten each simulated minute (-churn), as a real host's
# change: the exporter's reuse of unchanged values is not its best case.
costtest: tools
	@sh deploy/ci/install-tools.sh --costtest
	$(GO) run ./cmd/costtest $(COSTTEST_FLAGS)

costtest-realtime: tools
	@sh deploy/ci/install-tools.sh --costtest
	$(GO) run ./cmd/costtest -realtime $(COSTTEST_FLAGS)

costtest-churn: tools
	@sh deploy/ci/install-tools.sh --costtest
	$(GO) run ./cmd/costtest -churn $(COSTTEST_FLAGS)

# The exporter on a hostile fixture host under scrapes with random queries
# and headers, refreshes and SIGHUPs at once, for SOAK_DURATION; fails on
# growth of RSS, goroutines, threads or FDs, on any 5xx and on any panic.
# Not in CI. SOAK_FLAGS='-keep' keeps the work directory and the log.
SOAK_DURATION ?= 10m
soak:
	$(GO) run ./cmd/soak -duration $(SOAK_DURATION) $(SOAK_FLAGS)

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	$(GO) vet -tags nvml $(NVML_PKGS)
	$(GO) run $(STATICCHECK) -tags nvml $(NVML_PKGS)
	cd tools && $(GO) vet ./... && $(GO) run $(STATICCHECK) ./...

# Benchmarks of the scrape path (see docs/benchmarks.md).
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./...

# Binary, config and defaults file (each kept if it exists), systemd unit
# (its paths follow PREFIX), sysusers.d user, udev rule for /dev/ipmi0, man
# page, and under $(DATADIR) the opt-in NVMe drop-in, Prometheus rules and
# config, Alertmanager example and the Grafana dashboard. Then, on the host:
#   systemd-sysusers && udevadm control --reload && udevadm trigger
#   systemctl daemon-reload && systemctl enable --now hardware_exporter
install: build
	$(BIN) --help-man > $(MANPAGE)
	@$(MAKE) --no-print-directory install-files
	@[ -n "$(DESTDIR)" ] || echo "next: systemd-sysusers && udevadm control --reload && udevadm trigger --subsystem-match=ipmi && systemctl daemon-reload && systemctl enable --now hardware_exporter"

# The files only, from an existing $(BIN) and $(MANPAGE): make package
# stages its cross-built binaries through this.
install-files:
	install -D -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/hardware_exporter
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/hardware_exporter/hardware_exporter.yml ]; then \
		echo "keeping $(DESTDIR)$(SYSCONFDIR)/hardware_exporter/hardware_exporter.yml"; \
	else install -D -m 0644 configs/hardware_exporter.yml $(DESTDIR)$(SYSCONFDIR)/hardware_exporter/hardware_exporter.yml; fi
	@if [ -e $(DESTDIR)$(DEFAULTSFILE) ]; then echo "keeping $(DESTDIR)$(DEFAULTSFILE)"; \
	else install -D -m 0644 deploy/package/default $(DESTDIR)$(DEFAULTSFILE); fi
	install -d $(DESTDIR)$(UNITDIR)
	sed -e 's|/usr/local/bin/hardware_exporter|$(BINDIR)/hardware_exporter|' \
	    -e 's|/usr/local/share/doc/hardware_exporter|$(DOCDIR)|' \
	    -e 's|/etc/default/hardware_exporter|$(DEFAULTSFILE)|' \
	    -e 's|/etc/hardware_exporter/|$(SYSCONFDIR)/hardware_exporter/|' \
		deploy/systemd/hardware_exporter.service > $(DESTDIR)$(UNITDIR)/hardware_exporter.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/hardware_exporter.service
	install -D -m 0644 deploy/sysusers/hardware_exporter.conf $(DESTDIR)$(SYSUSERSDIR)/hardware_exporter.conf
	install -D -m 0644 deploy/udev/60-hardware_exporter.rules $(DESTDIR)$(UDEVDIR)/60-hardware_exporter.rules
	install -d $(DESTDIR)$(MANDIR)/man1
	gzip -9n < $(MANPAGE) > $(DESTDIR)$(MANDIR)/man1/hardware_exporter.1.gz
	chmod 0644 $(DESTDIR)$(MANDIR)/man1/hardware_exporter.1.gz
	install -D -m 0644 deploy/systemd/hardware_exporter.service.d/nvme-smart.conf \
		$(DESTDIR)$(DATADIR)/systemd/hardware_exporter.service.d/nvme-smart.conf
	install -d $(DESTDIR)$(DATADIR)/prometheus/rules $(DESTDIR)$(DATADIR)/prometheus/targets \
		$(DESTDIR)$(DATADIR)/alertmanager $(DESTDIR)$(DATADIR)/grafana $(DESTDIR)$(DOCDIR)
	install -m 0644 deploy/prometheus/prometheus.yml deploy/prometheus/federation.yml $(DESTDIR)$(DATADIR)/prometheus/
	install -m 0644 deploy/prometheus/rules/*.yml $(DESTDIR)$(DATADIR)/prometheus/rules/
	install -m 0644 deploy/prometheus/targets/*.yml $(DESTDIR)$(DATADIR)/prometheus/targets/
	install -m 0644 deploy/alertmanager/alertmanager.yml $(DESTDIR)$(DATADIR)/alertmanager/
	install -m 0644 deploy/grafana/hardware_exporter.json $(DESTDIR)$(DATADIR)/grafana/
	install -m 0644 README.md CHANGELOG.md LICENSE docs/runbook.md docs/metrics.md $(DESTDIR)$(DOCDIR)/

# Everything install put there except the config, the defaults file, the
# state directory and the user: what a package's "remove" (not "purge")
# leaves. Stop the service first: systemctl disable --now hardware_exporter
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/hardware_exporter $(DESTDIR)$(UNITDIR)/hardware_exporter.service \
		$(DESTDIR)$(SYSUSERSDIR)/hardware_exporter.conf $(DESTDIR)$(UDEVDIR)/60-hardware_exporter.rules \
		$(DESTDIR)$(MANDIR)/man1/hardware_exporter.1.gz
	rm -rf $(DESTDIR)$(DATADIR) $(DESTDIR)$(DOCDIR)
	@echo "kept $(DESTDIR)$(SYSCONFDIR)/hardware_exporter/, $(DESTDIR)$(DEFAULTSFILE), /var/lib/hardware_exporter and the user hardware_exporter"

# .deb and .rpm for each of PKG_ARCHES, in dist/ (names below: `make
# release` and CI rely on them). Static (CGO off), -trimpath, no build user
# or date, file times from SOURCE_DATE_EPOCH (the commit's): two runs on
# one commit give the same bytes. nfpm, a maintained packager, runs as a Go
# module at a pinned version. Each package is staged by install-files with
# the distribution's paths, then packed by deploy/package/nfpm.yaml; nfpm
# takes the staged files' times for the trees (docs, data), so the staging
# is touched to the commit time first.
NFPM        := github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.48.0
PKG_ARCHES  ?= amd64 arm64
DIST        ?= dist
PKG_BUILD   := $(DIST)/build
PKG_GOFLAGS := -trimpath -buildvcs=false -ldflags '$(LDFLAGS)'
PKG_LAYOUT  := PREFIX=/usr SYSUSERSDIR=/usr/lib/sysusers.d UDEVDIR=/usr/lib/udev/rules.d
PKG_LAYOUT_deb := UNITDIR=/lib/systemd/system DEFAULTSFILE=/etc/default/hardware_exporter
PKG_LAYOUT_rpm := UNITDIR=/usr/lib/systemd/system DEFAULTSFILE=/etc/sysconfig/hardware_exporter
rpm_arch_amd64 := x86_64
rpm_arch_arm64 := aarch64
package:
	rm -rf $(PKG_BUILD) && mkdir -p $(PKG_BUILD)
	CGO_ENABLED=0 $(GO) build $(PKG_GOFLAGS) -o $(PKG_BUILD)/host/hardware_exporter ./cmd/hardware_exporter
	$(PKG_BUILD)/host/hardware_exporter --help-man > $(PKG_BUILD)/hardware_exporter.1
	$(foreach a,$(PKG_ARCHES),$(call package_arch,$(a)))
	cd $(DIST) && sha256sum $(foreach a,$(PKG_ARCHES),hardware_exporter_$(VERSION)_$(a).deb hardware_exporter-$(VERSION)-1.$(rpm_arch_$(a)).rpm)

# package_arch,GOARCH: build, then stage and pack the .deb and the .rpm.
define package_arch
	CGO_ENABLED=0 GOOS=linux GOARCH=$(1) $(GO) build $(PKG_GOFLAGS) -o $(DIST)/linux-$(1)/hardware_exporter ./cmd/hardware_exporter
	$(call package_one,$(1),deb,$(1),$(DIST)/hardware_exporter_$(VERSION)_$(1).deb)
	$(call package_one,$(1),rpm,$(rpm_arch_$(1)),$(DIST)/hardware_exporter-$(VERSION)-1.$(rpm_arch_$(1)).rpm)

endef
# package_one,GOARCH,FORMAT,PKGARCH,TARGET
define package_one
	$(MAKE) --no-print-directory -s install-files DESTDIR=$(abspath $(PKG_BUILD))/$(2)-$(1) \
		BIN=$(DIST)/linux-$(1)/hardware_exporter MANPAGE=$(PKG_BUILD)/hardware_exporter.1 $(PKG_LAYOUT) $(PKG_LAYOUT_$(2))
	find $(PKG_BUILD)/$(2)-$(1) -exec touch -h -d @$(SOURCE_DATE_EPOCH) {} +
	STAGE=$(abspath $(PKG_BUILD))/$(2)-$(1) PKG_ARCH=$(3) PKG_VERSION=$(VERSION) $(PKG_LAYOUT_$(2)) \
		$(GO) run $(NFPM) package --config deploy/package/nfpm.yaml --packager $(2) --target $(4)
endef

# The packages read back: dpkg-deb on the .debs, each .rpm installed into a
# scratch root with rpm --root (deploy/package_test.go). Root not needed.
check-package: package
	$(GO) test -tags package -count=1 -v -run 'TestDebPackage|TestRPMPackage' ./deploy/

# The .deb under a real systemd: a Debian 12 root (debootstrap, cached in
# /var/cache/hardware_exporter-e2e) booted with systemd-nspawn; install,
# start, reload, upgrade, remove, purge (deploy/ci/e2e-package.sh). Root
# only; fails, never skips, where the machine cannot boot the container.
e2e-package:
	timeout 1200 bash deploy/ci/e2e-package.sh

clean:
	rm -f $(BIN) $(MANPAGE)
	rm -rf $(DIST)

# Release builds: static (CGO_ENABLED=0), -trimpath, no VCS stamp (a dirty
# tree would differ), and no build user or date, so two builds of one
# commit give the same bytes; the flags are those the packages' binaries
# get (make package), so the tarball, package and image carry one binary.
# One binary per architecture in $(DIST)/linux-ARCH/ (make package puts
# the same build there).
ARCHES            ?= $(PKG_ARCHES)
dist-binaries: $(ARCHES:%=$(DIST)/linux-%/hardware_exporter)
$(DIST)/linux-%/hardware_exporter: FORCE
	CGO_ENABLED=0 GOOS=linux GOARCH=$* $(GO) build $(PKG_GOFLAGS) -o $@ ./cmd/hardware_exporter
FORCE:

# The OCI image (FROM scratch: the static binary, a passwd entry for its
# user 65532, nothing else), amd64 and arm64 under one index, written as an
# OCI layout in a tar file by tools/cmd/mkimage (go-containerregistry; no
# container runtime needed). `podman load -i` or `skopeo copy
# oci-archive:FILE docker://REGISTRY/...` takes it from there.
IMAGE ?= $(DIST)/hardware_exporter-$(VERSION)-image.tar
image: dist-binaries
	cd tools && $(GO) run ./cmd/mkimage -version $(VERSION) -revision $(REVISION) \
		-out $(abspath $(IMAGE)) $(foreach a,$(ARCHES),$(a)=$(abspath $(DIST)/linux-$(a)/hardware_exporter))

# The image's content through the go-containerregistry API (user, entrypoint,
# port, layers, the binary's version), then the amd64 image run by podman
# on the fixture host and scraped (tools/image/archive_test.go).
# deploy/kubernetes against the Kubernetes and Prometheus Operator types,
# offline (tools/kubernetes), and its PrometheusRule against
# deploy/prometheus/rules (regenerate: cd tools && go test ./kubernetes -update).
check-kubernetes:
	cd tools && $(GO) run ./cmd/checkk8s ../deploy/kubernetes
	cd tools && $(GO) test -count=1 ./kubernetes/

# The release: in $(DIST)/, per architecture a tarball (binary, LICENSE,
# README, example config, deploy/ without its tests and CI scripts) and a
# CycloneDX SBOM of the binary; the .deb and .rpm packages (make package);
# the image; SHA256SUMS over all of them. Everything is reproducible from
# the commit (SOURCE_DATE_EPOCH; tar and gzip without owners, names or
# times of this machine). tools/release checks the result.
# RELEASE_PACKAGES= leaves the packages out (a build without the
# packaging tools); the check then expects none.
RELEASE_PACKAGES ?= package
TARBALL    = $(DIST)/hardware_exporter-$(VERSION).linux-$(1).tar.gz
SBOM       = $(DIST)/hardware_exporter-$(VERSION).linux-$(1).cdx.json
CYCLONEDX  := github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@v1.10.0
release: $(RELEASE_PACKAGES) image dist-tarballs sbom
	cd $(DIST) && sha256sum $(notdir $(foreach a,$(ARCHES),$(call TARBALL,$(a)) $(call SBOM,$(a))) $(IMAGE)) \
		$(if $(RELEASE_PACKAGES),hardware_exporter_$(VERSION)_*.deb hardware_exporter-$(VERSION)-1.*.rpm) > SHA256SUMS
	cd tools && $(GO) test -count=1 -v -run 'TestRelease' ./release/ -args -dist=$(abspath $(DIST)) \
		-version=$(VERSION) -arches='$(ARCHES)' -packages=$(if $(RELEASE_PACKAGES),true,false)
	@cat $(DIST)/SHA256SUMS

dist-tarballs: $(foreach a,$(ARCHES),$(call TARBALL,$(a)))
$(DIST)/hardware_exporter-$(VERSION).linux-%.tar.gz: $(DIST)/linux-%/hardware_exporter
	@test -f LICENSE || { echo "LICENSE is missing: a release ships the licence" >&2; exit 1; }
	rm -rf $(DIST)/stage-$*
	d=$(DIST)/stage-$*/hardware_exporter-$(VERSION).linux-$*; mkdir -p $$d && \
	cp $< $$d/hardware_exporter && cp LICENSE README.md configs/hardware_exporter.yml $$d/ && \
	git ls-files deploy | grep -v -e '_test\.go$$' -e '^deploy/ci/' | while read -r f; do \
		install -D -m 0644 "$$f" "$$d/$$f" || exit 1; done
	tar --sort=name --mtime=@$(SOURCE_DATE_EPOCH) --owner=0 --group=0 --numeric-owner \
		--mode='u+rwX,go+rX,go-w' --format=gnu -C $(DIST)/stage-$* -cf - hardware_exporter-$(VERSION).linux-$* \
		| gzip -9 -n > $@.tmp && mv $@.tmp $@
	rm -rf $(DIST)/stage-$*

# The SBOM of each shipped binary, from the module list Go embeds in it
# (cyclonedx-gomod bin: exactly what was linked, with the binary's hashes).
# GOPROXY=off: licences are read from the module cache the build filled;
# the one it cannot find there is the exporter's own (not published as a
# module), which it says in a warning.
sbom: dist-binaries
	GOBIN=$(abspath $(DIST))/.tools $(GO) install $(CYCLONEDX)
	$(foreach a,$(ARCHES),GOPROXY=off $(DIST)/.tools/cyclonedx-gomod bin -json -licenses -std -noserial -notimestamp \
		-version v$(VERSION) -output $(call SBOM,$(a)) $(DIST)/linux-$(a)/hardware_exporter &&) true

# PODMAN_RUN_FLAGS: runc (crun 1.8 refuses hybrid cgroups), and explicit
# limits, since podman as root asks for nofile=1048576, which a machine
# without CAP_SYS_RESOURCE (CI's sandbox) refuses.
PODMAN_RUN_FLAGS ?= --runtime=runc --ulimit=nofile=1024:1024 --ulimit=nproc=1024:1024
image-check: image
	sh deploy/ci/install-tools.sh --podman
	cd tools && $(GO) test -count=1 -v -run 'TestArchive' ./image/ -args -archive=$(abspath $(IMAGE)) \
		-version=$(VERSION) -podman -podman-run-flags='$(PODMAN_RUN_FLAGS)'
