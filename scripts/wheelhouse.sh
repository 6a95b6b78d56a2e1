#!/usr/bin/env bash
# Build an offline wheelhouse for `install.sh --wheelhouse DIR`: the edge-emotion wheel and
# every dependency as a binary wheel for the Pi (aarch64, CPython 3.11 for bookworm and 3.13
# for trixie), pinned by scripts/constraints/<release>.txt, which is copied in as
# DIR/constraints-<release>.txt (install.sh uses that copy). Needs network; the Pi does not.
#
#   scripts/wheelhouse.sh DIR                     # bookworm + trixie, aarch64 (one DIR for both)
#   scripts/wheelhouse.sh --release bookworm DIR  # only bookworm (Python 3.11)
#   scripts/wheelhouse.sh --host --release bookworm DIR   # this machine's Python and platform
#   scripts/wheelhouse.sh --wheel dist/edge_emotion-0.1.0-py3-none-any.whl DIR
#
# Then: copy DIR to the Pi and run  sudo scripts/install.sh --wheelhouse DIR
# pip matches --platform tags exactly, so every manylinux_2_X_aarch64 tag up to the release's
# glibc is listed (LiteRT's aarch64 wheels are manylinux_2_27, numpy's manylinux_2_17, ...).
# PYTHON (default: python3) runs pip; any Python >= 3.9 with pip works, its version does not
# matter except with --host.
set -Eeuo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
PYTHON=${PYTHON:-python3}
RELEASES=(bookworm trixie)
HOST=0
WHEEL=""
DEST=""

die() { echo "wheelhouse.sh: error: $*" >&2; exit 2; }
log() { echo "==> $*"; }
trap 'echo "wheelhouse.sh: error: failed (exit $?) at line $LINENO; pip says why above (network? a pin without a wheel for this platform?)" >&2' ERR

usage() { sed -n '2,17s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

# Python version and newest glibc (manylinux_2_X) of each release's arm64 image.
release_python() { case "$1" in bookworm) echo 3.11 ;; trixie) echo 3.13 ;; esac; }
release_glibc_minor() { case "$1" in bookworm) echo 36 ;; trixie) echo 41 ;; esac; }

while [ $# -gt 0 ]; do
    case "$1" in
        --release)
            case "${2:-}" in
                bookworm|trixie) RELEASES=("$2") ;;
                all) RELEASES=(bookworm trixie) ;;
                *) die "--release: bookworm, trixie or all" ;;
            esac
            shift ;;
        --host) HOST=1 ;;
        --wheel) WHEEL=${2:?--wheel needs a file}; shift ;;
        -h|--help) usage; exit 0 ;;
        -*) usage >&2; die "unknown option: $1" ;;
        *) [ -z "$DEST" ] || die "one DIR only"; DEST=$1 ;;
    esac
    shift
done
[ -n "$DEST" ] || { usage >&2; die "no DIR given"; }
[ -z "$WHEEL" ] || [ -f "$WHEEL" ] || die "--wheel $WHEEL: no such file"
if [ "$HOST" = 1 ] && [ ${#RELEASES[@]} -ne 1 ]; then
    die "--host needs --release bookworm or --release trixie (the pins to use)"
fi
"$PYTHON" -m pip --version >/dev/null 2>&1 \
    || die "$PYTHON has no pip: set PYTHON to one that has (e.g. PYTHON=.venv/bin/python)"
mkdir -p "$DEST"
DEST=$(cd "$DEST" && pwd)

if [ -z "$WHEEL" ]; then
    [ -f "$REPO/pyproject.toml" ] || die "not in a source checkout: pass --wheel FILE"
    log "building the edge-emotion wheel from $REPO"
    find "$DEST" -maxdepth 1 -name 'edge_emotion-*.whl' -delete
    "$PYTHON" -m pip wheel --quiet --disable-pip-version-check --no-deps --wheel-dir "$DEST" "$REPO"
    WHEEL=$(find "$DEST" -maxdepth 1 -name 'edge_emotion-*.whl' | sort -V | tail -n 1)
else
    cp -f "$WHEEL" "$DEST/"
    WHEEL="$DEST/$(basename "$WHEEL")"
fi

for release in "${RELEASES[@]}"; do
    constraints="$SCRIPT_DIR/constraints/$release.txt"
    [ -f "$constraints" ] || die "$constraints missing"
    cp -f "$constraints" "$DEST/constraints-$release.txt"
    pip=("$PYTHON" -m pip download --disable-pip-version-check --only-binary=:all:
        --constraint "$constraints" --dest "$DEST")
    if [ "$HOST" = 1 ]; then
        log "$release pins, this machine's Python and platform"
    else
        py=$(release_python "$release")
        pip+=(--implementation cp --python-version "$py" --abi "cp${py/./}")
        for minor in $(seq 17 "$(release_glibc_minor "$release")"); do
            pip+=(--platform "manylinux_2_${minor}_aarch64")
        done
        pip+=(--platform manylinux2014_aarch64)
        log "$release: CPython $py, manylinux_2_17..2_$(release_glibc_minor "$release") aarch64"
    fi
    "${pip[@]}" "$WHEEL"
done

log "wheelhouse $DEST: $(find "$DEST" -maxdepth 1 -name '*.whl' | wc -l) wheels, $(du -sh "$DEST" | cut -f1)"
log "install offline with: sudo scripts/install.sh --wheelhouse $DEST"
