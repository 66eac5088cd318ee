#!/usr/bin/env bash
# Benchmark: `nimsforest-pkg repo` against the reference tools on the same packages.
#
#   bench/repo.sh [--versions N] [--runs N] [--version VER] [--bin PATH] [--wheel-cache DIR]
#                 [--deb-compression xz|zstd|gzip] [--no-test-release] [--no-rpmsign]
#                 [--no-install] [--keep]
#
# Two repositories are published:
#   (a) the test release (VER, default 2.15.1, every arch the test mirror has), built with
#       `nimsforest-pkg build` from tests/fixture/mirror.py served on 127.0.0.1;
#   (b) N packaging revisions (default 100) of a synthetic release: a fake mirror whose
#       tarballs carry a 4 KiB stand-in `nats-server` (a valid ELF header for each arch), so
#       the 10 N packages take seconds to build. Release 3.0.0 is pinned in a copy of the
#       package definition and built with `--revision 1..N`.
# For each, three scenarios are timed: the first publication into an empty tree, a re-run
# with nothing new, and adding one more revision (a dist/ holding only it) to the full tree.
#
# ours:      nimsforest-pkg repo --dist DIST --out R --signing-key KEY
#            (apt + dnf; also signs every RPM header, in-process)
# reference: apt-ftparchive packages pool, split per arch, gzip -9 + xz, apt-ftparchive
#            release, gpg --clearsign (InRelease) and gpg -abs (Release.gpg);
#            createrepo_c --no-database (--update on an existing tree) and
#            gpg --detach-sign --armor repodata/repomd.xml. The reference does not sign RPM
#            headers; for (b) the first publication is also timed per format, and with
#            `rpmsign --addsign` added to the dnf reference (unless --no-rpmsign).
# Both copy the new packages into the tree's pool as part of the timed run. gpg uses a
# throwaway Ed25519 key (ours: an Ed25519 key from `nimsforest-pkg keygen`).
#
# Timing uses hyperfine (installed with apt-get when missing and possible), else bash `time`.
# Needs: python3, apt-ftparchive (apt-utils), gpg (gnupg), createrepo_c, xz, gzip, and the
# release binary (built with `cargo build --release` when missing, older than src/ or
# without the `repo` command).

# The timed commands are single-quoted on purpose: hyperfine's shell expands them.
# shellcheck disable=SC2016
set -euo pipefail

VERSIONS=100
RUNS=3
VERSION=2.15.1
BIN=
WHEEL_CACHE=
DEB_COMPRESSION=gzip
TEST_RELEASE=1
RPMSIGN=1
INSTALL=1
KEEP=0
SYNTH_VERSION=3.0.0

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

while [ $# -gt 0 ]; do
  case "$1" in
    --versions) VERSIONS=${2:?}; shift 2 ;;
    --runs) RUNS=${2:?}; shift 2 ;;
    --version) VERSION=${2:?}; shift 2 ;;
    --bin) BIN=${2:?}; shift 2 ;;
    --wheel-cache) WHEEL_CACHE=${2:?}; shift 2 ;;
    --deb-compression) DEB_COMPRESSION=${2:?}; shift 2 ;;
    --no-test-release) TEST_RELEASE=0; shift ;;
    --no-rpmsign) RPMSIGN=0; shift ;;
    --no-install) INSTALL=0; shift ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n "2,/^$/p" "$0" | sed "s/^# \{0,1\}//"; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
[[ $RUNS =~ ^[1-9][0-9]*$ && $VERSIONS =~ ^[1-9][0-9]*$ ]] || die "--runs and --versions take a positive number"

# --- tools ------------------------------------------------------------------------------------
missing=()
command -v gpg >/dev/null || missing+=(gnupg)
command -v apt-ftparchive >/dev/null || missing+=(apt-utils)
command -v createrepo_c >/dev/null || missing+=(createrepo-c)
command -v xz >/dev/null || missing+=(xz-utils)
[ "$RPMSIGN" = 1 ] && ! command -v rpmsign >/dev/null && missing+=(rpm)
[ ${#missing[@]} = 0 ] || apt_install "${missing[@]}" || true
for tool in python3 gpg apt-ftparchive createrepo_c xz gzip; do
  command -v "$tool" >/dev/null || die "$tool is required"
done
if [ "$RPMSIGN" = 1 ] && ! command -v rpmsign >/dev/null; then
  note "no rpmsign: the dnf reference is timed without RPM header signing only"; RPMSIGN=0
fi
use_hyperfine

# --- the binary -------------------------------------------------------------------------------
release_binary
"$BIN" --help | grep -q '^  repo ' || die "$BIN has no repo command"

make_work nimsforest-repo-bench

export NIMSFOREST_CACHE_DIR=$WORK/cache XDG_CACHE_HOME=$WORK/xdg
export GNUPGHOME=$WORK/gnupg
mkdir -m 0700 "$GNUPGHOME"

# --- keys -------------------------------------------------------------------------------------
"$BIN" keygen --out "$WORK/keys" >/dev/null
KEY=$WORK/keys/nimsforest-signing-key.asc
gpg --batch --quiet --passphrase '' --quick-gen-key 'Bench Reference <bench@example.invalid>' ed25519 sign never 2>/dev/null
GPG_KEY=$(gpg --batch --with-colons --list-secret-keys | awk -F: '$1 == "fpr" { print $10; exit }')
[ -n "$GPG_KEY" ] || die "gpg did not make a key"

# --- the reference tools, as one script -------------------------------------------------------
# ref.sh apt|dnf|dnf-rpmsign TREE DIST: adds DIST's packages to TREE and re-indexes and signs it.
cat > "$WORK/ref.sh" <<'EOF'
set -euo pipefail
what=$1 tree=$2 dist=$3
shopt -s nullglob
case "$what" in
apt)
  pool=$tree/apt/pool/main/n/nimsforest-nats
  mkdir -p "$pool"
  for f in "$dist"/*.deb; do [ -e "$pool/${f##*/}" ] || cp "$f" "$pool/"; done
  cd "$tree/apt"
  suite=dists/stable
  rm -rf "$suite" && mkdir -p "$suite/main"
  apt-ftparchive packages pool > "$suite/Packages.all"
  arches=$(awk '/^Architecture: / { print $2 }' "$suite/Packages.all" | sort -u)
  for a in $arches; do mkdir -p "$suite/main/binary-$a"; done
  awk -v RS= -v ORS='\n\n' -v d="$suite/main" \
    '{ match($0, /\nArchitecture: [^\n]+/); print > (d "/binary-" substr($0, RSTART + 15, RLENGTH - 15) "/Packages") }' \
    "$suite/Packages.all"
  rm "$suite/Packages.all"
  for a in $arches; do
    gzip -9nk "$suite/main/binary-$a/Packages"
    xz -k "$suite/main/binary-$a/Packages"
  done
  apt-ftparchive -o APT::FTPArchive::Release::Origin=NimsForest -o APT::FTPArchive::Release::Label=NimsForest \
    -o APT::FTPArchive::Release::Suite=stable -o APT::FTPArchive::Release::Codename=stable \
    -o APT::FTPArchive::Release::Components=main \
    -o "APT::FTPArchive::Release::Architectures=$(echo $arches)" release "$suite" > "$tree/Release.tmp"
  mv "$tree/Release.tmp" "$suite/Release"
  gpg --batch --yes --quiet --clearsign -o "$suite/InRelease" "$suite/Release"
  gpg --batch --yes --quiet -abs -o "$suite/Release.gpg" "$suite/Release"
  ;;
dnf|dnf-rpmsign)
  pkgs=$tree/rpm/Packages/n
  mkdir -p "$pkgs"
  new=()
  for f in "$dist"/*.rpm; do
    [ -e "$pkgs/${f##*/}" ] || { cp "$f" "$pkgs/"; new+=("$pkgs/${f##*/}"); }
  done
  if [ "$what" = dnf-rpmsign ] && [ ${#new[@]} -gt 0 ]; then
    rpmsign --addsign --define "__gpg $(command -v gpg)" --define "_gpg_name $GPG_KEY" --define "_gpg_path $GNUPGHOME" "${new[@]}" >/dev/null
  fi
  update=(); [ -d "$tree/rpm/repodata" ] && update=(--update)
  createrepo_c --quiet --no-database "${update[@]}" "$tree/rpm"
  gpg --batch --yes --quiet --detach-sign --armor -o "$tree/rpm/repodata/repomd.xml.asc" "$tree/rpm/repodata/repomd.xml"
  ;;
both) bash "$0" apt "$tree" "$dist" && bash "$0" dnf "$tree" "$dist" ;;
*) echo "ref.sh: unknown $what" >&2; exit 2 ;;
esac
EOF
export BIN KEY WORK GPG_KEY

# --- timing -----------------------------------------------------------------------------------
# measure KEY LABEL PREPARE COMMAND: time_runs with --runs.
measure() { time_runs "$1" "$2" "$RUNS" "$3" "$4"; }

ROWS=() # "scenario|ours key|reference key"
OURS='"$BIN" repo --signing-key "$KEY"'
# bench_set NAME DIST NEW: the three scenarios on one package set (dist/ and one more revision).
bench_set() {
  local name=$1 set=$WORK/$1
  export SET=$set
  mkdir -p "$set"
  measure "$name-ours-first" "$name ours first" 'rm -rf "$SET/ours"' "$OURS --dist \"\$SET/dist\" --out \"\$SET/ours\" >/dev/null"
  measure "$name-ref-first" "$name reference first" 'rm -rf "$SET/ref"' 'bash "$WORK/ref.sh" both "$SET/ref" "$SET/dist"'
  cp -a "$set/ours" "$set/ours.full"
  cp -a "$set/ref" "$set/ref.full"
  measure "$name-ours-same" "$name ours unchanged" ':' "$OURS --dist \"\$SET/dist\" --out \"\$SET/ours\" >/dev/null"
  measure "$name-ref-same" "$name reference unchanged" ':' 'bash "$WORK/ref.sh" both "$SET/ref" "$SET/dist"'
  measure "$name-ours-add" "$name ours add one" 'rm -rf "$SET/ours" && cp -a "$SET/ours.full" "$SET/ours"' \
    "$OURS --dist \"\$SET/new\" --out \"\$SET/ours\" >/dev/null"
  measure "$name-ref-add" "$name reference add one" 'rm -rf "$SET/ref" && cp -a "$SET/ref.full" "$SET/ref"' \
    'bash "$WORK/ref.sh" both "$SET/ref" "$SET/new"'
  ROWS+=("$2: first publication|$name-ours-first|$name-ref-first"
         "$2: re-run, nothing new|$name-ours-same|$name-ref-same"
         "$2: add one revision|$name-ours-add|$name-ref-add")
}

BUILD=(build --deb-compression "$DEB_COMPRESSION")
count() { find "$1" -maxdepth 1 -name "*.$2" | wc -l; }

# --- (a) the test release ---------------------------------------------------------------------
if [ "$TEST_RELEASE" = 1 ]; then
  note "building the test mirror for $VERSION"
  mirror_args=(build --out "$ROOT/target/fixture-mirror" --versions "$VERSION")
  [ -n "$WHEEL_CACHE" ] && mirror_args+=(--wheel-cache "$WHEEL_CACHE")
  python3 "$MIRROR_PY" "${mirror_args[@]}" >&2
  start_mirror "$ROOT/target/fixture-mirror"
  copy_definition "$ROOT" "$WORK/def-a"
  "$BIN" --manifest-path "$WORK/def-a/Cargo.toml" pin "$VERSION" --mirror "$URL" >&2
  note "building $VERSION (revisions 1 and 2)"
  "$BIN" --manifest-path "$WORK/def-a/Cargo.toml" "${BUILD[@]}" --mirror "$URL" --revision 1 --out "$WORK/a/dist" >/dev/null
  "$BIN" --manifest-path "$WORK/def-a/Cargo.toml" "${BUILD[@]}" --mirror "$URL" --revision 2 --out "$WORK/a/new" >/dev/null
  stop_mirror
  A_DESC="(a) $VERSION, $(count "$WORK/a/dist" deb) .deb + $(count "$WORK/a/dist" rpm) .rpm"
  bench_set a "$A_DESC"
fi

# --- (b) a synthetic release, VERSIONS revisions ----------------------------------------------
synthetic_release "$WORK/fake-mirror" "$SYNTH_VERSION"
start_mirror "$WORK/fake-mirror"
copy_definition "$ROOT" "$WORK/def-b"
"$BIN" --manifest-path "$WORK/def-b/Cargo.toml" pin "$SYNTH_VERSION" --mirror "$URL" >&2
note "building $VERSIONS revisions of $SYNTH_VERSION"
for ((n = 1; n <= VERSIONS; n++)); do
  "$BIN" --manifest-path "$WORK/def-b/Cargo.toml" "${BUILD[@]}" --mirror "$URL" --revision "$n" --out "$WORK/b/dist" >/dev/null
done
"$BIN" --manifest-path "$WORK/def-b/Cargo.toml" "${BUILD[@]}" --mirror "$URL" --revision $((VERSIONS + 1)) --out "$WORK/b/new" >/dev/null
stop_mirror
B_DESC="(b) $VERSIONS revisions, $(count "$WORK/b/dist" deb) .deb + $(count "$WORK/b/dist" rpm) .rpm"
bench_set b "$B_DESC"

# Per format, first publication of (b).
export SET=$WORK/b
measure b-ours-apt "b ours apt first" 'rm -rf "$SET/ours"' "$OURS --format deb --dist \"\$SET/dist\" --out \"\$SET/ours\" >/dev/null"
measure b-ref-apt "b reference apt first" 'rm -rf "$SET/ref"' 'bash "$WORK/ref.sh" apt "$SET/ref" "$SET/dist"'
measure b-ours-dnf "b ours dnf first" 'rm -rf "$SET/ours"' "$OURS --format rpm --dist \"\$SET/dist\" --out \"\$SET/ours\" >/dev/null"
measure b-ref-dnf "b reference dnf first" 'rm -rf "$SET/ref"' 'bash "$WORK/ref.sh" dnf "$SET/ref" "$SET/dist"'
ROWS+=("(b) apt only: first publication|b-ours-apt|b-ref-apt"
       "(b) dnf only, RPMs unsigned by the reference|b-ours-dnf|b-ref-dnf")
if [ "$RPMSIGN" = 1 ]; then
  measure b-ref-dnf-sign "b reference dnf + rpmsign first" 'rm -rf "$SET/ref"' 'bash "$WORK/ref.sh" dnf-rpmsign "$SET/ref" "$SET/dist"'
  ROWS+=("(b) dnf only, reference + rpmsign --addsign|b-ours-dnf|b-ref-dnf-sign")
fi

# --- report -----------------------------------------------------------------------------------
TIMER="bash time"; [ "$HAVE_HYPERFINE" = 1 ] && TIMER=hyperfine
python3 - "$WORK/times" "$TIMER" "$RUNS" "$RPMSIGN" "${ROWS[@]}" <<'EOF'
import os, sys
times, timer, runs, rpmsign, *rows = sys.argv[1:]
def t(key):
    return tuple(map(float, open(os.path.join(times, key)).read().split()))
width = max(len(r.split("|")[0]) for r in rows)
print()
print(f"nimsforest-pkg repo vs apt-ftparchive + createrepo_c + gpg; {os.cpu_count()} cores; {timer}, {runs} runs, mean s")
print(f"{'scenario':{width}}  {'ours (s)':>9}  {'reference (s)':>13}  {'ratio':>6}")
for row in rows:
    label, ours, ref = row.split("|")
    o, r = t(ours)[0], t(ref)[0]
    print(f"{label:{width}}  {o:9.3f}  {r:13.3f}  {o / r:6.2f}")
print()
print("ratio = ours / reference (below 1: ours is faster). Ours signs every RPM header too (in-process);")
print("the reference rows sign only the indexes unless marked rpmsign. \"add one revision\" publishes a")
print("dist/ holding only the new revision into a copy of the full tree; the reference then re-scans the")
print("whole pool with apt-ftparchive (no --db cache) and runs createrepo_c --update.")
EOF
