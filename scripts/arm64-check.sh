#!/usr/bin/env bash
# Install edge-emotion on emulated arm64 Debian and run it: the Pi's CPU and OS, without a Pi.
#
#   sudo scripts/arm64-check.sh bookworm           # Debian 12, Python 3.11 (CI runs this one)
#   sudo scripts/arm64-check.sh trixie             # Debian 13, Python 3.13
#   sudo scripts/arm64-check.sh --online bookworm  # pip from PyPI instead of the wheelhouse
#
# Steps (each one timed): a minimal arm64 rootfs built by mmdebstrap (cached as a tarball),
# unpacked fresh; an aarch64 wheelhouse built here by scripts/wheelhouse.sh; then, chrooted
# under qemu-user (binfmt_misc): scripts/install.sh --wheelhouse DIR --no-start (plain Debian
# has no Raspberry Pi archive: install.sh must skip python3-picamera2 with a one-line note;
# systemd is not PID 1 in a chroot: the unit is enabled, not started), `edge demo` (must print windows), `edge detect` on a frame of the
# sample clip, `edge config check` and `systemd-analyze verify` of the installed unit.
#
# Needs root and the Debian packages mmdebstrap, arch-test (mmdebstrap's check of a foreign
# architecture), qemu-user-static, binfmt-support.
# Environment: ARM64_CHECK_CACHE (default /var/cache/edge-arm64-check: rootfs tarballs, apt
# and pip caches; outside the repo), ARM64_CHECK_MIRROR (default http://deb.debian.org/debian),
# ARM64_CHECK_FAKE_CPUINFO (auto|1|0, see below), PYTHON (runs pip for the wheelhouse).
# Options: --online, --rebuild (rebuild the cached rootfs), --keep (leave the rootfs unpacked).
set -Eeuo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
CACHE=${ARM64_CHECK_CACHE:-/var/cache/edge-arm64-check}
MIRROR=${ARM64_CHECK_MIRROR:-http://deb.debian.org/debian}
FAKE_CPUINFO=${ARM64_CHECK_FAKE_CPUINFO:-auto}
# What the rootfs holds beyond apt itself: systemd (systemctl enable, systemd-analyze) and
# ca-certificates. install.sh installs python3 and the rest, as on a fresh image.
INCLUDE=ca-certificates,systemd
ONLINE=0
REBUILD=0
KEEP=0
RELEASE=""

usage() { sed -n '2,20s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }
die() { echo "arm64-check: error: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
    case "$1" in
        --online) ONLINE=1 ;;
        --rebuild) REBUILD=1 ;;
        --keep) KEEP=1 ;;
        -h|--help) usage; exit 0 ;;
        bookworm|trixie) RELEASE=$1 ;;
        *) usage >&2; die "unknown argument: $1 (expected bookworm or trixie)" ;;
    esac
    shift
done
[ -n "$RELEASE" ] || { usage >&2; die "which release? bookworm or trixie"; }
[ "$(id -u)" = 0 ] || die "needs root (mmdebstrap, mounts, chroot): sudo $0 $RELEASE"

WORK="$CACHE/run-$RELEASE"
ROOT="$WORK/root"
LOG="$WORK/log"
MOUNTS=()

# --- timing -------------------------------------------------------------------------------
STEP=""
STEP_T0=0
TIMES=()
T_START=$(date +%s.%N)
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
begin() { STEP=$1; STEP_T0=$(date +%s.%N); echo "=== [$RELEASE] $STEP"; }
end() {
    local took
    took=$(elapsed "$STEP_T0")
    TIMES+=("$(printf '%-16s %7s s' "$STEP" "$took")")
    echo "=== [$RELEASE] $STEP: ${took} s"
    STEP=""
}
summary() {
    echo "=== [$RELEASE] arm64-check times (qemu: $(qemu_version)):"
    printf '    %s\n' "${TIMES[@]}"
    echo "    total            $(elapsed "$T_START") s"
}

# --- cleanup: never leave a mount behind, never delete through one -------------------------
cleanup() {
    local rc=$? i
    trap - EXIT ERR
    for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
        umount -R "${MOUNTS[i]}" 2>/dev/null || umount -R -l "${MOUNTS[i]}" 2>/dev/null || true
    done
    if [ -d "$ROOT" ] && [ "$KEEP" = 0 ]; then
        if grep -qF " $ROOT/" /proc/mounts; then
            echo "arm64-check: warning: mounts left under $ROOT, not deleting it" >&2
        else
            rm -rf "$ROOT"
        fi
    fi
    if [ -n "$STEP" ]; then
        echo "arm64-check: FAILED in step '$STEP' (exit $rc) after $(elapsed "$STEP_T0") s; log: $LOG" >&2
        [ ${#TIMES[@]} -eq 0 ] || summary >&2
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit $?' ERR
trap 'exit 130' INT TERM

# mount_at TARGET ARGS...: mount and remember it for cleanup.
mount_at() {
    local target=$1
    shift
    [ -e "$target" ] || mkdir -p "$target"
    mount "$@" "$target"
    MOUNTS+=("$target")
}

qemu_version() {
    local q
    q=$(command -v qemu-aarch64-static || command -v qemu-aarch64 || true)
    [ -n "$q" ] || { echo "?"; return; }
    "$q" --version | sed -n '1s/.*version \([0-9.]*\).*/\1/p'
}

# in_root CMD...: run CMD in the arm64 rootfs (via binfmt_misc + qemu-user).
in_root() {
    chroot "$ROOT" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}

# A Raspberry Pi 4's /proc/cpuinfo (4 x Cortex-A72).
pi4_cpuinfo() {
    local cpu
    for cpu in 0 1 2 3; do
        printf 'processor\t: %s\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n' "$cpu"
        printf 'CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n'
    done
    printf 'Hardware\t: BCM2835\nRevision\t: c03111\nSerial\t\t: 100000000000cafe\nModel\t\t: Raspberry Pi 4 Model B Rev 1.1\n'
}

# --- 1. preflight -------------------------------------------------------------------------
begin preflight
for tool in mmdebstrap chroot tar; do
    command -v "$tool" >/dev/null || die "$tool missing: apt-get install mmdebstrap arch-test qemu-user-static binfmt-support"
done
command -v qemu-aarch64-static >/dev/null \
    || die "qemu-aarch64-static missing: apt-get install qemu-user-static binfmt-support"
# The kernel runs arm64 binaries through binfmt_misc: binfmt-support + qemu-user-static register
# the qemu-aarch64 handler (with the F flag, so it also works inside the chroot). A fresh VM has
# it after the apt install; a container may need binfmt_misc mounted first.
BINFMT=/proc/sys/fs/binfmt_misc
[ -e "$BINFMT/status" ] || mount -t binfmt_misc binfmt_misc "$BINFMT" 2>/dev/null || true
if [ ! -e "$BINFMT/qemu-aarch64" ] || ! grep -qx enabled "$BINFMT/qemu-aarch64"; then
    if command -v update-binfmts >/dev/null; then update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true; fi
fi
if [ ! -e "$BINFMT/qemu-aarch64" ] || ! grep -qx enabled "$BINFMT/qemu-aarch64"; then
    die "no enabled binfmt_misc handler $BINFMT/qemu-aarch64: this kernel cannot run arm64 programs. Fix: apt-get install qemu-user-static binfmt-support; update-binfmts --enable qemu-aarch64 (in a container: mount -t binfmt_misc binfmt_misc $BINFMT on the host first)"
fi
grep -q '^flags:.*F' "$BINFMT/qemu-aarch64" \
    || die "$BINFMT/qemu-aarch64 lacks the F (fix-binary) flag, so it cannot work inside a chroot: reinstall qemu-user-static from Debian"
echo "binfmt: $(tr '\n' ' ' <"$BINFMT/qemu-aarch64")"
mkdir -p "$CACHE" "$WORK"
# A previous run killed hard may have left mounts: clean them before touching $ROOT.
if grep -qF " $ROOT" /proc/mounts; then
    grep -F " $ROOT" /proc/mounts | awk '{print $2}' | sort -r | while read -r m; do umount -l "$m" || true; done
fi
rm -rf "$ROOT"
: >"$LOG"
end

# --- 2. rootfs (cached) -------------------------------------------------------------------
begin rootfs
key=$(printf '%s %s %s\n' "$RELEASE" "$MIRROR" "$INCLUDE" | sha256sum | cut -c1-12)
TARBALL="$CACHE/$RELEASE-arm64-$key.tar"
if [ "$REBUILD" = 1 ] || [ ! -s "$TARBALL" ]; then
    echo "building $TARBALL with mmdebstrap (arm64 under qemu: minutes)"
    rm -f "$TARBALL.tmp"
    mmdebstrap --arch=arm64 --variant=apt --include="$INCLUDE" --format=tar \
        "$RELEASE" "$TARBALL.tmp" "$MIRROR" >>"$LOG" 2>&1 \
        || { tail -n 30 "$LOG" >&2; die "mmdebstrap failed (network? mirror $MIRROR?)"; }
    mv "$TARBALL.tmp" "$TARBALL"
else
    echo "cached: $TARBALL ($(date -r "$TARBALL" '+%F %T'); --rebuild to refresh)"
fi
mkdir -p "$ROOT"
tar -C "$ROOT" --numeric-owner -xpf "$TARBALL"
end

# --- 3. wheelhouse (or the project wheel only, with --online) -----------------------------
begin wheelhouse
HOUSE="$WORK/wheelhouse"
rm -rf "$HOUSE"
if [ -z "${PYTHON:-}" ] && [ -x "$REPO/.venv/bin/python" ]; then export PYTHON="$REPO/.venv/bin/python"; fi
if [ "$ONLINE" = 1 ]; then
    mkdir -p "$HOUSE"
    "${PYTHON:-python3}" -m pip wheel --quiet --disable-pip-version-check --no-deps --wheel-dir "$HOUSE" "$REPO"
else
    "$SCRIPT_DIR/wheelhouse.sh" --release "$RELEASE" "$HOUSE" 2>&1 | grep -Ev '^WARNING: Location' | tail -n 3
fi
# The deployment files of this checkout (what install.sh looks for beside itself).
mkdir -p "$ROOT/srv/edge-src"
tar -C "$REPO" -cf - scripts systemd firmware_config docs | tar -C "$ROOT/srv/edge-src" -xf -
end

# --- 4. mounts ----------------------------------------------------------------------------
begin mounts
mount_at "$ROOT/proc" -t proc proc
mount_at "$ROOT/sys" -t sysfs sysfs
mount_at "$ROOT/dev" --rbind /dev
mount --make-rslave "$ROOT/dev"
mount_at "$ROOT/srv/wheelhouse" --bind "$HOUSE"
mount -o remount,bind,ro "$ROOT/srv/wheelhouse"
# apt's downloaded .debs and pip's cache survive between runs (speed only).
mkdir -p "$CACHE/apt-$RELEASE/partial" "$CACHE/pip-$RELEASE"
mount_at "$ROOT/var/cache/apt/archives" --bind "$CACHE/apt-$RELEASE"
mount_at "$ROOT/root/.cache/pip" --bind "$CACHE/pip-$RELEASE"
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
# LiteRT's CPU probe (the cpuinfo library inside XNNPACK) parses /proc/cpuinfo. qemu-user 7.2
# (Debian 12's) passes the host's x86 /proc/cpuinfo through, the probe finds no ARM cores and
# `edge demo` dies (measured: "qemu: uncaught target signal 11 (Segmentation fault)" right
# after start, with ARM64_CHECK_FAKE_CPUINFO=0); newer qemu-user (trixie's qemu 10)
# synthesizes an aarch64 one. So, unless qemu already shows ARM cores (auto) or told otherwise,
# bind-mount a Pi 4's /proc/cpuinfo into the rootfs.
if [ "$FAKE_CPUINFO" = auto ]; then
    if in_root grep -q '^CPU implementer' /proc/cpuinfo; then FAKE_CPUINFO=0; else FAKE_CPUINFO=1; fi
fi
if [ "$FAKE_CPUINFO" = 1 ]; then
    pi4_cpuinfo >"$WORK/cpuinfo"
    mount_at "$ROOT/proc/cpuinfo" --bind "$WORK/cpuinfo"
    echo "qemu $(qemu_version): /proc/cpuinfo is the host's; bind-mounted a Raspberry Pi 4 one"
else
    echo "qemu $(qemu_version): /proc/cpuinfo already shows ARM cores (or ARM64_CHECK_FAKE_CPUINFO=0)"
fi
end

# --- 5. install.sh ------------------------------------------------------------------------
begin install
# No --no-picamera2: install.sh must find out by itself that plain Debian has no
# python3-picamera2, say so in one line and install the rest.
install_args=(--no-start)
if [ "$ONLINE" = 1 ]; then
    install_args+=(--wheel "/srv/wheelhouse/$(basename "$(find "$HOUSE" -name 'edge_emotion-*.whl' | head -n 1)")")
else
    install_args+=(--wheelhouse /srv/wheelhouse)
fi
echo "install.sh ${install_args[*]}"
rc=0
in_root bash /srv/edge-src/scripts/install.sh "${install_args[@]}" 2>&1 | tee "$WORK/install.out" || rc=$?
cat "$WORK/install.out" >>"$LOG"
[ "$rc" = 0 ] || die "install.sh failed (exit $rc)"
[ "$(grep -c 'python3-picamera2.*not installable' "$WORK/install.out")" = 1 ] \
    || die "install.sh did not say (in one line) that python3-picamera2 is not installable"
in_root /opt/edge/venv/bin/python -m pip list --disable-pip-version-check 2>/dev/null \
    | grep -iE '^(numpy|opencv-python-headless|ai-edge-litert|edge-emotion) ' | tr -s ' ' | paste -sd, -
[ "$(in_root systemctl is-enabled edge.service)" = enabled ] || die "edge.service not enabled"
end

# --- 6. edge demo: the bundled clip through detector, classifier and aggregation ----------
begin demo
in_root /opt/edge/venv/bin/edge demo >"$WORK/demo.out" 2>>"$LOG" \
    || { tail -n 20 "$LOG" >&2; die "edge demo failed"; }
windows=$(grep -c '^{"schema":"edge.emotions/' "$WORK/demo.out" || true)
head -c 300 "$WORK/demo.out"; echo
[ "$windows" -gt 0 ] || die "edge demo printed no windows (output: $WORK/demo.out)"
echo "edge demo: $windows windows"
end

# --- 7. edge detect on a frame of the sample clip -----------------------------------------
begin detect
in_root /opt/edge/venv/bin/python -c '
import sys, cv2, edge
from pathlib import Path
cap = cv2.VideoCapture(str(Path(edge.__file__).parent / "data" / "sample.mp4"))
cap.set(cv2.CAP_PROP_POS_FRAMES, 30)
ok, frame = cap.read()
sys.exit(0 if ok and cv2.imwrite("/tmp/frame.png", frame) else 1)'
in_root /opt/edge/venv/bin/edge detect /tmp/frame.png >"$WORK/detect.out" 2>>"$LOG" \
    || { tail -n 20 "$LOG" >&2; die "edge detect failed"; }
head -c 300 "$WORK/detect.out"; echo
grep -q '"faces"' "$WORK/detect.out" || die "edge detect printed no JSON"
end

# --- 8. edge config check -----------------------------------------------------------------
begin config-check
in_root /opt/edge/venv/bin/edge config check /etc/edge/edge.yaml
end

# --- 9. systemd-analyze verify of the installed unit (the release's own systemd) ----------
begin unit-verify
out=$(in_root systemd-analyze verify /etc/systemd/system/edge.service 2>&1) || {
    echo "$out" >&2
    die "systemd-analyze verify failed"
}
[ -z "$out" ] || echo "$out"
echo "systemd $(in_root systemctl --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p'): edge.service verified"
end

summary
