#!/bin/sh
# Installs the tools the deploy checks and the end-to-end test need:
# prometheus and promtool (Debian's "prometheus" package) and amtool
# ("prometheus-alertmanager"). Idempotent: it calls apt-get only when a tool
# is missing, so a second run is a no-op and needs no network or root.
# Used by `make tools`; CI runs it on a fresh Debian machine. Also gcc:
# the NVML tests (go test -tags nvml) build a fake libnvidia-ml with it.
#
# With --costtest it also installs node_exporter ("prometheus-node-exporter"),
# the baseline `make costtest` measures the exporter against. Only then:
# Debian enables the package's service for the next boot, and `make test`
# has no use for a second exporter left enabled on a build machine.
#
# With --fleet it also installs VictoriaMetrics ("victoria-metrics": the
# single-node victoria-metrics and vmalert, among others), which `make
# e2e-fleet` remote-writes the fleet into. Only then, as with node_exporter:
# Debian enables the package's service for the next boot.
#
# With --server-tools it also installs smartmontools and ipmitool, the tools
# a real server has: CI runs the suite with them present to prove that no
# test runs a host tool (the tests point every tool probe at fake tools).
#
# With --podman it installs podman and runc instead, which `make
# image-check` runs the image with. runc, not Debian 12's default crun
# 1.8: crun refuses a host whose cgroups are in hybrid (v1 + v2) mode, as
# some CI machines' are; runc runs on v1, hybrid and v2.
# With --package-tools it also installs what `make package` checks and
# `make e2e-package` runs: rpm (the .rpm is installed into a scratch root
# with `rpm --root`), debootstrap (the Debian 12 root) and systemd-container
# (systemd-nspawn, which boots that root under a real systemd).
set -eu

# Debian names node_exporter's binary after its package; the cost test runs
# it by this path (NODE_EXPORTER moves it, for the script's own test).
node_exporter="${NODE_EXPORTER:-/usr/bin/prometheus-node-exporter}"
server_tools=""
costtest=""
podman=""
package_tools=""
fleet=""
for arg in "$@"; do
	case "$arg" in
	--server-tools) server_tools=1 ;;
	--costtest) costtest=1 ;;
	--podman) podman=1 ;;
	--package-tools) package_tools=1 ;;
	--fleet) fleet=1 ;;
	*) echo "tools: unknown argument $arg (known: --server-tools, --costtest, --podman, --package-tools, --fleet)" >&2; exit 2 ;;
	esac
done

missing=""
if [ -n "$server_tools" ]; then
	command -v smartctl >/dev/null 2>&1 || [ -x /usr/sbin/smartctl ] || missing="$missing smartmontools"
	command -v ipmitool >/dev/null 2>&1 || [ -x /usr/bin/ipmitool ] || missing="$missing ipmitool"
fi
if [ -n "$package_tools" ]; then
	command -v rpm >/dev/null 2>&1 || missing="$missing rpm"
	command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || missing="$missing debootstrap"
	command -v systemd-nspawn >/dev/null 2>&1 || missing="$missing systemd-container"
fi
if [ -n "$podman" ]; then
	command -v podman >/dev/null 2>&1 || missing="$missing podman"
	command -v runc >/dev/null 2>&1 || missing="$missing runc"
else
	command -v prometheus >/dev/null 2>&1 || missing="$missing prometheus"
	command -v promtool >/dev/null 2>&1 || case "$missing" in *prometheus*) ;; *) missing="$missing prometheus" ;; esac
	command -v amtool >/dev/null 2>&1 || missing="$missing prometheus-alertmanager"
	command -v gcc >/dev/null 2>&1 || missing="$missing gcc"
fi
if [ -n "$costtest" ]; then
	[ -x "$node_exporter" ] || missing="$missing prometheus-node-exporter"
fi
if [ -n "$fleet" ]; then
	{ command -v victoria-metrics >/dev/null 2>&1 && command -v vmalert >/dev/null 2>&1; } || missing="$missing victoria-metrics"
fi

if [ -z "$missing" ]; then
	echo "tools: all present"
	exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "tools: missing packages:$missing, and no apt-get here; install them by hand" >&2
	exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
		echo "tools: missing packages:$missing; run as root or install sudo" >&2
		exit 1
	fi
fi

echo "tools: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
# --no-install-recommends: the packages recommend node-exporter's textfile
# collectors and friends, which we do not want running on a build machine
# (smartmontools would also pull in a mail agent).
# policy-rc.d keeps the packages' own services from starting, node_exporter's
# included (we start Prometheus and node_exporter ourselves, on free
# loopback ports, in the end-to-end and cost tests).
policy=/usr/sbin/policy-rc.d
created_policy=""
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
	$sudo chmod 0755 "$policy"
	created_policy=1
fi
status=0
$sudo apt-get install -y -q --no-install-recommends $missing || status=$?
if [ -n "$created_policy" ]; then $sudo rm -f "$policy"; fi
[ "$status" -eq 0 ] || exit "$status"

if [ -n "$podman" ]; then
	for t in podman runc; do
		command -v "$t" >/dev/null 2>&1 || { echo "tools: $t still missing after install" >&2; exit 1; }
	done
	echo "tools: $(podman --version); $(runc --version | head -1)"
	exit 0
fi
for t in prometheus promtool amtool; do
	command -v "$t" >/dev/null 2>&1 || { echo "tools: $t still missing after install" >&2; exit 1; }
done
versions="$(promtool --version 2>&1 | head -1); $(amtool --version 2>&1 | head -1)"
if [ -n "$costtest" ]; then
	[ -x "$node_exporter" ] || { echo "tools: prometheus-node-exporter still missing after install" >&2; exit 1; }
	versions="$versions; $("$node_exporter" --version 2>&1 | head -1)"
	echo "tools: Debian enables prometheus-node-exporter for the next boot; on a build machine: systemctl disable prometheus-node-exporter"
fi
if [ -n "$fleet" ]; then
	for t in victoria-metrics vmalert; do
		command -v "$t" >/dev/null 2>&1 || { echo "tools: $t still missing after install" >&2; exit 1; }
	done
	# Debian's build prints an empty -version: ask dpkg.
	versions="$versions; victoria-metrics $(dpkg-query -W -f='${Version}' victoria-metrics 2>/dev/null || echo '(version unknown)')"
	echo "tools: Debian enables victoria-metrics for the next boot; on a build machine: systemctl disable victoria-metrics"
fi
echo "tools: $versions"
