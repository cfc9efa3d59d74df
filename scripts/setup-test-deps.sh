#!/usr/bin/env bash
# Installs what the tests need, idempotently: every step is skipped when its result is
# already there, so running this on every test run costs a second or two.
#
# What it installs and why:
#   - .tools/venv: a Python virtualenv with third-party peers the tests talk to
#     (pymodbus: a Modbus master/server not written here).
#   - mosquitto (Debian): the real MQTT broker the store-and-forward tests start on a free port.
#   - prometheus (Debian): its `promtool check metrics` validates the agent's /metrics.
#   - chromium, chromium-driver (Debian): the headless browser that drives the status page
#     (agent/tests/status_page.rs).
#   - libssl-dev, zlib1g-dev (Debian): what the bridge's bundled librdkafka links (TLS, SASL
#     SCRAM, gzip). promtool checks the bridge's metrics too.
#   - the Rust 1.96.0 toolchain and nisshi 0.8.1, the Kafka-compatible broker the bridge tests
#     start on a free port (it needs rustc 1.96; the workspace builds with its own toolchain).
#   - postgresql, prometheus-alertmanager, chromium (Debian): the alert service's tests start
#     a real PostgreSQL and Alertmanager on free ports, and read its board in headless Chromium.
#   - confluent-kafka in .tools/venv: a Kafka client nobody here wrote, to read back what the
#     bridge produced.
#   - qemu-user, and Debian's C library for arm64 and armhf (multi-arch: the dynamic loader
#     and libc the ARM binaries link): scripts/test-packages.sh runs the ARM builds under
#     qemu-user. systemd (systemd-analyze) scores the service unit.
#   The build tools of the packages (rustup targets, ziglang and cargo-zigbuild in
#   .tools/zig, cargo-deb) are installed by scripts/release.sh itself, each when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "setup: $*" >&2; }

# ---- Debian packages -------------------------------------------------------------
apt_packages=(mosquitto prometheus chromium chromium-driver libssl-dev zlib1g-dev postgresql prometheus-alertmanager
  qemu-user systemd binutils libc6:arm64 libc6:armhf)
foreign_architectures=(arm64 armhf)
sudo_cmd=""
[ "$(id -u)" = 0 ] || sudo_cmd="sudo"
for arch in "${foreign_architectures[@]}"; do
  if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
    log "adding the Debian architecture $arch (multi-arch)"
    $sudo_cmd dpkg --add-architecture "$arch"
  fi
done
missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  # An index that fails to download (a mirror mid-sync) is not fatal here: the install
  # below fails, with apt's own message, only if a package cannot be found at all.
  $sudo_cmd apt-get update -qq || log "apt-get update reported errors; trying the install anyway"
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ---- Kafka-compatible broker for the bridge tests ----------------------------------
nisshi_version=0.8.1
nisshi_toolchain=1.96.0
nisshi_bin="${CARGO_HOME:-$HOME/.cargo}/bin/nisshi"
if ! "$nisshi_bin" --version 2>/dev/null | grep -q "$nisshi_version"; then
  if ! rustup toolchain list | grep -q "^$nisshi_toolchain"; then
    log "installing the Rust $nisshi_toolchain toolchain (nisshi needs it)"
    rustup toolchain install "$nisshi_toolchain" --profile minimal
  fi
  log "building nisshi $nisshi_version (the Kafka-compatible test broker): about 12 minutes cold on 2 cores"
  cargo +"$nisshi_toolchain" install nisshi --version "$nisshi_version" --locked \
    --no-default-features --features libsql
fi

# ---- Python peers ----------------------------------------------------------------
venv=.tools/venv
python_requirements=scripts/test-requirements.txt
stamp="$venv/.installed-$(sha256sum "$python_requirements" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  log "creating $venv with $(python3 --version)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$python_requirements"
  touch "$stamp"
fi
log "ready"
