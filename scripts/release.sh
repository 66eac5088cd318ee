#!/usr/bin/env bash
# A new upstream release, all the way into the repository's testing channel; and, by a
# person's hand, a tested release promoted to stable:
#
#   scripts/release.sh                   (in the working tree whose manifest holds the pins)
#   scripts/release.sh promote VERSION   (VERSION, or VERSION-REVISION, testing -> stable)
#
# Without arguments:
# 1. asks GitHub for the newest nats-server release;
# 2. when it is newer than the version pinned in the manifest: pins it (`pin`, which
#    trusts the release's SHA256SUMS this one time), builds every arch (`build`) and
#    publishes the packages, signed, to the store's testing channel (`repo --channel
#    testing`). Nodes on stable, the default, do not see it yet;
# 3. says what it did in $GITHUB_OUTPUT (new=true|false, version=...), for the workflow
#    that then attaches dist/ to a GitHub release and proposes the pin change.
#
# With `promote VERSION`: publishes testing's signed packages of VERSION to stable as they
# are (`promote`: no rebuild, the same bytes), and says promoted=VERSION.
#
# Settings, from the environment (the workflow maps repository secrets and variables):
#   NIMSFOREST_STORE        where to publish: s3://BUCKET/PREFIX or a directory (required)
#   NIMSFOREST_REPO_URL     the URL the store is served at, for the client files
#   NIMSFOREST_SIGNING_KEY  the armored signing key (secret); AWS_* for the S3 store (secret)
#   NIMSFOREST_PKG          the tool (default: target/release/nimsforest-pkg)
#   NIMSFOREST_MANIFEST     the package definition (default: Cargo.toml)
#   NIMSFOREST_MIRROR       a release mirror instead of GitHub (tests)
#   NIMSFOREST_LATEST_URL   where the newest release is asked for (default: GitHub's API)
#   RELEASE_BUILD_ARGS      extra `build` options (tests build one arch)
#   NIMSFOREST_KEEP         keep only the newest N versions per package and arch, per channel
set -euo pipefail

: "${NIMSFOREST_STORE:?set NIMSFOREST_STORE to s3://BUCKET/PREFIX or a directory}"
tool=${NIMSFOREST_PKG:-target/release/nimsforest-pkg}
manifest=${NIMSFOREST_MANIFEST:-Cargo.toml}
latest_url=${NIMSFOREST_LATEST_URL:-https://api.github.com/repos/nats-io/nats-server/releases/latest}
output=${GITHUB_OUTPUT:-/dev/null}
[ -x "$tool" ] || { echo "error: $tool is not built (cargo build --release --locked)" >&2; exit 1; }

say() { printf '%s\n' "$*" >&2; }

# Where and how every publication goes, testing's and stable's alike.
publish_args=(--out "$NIMSFOREST_STORE")
[ -n "${NIMSFOREST_REPO_URL:-}" ] && publish_args+=(--url "$NIMSFOREST_REPO_URL")
[ -n "${NIMSFOREST_KEEP:-}" ] && publish_args+=(--keep "$NIMSFOREST_KEEP")

if [ "${1:-}" = promote ]; then
  version=${2:?usage: scripts/release.sh promote VERSION}
  "$tool" --manifest-path "$manifest" promote "$version" --from testing --to stable "${publish_args[@]}"
  echo "promoted=$version" >>"$output"
  say "promoted nimsforest-nats $version from testing to stable in $NIMSFOREST_STORE"
  exit 0
fi
[ $# -eq 0 ] || { say "usage: scripts/release.sh [promote VERSION]"; exit 2; }

# The newest release: its tag, v2.15.1 -> 2.15.1. Pre-releases are not "latest" on GitHub.
newest=$(curl -fsSL --retry 3 "$latest_url" | python3 -c 'import json, sys; print(json.load(sys.stdin)["tag_name"])')
newest=${newest#v}
pinned=$(sed -n '/^\[package.metadata.nimsforest.upstream\]/,/^\[/s/^version = "\(.*\)"/\1/p' "$manifest")
say "newest upstream release: $newest; pinned: $pinned"

if [ "$newest" = "$pinned" ]; then
  say "nothing new"
  echo "new=false" >>"$output"
  exit 0
fi
# Only forward: a newest release that sorts before the pin (a retracted release) is left.
if [ "$(printf '%s\n%s\n' "$pinned" "$newest" | sort -V | tail -n 1)" != "$newest" ]; then
  say "error: the newest release $newest is older than the pinned $pinned; not going back"
  exit 1
fi

"$tool" --manifest-path "$manifest" pin "$newest"
# shellcheck disable=SC2086 # RELEASE_BUILD_ARGS is a list of options
"$tool" --manifest-path "$manifest" build ${RELEASE_BUILD_ARGS:-}
"$tool" --manifest-path "$manifest" repo --channel testing "${publish_args[@]}"

{
  echo "new=true"
  echo "version=$newest"
} >>"$output"
say "published nats-server $newest to the testing channel of $NIMSFOREST_STORE"
