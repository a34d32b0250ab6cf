#!/usr/bin/env bash
# make e2e-package: the .deb under a real systemd. Builds the package twice
# (VERSION, then a higher VERSION+e2e), boots a minimal Debian 12 root with
# systemd-nspawn (systemd as PID 1, no network but loopback), installs the
# first with apt and checks what an admin relies on: policy-rc.d respected,
# start returns once /-/ready answers (Type=notify: no retry), /metrics serves, systemd-analyze security no worse than
# E2E_MAX_EXPOSURE, reload applies a config change, the upgrade keeps the
# edited config and serves its first scrape from the state files, remove
# stops it, purge removes /var/lib/hardware_exporter and keeps the user.
# Then the .rpm's scriptlets, run by rpm --root on a copy of the same root.
#
# The exporter inside reads the fixture host (internal/probe/testdata) via
# ARGS in /etc/default/hardware_exporter and runs the fixture's fake tools:
# it reads no real hardware and runs no host tool.
#
# The Debian root comes from debootstrap (Debian's packages) and is cached in
# E2E_CACHE (default /var/cache/hardware_exporter-e2e) when that is
# writable. Needs root. Where the machine cannot boot the container it says
# so and exits non-zero: CI must not pass by skipping this.
set -euo pipefail
cd "$(dirname "$0")/../.."

E2E_CACHE=${E2E_CACHE:-/var/cache/hardware_exporter-e2e}
E2E_MAX_EXPOSURE=${E2E_MAX_EXPOSURE:-2.8}
MIRROR=${E2E_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
started=$(date +%s)

fail() { echo "e2e-package: FAIL: $*" >&2; exit 1; }
step() { echo "--- e2e-package [$(( $(date +%s) - started ))s] $*"; }

[ "$(id -u)" -eq 0 ] || fail "needs root (debootstrap, systemd-nspawn)"
command -v systemd-nspawn >/dev/null && command -v debootstrap >/dev/null ||
	fail "systemd-nspawn or debootstrap missing: run deploy/ci/install-tools.sh --package-tools"
arch=$(dpkg --print-architecture)
case "$arch" in amd64 | arm64) ;; *) fail "no package for architecture $arch" ;; esac

work=$(mktemp -d /var/tmp/hardware_exporter-e2e.XXXXXX)
root=$work/root
nspawn_pid=""
teardown() {
	rc=$?
	if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
		# SIGTERM makes nspawn power the container off in order.
		kill -TERM "$nspawn_pid" 2>/dev/null || true
		for _ in $(seq 1 60); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.5; done
		if kill -0 "$nspawn_pid" 2>/dev/null; then
			echo "e2e-package: container did not stop in 30s; killing it" >&2
			kill -KILL "$nspawn_pid" 2>/dev/null || true
			wait "$nspawn_pid" 2>/dev/null || true
			rc=1
		fi
	fi
	if [ "$rc" -ne 0 ] && [ -f "$work/boot.log" ]; then
		echo "--- container console (last 40 lines)"; tail -n 40 "$work/boot.log" | sed 's/\x1b\[[0-9;]*m//g'
	fi
	rm -rf "$work"
	echo "e2e-package: $([ "$rc" -eq 0 ] && echo PASS || echo FAIL) in $(( $(date +%s) - started ))s"
	exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT TERM

# 1. Two builds of the package: the release and a higher version.
step "building packages"
version=$(cat VERSION)
make --no-print-directory -s package PKG_ARCHES="$arch" DIST="$work/dist1" >/dev/null
make --no-print-directory -s package PKG_ARCHES="$arch" DIST="$work/dist2" VERSION="$version+e2e" >/dev/null
deb1=hardware_exporter_${version}_$arch.deb
deb2=hardware_exporter_${version}+e2e_$arch.deb
[ -f "$work/dist1/$deb1" ] && [ -f "$work/dist2/$deb2" ] || fail "make package did not write $deb1 and $deb2"

# 2. The Debian 12 root, from the cache or debootstrap.
# procps: /bin/kill, which the unit's ExecReload runs (the package depends
# on it; the container has no network to fetch it). The cache is keyed by
# this list.
include=systemd,systemd-sysv,dbus,curl,ca-certificates,procps
base=$E2E_CACHE/$SUITE-$arch-$(echo "$include" | sha256sum | cut -c1-8)
if [ ! -x "$base/lib/systemd/systemd" ]; then
	if mkdir -p "$E2E_CACHE" 2>/dev/null && [ -w "$E2E_CACHE" ]; then dest=$base; else dest=$work/base; base=$dest; fi
	step "debootstrap $SUITE into $dest (cached for the next run where writable)"
	rm -rf "$dest.tmp"
	timeout 900 debootstrap --variant=minbase --include="$include" \
		"$SUITE" "$dest.tmp" "$MIRROR" >"$work/debootstrap.log" 2>&1 ||
		{ tail -20 "$work/debootstrap.log" >&2; fail "debootstrap failed"; }
	mv "$dest.tmp" "$dest"
fi
step "copying the root from $base"
cp -a "$base" "$root"
mkdir -p "$root/srv/e2e"
cp "$work/dist1/$deb1" "$work/dist2/$deb2" "$root/srv/e2e/"
cp -r internal/probe/testdata "$root/srv/e2e/testdata"
go run ./internal/test/fixture/materialize -config "$work/fixture.yml" \
	"$root/srv/e2e/testdata/server" "$root/srv/e2e/tree"
# The config: the fake tools at their paths inside the container, plus the
# hwmon interval that the reload below changes.
indent=$(sed -n '2s/^\( *\).*/\1/p' "$work/fixture.yml")
# The textfile probe reads an empty directory: the fixture's holds files
# it rejects on purpose, and a histogram, which state files do not keep.
mkdir -p "$root/srv/e2e/textfile"
sed -e "s|$root||g" -e "s|/srv/e2e/testdata/textfile|/srv/e2e/textfile|" -e "1a\\
${indent}hwmon: {interval: 1m}" "$work/fixture.yml" >"$work/config.yml"

# 3. Boot.
step "booting $SUITE with systemd-nspawn"
systemd-nspawn --register=no --keep-unit --private-network --quiet -D "$root" -M hwe-e2e --boot \
	</dev/null >"$work/boot.log" 2>&1 &
nspawn_pid=$!
init=""
for _ in $(seq 1 40); do
	init=$(ps -eo pid=,ppid=,comm= | awk -v p="$nspawn_pid" '$2 == p && $3 == "systemd" {print $1}')
	[ -n "$init" ] && break
	kill -0 "$nspawn_pid" 2>/dev/null || break
	sleep 0.5
done
[ -n "$init" ] || fail "this machine cannot boot the container (systemd-nspawn exited or systemd did not start)"
# cin: a command in the container, as root, bounded in time.
cin() { timeout "${T:-60}" nsenter -t "$init" -m -u -i -n -p -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	LANG=C DEBIAN_FRONTEND=noninteractive /bin/sh -c "$*" </dev/null; }
# The manager's socket appears a moment after PID 1 does: retry until it
# answers, then wait for the boot to finish.
state=""
for _ in $(seq 1 90); do
	state=$(T=90 cin 'systemctl is-system-running --wait' 2>/dev/null || true)
	[ -n "$state" ] && break
	sleep 1
done
case "$state" in running | degraded) ;; *) fail "container did not boot: system state '$state'" ;; esac
echo "container: $(cin 'systemctl --version | head -1'), system $state"

curl_in() { cin "curl -sS -m 10 $*"; }
base_url=http://127.0.0.1:9816
ready_code() { curl_in "-o /dev/null -w '%{http_code}' $base_url/-/ready" 2>/dev/null || true; }
# wait_ready: /-/ready 200 within 60s.
wait_ready() {
	for _ in $(seq 1 120); do
		[ "$(ready_code)" = 200 ] && return 0
		sleep 0.5
	done
	return 1
}

# 4. Install with policy-rc.d forbidding starts: enabled, not started.
step "apt install $deb1 under a policy-rc.d that forbids starts"
cin 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d'
T=180 cin "apt-get install -y -q --no-install-recommends /srv/e2e/$deb1" >"$work/apt1.log" 2>&1 ||
	{ cat "$work/apt1.log"; fail "apt install $deb1"; }
[ "$(cin 'systemctl is-enabled hardware_exporter' || true)" = enabled ] || fail "not enabled after install"
[ "$(cin 'systemctl is-active hardware_exporter' || true)" != active ] || fail "started although policy-rc.d forbids it"
cin 'getent passwd hardware_exporter' >/dev/null || fail "user hardware_exporter not created"
echo "installed: enabled, not started (policy-rc.d), user $(cin 'id hardware_exporter')"
cin 'rm /usr/sbin/policy-rc.d'

# 5. Point it at the fixture (the admin's edits), then start.
nsenter -t "$init" -m -- sh -c 'cat > /etc/default/hardware_exporter' <<EOF
ARGS="--path.procfs=/srv/e2e/tree/proc --path.sysfs=/srv/e2e/tree/sys --path.rootfs=/srv/e2e/tree/root"
EOF
nsenter -t "$init" -m -- sh -c 'cat > /etc/hardware_exporter/hardware_exporter.yml' <"$work/config.yml"
type=$(cin 'systemctl show -P Type hardware_exporter')
step "systemctl start (Type=$type)"
t0=$(date +%s%N)
T=120 cin 'systemctl start hardware_exporter' || { cin 'journalctl -u hardware_exporter --no-pager | tail -30'; fail "systemctl start"; }
echo "systemctl start returned after $(( ($(date +%s%N) - t0) / 1000000 ))ms"
[ "$type" = notify ] || fail "the unit is Type=$type; want notify, so that start returns once the listener answers"
# Type=notify: start returns only once the daemon said READY=1, which it
# says once its listener is bound and its state files are restored. So
# /-/ready answers at once, no retry: 200, or 503 while a probe without
# restored data has not yet run (a fresh install); then 200 within 60s.
code=$(ready_code)
case "$code" in
200|503) echo "/-/ready answered $code right after systemctl start" ;;
*) fail "Type=notify, but /-/ready answered '$code' right after systemctl start (refused?)" ;;
esac
wait_ready || fail "/-/ready not 200 within 60s"
[ "$(cin 'systemctl is-active hardware_exporter')" = active ] || fail "service not active"
curl_in "-f $base_url/metrics" >"$work/metrics1" || fail "/metrics"
grep -q "^hardware_exporter_build_info{.*version=\"$version\"" "$work/metrics1" || fail "build_info lacks version $version"
succeeded=$(sed -n 's/^hardware_probe_success{probe="\([^"]*\)"} 1$/\1/p' "$work/metrics1")
failed=$(sed -n 's/^hardware_probe_success{probe="\([^"]*\)"} 0$/\1/p' "$work/metrics1")
echo "/metrics: $(wc -l <"$work/metrics1") lines; probes succeeded: $(echo $succeeded); failed: ${failed:-none}"
[ -n "$succeeded" ] || fail "no probe succeeded on the fixture"

step "systemd-analyze security"
exposure=$(cin 'systemd-analyze security hardware_exporter.service --no-pager' | sed -n 's/.*Overall exposure level for hardware_exporter.service: \([0-9.]*\).*/\1/p')
[ -n "$exposure" ] || fail "systemd-analyze security gave no exposure level"
echo "exposure $exposure (limit $E2E_MAX_EXPOSURE)"
awk -v e="$exposure" -v m="$E2E_MAX_EXPOSURE" 'BEGIN { exit !(e <= m) }' || fail "exposure $exposure above $E2E_MAX_EXPOSURE"

# 6. Reload applies a config change: the hwmon interval, 1m to 2m.
step "reload with hwmon interval 1m -> 2m"
grep -q '^hardware_probe_interval_seconds{probe="hwmon"} 60$' "$work/metrics1" || fail "hwmon interval is not 60s before the reload"
cin "sed -i 's/hwmon: {interval: 1m}/hwmon: {interval: 2m}/' /etc/hardware_exporter/hardware_exporter.yml"
cin 'systemctl reload hardware_exporter' || fail "systemctl reload"
# The interval series is rendered with the probe's results: a refresh of
# hwmon (loopback only) renders it now rather than at its next run.
ok=""
for _ in $(seq 1 20); do
	# grep without -q reads all its input: with pipefail, grep -q quitting at
	# the first match fails the writer (curl: (23)) and so the pipeline.
	cin 'journalctl -u hardware_exporter --no-pager' | grep 'config reloaded' >/dev/null && { ok=1; break; }
	sleep 0.5
done
[ -n "$ok" ] || fail "no 'config reloaded' in the journal"
curl_in "-fsS -X POST '$base_url/-/refresh?probe=hwmon'" >/dev/null || fail "POST /-/refresh?probe=hwmon"
ok=""
for _ in $(seq 1 60); do
	curl_in "$base_url/metrics" | grep '^hardware_probe_interval_seconds{probe="hwmon"} 120$' >/dev/null && { ok=1; break; }
	sleep 0.5
done
[ -n "$ok" ] || { cin 'journalctl -u hardware_exporter --no-pager | tail -20'; fail "reload did not apply the hwmon interval within 30s"; }
echo "reload applied: hardware_probe_interval_seconds{probe=\"hwmon\"} 120"
config_sum=$(cin 'sha256sum /etc/hardware_exporter/hardware_exporter.yml /etc/default/hardware_exporter')

# 7. Upgrade: the state files make the restart warm.
step "waiting for a state file per succeeded probe"
ok=""
for _ in $(seq 1 60); do
	missing=""
	for p in $succeeded; do cin "test -s /var/lib/hardware_exporter/state/$p.state" || missing="$missing $p"; done
	[ -z "$missing" ] && { ok=1; break; }
	sleep 0.5
done
[ -n "$ok" ] || fail "no state file for:$missing"
pid1=$(cin 'systemctl show -P MainPID hardware_exporter')
step "apt install $deb2 (upgrade)"
T=180 cin "apt-get install -y -q --no-install-recommends /srv/e2e/$deb2" >"$work/apt2.log" 2>&1 ||
	{ cat "$work/apt2.log"; fail "apt upgrade to $deb2"; }
pid2=$(cin 'systemctl show -P MainPID hardware_exporter')
[ "$pid2" != "$pid1" ] && [ "$pid2" != 0 ] || fail "upgrade did not restart the service (MainPID $pid1 -> $pid2)"
[ "$(cin 'sha256sum /etc/hardware_exporter/hardware_exporter.yml /etc/default/hardware_exporter')" = "$config_sum" ] ||
	fail "the upgrade changed the edited config or defaults file"
wait_ready || fail "/-/ready not 200 within 60s after the upgrade"
curl_in "-D /dev/stdout -o /srv/e2e/metrics2 $base_url/metrics" >"$work/headers2"
cin 'cat /srv/e2e/metrics2' >"$work/metrics2"
tr -d '\r' <"$work/headers2" | grep -i '^X-Cache: HIT$' >/dev/null || { cat "$work/headers2"; fail "first scrape after the upgrade is not X-Cache: HIT"; }
for p in $succeeded; do
	grep -q "^hardware_probe_restored{probe=\"$p\"} 1$" "$work/metrics2" || fail "probe $p not restored from state after the upgrade"
done
grep -q "^hardware_exporter_build_info{.*version=\"$version+e2e\"" "$work/metrics2" || fail "upgraded build_info lacks version $version+e2e"
echo "upgraded to $version+e2e: MainPID $pid1 -> $pid2, config kept, first scrape X-Cache: HIT, restored: $(echo $succeeded)"

# 8. Remove stops it; purge removes the state, keeps the user.
step "apt remove"
T=120 cin 'apt-get remove -y -q hardware_exporter' >"$work/apt3.log" 2>&1 || { cat "$work/apt3.log"; fail "apt remove"; }
[ "$(cin 'systemctl is-active hardware_exporter' || true)" != active ] || fail "still active after remove"
cin 'for p in /proc/[0-9]*; do [ "$(cat $p/comm 2>/dev/null)" = hardware_export ] && exit 0; done; exit 1' &&
	fail "a hardware_exporter process survived remove"
cin 'test -d /var/lib/hardware_exporter && test -f /etc/hardware_exporter/hardware_exporter.yml' || fail "remove deleted the state or the config"
echo "removed: stopped; state and config kept"
step "apt purge"
T=120 cin 'apt-get purge -y -q hardware_exporter' >"$work/apt4.log" 2>&1 || { cat "$work/apt4.log"; fail "apt purge"; }
cin 'test ! -e /var/lib/hardware_exporter' || fail "purge left /var/lib/hardware_exporter"
cin 'test ! -e /etc/hardware_exporter/hardware_exporter.yml && test ! -e /etc/default/hardware_exporter' || fail "purge left the conffiles"
cin 'getent passwd hardware_exporter' >/dev/null || fail "purge removed the user (it must stay)"
echo "purged: /var/lib/hardware_exporter and conffiles gone, user kept"
# 9. The .rpm's scriptlets, run for real: rpm --root on a second copy of
# the Debian root (a shell, systemd-sysusers and systemctl, which works
# offline in a chroot). Install: user created, preset enables it (no preset
# files: systemd's default is enable). Erase: disabled, user kept.
if command -v rpm >/dev/null; then
	rarch=$( [ "$arch" = amd64 ] && echo x86_64 || echo aarch64 )
	rpmfile=$work/dist1/hardware_exporter-$version-1.$rarch.rpm
	step "rpm --root $(basename "$rpmfile") on a copy of the Debian root, scriptlets run"
	rr=$work/rpmroot
	cp -a "$base" "$rr"
	wants=$rr/etc/systemd/system/multi-user.target.wants/hardware_exporter.service
	timeout 120 rpm --root "$rr" --initdb
	timeout 120 rpm --root "$rr" -i --nodeps "$rpmfile" 2>&1 | grep -v 'should not be used directly\|assuming you know' || true
	timeout 30 rpm --root "$rr" -q hardware_exporter >/dev/null || fail "rpm install into the root failed"
	chroot "$rr" getent passwd hardware_exporter >/dev/null || fail "rpm %post did not create the user"
	[ -L "$wants" ] || fail "rpm %post (preset) did not enable the unit"
	timeout 120 rpm --root "$rr" -e hardware_exporter 2>&1 | grep -v 'should not be used directly\|assuming you know' || true
	timeout 30 rpm --root "$rr" -q hardware_exporter >/dev/null && fail "rpm -e left the package installed"
	[ ! -e "$wants" ] && [ ! -L "$wants" ] || fail "rpm %preun did not disable the unit"
	chroot "$rr" getent passwd hardware_exporter >/dev/null || fail "rpm -e removed the user (it must stay)"
	echo "rpm: %post created the user and enabled the unit (preset); -e disabled it and kept the user"
else
	fail "rpm missing: run deploy/ci/install-tools.sh --package-tools"
fi
step "all checks passed; powering the container off"
