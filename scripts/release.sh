#!/usr/bin/env bash
# Builds the Debian packages of edge-agent (issue 13): the gateway package `edge-agent` for
# amd64, arm64 and armhf, and the data-centre package `edge-agent-datacentre` for amd64.
# Releases and the package tests (scripts/test-packages.sh) both use this script; they differ
# only in the cargo profile.
#
#   scripts/release.sh [--profile release|ci] [--arch amd64|arm64|armhf|datacentre]...
#                      [--version VERSION] [--out DIR]
#
#   --profile release  the release profile: LTO, one codegen unit (default). Slow: see README.
#   --profile ci       profile `ci-release`: the same flags without LTO, 16 codegen units.
#   --arch             what to build, repeatable; default: amd64 arm64 armhf datacentre.
#   --version          the package version (default: the workspace version). Tests give a
#                      second version to test upgrades.
#   --out              where the .deb files go (default: $CARGO_TARGET_DIR/debian).
#
# How the gateway binaries are built: `cargo zigbuild` for TARGET.2.31, that is glibc 2.31
# (Debian 11 bullseye, Raspberry Pi OS bullseye) and every later glibc. Not static musl:
# the agent tunes glibc's malloc (agent/src/cli/allocator.rs) and its memory figures in the
# README were measured with it; musl's allocator is another one, slower and unmeasured.
# zig is the cross C compiler and linker (ring builds C and assembly), so no Debian cross
# toolchain or target sysroot is needed to build. The data-centre package is amd64 only and
# is built with the host toolchain: it links the data-centre's C libraries (librdkafka's
# OpenSSL) from the build machine, and its Debian dependencies are computed from them.
#
# Tools, each installed only when missing: the Rust standard library of each ARM target
# (rustup), ziglang and cargo-zigbuild from PyPI in the venv .tools/zig, cargo-deb from
# crates.io (cargo install --locked). Honours CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

# The feature list of each package, one variable each. The gateway binary carries no
# data-centre code (no Kafka client, no database): default features off.
GATEWAY_FEATURES=""
# The data-centre binary: the MQTT -> Kafka bridge and the alert service. The script checks
# which of these the crate declares.
DATACENTRE_FEATURES="bridge alerts"

ZIGLANG_VERSION=0.15.2
CARGO_ZIGBUILD_VERSION=0.24.1
CARGO_DEB_VERSION=3.8.0
GLIBC_VERSION=2.31

profile_arg=release
arches=()
version=""
out=""
while (($#)); do
  case "$1" in
    --profile) profile_arg=$2; shift 2 ;;
    --arch) arches+=("$2"); shift 2 ;;
    --version) version=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "release: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$profile_arg" in
  release) profile=release ;;
  ci) profile=ci-release ;;
  *) echo "release: --profile must be 'release' or 'ci', not '$profile_arg'" >&2; exit 2 ;;
esac
((${#arches[@]})) || arches=(amd64 arm64 armhf datacentre)
target_dir=${CARGO_TARGET_DIR:-$root/target}
out=${out:-$target_dir/debian}
mkdir -p "$out"

started=$SECONDS
step() { echo "release: [$((SECONDS - started))s] $*" >&2; }

rust_target() {
  case "$1" in
    amd64 | datacentre) echo x86_64-unknown-linux-gnu ;;
    arm64) echo aarch64-unknown-linux-gnu ;;
    armhf) echo armv7-unknown-linux-gnueabihf ;;
    *) echo "release: unknown --arch '$1' (amd64, arm64, armhf, datacentre)" >&2; return 2 ;;
  esac
}

# ---- tools ------------------------------------------------------------------------
for arch in "${arches[@]}"; do
  target=$(rust_target "$arch")
  if ! rustup target list --installed | grep -qx "$target"; then
    step "rustup target add $target"
    rustup target add "$target"
  fi
done
zig_venv=$root/.tools/zig
zig_stamp=$zig_venv/.installed-ziglang-$ZIGLANG_VERSION-zigbuild-$CARGO_ZIGBUILD_VERSION
if [ ! -f "$zig_stamp" ]; then
  step "installing ziglang $ZIGLANG_VERSION and cargo-zigbuild $CARGO_ZIGBUILD_VERSION into .tools/zig"
  python3 -m venv "$zig_venv"
  "$zig_venv/bin/pip" install -q --disable-pip-version-check \
    "ziglang==$ZIGLANG_VERSION" "cargo-zigbuild==$CARGO_ZIGBUILD_VERSION"
  touch "$zig_stamp"
fi
# cargo-zigbuild finds zig as `python3 -m ziglang` of the venv.
export PATH="$zig_venv/bin:$PATH"
if [ "$(cargo-deb --version 2>/dev/null || true)" != "cargo-deb $CARGO_DEB_VERSION" ]; then
  step "installing cargo-deb $CARGO_DEB_VERSION (cargo install --locked; a few minutes)"
  cargo install --quiet --locked cargo-deb --version "$CARGO_DEB_VERSION"
fi

# ---- features ----------------------------------------------------------------------
# Only the features that agent/Cargo.toml declares (see DATACENTRE_FEATURES).
declared_features() {
  local wanted=() feature
  for feature in $1; do
    if sed -n '/^\[features\]/,/^\[/p' agent/Cargo.toml | grep -q "^$feature *="; then
      wanted+=("$feature")
    else
      step "feature '$feature' is not declared by agent/Cargo.toml yet: built without it"
    fi
  done
  local IFS=,
  echo "${wanted[*]}"
}

# ---- build and package -----------------------------------------------------------
deb_version_args=()
[ -z "$version" ] || deb_version_args=(--deb-version "$version")
for arch in "${arches[@]}"; do
  target=$(rust_target "$arch")
  if [ "$arch" = datacentre ]; then
    features=$(declared_features "$DATACENTRE_FEATURES")
    step "datacentre: cargo build --profile $profile --target $target --features '$features'"
    # Its own target dir: the same binary path as the gateway's amd64 build, other features.
    CARGO_TARGET_DIR=$target_dir/datacentre cargo build --locked --profile "$profile" \
      -p edge-agent --bin edge-agent --no-default-features --features "$features" \
      --target "$target"
    step "datacentre: cargo deb --variant datacentre"
    CARGO_TARGET_DIR=$target_dir/datacentre cargo deb --locked --no-build --no-strip \
      -p edge-agent --variant datacentre --profile "$profile" --target "$target" \
      "${deb_version_args[@]}" --output "$out" >/dev/null
  else
    features=$(declared_features "$GATEWAY_FEATURES")
    step "$arch: cargo zigbuild --profile $profile --target $target.$GLIBC_VERSION"
    cargo zigbuild --locked --profile "$profile" -p edge-agent --bin edge-agent \
      --no-default-features --features "$features" --target "$target.$GLIBC_VERSION"
    step "$arch: cargo deb"
    cargo deb --locked --no-build --no-strip -p edge-agent --profile "$profile" \
      --target "$target" "${deb_version_args[@]}" --output "$out" >/dev/null
  fi
done
step "done: $(cd "$out" && ls -1 ./*.deb | tr '\n' ' ')"
