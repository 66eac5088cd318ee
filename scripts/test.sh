#!/usr/bin/env bash
# Runs the tests, in two tiers:
#
#   scripts/test.sh              both tiers (as root: the system tier boots nodes)
#   scripts/test.sh --hermetic   formatting, lints, unit tests and the hermetic tier only
#                                (any user; what plain `cargo test` runs after deps.sh)
#
# Hermetic tier (tests/hermetic): the real binary against the fixture release mirror,
# checked with dpkg-deb, lintian, rpm, rpmlint, apt-ftparchive, createrepo_c, dnf, gpgv,
# sqv, cloud-init and actionlint. System tier (tests/system, cargo feature system-tests):
# packages installed on booted systemd nodes, the three-node cluster, real apt in chroots,
# arm64 under qemu. It fails, never skips, where it cannot run.
set -euo pipefail
cd "$(dirname "$0")/.."

tiers=all
case "${1:-}" in
  --hermetic) tiers=hermetic ;;
  "") ;;
  *) echo "usage: scripts/test.sh [--hermetic]" >&2; exit 2 ;;
esac

scripts/deps.sh
cargo fmt --check
cargo clippy --all-targets --all-features --locked -- -D warnings
cargo test --locked
if [ "$tiers" = all ]; then
  cargo test --locked --features system-tests --test system
fi
