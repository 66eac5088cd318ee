#!/usr/bin/env bash
# Benchmark: nimsforest-pkg against dpkg-deb and rpmbuild on the same staged tree.
#
#   bench/build.sh [--runs N] [--cold-runs N] [--version VER] [--bin PATH] [--wheel-cache DIR]
#                  [--manifest-path Cargo.toml] [--no-install] [--keep]
#
# 1. Builds the test fixture mirror (tests/fixture/mirror.py) for VER and serves it on 127.0.0.1.
# 2. Times `nimsforest-pkg build --mirror URL --out DIR` for the whole release (every pinned arch,
#    .deb and .rpm): cold (empty download and block caches; downloads over loopback), warm,
#    warm with a new revision (`--revision 2`), and the .rpm of every arch right after their
#    .deb (a second format from a warm block cache); then amd64 alone with no blocks cached
#    (both formats, .deb only, .rpm only).
# 3. Unpacks every .deb (`dpkg-deb -R`) and .rpm (`rpm2cpio | cpio`) we built and times
#    `dpkg-deb --build -Zxz` and `rpmbuild -bb` (xz level 6 payload, no strip, no debuginfo) on
#    those very trees: amd64 alone, and every arch.
# 4. Prints a table of seconds, the sizes, and the ratios: ours/dpkg-deb and ours/rpmbuild for
#    amd64; the whole release cold against dpkg-deb + rpmbuild of every arch (target <= 0.5);
#    a new revision and a second format from a warm cache against the cold build (target
#    <= 0.05 each); and the peak memory (largest resident set) of one run of ours, whole
#    release and amd64, and of dpkg-deb and rpmbuild on amd64.
#
# Timing uses hyperfine (installed with apt-get when missing and possible), else bash `time`.
# Needs: python3 + pip (or a wheel cache), dpkg-deb, rpmbuild, rpm2cpio, cpio, and the release
# binary (built with `cargo build --release` when missing).

# The timed commands are single-quoted on purpose: hyperfine's shell expands them.
# shellcheck disable=SC2016
set -euo pipefail

RUNS=5
COLD_RUNS=1
VERSION=2.15.1
BIN=
WHEEL_CACHE=
MANIFEST=
INSTALL=1
KEEP=0

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS=${2:?}; shift 2 ;;
    --cold-runs) COLD_RUNS=${2:?}; shift 2 ;;
    --version) VERSION=${2:?}; shift 2 ;;
    --bin) BIN=${2:?}; shift 2 ;;
    --wheel-cache) WHEEL_CACHE=${2:?}; shift 2 ;;
    --manifest-path) MANIFEST=${2:?}; shift 2 ;;
    --no-install) INSTALL=0; shift ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n "2,/^$/p" "$0" | sed "s/^# \{0,1\}//"; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
[[ $RUNS =~ ^[1-9][0-9]*$ && $COLD_RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs and --cold-runs take a positive number"

# Paths given as arguments are relative to the current directory; everything else is absolute.

for tool in python3 dpkg-deb rpmbuild rpm rpm2cpio cpio; do
  command -v "$tool" >/dev/null || die "$tool is required"
done

release_binary
use_hyperfine
make_work nimsforest-bench

# --- 1. the fixture mirror ---------------------------------------------------------------
note "building the fixture mirror for $VERSION"
mirror_args=(build --out "$WORK/mirror" --versions "$VERSION")
[ -n "$WHEEL_CACHE" ] && mirror_args+=(--wheel-cache "$WHEEL_CACHE")
python3 "$MIRROR_PY" "${mirror_args[@]}" >&2

start_mirror "$WORK/mirror"

# --- the package definition: the committed one if its pins match the mirror ---------------
MANIFEST=${MANIFEST:-$ROOT/Cargo.toml}
[ -f "$MANIFEST" ] || die "no package definition at $MANIFEST"
MANIFEST=$(cd "$(dirname "$MANIFEST")" && pwd)/$(basename "$MANIFEST")
DEFINITION_DIR=$(dirname "$MANIFEST")
if ! python3 - "$MANIFEST" "$WORK/mirror/v$VERSION/SHA256SUMS" "$VERSION" <<'EOF'
import sys, tomllib
manifest, sums_path, version = sys.argv[1:]
meta = tomllib.load(open(manifest, "rb"))["package"]["metadata"]["nimsforest"]["upstream"]
sums = {}
for line in open(sums_path):
    digest, name = line.rstrip("\n").split("  ", 1)
    sums[name] = digest
pins = meta.get("sha256", {})
ok = meta.get("version") == version and pins and all(
    sums.get(f"nats-server-v{version}-linux-{arch}.tar.gz") == digest for arch, digest in pins.items())
sys.exit(0 if ok else 1)
EOF
then
  note "the committed pins are not the mirror's $VERSION hashes: pinning a copy of the definition"
  copy_definition "$DEFINITION_DIR" "$WORK/definition"
  cp -a "$MANIFEST" "$WORK/definition/Cargo.toml"
  MANIFEST=$WORK/definition/Cargo.toml
  "$BIN" --manifest-path "$MANIFEST" pin "$VERSION" --mirror "$URL" >&2
fi

# A download cache of our own; nothing outside $WORK is touched.
export NIMSFOREST_CACHE_DIR=$WORK/cache XDG_CACHE_HOME=$WORK/xdg
export BIN MANIFEST URL WORK

# --- timing ---------------------------------------------------------------------------------
# measure KEY LABEL RUNS PREPARE COMMAND: time_runs, remembering the key and its label for
# the report.
mkdir -p "$WORK/times"
KEYS=()
measure() {
  KEYS+=("$1")
  printf '%s\n' "$2" > "$WORK/times/$1.label"
  time_runs "$@"
}

OURS='"$BIN" --manifest-path "$MANIFEST" build --mirror "$URL"'
# The cold runs download over loopback; the last one leaves the cache warm and the packages
# that dpkg-deb and rpmbuild rebuild in $WORK/dist.
measure full_cold "ours: whole release, cold cache" "$COLD_RUNS" \
  'rm -rf "$NIMSFOREST_CACHE_DIR" "$WORK/dist"' "$OURS --out \"\$WORK/dist\""
shopt -s nullglob
DEBS=("$WORK"/dist/*.deb) RPMS=("$WORK"/dist/*.rpm) AMD64_DEBS=("$WORK"/dist/*_amd64.deb)
X86_64_RPMS=("$WORK"/dist/*.x86_64.rpm)
shopt -u nullglob
[ ${#AMD64_DEBS[@]} = 1 ] || die "expected one amd64 .deb in $WORK/dist"
[ ${#X86_64_RPMS[@]} = 1 ] || die "expected one x86_64 .rpm in $WORK/dist"
DEB=${AMD64_DEBS[0]} RPM=${X86_64_RPMS[0]} N_DEB=${#DEBS[@]} N_RPM=${#RPMS[@]}

# --- the same trees for dpkg-deb and rpmbuild, every arch ------------------------------------
# tree_of_rpm RPM DIR: the files of RPM unpacked in DIR/root, and DIR/bench.spec that makes
# rpmbuild pack them again with the same file list, owners, modes and config flags.
tree_of_rpm() {
  local rpm=$1 dir=$2
  mkdir -p "$dir/root" "$dir/top" "$dir/out"
  # rpm2cpio exits 1 when the header has no (LONG)ARCHIVESIZE even though the payload is
  # whole, so check the unpacked tree against the file list instead of trusting its status.
  rpm2cpio "$rpm" > "$dir/payload.cpio" || note "rpm2cpio exited with status $? (checking the payload by hand)"
  (cd "$dir/root" && cpio -idm --quiet < "$dir/payload.cpio")
  rm -f "$dir/payload.cpio"
  while IFS= read -r path; do
    [ -e "$dir/root$path" ] || [ -L "$dir/root$path" ] || die "$path missing from the unpacked $rpm"
  done < <(rpm -qpl "$rpm")
  rpm -qp --qf '%{ARCH}' "$rpm" > "$dir/arch"
  python3 - "$rpm" "$dir/root" > "$dir/bench.spec" <<'EOF'
import os, subprocess, sys
rpm_path, buildroot = sys.argv[1:]
def q(tag):
    return subprocess.run(["rpm", "-qp", "--qf", tag, rpm_path], check=True, capture_output=True, text=True).stdout
name, version, release, license_ = q("%{NAME}\n%{VERSION}\n%{RELEASE}\n%{LICENSE}").split("\n")
rows = q("[%{FILENAMES}\t%{FILEMODES:octal}\t%{FILEUSERNAME}\t%{FILEGROUPNAME}\t%{FILEFLAGS}\n]")
CONFIG, NOREPLACE, GHOST = 1, 16, 64
files = []
for row in rows.splitlines():
    path, mode, user, group, flags = row.split("\t")
    mode, flags = int(mode, 8), int(flags)
    kind = mode >> 12
    entry = f"%attr({mode & 0o7777:04o},{user},{group})"
    if kind == 0o04:
        entry += " %dir"
    if flags & GHOST:
        entry += " %ghost"
        target = os.path.join(buildroot, path.lstrip("/"))
        if not os.path.lexists(target):  # rpmbuild wants ghosts present in the buildroot
            os.makedirs(os.path.dirname(target), exist_ok=True)
            (os.makedirs if kind == 0o04 else lambda p: open(p, "w").close())(target)
    if flags & CONFIG:
        entry += " %config(noreplace)" if flags & NOREPLACE else " %config"
    files.append(f'{entry} "{path}"')
print(f"""Name: {name}
Version: {version}
Release: {release}
Summary: benchmark rebuild of {name} from its own payload
License: {license_}
%define _binary_payload w6.xzdio
%global __os_install_post %{{nil}}
%define _build_id_links none
%global debug_package %{{nil}}

%description
The files of {name} as built by nimsforest-pkg, packed again by rpmbuild.

%files""")
print("\n".join(files))
EOF
}
mkdir -p "$WORK/debtrees" "$WORK/rpmtrees"
for deb in "${DEBS[@]}"; do
  dpkg-deb -R "$deb" "$WORK/debtrees/$(basename "$deb" .deb)"
done
for rpm in "${RPMS[@]}"; do
  tree_of_rpm "$rpm" "$WORK/rpmtrees/$(basename "$rpm" .rpm)"
done
DEBTREE=$WORK/debtrees/$(basename "$DEB" .deb)
RPMTREE=$WORK/rpmtrees/$(basename "$RPM" .rpm)
# No %install section and --noclean: the extracted tree is the buildroot, untouched between
# runs. Expanded by the timing shell, with $t the tree.
RPMBUILD='rpmbuild -bb --quiet --noclean --target "$(cat "$t/arch")" --buildroot "$t/root" --define "_topdir $t/top" --define "_rpmdir $t/out" "$t/bench.spec" >/dev/null'
export DEBTREE RPMTREE

measure full_warm "ours: whole release, warm cache" "$RUNS" \
  'rm -rf "$WORK/o"' "$OURS --out \"\$WORK/o\""
measure full_revision "ours: whole release, new revision, warm" "$RUNS" \
  'rm -rf "$WORK/o"' "$OURS --revision 2 --out \"\$WORK/o\""
# The .deb of every arch first (untimed, from an empty block cache), then the .rpm.
measure full_second "ours: whole release .rpm after the .deb" "$RUNS" \
  'rm -rf "$WORK/o" "$NIMSFOREST_CACHE_DIR/xz-blocks" && '"$OURS"' --format deb --out "$WORK/o" >/dev/null' \
  "$OURS --format rpm --out \"\$WORK/o\""
measure ours_both "ours: amd64 .deb + .rpm, no blocks cached" "$RUNS" \
  'rm -rf "$WORK/o" "$NIMSFOREST_CACHE_DIR/xz-blocks"' "$OURS --arch amd64 --out \"\$WORK/o\""
measure ours_deb "ours: amd64 .deb, no blocks cached" "$RUNS" \
  'rm -rf "$WORK/o" "$NIMSFOREST_CACHE_DIR/xz-blocks"' "$OURS --arch amd64 --format deb --out \"\$WORK/o\""
measure ours_rpm "ours: amd64 .rpm, no blocks cached" "$RUNS" \
  'rm -rf "$WORK/o" "$NIMSFOREST_CACHE_DIR/xz-blocks"' "$OURS --arch amd64 --format rpm --out \"\$WORK/o\""
measure dpkg "dpkg-deb --build -Zxz (amd64)" "$RUNS" \
  'rm -f "$WORK/dpkg.deb"' 'dpkg-deb --build -Zxz "$DEBTREE" "$WORK/dpkg.deb" >/dev/null'
measure rpmbuild "rpmbuild -bb xz (x86_64)" "$RUNS" \
  'rm -rf "$RPMTREE/out"/*' 't=$RPMTREE; '"$RPMBUILD"
measure dpkg_all "dpkg-deb --build -Zxz (every arch)" "$RUNS" \
  'rm -f "$WORK"/dpkg-*.deb' 'for t in "$WORK"/debtrees/*; do dpkg-deb --build -Zxz "$t" "$WORK/dpkg-${t##*/}.deb" >/dev/null; done'
measure rpmbuild_all "rpmbuild -bb xz (every arch)" "$RUNS" \
  'rm -rf "$WORK"/rpmtrees/*/out/*' 'for t in "$WORK"/rpmtrees/*; do '"$RPMBUILD"'; done'

# Peak memory, one run each: ours cold (every arch on every core) and amd64 from an empty
# block cache, against dpkg-deb and rpmbuild on amd64.
peak_rss full_cold 'rm -rf "$NIMSFOREST_CACHE_DIR/xz-blocks" "$WORK/o"' "$OURS --out \"\$WORK/o\""
peak_rss ours_both 'rm -rf "$NIMSFOREST_CACHE_DIR/xz-blocks" "$WORK/o"' "$OURS --arch amd64 --out \"\$WORK/o\""
peak_rss dpkg 'rm -f "$WORK/dpkg.deb"' 'dpkg-deb --build -Zxz "$DEBTREE" "$WORK/dpkg.deb"'
peak_rss rpmbuild 'rm -rf "$RPMTREE/out"/*' 't=$RPMTREE; '"$RPMBUILD"

REBUILT_RPM=$(find "$RPMTREE/out" -name '*.rpm' | head -1)

# --- report ---------------------------------------------------------------------------------
TIMER="bash time"; [ "$HAVE_HYPERFINE" = 1 ] && TIMER=hyperfine
python3 - "$WORK/times" "$DEB" "$RPM" "$WORK/dpkg.deb" "$REBUILT_RPM" "$N_DEB" "$N_RPM" \
  "$VERSION" "$TIMER" "$RUNS" "$COLD_RUNS" "${KEYS[@]}" <<'EOF'
import os, sys
times, deb, rpm, dpkg_deb, rebuilt_rpm, n_deb, n_rpm, version, timer, runs, cold_runs, *keys = sys.argv[1:]
def read_in(directory, name):
    return open(os.path.join(directory, name)).read().strip()
def read(name):
    return read_in(times, name)
labels = {k: read(k + ".label") for k in keys}
t = {k: tuple(map(float, read(k).split())) for k in keys}
print()
print(f"nimsforest-nats {version}: {n_deb} .deb + {n_rpm} .rpm for the whole release; {os.cpu_count()} cores;"
      f" {timer}, {runs} runs ({cold_runs} cold)")
print(f"{'':40} {'mean s':>8} {'min s':>8}")
for k in keys:
    print(f"{labels[k]:40} {t[k][0]:8.3f} {t[k][1]:8.3f}")
def size(p):
    return f"{os.path.getsize(p) / 1e6:.2f} MB" if p and os.path.exists(p) else "?"
print()
print(f"sizes: ours .deb {size(deb)}, dpkg-deb {size(dpkg_deb)}; ours .rpm {size(rpm)}, rpmbuild {size(rebuilt_rpm)}")
m = {k: v[0] for k, v in t.items()}
rss = os.path.join(os.path.dirname(times), "rss")
print("peak memory, largest resident set of one run (no blocks cached):")
for k, label in (("full_cold", "ours: whole release"), ("ours_both", "ours: amd64 .deb + .rpm"),
                 ("dpkg", "dpkg-deb --build -Zxz (amd64)"), ("rpmbuild", "rpmbuild -bb xz (x86_64)")):
    print(f"  {label:38} {read_in(rss, k):>6} MiB")
print(f"ratio ours/dpkg-deb (amd64 .deb):            {m['ours_deb'] / m['dpkg']:.2f}")
print(f"ratio ours/rpmbuild (x86_64 .rpm):           {m['ours_rpm'] / m['rpmbuild']:.2f}")
print(f"ratio ours/(dpkg-deb + rpmbuild) (amd64):    {m['ours_both'] / (m['dpkg'] + m['rpmbuild']):.2f}")
reference = m['dpkg_all'] + m['rpmbuild_all']
print(f"ratio whole release cold / (dpkg-deb + rpmbuild, every arch): "
      f"{m['full_cold'] / reference:.3f}   (target <= 0.5)")
print(f"ratio new revision, warm cache / whole release cold:          "
      f"{m['full_revision'] / m['full_cold']:.3f}   (target <= 0.05)")
print(f"ratio second format, warm cache / whole release cold:         "
      f"{m['full_second'] / m['full_cold']:.3f}   (target <= 0.05)")
EOF
