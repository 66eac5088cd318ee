#!/usr/bin/env bash
# Installs what building and testing need on a Debian/Ubuntu machine (run as root or with
# sudo available). The Rust toolchain (cargo >= 1.89, from rustup) is expected to be
# installed already; actionlint comes from PyPI into target/tools (scripts/tools.sh).
#
# Every program the tests and scripts run must come from a package below (or one of their
# dependencies), or from a package of priority `required`, which every Debian/Ubuntu
# system has (coreutils, util-linux, mount, tar, gzip, grep, sed, findutils, dpkg, ...).
# The hermetic test tests/hermetic/deps.rs checks this with `dpkg -S`.
set -euo pipefail

packages=(
  ca-certificates git                   # cloning (scripts/fresh-machine.sh)
  python3 python3-pip                   # the fixture release mirror (PyPI wheels, Debian's .debs)
  dpkg-dev lintian                      # .deb checks
  rpm rpmlint                           # .rpm checks (rpm also brings rpmbuild)
  binutils xz-utils zstd cpio           # ar, and unpacking packages in tests and benchmarks
  gnupg gpgv sqv                        # signature checks (gpg makes refused test keys)
  apt-utils createrepo-c dnf            # reference indexers and the dnf client
  mmdebstrap debian-archive-keyring     # Debian 12/13 root filesystems for real apt clients
  arch-test                             # mmdebstrap's check that a foreign arch runs (only a
                                        #   Recommends of mmdebstrap, so named here)
  cloud-init                            # `cloud-init schema` for the generated user-data
  systemd-container iproute2 curl       # booted test nodes (systemd-nspawn, netns, probes)
  procps                                # kill, for processes left in a node
  nginx openssl                         # the private repository's HTTPS server, its test PKI
  qemu-user-static binfmt-support       # arm64 nodes
  python3-venv shellcheck               # workflow tests: actionlint's virtualenv (scripts/tools.sh), shellcheck
  hyperfine                             # the benchmarks' timer (bench/)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# mmdebstrap needs the Debian 13 archive key, which newer debian-archive-keyring carry.
[ -e /usr/share/keyrings/debian-archive-trixie-stable.gpg ] || missing+=(debian-archive-keyring)
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  # Without recommends: what a test needs is named above, never left to a Recommends.
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
"$(dirname "$0")/tools.sh"              # actionlint into target/tools/venv (workflow tests)
command -v cargo >/dev/null || { echo "error: cargo (Rust >= 1.89) is required: https://rustup.rs" >&2; exit 1; }
