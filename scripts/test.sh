#!/usr/bin/env bash
# Runs every test: formatting, lints, unit tests and the integration tests that build the
# fixture release and check it with dpkg-deb, lintian, rpm and rpmlint.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked --all-targets
