#!/usr/bin/env bash
# Benchmark: publishing to S3-compatible object storage, incrementally, against a full
# re-sync of the same tree.
#
#   bench/store.sh [--versions N] [--bin PATH] [--keep]
#
# A synthetic release (4 KiB stand-in binaries, see bench/lib.sh) is built as N packaging
# revisions (default 100) for 5 arches, .deb and .rpm, plus one more revision. An S3 server
# (`rclone serve s3`, scripts/tools.sh installs it) runs on 127.0.0.1. Measured, each once:
#   first   nimsforest-pkg repo: the N revisions into an empty bucket
#   add     nimsforest-pkg repo: the one new revision into that repository
#   same    nimsforest-pkg repo: the new revision again (nothing new)
#   resync  what a publisher that rebuilds the tree and syncs it would do: the same N+1
#           revisions published into a directory, then `rclone copy` of the whole tree
#           into an empty prefix (every object uploaded)
# Requests and bytes are the tool's own count (its traffic line); for the re-sync, the
# number of objects and their bytes.

# shellcheck disable=SC2016
set -euo pipefail

VERSIONS=100
BIN=
INSTALL=0
KEEP=0
SYNTH_VERSION=3.0.0

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

while [ $# -gt 0 ]; do
  case "$1" in
    --versions) VERSIONS=${2:?}; shift 2 ;;
    --bin) BIN=${2:?}; shift 2 ;;
    --keep) KEEP=1; shift ;;
    *) die "unknown option $1" ;;
  esac
done

release_binary
make_work nimsforest-bench-store
RCLONE=$ROOT/target/tools/venv/bin/rclone
[ -x "$RCLONE" ] || "$ROOT/scripts/tools.sh"

synthetic_release "$WORK/fake-mirror" "$SYNTH_VERSION"
start_mirror "$WORK/fake-mirror"
copy_definition "$ROOT" "$WORK/def"
"$BIN" --manifest-path "$WORK/def/Cargo.toml" pin "$SYNTH_VERSION" --mirror "$URL" >&2
note "building $VERSIONS revisions of $SYNTH_VERSION (5 arches, .deb and .rpm)"
for ((n = 1; n <= VERSIONS; n++)); do
  "$BIN" --manifest-path "$WORK/def/Cargo.toml" build --mirror "$URL" --revision "$n" --out "$WORK/dist" >/dev/null 2>&1
done
"$BIN" --manifest-path "$WORK/def/Cargo.toml" build --mirror "$URL" --revision $((VERSIONS + 1)) --out "$WORK/new" >/dev/null 2>&1
stop_mirror
"$BIN" --manifest-path "$WORK/def/Cargo.toml" keygen --out "$WORK/keys" >/dev/null

# The S3 server, its credentials for the tool (AWS_*) and for rclone's client (RCLONE_*).
mkdir -p "$WORK/s3/bench"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$RCLONE" serve s3 --addr "127.0.0.1:$port" --auth-key bench,bench-secret --log-level ERROR "$WORK/s3" &
S3_PID=$!
trap 'kill "$S3_PID" 2>/dev/null || true; cleanup' EXIT
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret AWS_REGION=us-east-1
export AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_ALLOW_HTTP=true
export RCLONE_CONFIG_BENCH_TYPE=s3 RCLONE_CONFIG_BENCH_PROVIDER=Other
export RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=bench RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=bench-secret
export RCLONE_CONFIG_BENCH_ENDPOINT=$AWS_ENDPOINT_URL
for _ in $(seq 50); do python3 -c "import socket; socket.create_connection(('127.0.0.1', $port))" 2>/dev/null && break; sleep 0.1; done

export SOURCE_DATE_EPOCH=1790000000
KEY=$WORK/keys/nimsforest-signing-key.asc
now() { python3 -c 'import time; print(time.monotonic())'; }
# publish LABEL DIST OUT: one timed `repo` run; prints "LABEL seconds traffic".
publish() {
  local start end traffic
  start=$(now)
  traffic=$("$BIN" --manifest-path "$WORK/def/Cargo.toml" repo --dist "$2" --out "$3" --signing-key "$KEY" 2>&1 >/dev/null | tail -n 1)
  end=$(now)
  printf '%s|%s|%s\n' "$1" "$(python3 -c "print(round($end - $start, 3))")" "${traffic#*: }"
}

results=()
results+=("$(publish "first: $VERSIONS revisions x 5 arches into an empty bucket" "$WORK/dist" s3://bench/inc)")
results+=("$(publish "add: one revision to that repository" "$WORK/new" s3://bench/inc)")
results+=("$(publish "same: that revision again (nothing new)" "$WORK/new" s3://bench/inc)")

# The full re-sync: the same tree made in a directory, then every object uploaded.
"$BIN" --manifest-path "$WORK/def/Cargo.toml" repo --dist "$WORK/dist" --out "$WORK/tree" --signing-key "$KEY" >/dev/null 2>&1
start=$(now)
"$BIN" --manifest-path "$WORK/def/Cargo.toml" repo --dist "$WORK/new" --out "$WORK/tree" --signing-key "$KEY" >/dev/null 2>&1
"$RCLONE" copy --s3-no-check-bucket "$WORK/tree" bench:bench/resync
end=$(now)
objects=$(find "$WORK/tree" -type f | wc -l)
bytes=$(find "$WORK/tree" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
results+=("resync: the same tree rebuilt locally, then rclone copy of every object|$(python3 -c "print(round($end - $start, 3))")|$objects objects uploaded, $bytes bytes up")

echo
echo "publishing to S3 (rclone serve s3 on 127.0.0.1), $(nproc) cores; one run each"
printf '%s\n' "${results[@]}" | python3 -c '
import sys
rows = [l.rstrip("\n").split("|") for l in sys.stdin if l.strip()]
w = max(len(r[0]) for r in rows)
head = ("scenario", "seconds")
print(f"{head[0]:{w}}  {head[1]:>8}  traffic")
for label, secs, traffic in rows:
    print(f"{label:{w}}  {float(secs):8.3f}  {traffic}")
'
