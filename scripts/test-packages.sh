#!/usr/bin/env bash
# The package tests of issue 13, run by scripts/test.sh. It builds every package with the
# release script (scripts/release.sh --profile ci: the release's packaging path, a faster
# profile), then checks:
#   - contents: each .deb's fields, files, conffiles and maintainer scripts, and its binary:
#     ELF machine and ABI, glibc symbol versions (at most 2.31), segment alignment (16 and
#     64 KiB page kernels);
#   - the unit: `systemd-analyze security --offline=yes` scores it at most 2.0;
#   - the ARM binaries under qemu-user: --version, check on the shipped files, and a replay
#     whose output must equal the amd64 binary's, byte for byte;
#   - install, upgrade, remove and purge of the amd64 package with dpkg in a throwaway root: a
#     copy-on-write view of this machine (overlayfs on / in a private mount namespace, then
#     chroot), so the real dpkg, adduser and deb-systemd-helper run and the host is left
#     untouched. Between install and upgrade the old version writes a spool backlog
#     (firmware-sim on 127.0.0.1, the broker down); the new version must find it intact.
# Needs root (mounts, chroot), qemu-user and libc6:arm64/armhf (scripts/setup-test-deps.sh).
# Prints `N passed, M failed` last and exits non-zero when any check failed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
target_dir=${CARGO_TARGET_DIR:-$root/target}
work=$(mktemp -d "${TMPDIR:-/tmp}/edge-agent-packages.XXXXXX")
cleanup() { rm -rf "$work"; }
trap cleanup EXIT

passed=0
failed=0
started=$SECONDS
say() { echo "test-packages: [$((SECONDS - started))s] $*" >&2; }
# run_check NAME COMMAND...: runs one check, its output kept in $work/NAME.log and shown
# only when it fails. The check runs in a subshell with errexit in force, so any failing
# command fails it (a function called as an `if` condition would run with errexit off).
run_check() {
  local name=$1 status
  shift
  set +e
  (
    set -e
    "$@"
  ) >"$work/$name.log" 2>&1
  status=$?
  set -e
  if [ "$status" = 0 ]; then
    passed=$((passed + 1))
    echo "ok      $name"
  else
    failed=$((failed + 1))
    echo "FAILED  $name"
    sed 's/^/        | /' "$work/$name.log" | tail -n 40
  fi
}
fail() { echo "$*" >&2; return 1; }

# ---- build, with the release script ---------------------------------------------------
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
upgrade_version="$version+upgrade1"
debs=$target_dir/debian-test
rm -rf "$debs"
say "building the packages, version $version (scripts/release.sh --profile ci)"
scripts/release.sh --profile ci --version "$version" --out "$debs/old"
say "repackaging amd64 as version $upgrade_version, for the upgrade"
scripts/release.sh --profile ci --arch amd64 --version "$upgrade_version" --out "$debs/new"
say "building firmware-sim (the plant behind the spool backlog)"
cargo build --quiet -p firmware-sim --bin firmware-sim
firmware_sim=$target_dir/debug/firmware-sim

deb() { echo "$debs/old/${1}_${version}_$2.deb"; }
# Each package, unpacked once.
for arch in amd64 arm64 armhf; do
  mkdir -p "$work/x-$arch"
  dpkg-deb -R "$(deb edge-agent "$arch")" "$work/x-$arch"
done
mkdir -p "$work/x-datacentre"
dpkg-deb -R "$(deb edge-agent-datacentre amd64)" "$work/x-datacentre"

# ---- contents --------------------------------------------------------------------------
# check_contents ARCH ELF_MACHINE ELF_CLASS
check_contents() {
  local arch=$1 machine=$2 class=$3 x=$work/x-$1 file
  [ "$(dpkg-deb -f "$(deb edge-agent "$arch")" Package)" = edge-agent ] || fail "Package"
  [ "$(dpkg-deb -f "$(deb edge-agent "$arch")" Architecture)" = "$arch" ] || fail "Architecture"
  [ "$(dpkg-deb -f "$(deb edge-agent "$arch")" Depends)" = "adduser, libc6 (>= 2.31)" ] || fail "Depends"
  # Nothing but the C library: no libgcc_s, no OpenSSL, no Kafka client.
  readelf -dW "$x/usr/bin/edge-agent" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' |
    grep -vxE 'libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|ld-linux-[-a-z0-9_]+\.so\.[0-9]' &&
    fail "links more than glibc"
  # No data-centre code linked in statically either: the source paths that rdkafka's and
  # sqlx's panic messages carry would be in the binary's read-only data.
  grep -qaE 'rdkafka-sys-[0-9]|rdkafka-[0-9]|sqlx-core-[0-9]' "$x/usr/bin/edge-agent" &&
    fail "the gateway binary carries the Kafka client or the database driver"
  for file in usr/bin/edge-agent usr/lib/systemd/system/edge-agent.service etc/edge-agent/agent.toml \
    etc/edge-agent/rules/README usr/share/edge-agent/rules/default.toml \
    usr/share/edge-agent/rules/motor.toml usr/share/edge-agent/rules/pump.toml \
    usr/share/doc/edge-agent/agent.example.toml usr/share/doc/edge-agent/README.md; do
    [ -f "$x/$file" ] || fail "missing /$file"
  done
  cmp "$x/usr/lib/systemd/system/edge-agent.service" deploy/systemd/edge-agent.service
  cmp "$x/etc/edge-agent/agent.toml" deploy/debian/agent.toml
  grep -qx /etc/edge-agent/agent.toml "$x/DEBIAN/conffiles" || fail "agent.toml is no conffile"
  grep -q 'adduser .*--system' "$x/DEBIAN/postinst" || fail "postinst creates no system user"
  grep -q 'adduser --quiet edge-agent dialout' "$x/DEBIAN/postinst" || fail "postinst: dialout"
  grep -q 'deb-systemd-helper enable edge-agent.service' "$x/DEBIAN/postinst" || fail "no enable"
  grep -q '_dh_action=restart' "$x/DEBIAN/postinst" || fail "postinst: no restart on upgrade"
  grep -q 'deb-systemd-invoke stop edge-agent.service' "$x/DEBIAN/prerm" || fail "prerm: no stop"
  grep -q 'rm -rf /var/lib/edge-agent' "$x/DEBIAN/postrm" || fail "postrm: state not purged"
  # The binary: its ELF header, and for hard-float ARM the ABI flag.
  readelf -h "$x/usr/bin/edge-agent" >"$work/elf-$arch"
  grep -q "Class: *$class" "$work/elf-$arch" || fail "ELF class is not $class"
  grep -q "Machine: *$machine" "$work/elf-$arch" || fail "ELF machine is not $machine"
  if [ "$arch" = armhf ]; then grep -q 'hard-float ABI' "$work/elf-$arch" || fail "not hard-float"; fi
  # glibc 2.31 or later: no symbol version newer than GLIBC_2.31.
  local newest
  newest=$(readelf -VW "$x/usr/bin/edge-agent" | grep -o 'GLIBC_2\.[0-9]*' | sort -t. -k2 -n | tail -n 1)
  echo "newest glibc symbol version: $newest"
  [ "${newest#GLIBC_2.}" -le 31 ] || fail "needs $newest, more than glibc 2.31"
  # Pages of 16 KiB (Raspberry Pi 5) and 64 KiB: every loadable segment aligned to 64 KiB.
  if [ "$arch" = arm64 ]; then
    readelf -lW "$x/usr/bin/edge-agent" | awk '$1 == "LOAD" { print $NF }' >"$work/align"
    cat "$work/align"
    while read -r align; do
      (( align >= 0x10000 )) || fail "a LOAD segment is aligned to $align, less than 64 KiB"
    done <"$work/align"
  fi
}
run_check contents_amd64 check_contents amd64 'Advanced Micro Devices X86-64' ELF64
run_check contents_arm64 check_contents arm64 AArch64 ELF64
run_check contents_armhf check_contents armhf ARM ELF32

check_datacentre() {
  local package
  package=$(deb edge-agent-datacentre amd64)
  [ "$(dpkg-deb -f "$package" Architecture)" = amd64 ] || fail "Architecture"
  for field in Conflicts Replaces Provides; do
    [ "$(dpkg-deb -f "$package" "$field")" = edge-agent ] || fail "$field is not edge-agent"
  done
  [ -x "$work/x-datacentre/usr/bin/edge-agent" ] || fail "no /usr/bin/edge-agent"
  readelf -h "$work/x-datacentre/usr/bin/edge-agent" | grep -q 'Machine: *Advanced Micro Devices X86-64'
  # Its units: exactly the data-centre units of deploy/systemd, each the same file; never the
  # gateway's, under any name.
  local units unit
  units=$(cd "$work/x-datacentre" && find . -path '*/systemd/system/*' -type f | sort | tr '\n' ' ')
  echo "units: ${units:-none}"
  [ "$units" = "./usr/lib/systemd/system/edge-alerts.service ./usr/lib/systemd/system/edge-bridge.service " ] \
    || fail "units: $units"
  for unit in edge-alerts edge-bridge; do
    cmp "$work/x-datacentre/usr/lib/systemd/system/$unit.service" "deploy/systemd/$unit.service"
  done
  # The binary carries both services (the gateway's carries neither: check_contents).
  local help
  help=$("$work/x-datacentre/usr/bin/edge-agent" --help)
  grep -q '^  bridge ' <<<"$help" || fail "the data-centre binary has no bridge subcommand"
  grep -q '^  alerts ' <<<"$help" || fail "the data-centre binary has no alerts subcommand"
  # The positive control of the gateway's "no Kafka client" check: the same pattern finds it here.
  grep -qaE 'rdkafka-sys-[0-9]|rdkafka-[0-9]' "$work/x-datacentre/usr/bin/edge-agent" ||
    fail "the pattern that shows a Kafka client finds none in the data-centre binary"
}
run_check contents_datacentre check_datacentre

# ---- the unit's exposure -----------------------------------------------------------------
check_unit_security() {
  local score
  systemd-analyze security --offline=yes deploy/systemd/edge-agent.service >"$work/security" 2>&1 || true
  score=$(sed -n 's/.*Overall exposure level for edge-agent.service: \([0-9.]*\).*/\1/p' "$work/security")
  echo "exposure score: ${score:-none}"
  [ -n "$score" ] || { cat "$work/security"; fail "no score"; }
  awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' || { grep '✗' "$work/security"; fail "score $score > 2.0"; }
}
run_check unit_security_score_at_most_2 check_unit_security

# ---- the binaries under qemu-user --------------------------------------------------------
# A recording that crosses the motor's ISO zones: 1 Hz velocity, rising from 1 to 7 mm/s.
awk 'BEGIN { print "timestamp,value"; for (i = 0; i < 900; i++) printf "%d,%.3f\n", 1700000000 + i, 1 + 6 * i / 900 }' >"$work/motor.csv"
# replay_output RUNNER... : the replay of the motor recording with the shipped motor rules.
replay_output() {
  "$@" replay --input "$work/motor.csv" --rules "$work/x-amd64/usr/share/edge-agent/rules/motor.toml" \
    --sensor motor1.de.velocity 2>/dev/null
}
replay_output "$work/x-amd64/usr/bin/edge-agent" >"$work/replay-amd64.jsonl"
# check_under_qemu ARCH QEMU
check_under_qemu() {
  local arch=$1 qemu=$2 x=$work/x-$1
  "$qemu" "$x/usr/bin/edge-agent" --version | tee /dev/stderr | grep -qx "edge-agent $version"
  # Built --no-default-features: no `demo` (firmware-sim and an MQTT broker) on a gateway.
  ! "$qemu" "$x/usr/bin/edge-agent" demo --help >/dev/null 2>&1 || fail "the gateway binary has the demo"
  # The shipped config, its rule folder moved to where the package was unpacked.
  sed "s#\"/etc/edge-agent/rules\"#\"$x/etc/edge-agent/rules\"#" "$x/etc/edge-agent/agent.toml" >"$work/agent-$arch.toml"
  grep -q "$x/etc/edge-agent/rules" "$work/agent-$arch.toml" || fail "the config names no /etc/edge-agent/rules"
  "$qemu" "$x/usr/bin/edge-agent" check "$work/agent-$arch.toml" "$x/usr/share/edge-agent/rules"
  replay_output "$qemu" "$x/usr/bin/edge-agent" >"$work/replay-$arch.jsonl"
  grep -q '"alert"' "$work/replay-$arch.jsonl" || fail "the replay raised no alert"
  diff "$work/replay-amd64.jsonl" "$work/replay-$arch.jsonl"
  echo "$(wc -l <"$work/replay-$arch.jsonl") replay lines, identical to amd64"
}
run_check qemu_arm64_version_check_replay check_under_qemu arm64 qemu-aarch64
run_check qemu_armhf_version_check_replay check_under_qemu armhf qemu-arm

# ---- install, upgrade, remove, purge in a throwaway root -----------------------------------
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
check_install_upgrade_purge() {
  local plant_port dead_port
  plant_port=$(free_port)
  dead_port=$(free_port)
  "$firmware_sim" --scenario firmware-sim/scenarios/demo.toml \
    --modbus-tcp "gateway=127.0.0.1:$plant_port" >"$work/firmware-sim.log" 2>&1 &
  local sim=$!
  for _ in $(seq 100); do grep -q '^ready' "$work/firmware-sim.log" && break; sleep 0.1; done
  grep -q '^ready' "$work/firmware-sim.log" || { kill "$sim"; cat "$work/firmware-sim.log"; fail "firmware-sim did not start"; }
  local status=0
  mkdir -p "$work/root"/{upper,work,merged}
  unshare --mount --propagation private \
    bash scripts/test-packages-root.sh "$work/root" "$(deb edge-agent amd64)" \
    "$debs/new/edge-agent_${upgrade_version}_amd64.deb" "$plant_port" "$dead_port" || status=$?
  kill "$sim" 2>/dev/null || true
  wait "$sim" 2>/dev/null || true
  return "$status"
}
run_check amd64_install_upgrade_keeps_spool_purge check_install_upgrade_purge

echo "test-packages: $((SECONDS - started))s" >&2
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
