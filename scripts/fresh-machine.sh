#!/usr/bin/env bash
# shellcheck disable=SC2317 # the cleanup functions run from traps, which shellcheck 0.9 misses
# Proves that a command -- by default the README's test command, scripts/test.sh -- works
# on a fresh machine: it runs the command from a clean clone of this repository inside a
# freshly built Debian root filesystem instead of on this (well used) working machine, so
# a package that scripts/deps.sh forgets to install, a file that only exists in someone's
# work tree, or a tool that happens to be on this machine shows up as a failure here.
#
#   scripts/fresh-machine.sh [--keep] [--suite SUITE] [--rev REV] [--] [COMMAND...]
#
#   --keep          keep the root filesystem afterwards (its mounts are removed anyway)
#   --suite SUITE   Debian suite of the root filesystem (default: bookworm, Debian 12)
#   --rev REV       the commit to clone (default: HEAD of the repository this script is
#                   in; uncommitted changes are deliberately not part of a clean clone)
#   COMMAND...      run in the clone's top directory (default: scripts/test.sh)
#
# Run as root (mmdebstrap, mount and chroot need it). Exit status: COMMAND's.
#
# What it does:
#  1. builds a root filesystem with mmdebstrap in a new directory under
#     target/fresh-machine/ (one per run), resembling a fresh Debian machine or VM "with
#     only Rust installed": --variant=minbase plus what any Debian cloud image has and
#     cloning the repository needs (ca-certificates, git, sudo), plus gcc and libc6-dev,
#     because a Rust toolchain installed by rustup has no linker of its own and rustc
#     links through `cc` (every machine where rustup-installed Rust works has them). The
#     Debian sources stay configured in it: the test command runs apt-get itself.
#  2. clones the repository at REV into it (/src/nimsforest-pkg): a clean clone, with
#     no target/ and no untracked or modified files.
#  3. mounts into it what a booted machine has (all unmounted again at the end):
#       /                 the root filesystem bound onto itself, so that / is a mount
#                         point inside as on any machine (`ip netns` remounts it);
#       /proc             a new procfs (ps, /proc/self/..., cargo and rustc read it);
#       /run              a new tmpfs, as at boot (with /run/lock);
#       /sys              rbind, so the cgroup tree under /sys/fs/cgroup comes with it:
#                         the booted test nodes (systemd-nspawn) need both;
#       /dev              rbind: the device nodes (/dev/null, urandom, loop devices, ...)
#                         with /dev/pts (ptys) and /dev/shm;
#       /etc/resolv.conf  a copy of this machine's, so apt, pip and cargo resolve names
#                         (the chroot shares this machine's network); and /etc/hosts,
#                         which mmdebstrap leaves out but every installed machine has
#                         (localhost, and the host name the chroot shares); and the CA
#                         certificates this machine added (/usr/local/share/
#                         ca-certificates), e.g. of a TLS-inspecting proxy on the way to
#                         the registries, which any machine on this network needs;
#       $RUSTUP_HOME      (default ~/.rustup) and $CARGO_HOME/bin (default ~/.cargo/bin):
#                         this machine's Rust toolchain, READ-ONLY at the same paths, so
#                         the run can neither change nor download a toolchain. CARGO_HOME
#                         inside is a separate, writable /root/cargo-home (crates.io
#                         downloads go there), and RUSTUP_TOOLCHAIN names this machine's
#                         default toolchain, so rustup never needs to write.
#     rbinds are made rslave, so unmounting them never propagates to this machine.
#  4. runs COMMAND as root, in the clone, with a clean environment (HOME, PATH,
#     CARGO_HOME, RUSTUP_HOME, RUSTUP_TOOLCHAIN, LANG=C.UTF-8, CI=true, TERM=dumb), with
#     the root filesystem as the root of a mount namespace of its own (moved onto /, as
#     systemd-nspawn does), not in a chroot: the kernel refuses a chrooted process a user
#     namespace, and with it systemd's sandboxing (PrivateUsers=) in the booted test
#     nodes, whose services would then fail with status 217/USER and stay "activating".
#     It runs in a PID namespace of its own with a small init that passes TERM, HUP and
#     INT on, so everything it starts ends with it. Its output streams through; its stdin
#     is this script's (`--keep -- bash` gives a shell on the fresh machine).
#  5. always cleans up (also on failure, Ctrl-C and SIGTERM): kills what still runs
#     inside the root filesystem, unmounts everything below it (lazily as a last
#     resort), and removes it unless --keep -- only below target/fresh-machine/ and only
#     when nothing is mounted there any more.
#  6. prints a summary: root filesystem build time, command, exit status, wall time.
#
# The run happens in a mount namespace of its own (unshare --mount): its binds of /dev
# and /sys are invisible to everything else on this machine, so even an `rm -rf target`
# during a run cannot reach them, and they vanish with the run.
set -euo pipefail

me=fresh-machine
log() { printf '%s: %s\n' "$me" "$*" >&2; }
die() { log "error: $*"; exit 2; }
usage() { sed -n '/^#   scripts\/fresh-machine.sh \[/,/^#   COMMAND/s/^# \{0,1\}//p' "$0"; }

all_args=("$@")
keep=0
suite=bookworm
rev=HEAD
while (($#)); do
  case $1 in
    --keep) keep=1; shift ;;
    --suite) (($# >= 2)) || die "--suite needs a value"; suite=$2; shift 2 ;;
    --suite=*) suite=${1#*=}; shift ;;
    --rev) (($# >= 2)) || die "--rev needs a value"; rev=$2; shift 2 ;;
    --rev=*) rev=${1#*=}; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; break ;;
    -*) usage >&2; die "unknown option: $1" ;;
    *) break ;;
  esac
done
cmd=("$@")
((${#cmd[@]})) || cmd=(scripts/test.sh)

[ "$(id -u)" -eq 0 ] || die "run as root (mmdebstrap, mount and chroot need it)"
# Every mount of the run lives in a mount namespace of its own: nothing of it is visible
# on this machine, and all of it goes away with the run's last process, however it ends.
if [ -z "${FRESH_MACHINE_NAMESPACE:-}" ]; then
  exec env FRESH_MACHINE_NAMESPACE=1 unshare --mount --propagation private -- "$0" "${all_args[@]}"
fi
for tool in mmdebstrap git mount umount chroot mountpoint; do
  command -v "$tool" >/dev/null || die "$tool is required (apt-get install -y mmdebstrap util-linux git)"
done

repo=$(git -C "$(dirname "$(realpath "$0")")" rev-parse --show-toplevel)
commit=$(git -C "$repo" rev-parse --verify --quiet "$rev^{commit}") || die "not a commit: $rev"

# This machine's rustup toolchain, mounted read-only at the same paths.
rustup_home=$(realpath "${RUSTUP_HOME:-$HOME/.rustup}")
cargo_bin=$(realpath "${CARGO_HOME:-$HOME/.cargo}/bin")
[ -x "$cargo_bin/rustup" ] || die "no rustup in $cargo_bin"
[ -d "$rustup_home/toolchains" ] || die "no rustup toolchains in $rustup_home"
toolchain=$(RUSTUP_HOME=$rustup_home "$cargo_bin/rustup" default) || die "rustup default failed"
toolchain=${toolchain%% *} # "stable-x86_64-unknown-linux-gnu (default)"
[ -d "$rustup_home/toolchains/$toolchain" ] || die "default toolchain $toolchain is not installed"

src=/src/nimsforest-pkg          # the clone, inside the root filesystem
cargo_home_inside=/root/cargo-home

base="$repo/target/fresh-machine"
mkdir -p "$base"
base=$(realpath "$base")
rootfs=""            # set once created; cleanup handles every later state
build_time="" cmd_status="" cmd_start="" cmd_time="" child=""

now_us() { local t=$EPOCHREALTIME; echo "${t/[.,]/}"; }
dur() { # microseconds -> "1m02.3s"
  local ds=$((($1 + 50000) / 100000))
  if ((ds >= 600)); then
    printf '%dm%02d.%ds' $((ds / 600)) $((ds / 10 % 60)) $((ds % 10))
  else
    printf '%d.%ds' $((ds / 10)) $((ds % 10))
  fi
}

# Mount points at or below $rootfs, in mount order, as escaped in /proc/self/mountinfo
# (\040 for a space, ...).
mounts_below() {
  local esc=$rootfs
  esc=${esc//\\/\\134}; esc=${esc// /\\040}; esc=${esc//$'\t'/\\011}; esc=${esc//$'\n'/\\012}
  awk -v p="$esc" '$5 == p || index($5, p "/") == 1 { print $5 }' /proc/self/mountinfo
}

# Processes whose root directory (chroot) is in $rootfs: the command and everything it
# started, also what it left running in the background or in containers below it.
procs_inside() {
  local d r
  for d in /proc/[0-9]*; do
    r=$(readlink "$d/root" 2>/dev/null) || continue
    [[ $r == "$rootfs" || $r == "$rootfs/"* ]] && echo "${d#/proc/}"
  done
  return 0
}

kill_inside() {
  local sig pids i
  for sig in TERM KILL; do
    mapfile -t pids < <(procs_inside)
    ((${#pids[@]})) || return 0
    log "sending SIG$sig to ${#pids[@]} process(es) still running inside: ${pids[*]}"
    kill "-$sig" "${pids[@]}" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      [ -z "$(procs_inside)" ] && return 0
      sleep 0.2
    done
  done
  [ -z "$(procs_inside)" ] || log "warning: processes still inside: $(procs_inside | tr '\n' ' ')"
}

unmount_all() {
  local pass mps mp
  for pass in 1 2 3 lazy; do
    mapfile -t mps < <(mounts_below | tac) # the latest mount first: children, stacked
    ((${#mps[@]})) || return 0
    for mp in "${mps[@]}"; do
      mp=$(printf '%b' "$mp")
      if [ "$pass" = lazy ]; then
        log "lazily unmounting $mp"
        umount -l "$mp" 2>/dev/null || true
      else
        umount "$mp" 2>/dev/null || true
      fi
    done
  done
  [ -z "$(mounts_below)" ]
}

# rm -rf, but only for a run directory below target/fresh-machine/ with nothing mounted.
remove_rootfs() {
  [[ $rootfs == "$base/"?* && $rootfs != *"/.."* && $(realpath -m "$rootfs") == "$rootfs" ]] ||
    { log "error: refusing to remove $rootfs: not below $base"; return 1; }
  [ -z "$(mounts_below)" ] || { log "error: refusing to remove $rootfs: still mounted below it"; return 1; }
  rm -rf --one-file-system -- "$rootfs"
}

cleanup() {
  local status=$? ok=1 i
  set +e
  trap '' INT TERM HUP # finish cleaning up even if interrupted again
  [ -z "$cmd_start" ] || [ -n "$cmd_time" ] || cmd_time=$(($(now_us) - cmd_start))
  if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
    log "stopping $child"
    # The command's init (unshare's child) passes TERM on; unshare itself ignores it.
    [ -z "$cmd_start" ] || pkill -TERM -P "$child" 2>/dev/null
    kill -TERM "$child" 2>/dev/null # mmdebstrap unmounts its own mounts when it stops
    for ((i = 0; i < 300; i++)); do kill -0 "$child" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$child" 2>/dev/null
    wait "$child" 2>/dev/null
  fi
  if [ -n "$rootfs" ] && [ -d "$rootfs" ]; then
    kill_inside
    if ! unmount_all; then
      ok=0
      log "error: still mounted below $rootfs:"
      mounts_below >&2
    fi
    if ((keep)); then
      log "kept $rootfs (nothing mounted in it)"
    elif ((ok)); then
      remove_rootfs || ok=0
    fi
  fi
  {
    echo "== $me summary"
    echo "rootfs:      Debian $suite minbase, ${build_time:+built in }${build_time:-not built}"
    echo "revision:    $commit"
    echo "command:     ${cmd[*]}"
    echo "exit status: ${cmd_status:-(not run: $status)}"
    echo "wall time:   $( [ -n "$cmd_time" ] && dur "$cmd_time" || echo -)"
    ((ok)) || echo "cleanup:     FAILED (see above)"
  } >&2
  ((ok)) || [ "$status" -ne 0 ] || status=1
  exit "$status"
}
on_signal() {
  log "interrupted by SIG$1, cleaning up"
  [ -z "$cmd_start" ] || cmd_status="killed by SIG$1"
  exit "$2"
}
trap cleanup EXIT
trap 'on_signal INT 130' INT
trap 'on_signal TERM 143' TERM
trap 'on_signal HUP 129' HUP

# Runs "$@" in the background and waits for it, so that a signal to this script is
# handled at once (bash defers traps until a foreground child finishes). Stdin is kept,
# and SIGINT/SIGQUIT, which bash ignores in background children, are made default again.
run() {
  local st=0
  env --default-signal=INT,QUIT "$@" <&0 &
  child=$!
  wait "$child" || st=$?
  child=""
  return "$st"
}

# 1. The root filesystem.
rootfs=$(mktemp -d "$base/run.XXXXXX")
chmod 0755 "$rootfs"
log "building a Debian $suite root filesystem in $rootfs"
t0=$(now_us)
run mmdebstrap --mode=root --variant=minbase \
  --include=ca-certificates,git,sudo,gcc,libc6-dev \
  "$suite" "$rootfs" || die "mmdebstrap failed"
build_time=$(dur $(($(now_us) - t0)))
log "root filesystem built in $build_time ($(du -sh --one-file-system "$rootfs" | cut -f1))"

# 2. A clean clone at REV.
mkdir -p "$rootfs${src%/*}"
git clone --quiet --no-hardlinks --no-checkout "$repo" "$rootfs$src"
git -C "$rootfs$src" -c advice.detachedHead=false checkout --quiet --detach "$commit"
log "cloned $(git -C "$rootfs$src" log --oneline -1) into $src"

# 3. What a booted machine has.
# Its root directory is a mount point, as every machine's is: `ip netns` and
# systemd-nspawn remount / (as a slave) and fail with "Invalid argument" in a chroot
# whose root is a plain directory.
mount --bind "$rootfs" "$rootfs"
mount --make-private "$rootfs"
mount -t proc proc "$rootfs/proc"
# /run is a tmpfs on every booted machine (systemd-nspawn refuses to work with one on disk).
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs "$rootfs/run"
install -d -m 1777 "$rootfs/run/lock"
mount --rbind /sys "$rootfs/sys"
mount --make-rslave "$rootfs/sys"
if mountpoint -q /sys/fs/cgroup && ! mountpoint -q "$rootfs/sys/fs/cgroup"; then
  mount --rbind /sys/fs/cgroup "$rootfs/sys/fs/cgroup"
  mount --make-rslave "$rootfs/sys/fs/cgroup"
fi
mount --rbind /dev "$rootfs/dev"
mount --make-rslave "$rootfs/dev"
mountpoint -q "$rootfs/dev/pts" || die "/dev/pts is not mounted inside"
rm -f "$rootfs/etc/resolv.conf"
cp -L /etc/resolv.conf "$rootfs/etc/resolv.conf"
# The CA certificates this machine trusts beyond Debian's (update-ca-certificates reads
# them from /usr/local/share/ca-certificates), e.g. of a TLS-inspecting proxy between it
# and the registries: without them pip and cargo fail inside with "self-signed
# certificate in certificate chain", as they would on any machine on this network.
local_cas=/usr/local/share/ca-certificates
if [ -n "$(find "$local_cas" -name '*.crt' -print -quit 2>/dev/null)" ]; then
  cp -a "$local_cas/." "$rootfs$local_cas/"
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$(command -v chroot)" "$rootfs" update-ca-certificates >/dev/null 2>&1 ||
    die "update-ca-certificates failed inside"
  log "added this machine's local CA certificates: $(cd "$local_cas" && find . -name '*.crt' | sed 's|^\./||' | paste -sd ' ')"
fi
if [ ! -e "$rootfs/etc/hosts" ]; then # what the Debian installer and cloud images write
  printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' \
    "$(uname -n)" >"$rootfs/etc/hosts"
fi
for dir in "$rustup_home" "$cargo_bin"; do
  mkdir -p "$rootfs$dir"
  mount --bind "$dir" "$rootfs$dir"
  mount --make-slave "$rootfs$dir"
  mount -o remount,bind,ro "$rootfs$dir"
done

# 4. The command, as root in the clone, with a clean environment, as the root of a mount
# namespace (not a chroot: see the top) and in a PID namespace of its own.
# Outside, with this machine's tools: move the root filesystem onto /, give the new PID
# namespace its /proc, and enter it.
# shellcheck disable=SC2016 # expanded by sh in the namespace
enter='cd "$1" && mount -t proc proc "$1/proc" && mount --move . / && shift && exec chroot . /bin/sh -c "$0" init "$@"'
# Inside, as PID 1: runs the command in the clone (stdin kept, INT and QUIT not ignored),
# passes signals on, and exits with its status; the kernel then ends whatever is left.
# shellcheck disable=SC2016 # expanded by sh in the namespace
init='cd "$1" && shift
exec 3<&0
env --default-signal=INT,QUIT "$@" <&3 3<&- &
pid=$!
exec 3<&-
trap "kill -TERM $pid 2>/dev/null" TERM HUP
trap "kill -INT $pid 2>/dev/null" INT
while :; do
  wait "$pid"
  status=$?
  kill -0 "$pid" 2>/dev/null || exit "$status"
done'
log "running in $src: ${cmd[*]}"
cmd_start=$(now_us)
cmd_status=0
run -i \
  HOME=/root \
  PATH="$cargo_bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  CARGO_HOME="$cargo_home_inside" \
  RUSTUP_HOME="$rustup_home" \
  RUSTUP_TOOLCHAIN="$toolchain" \
  LANG=C.UTF-8 CI=true TERM=dumb \
  "$(command -v unshare)" --pid --fork --kill-child --mount --propagation private -- \
  /bin/sh -c "$enter" "$init" "$rootfs" "$src" "${cmd[@]}" ||
  cmd_status=$?
cmd_time=$(($(now_us) - cmd_start))
# 5. and 6.: cleanup() and the summary, on exit.
exit "$cmd_status"
