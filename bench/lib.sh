# shellcheck shell=bash
# Shared by the benchmark scripts (sourced, not run): messages, tools, the release binary,
# a work directory removed on exit, the fixture mirror server and a copy of the package
# definition. The sourcing script sets INSTALL, KEEP and BIN (empty: the release build)
# before calling these.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MIRROR_PY=$ROOT/tests/fixture/mirror.py

die() { echo "bench: error: $*" >&2; exit 1; }
note() { echo "bench: $*" >&2; }

# apt_install PACKAGE...: quietly, when allowed (root, apt, no --no-install); never fatal.
apt_install() {
  [ "$INSTALL" = 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || return 1
  note "installing $*"
  apt-get install -y -qq "$@" >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "$@" >/dev/null 2>&1; }
}

# use_hyperfine: installs hyperfine when missing and allowed; sets HAVE_HYPERFINE.
use_hyperfine() {
  command -v hyperfine >/dev/null || apt_install hyperfine || note "no hyperfine; timing with bash time"
  # shellcheck disable=SC2034 # read by the sourcing script
  HAVE_HYPERFINE=$(command -v hyperfine >/dev/null && echo 1 || echo 0)
  return 0
}

# release_binary: sets BIN to an absolute path, building target/release when BIN is empty
# and the build is missing or older than the sources.
release_binary() {
  if [ -z "$BIN" ]; then
    BIN=$ROOT/target/release/nimsforest-pkg
    if [ ! -x "$BIN" ] || [ -n "$(find "$ROOT/src" "$ROOT/Cargo.toml" -newer "$BIN" -print -quit)" ]; then
      note "building the release binary"
      (cd "$ROOT" && cargo build --release --locked) >&2
    fi
  fi
  [ -x "$BIN" ] || die "no executable at $BIN"
  BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
}

# make_work PREFIX: sets WORK to a new directory, removed on exit (kept with KEEP=1), when
# the mirror server is stopped too.
make_work() {
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
  trap cleanup EXIT
  trap 'exit 130' INT TERM
}
cleanup() {
  stop_mirror
  if [ "$KEEP" = 1 ]; then note "kept $WORK"; else rm -rf "$WORK"; fi
}

# start_mirror ROOT: serves ROOT on 127.0.0.1 and sets URL. One server at a time (one
# coproc).
SERVER_PID=
start_mirror() {
  # The server reads its stdin (a pipe from this shell): if this script dies, it exits too.
  coproc MIRROR { exec python3 "$MIRROR_PY" serve --root "$1" --port 0 --max-seconds 7200; }
  # shellcheck disable=SC2153 # MIRROR_PID is set by coproc; bash unsets it once the server exits
  SERVER_PID=$MIRROR_PID
  read -r -t 30 URL <&"${MIRROR[0]}" || die "the mirror for $1 did not start"
  [[ $URL == http://127.0.0.1:* ]] || die "unexpected mirror address: $URL"
  note "mirror of ${1##*/} at $URL"
}
stop_mirror() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
  fi
}

# copy_definition FROM TO: the package definition in FROM (Cargo.toml, debian/, rpm/,
# assets/ and the rest but build outputs and code) copied to TO, so `pin` never touches
# the committed one.
copy_definition() {
  mkdir -p "$2"
  shopt -s nullglob dotglob
  local item
  for item in "$1"/*; do
    case "${item##*/}" in target|dist|.git|.cache|bench|scripts|src|tests) continue ;; esac
    cp -a "$item" "$2/"
  done
  shopt -u nullglob dotglob
}

# time_runs KEY LABEL RUNS PREPARE COMMAND: mean and min seconds of RUNS runs into
# $WORK/times/KEY, with hyperfine when there is one. PREPARE runs before every run,
# untimed. A failing command is run once more, visibly.
time_runs() {
  local key=$1 label=$2 runs=$3 prepare=$4 cmd=$5
  mkdir -p "$WORK/times"
  note "timing: $label"
  if [ "$HAVE_HYPERFINE" = 1 ]; then
    hyperfine --style basic --runs "$runs" --prepare "$prepare" \
      --export-json "$WORK/times/$key.json" --command-name "$label" "$cmd" >&2 ||
      failed "$label" "$prepare" "$cmd"
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; print(r["mean"], min(r["times"]))' \
      "$WORK/times/$key.json" > "$WORK/times/$key"
  else
    local i TIMEFORMAT=%R
    : > "$WORK/times/$key.all"
    for ((i = 0; i < runs; i++)); do
      bash -c "$prepare"
      { time bash -c "$cmd" >/dev/null 2>&1; } 2>> "$WORK/times/$key.all" || failed "$label" "$prepare" "$cmd"
    done
    awk '{ s += $1; if (NR == 1 || $1 < m) m = $1 } END { print s / NR, m }' "$WORK/times/$key.all" > "$WORK/times/$key"
  fi
}
# peak_rss KEY PREPARE COMMAND: runs PREPARE, then COMMAND once, and writes the largest
# resident set of any process COMMAND ran (MiB, getrusage of the waited-for children) into
# $WORK/rss/KEY.
peak_rss() {
  mkdir -p "$WORK/rss"
  bash -c "$2"
  python3 -c 'import resource, subprocess, sys
subprocess.run(["bash", "-c", sys.argv[1]], check=True, stdout=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)' "$3" > "$WORK/rss/$1" ||
    die "$1 failed while measuring its memory"
}
failed() {
  note "$1 failed; once more with its output:"
  if bash -c "$2"; then bash -c "$3" >&2 || true; fi
  die "$1 failed"
}

# synthetic_release DIR VERSION: a fake release mirror in DIR whose tarballs carry a 4 KiB
# stand-in `nats-server` (a valid ELF header for each arch), so that hundreds of packages
# build in seconds.
synthetic_release() {
  note "writing a synthetic release $2"
  python3 - "$1" "$2" <<'EOF'
import hashlib, io, os, struct, sys, tarfile
root, version = sys.argv[1:]
# upstream arch: (EI_DATA 1 little / 2 big, e_machine)
ARCHES = {"amd64": (1, 62), "arm64": (1, 183), "ppc64le": (1, 21), "s390x": (2, 22), "riscv64": (1, 243)}
out = os.path.join(root, f"v{version}")
os.makedirs(out)
sums = []
for arch, (data, machine) in sorted(ARCHES.items()):
    end = "<" if data == 1 else ">"
    ident = b"\x7fELF" + bytes([2, data, 1, 0]) + bytes(8)
    header = ident + struct.pack(end + "HHI", 2, machine, 1) + bytes(64 - 16 - 8)
    binary = header + f"stand-in nats-server {version} {arch}\n".encode().ljust(4096 - 64, b"\0")
    top = f"nats-server-v{version}-linux-{arch}"
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, kind, mode, body in [(top, tarfile.DIRTYPE, 0o755, b""),
                                       (f"{top}/nats-server", tarfile.REGTYPE, 0o755, binary)]:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime, info.size = kind, mode, 1767225600, len(body)
            tar.addfile(info, io.BytesIO(body) if body else None)
    gz = io.BytesIO()
    import gzip
    with gzip.GzipFile(fileobj=gz, mode="wb", mtime=0) as f:
        f.write(raw.getvalue())
    name = f"{top}.tar.gz"
    with open(os.path.join(out, name), "wb") as f:
        f.write(gz.getvalue())
    sums.append(f"{hashlib.sha256(gz.getvalue()).hexdigest()}  {name}\n")
with open(os.path.join(out, "SHA256SUMS"), "w") as f:
    f.writelines(sorted(sums))
EOF
}
