#!/usr/bin/env bash
# Part of scripts/test-packages.sh, which runs it in a private mount namespace
# (`unshare --mount --propagation private`), as root:
#
#   test-packages-root.sh WORK OLD_DEB NEW_DEB PLANT_PORT DEAD_PORT
#
# The throwaway root is this machine seen through overlayfs (lower: /, upper: WORK/upper):
# dpkg, adduser and deb-systemd-helper run for real inside `chroot`, every write lands in
# WORK/upper, and the mounts vanish with the namespace. No systemd runs in it, so the
# maintainer scripts enable the unit (a symlink) but start nothing.
#
# The story: install OLD_DEB; the administrator edits /etc/edge-agent/agent.toml (a device:
# firmware-sim on 127.0.0.1:PLANT_PORT; a broker on 127.0.0.1:DEAD_PORT, where none listens)
# and the old version runs and leaves a spool backlog; upgrade to NEW_DEB; the edit and the
# backlog are intact, and the new version drains every record of it; remove keeps the user,
# the config and the state; purge removes them.
set -euo pipefail
work=$1 old_deb=$2 new_deb=$3 plant_port=$4 dead_port=$5
r=$work/merged

step() { echo "root: $*"; }
fail() { echo "root: FAILED: $*"; exit 1; }
in_root() { chroot "$r" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 "$@"; }
as_agent() { in_root runuser -u edge-agent -- "$@"; }
# The spool's counts, without the lines that change with the clock.
spool_counts() { as_agent edge-agent spool inspect --data-dir /var/lib/edge-agent | grep -E '^  (alert|telemetry|total|last seq|dropped):'; }

mount -t overlay overlay -o "lowerdir=/,upperdir=$work/upper,workdir=$work/work" "$r"
mount -t proc proc "$r/proc"
mount --bind /dev "$r/dev"
mkdir -p "$r/var/tmp/packages"
cp "$old_deb" "$r/var/tmp/packages/old.deb"
cp "$new_deb" "$r/var/tmp/packages/new.deb"
! in_root getent passwd edge-agent >/dev/null || fail "this machine already has a user edge-agent"

step "install $(basename "$old_deb")"
in_root dpkg -i /var/tmp/packages/old.deb
in_root getent passwd edge-agent | grep -q ':/var/lib/edge-agent:/usr/sbin/nologin$' ||
  fail "user edge-agent: $(in_root getent passwd edge-agent)"
in_root id -nG edge-agent | tr ' ' '\n' | grep -qx dialout || fail "edge-agent is not in dialout"
[ "$(in_root stat -c '%U:%G %a' /var/lib/edge-agent)" = "edge-agent:edge-agent 750" ] ||
  fail "/var/lib/edge-agent: $(in_root stat -c '%U:%G %a' /var/lib/edge-agent)"
[ "$(in_root stat -c '%U:%G %a' /etc/edge-agent/agent.toml)" = "root:edge-agent 640" ] ||
  fail "agent.toml: $(in_root stat -c '%U:%G %a' /etc/edge-agent/agent.toml)"
[ -d "$r/etc/edge-agent/rules" ] || fail "no /etc/edge-agent/rules"
in_root dpkg-query -W -f='${Conffiles}\n' edge-agent | grep -q '/etc/edge-agent/agent.toml' ||
  fail "agent.toml is not a conffile"
[ -L "$r/etc/systemd/system/multi-user.target.wants/edge-agent.service" ] || fail "unit not enabled"
as_agent edge-agent check /etc/edge-agent/agent.toml
# The unit as systemd reads it, with its binary in place: any warning fails.
in_root systemd-analyze verify /usr/lib/systemd/system/edge-agent.service 2>&1 | tee "$work/verify"
[ ! -s "$work/verify" ] || fail "systemd-analyze verify found problems in the unit"

step "the administrator adds a device and a broker; the old version leaves a backlog"
cat >>"$r/etc/edge-agent/agent.toml" <<EOF

[mqtt]
host = "127.0.0.1"
port = $dead_port

[[device]]
id = "motor1"
transport = "tcp"
address = "127.0.0.1:$plant_port"
unit = 1
timeout = "500ms"
  [[device.poll]]
  interval = "100ms"
    [[device.poll.register]]
    sensor = "motor1.de.velocity"
    table = "input"
    address = 10
    type = "f32"
EOF
cp "$r/etc/edge-agent/agent.toml" "$work/agent.toml.edited"
as_agent edge-agent check /etc/edge-agent/agent.toml
as_agent timeout -s TERM 4 edge-agent run --config /etc/edge-agent/agent.toml 2>"$work/old-run.log" || true
spool_counts >"$work/spool-before"
cat "$work/spool-before"
backlog=$(sed -n 's/^  last seq: *\([0-9]*\).*/\1/p' "$work/spool-before")
[ "${backlog:-0}" -ge 10 ] || { tail "$work/old-run.log"; fail "a backlog of ${backlog:-0} records, expected 10 or more"; }

step "upgrade to $(basename "$new_deb")"
in_root dpkg -i /var/tmp/packages/new.deb
new_version=$(in_root dpkg-query -W -f='${Version}' edge-agent)
[ "$new_version" = "$(dpkg-deb -f "$new_deb" Version)" ] || fail "installed version $new_version"
cmp "$work/agent.toml.edited" "$r/etc/edge-agent/agent.toml" || fail "the edited config changed"
[ "$(in_root stat -c '%U:%G %a' /etc/edge-agent/agent.toml)" = "root:edge-agent 640" ] ||
  fail "agent.toml after the upgrade: $(in_root stat -c '%U:%G %a' /etc/edge-agent/agent.toml)"
spool_counts >"$work/spool-after"
diff "$work/spool-before" "$work/spool-after" || fail "the spool changed in the upgrade"

step "the new version drains the old backlog (stdout sink): seq 1..$backlog"
printf '[agent]\ngateway = "gateway-01"\ndata_dir = "/var/lib/edge-agent"\n' >"$r/var/tmp/packages/drain.toml"
as_agent timeout -s TERM 3 edge-agent run --config /var/tmp/packages/drain.toml \
  >"$work/drained.jsonl" 2>"$work/new-run.log" || true
grep -o '"seq":[0-9]*' "$work/drained.jsonl" | cut -d: -f2 | sort -n | uniq >"$work/seqs"
seq 1 "$backlog" | comm -23 - "$work/seqs" >"$work/missing"
[ ! -s "$work/missing" ] || { tail "$work/new-run.log"; fail "seqs not drained: $(head -c 200 "$work/missing" | tr '\n' ' ')"; }
echo "root: all $backlog records of the old version read by the new one"

step "remove: the user, the config and the state stay"
in_root dpkg -r edge-agent
[ ! -e "$r/usr/bin/edge-agent" ] || fail "the binary is still there"
in_root getent passwd edge-agent >/dev/null || fail "remove deleted the user"
[ -d "$r/var/lib/edge-agent/spool" ] || fail "remove deleted the spool"
[ -f "$r/etc/edge-agent/agent.toml" ] || fail "remove deleted the config"

step "purge: the user, the config and the state go"
in_root dpkg -P edge-agent
! in_root getent passwd edge-agent >/dev/null || fail "purge kept the user"
! in_root getent group edge-agent >/dev/null || fail "purge kept the group"
[ ! -e "$r/var/lib/edge-agent" ] || fail "purge kept /var/lib/edge-agent"
[ ! -e "$r/etc/edge-agent/agent.toml" ] || fail "purge kept the config"
[ ! -e "$r/etc/systemd/system/multi-user.target.wants/edge-agent.service" ] || fail "purge kept the unit enabled"
step "passed"
