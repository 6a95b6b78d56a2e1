#!/usr/bin/env bash
# Install, update or remove edge-emotion on Raspberry Pi OS (Bookworm / Python 3.11,
# Trixie / Python 3.13), 64-bit only (arm64; amd64 for development). Idempotent: running it
# again converges to the same state. Also plain Debian arm64 without the Raspberry Pi archive:
# python3-picamera2 is then skipped with a one-line note (USB, RTSP and file sources work).
#
#   sudo scripts/install.sh                         # from this source checkout (or PyPI)
#   sudo scripts/install.sh --wheel edge_emotion-0.1.0-py3-none-any.whl
#   sudo scripts/install.sh --wheelhouse DIR        # offline: DIR from scripts/wheelhouse.sh
#   sudo scripts/install.sh --no-picamera2          # USB/RTSP/file camera only, no apt picamera2
#   sudo scripts/install.sh --config my-edge.yaml   # install this edge config (old one kept .bak)
#   scripts/install.sh --dry-run                    # print the steps, change nothing
#   sudo scripts/install.sh --uninstall [--purge]   # --purge also removes config, outbox, user
#
# pip constraints: scripts/constraints/<VERSION_CODENAME>.txt (bookworm, trixie) plus apt's numpy.
# Files: $PREFIX/venv (default /opt/edge/venv), $PREFIX/constraints.txt, $PREFIX/wheels/, $PREFIX/share/,
# /etc/edge/edge.yaml, /etc/edge/mqtt_password, /etc/systemd/system/edge.service,
# /etc/systemd/system.conf.d/edge-watchdog.conf, the edge-emotion block in config.txt.
set -Eeuo pipefail

PREFIX=/opt/edge
ETC_DIR=/etc/edge
UNIT_PATH=/etc/systemd/system/edge.service
WATCHDOG_DROPIN=/etc/systemd/system.conf.d/edge-watchdog.conf
BOOT_CONFIG=/boot/firmware/config.txt
SERVICE_USER=edge
# passwd (useradd): not in a minimal trixie rootfs (no longer essential there).
APT_PACKAGES=(python3-venv python3-pip python3-numpy ca-certificates passwd)
# From the Raspberry Pi archive only: skipped (one line) when apt has no candidate for them.
CAMERA_PACKAGES=(python3-picamera2 python3-libcamera)
# Tests point this at a fake file.
OS_RELEASE=${EDGE_OS_RELEASE:-/etc/os-release}
FRAGMENT_BEGIN='# >>> edge-emotion >>>'
FRAGMENT_END='# <<< edge-emotion <<<'

DRY_RUN=0
ACTION=install
PURGE=0
NO_START=0
NO_PICAMERA2=0
CODENAME=""
WATCHDOG_CHANGED=0
WHEEL=""
WHEELHOUSE=""
SOURCE=""
CONFIG=""
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

usage() {
    sed -n '2,18s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
    cat <<'EOF'
Options:
  --wheel FILE        install this edge-emotion wheel
  --wheelhouse DIR    install offline from DIR (pip --no-index --find-links DIR)
  --source DIR        install from a source checkout (default: this script's checkout, if any)
  --config FILE       install FILE as /etc/edge/edge.yaml (replaces a different one, keeps .bak)
  --prefix DIR        install prefix (default /opt/edge)
  --no-start          enable the service but do not (re)start it
  --no-picamera2      do not install python3-picamera2/python3-libcamera (USB, RTSP, file
                      sources only); without it they are skipped when apt has no candidate
  --dry-run           print what would be done; change nothing
  --uninstall         stop and remove the service and the venv; --purge also removes
                      /etc/edge, /var/lib/edge (the outbox) and the edge user
EOF
}

die() { echo "install.sh: error: $*" >&2; exit 2; }
log() { echo "==> $*"; }

# step NAME FIX: the step now running and the fix to print if a command in it fails, so a
# failure never ends in a bare exit code (apt's 100, pip's 1, ...).
STEP_NAME="start"
STEP_FIX="run it again with bash -x to see the failing command"
step() { STEP_NAME=$1; STEP_FIX=$2; }
on_error() {
    local rc=$?
    # Command substitutions inherit the trap (set -E): report once, from the main shell.
    [ "$BASHPID" = "$$" ] || exit "$rc"
    trap - ERR
    echo "install.sh: error: step '$STEP_NAME' failed (exit $rc). Fix: $STEP_FIX" >&2
    exit "$rc"
}
trap on_error ERR

# run CMD...: execute, or print it under --dry-run.
run() {
    if [ "$DRY_RUN" = 1 ]; then
        printf 'DRY-RUN:'; printf ' %q' "$@"; printf '\n'
    else
        "$@"
    fi
}

parse_args() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --wheel) WHEEL=${2:?--wheel needs a file}; shift ;;
            --wheelhouse) WHEELHOUSE=${2:?--wheelhouse needs a directory}; shift ;;
            --source) SOURCE=${2:?--source needs a directory}; shift ;;
            --config) CONFIG=${2:?--config needs a file}; shift ;;
            --prefix) PREFIX=${2:?--prefix needs a directory}; shift ;;
            --no-start) NO_START=1 ;;
            --no-picamera2) NO_PICAMERA2=1 ;;
            --dry-run) DRY_RUN=1 ;;
            --uninstall) ACTION=uninstall ;;
            --purge) PURGE=1 ;;
            -h|--help) usage; exit 0 ;;
            *) usage >&2; die "unknown option: $1" ;;
        esac
        shift
    done
    [ -z "$WHEEL" ] || [ -f "$WHEEL" ] || die "--wheel $WHEEL: no such file"
    [ -z "$WHEELHOUSE" ] || [ -d "$WHEELHOUSE" ] || die "--wheelhouse $WHEELHOUSE: no such directory"
    [ -z "$SOURCE" ] || [ -f "$SOURCE/pyproject.toml" ] || die "--source $SOURCE: no pyproject.toml"
    [ -z "$CONFIG" ] || [ -r "$CONFIG" ] || die "--config $CONFIG: no such readable file"
    case "$PREFIX" in
        / | /usr | /usr/local | /etc | /var | /home | /opt | /root) die "--prefix $PREFIX: refusing a system directory" ;;
        /*) PREFIX=${PREFIX%/} ;;
        *) die "--prefix $PREFIX: must be an absolute path" ;;
    esac
    if [ "$DRY_RUN" = 0 ] && [ "$(id -u)" != 0 ]; then
        die "run as root (sudo $0 ...), or add --dry-run to only print the steps"
    fi
}

# find_asset NAME REPO_RELATIVE: a deployment file next to this script (boot-partition payload),
# in the source checkout, or in the installed package's share directory.
find_asset() {
    local candidate
    for candidate in "$SCRIPT_DIR/$1" "$SCRIPT_DIR/../$2" \
        "$PREFIX/venv/share/edge-emotion/$2"; do
        if [ -f "$candidate" ]; then echo "$candidate"; return 0; fi
    done
    return 1
}

check_platform() {
    local id="" arch dpkg_arch=""
    step platform "flash Raspberry Pi OS Lite (64-bit)"
    if [ -r "$OS_RELEASE" ]; then
        id=$(sed -n 's/^ID=//p' "$OS_RELEASE" | tr -d '"')
        CODENAME=$(sed -n 's/^VERSION_CODENAME=//p' "$OS_RELEASE" | tr -d '"')
    fi
    arch=$(uname -m)
    # A Pi 4/5 running 32-bit Raspberry Pi OS boots a 64-bit kernel (uname -m: aarch64) over
    # an armhf user space: dpkg's architecture is the one that matters for wheels.
    if command -v dpkg >/dev/null 2>&1; then dpkg_arch=$(dpkg --print-architecture 2>/dev/null || true); fi
    case "$arch/$dpkg_arch" in
        aarch64/ | aarch64/arm64 | x86_64/ | x86_64/amd64) ;;
        *)
            die "this is a ${dpkg_arch:-$arch} ($arch) system; edge-emotion needs a 64-bit OS (arm64): numpy, opencv-python-headless and ai-edge-litert publish no 32-bit ARM wheels. Flash Raspberry Pi OS Lite (64-bit) on a Pi 4 or 5" ;;
    esac
    case "$CODENAME" in
        bookworm|trixie) ;;
        *) echo "install.sh: warning: tested on Raspberry Pi OS bookworm/trixie, this is ${id:-?} ${CODENAME:-?}" >&2 ;;
    esac
}

# apt_candidate PKG: true when apt could install PKG (a candidate version exists).
apt_candidate() {
    local candidate
    candidate=$(apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: *//p' | head -n 1)
    [ -n "$candidate" ] && [ "$candidate" != "(none)" ]
}

is_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

install_apt_packages() {
    local wanted=("${APT_PACKAGES[@]}") missing=() rest=() pkg camera_missing=0
    if [ "$NO_PICAMERA2" = 1 ]; then
        log "--no-picamera2: not installing ${CAMERA_PACKAGES[*]} (USB, RTSP and file sources only)"
    else
        wanted+=("${CAMERA_PACKAGES[@]}")
    fi
    for pkg in "${wanted[@]}"; do
        is_installed "$pkg" || missing+=("$pkg")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        log "apt packages already installed: ${wanted[*]}"
        return
    fi
    step apt-update "check the network and the sources in /etc/apt/sources.list*, then run install.sh again"
    run apt-get update
    if [ "$NO_PICAMERA2" = 0 ]; then
        for pkg in "${CAMERA_PACKAGES[@]}"; do
            is_installed "$pkg" || apt_candidate "$pkg" || camera_missing=1
        done
        if [ "$camera_missing" = 1 ]; then
            echo "install.sh: note: ${CAMERA_PACKAGES[*]} not installable here (no Raspberry Pi archive?): camera.source picamera2 will not work, v4l2 (USB), rtsp:// and file: sources will; installing the rest" >&2
            for pkg in "${missing[@]}"; do
                case " ${CAMERA_PACKAGES[*]} " in *" $pkg "*) ;; *) rest+=("$pkg") ;; esac
            done
            missing=("${rest[@]}")
            [ ${#missing[@]} -gt 0 ] || return 0
        fi
    fi
    log "installing apt packages: ${missing[*]}"
    step apt-install "run 'apt-get install ${missing[*]}' to see why apt refuses (dpkg --configure -a after an interrupted install), then run install.sh again"
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}

ensure_user() {
    step user "create it by hand: useradd --system --user-group --no-create-home --home-dir /var/lib/edge --shell /usr/sbin/nologin $SERVICE_USER"
    if id "$SERVICE_USER" >/dev/null 2>&1; then
        log "user $SERVICE_USER exists"
    else
        log "creating system user $SERVICE_USER"
        run useradd --system --user-group --no-create-home --home-dir /var/lib/edge \
            --shell /usr/sbin/nologin "$SERVICE_USER"
    fi
    if getent group video >/dev/null 2>&1; then
        run usermod -a -G video "$SERVICE_USER"
    fi
}

# The numpy that apt's python3-picamera2 was built against: pip must never replace it.
apt_numpy_version() {
    /usr/bin/python3 -c 'import importlib.metadata as m; print(m.version("numpy"))' 2>/dev/null \
        || dpkg-query -W -f='${Version}' python3-numpy 2>/dev/null \
            | sed -e 's/^[0-9]*://' -e 's/[-+~].*$//'
}

make_venv() {
    local venv="$PREFIX/venv" want have
    step venv "apt-get install python3-venv (or remove $PREFIX/venv), then run install.sh again"
    want=$(/usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo "?")
    have=$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo "none")
    if [ "$have" != "$want" ]; then
        if [ "$have" != none ]; then
            log "venv is Python $have, system is $want: recreating it"
            run rm -rf "$venv"
        fi
        log "creating $venv (--system-site-packages, so apt's picamera2/libcamera/numpy are used)"
        run install -d -m 0755 "$PREFIX"
        run /usr/bin/python3 -m venv --system-site-packages "$venv"
    else
        log "venv $venv exists (Python $have)"
    fi
}

# release_constraints: the pip constraints file for this release (VERSION_CODENAME): from the
# wheelhouse (scripts/wheelhouse.sh puts it there), beside this script, or in the checkout.
release_constraints() {
    [ -n "$CODENAME" ] || return 1
    if [ -n "$WHEELHOUSE" ] && [ -f "$WHEELHOUSE/constraints-$CODENAME.txt" ]; then
        echo "$WHEELHOUSE/constraints-$CODENAME.txt"
        return 0
    fi
    find_asset "constraints/$CODENAME.txt" "scripts/constraints/$CODENAME.txt"
}

# $PREFIX/constraints.txt: the release's pins plus numpy==<apt's version>.
write_constraints() {
    local numpy_version release_file="" out="$PREFIX/constraints.txt"
    step constraints "check that $PREFIX is writable and scripts/constraints/ is complete, then run install.sh again"
    local builtin=""
    if release_file=$(release_constraints); then
        log "pip constraints for ${CODENAME}: $release_file"
    elif [ "$CODENAME" = bookworm ]; then
        # install.sh copied alone (e.g. onto a boot partition): the bound that matters most,
        # else pip backtracks through every opencv release that needs numpy 2.
        builtin="opencv-python-headless<4.12"
        echo "install.sh: warning: constraints/bookworm.txt not found beside install.sh: pinning only numpy and $builtin" >&2
        release_file=""
    else
        echo "install.sh: warning: no pip constraints for '${CODENAME:-?}' (bookworm and trixie have them): pip resolves freely, only numpy is pinned" >&2
        release_file=""
    fi
    numpy_version=$(apt_numpy_version || true)
    if [ -n "$numpy_version" ]; then
        log "pinning numpy==$numpy_version (apt's; numpy 2 from pip would break python3-picamera2)"
    elif [ "$DRY_RUN" = 1 ]; then
        numpy_version="<apt python3-numpy version>"
        log "pinning numpy==$numpy_version (apt's; numpy 2 from pip would break python3-picamera2)"
    else
        echo "install.sh: warning: no apt python3-numpy found: numpy not pinned" >&2
    fi
    if [ "$DRY_RUN" = 1 ]; then
        echo "DRY-RUN: write $out: ${release_file:-(no release file)} ${builtin:+$builtin }+ numpy==$numpy_version"
        return
    fi
    {
        echo "# Written by install.sh: the release's pins, and the apt numpy that python3-picamera2 needs."
        if [ -n "$release_file" ]; then
            echo "# From $release_file"
            grep -Ev '^[[:space:]]*(#|$)' "$release_file"
        fi
        if [ -n "$builtin" ]; then echo "$builtin"; fi
        if [ -n "$numpy_version" ]; then echo "numpy==$numpy_version"; fi
    } >"$out"
}

install_project() {
    local pip=("$PREFIX/venv/bin/python" -m pip install --upgrade --upgrade-strategy only-if-needed
        --constraint "$PREFIX/constraints.txt" --disable-pip-version-check)
    local target house_wheel
    if [ -n "$WHEELHOUSE" ]; then
        pip+=(--no-index --find-links "$WHEELHOUSE")
        step pip "the wheelhouse $WHEELHOUSE lacks a wheel for this Python/platform (pip names it above): rebuild it with scripts/wheelhouse.sh on a networked machine, then run install.sh again"
        # The project wheel that scripts/wheelhouse.sh put there (the newest one).
        if [ -z "$WHEEL" ] && [ -z "$SOURCE" ]; then
            house_wheel=$(find "$WHEELHOUSE" -maxdepth 1 -name 'edge_emotion-*.whl' | sort -V | tail -n 1)
            [ -z "$house_wheel" ] || WHEEL=$house_wheel
        fi
    else
        step pip "check access to pypi.org (pip names the failing package above), or install offline with --wheelhouse DIR (scripts/wheelhouse.sh), then run install.sh again"
    fi
    if [ -n "$WHEEL" ]; then
        run install -d -m 0755 "$PREFIX/wheels"
        run install -m 0644 "$WHEEL" "$PREFIX/wheels/"
        target="$PREFIX/wheels/$(basename "$WHEEL")"
        [ -n "$WHEELHOUSE" ] || pip+=(--find-links "$(dirname "$WHEEL")")
    elif [ -n "$SOURCE" ]; then
        target=$SOURCE
    elif [ -f "$SCRIPT_DIR/../pyproject.toml" ]; then
        target=$(cd "$SCRIPT_DIR/.." && pwd)
    else
        target=edge-emotion
    fi
    log "installing $target into $PREFIX/venv"
    run "${pip[@]}" "$target"
}

# install_if_changed SRC DEST MODE: copy only when the content differs (idempotent);
# returns 1 when DEST was already up to date.
install_if_changed() {
    if [ -f "$2" ] && cmp -s "$1" "$2"; then
        log "$2 is up to date"
        return 1
    fi
    log "installing $2"
    run install -D -m "$3" "$1" "$2"
}

# The edge config: --config replaces (keeping .bak), else an existing one is kept, else the
# example from the package is installed.
install_edge_yaml() {
    local example
    if [ -n "$CONFIG" ]; then
        if [ -f "$ETC_DIR/edge.yaml" ] && ! cmp -s "$CONFIG" "$ETC_DIR/edge.yaml"; then
            run cp -p "$ETC_DIR/edge.yaml" "$ETC_DIR/edge.yaml.bak"
        fi
        install_if_changed "$CONFIG" "$ETC_DIR/edge.yaml" 0640 || true
    elif [ -f "$ETC_DIR/edge.yaml" ]; then
        log "keeping existing $ETC_DIR/edge.yaml"
    elif example=$(find_asset edge.yaml firmware_config/edge.yaml); then
        install_if_changed "$example" "$ETC_DIR/edge.yaml" 0640 || true
    elif [ "$DRY_RUN" = 1 ]; then
        echo "DRY-RUN: (no example config found: a real run needs --config FILE)"
        return
    else
        die "no $ETC_DIR/edge.yaml and no example config found; pass --config FILE"
    fi
    run chown "root:$SERVICE_USER" "$ETC_DIR/edge.yaml"
    run chmod 0640 "$ETC_DIR/edge.yaml"
}

install_config() {
    step config "check $ETC_DIR (and the --config file), then run install.sh again"
    run install -d -m 0755 "$ETC_DIR"
    install_edge_yaml
    if [ ! -e "$ETC_DIR/mqtt_password" ]; then
        log "creating empty $ETC_DIR/mqtt_password (root-only; put the broker password there)"
        run install -m 0600 /dev/null "$ETC_DIR/mqtt_password"
    fi
}

install_boot_fragment() {
    local fragment
    step boot-config "check $BOOT_CONFIG is writable (the boot partition mounted read-write), then run install.sh again"
    [ -f "$BOOT_CONFIG" ] || { log "no $BOOT_CONFIG (not a Pi?): skipping firmware config"; return; }
    if grep -qF "$FRAGMENT_BEGIN" "$BOOT_CONFIG"; then
        log "$BOOT_CONFIG already has the edge-emotion block"
        return
    fi
    fragment=$(find_asset config.txt firmware_config/config.txt) || die "config.txt fragment not found"
    log "appending camera/watchdog settings to $BOOT_CONFIG (effective after a reboot)"
    if [ "$DRY_RUN" = 1 ]; then
        echo "DRY-RUN: append $fragment to $BOOT_CONFIG"
    else
        cat "$fragment" >>"$BOOT_CONFIG"
    fi
}

install_units() {
    local unit watchdog doc release
    step units "check /etc/systemd/system and $PREFIX/share are writable, then run install.sh again"
    unit=$(find_asset edge.service systemd/edge.service) || die "systemd/edge.service not found"
    watchdog=$(find_asset watchdog.conf firmware_config/watchdog.conf) || die "watchdog.conf not found"
    install_if_changed "$unit" "$UNIT_PATH" 0644 || true
    if install_if_changed "$watchdog" "$WATCHDOG_DROPIN" 0644; then WATCHDOG_CHANGED=1; fi
    # Keep the installer and its files on the device for updates, roll-back and uninstall.
    install_if_changed "$SCRIPT_DIR/$(basename "${BASH_SOURCE[0]}")" "$PREFIX/share/install.sh" 0755 || true
    install_if_changed "$unit" "$PREFIX/share/edge.service" 0644 || true
    install_if_changed "$watchdog" "$PREFIX/share/watchdog.conf" 0644 || true
    for release in bookworm trixie; do
        if doc=$(find_asset "constraints/$release.txt" "scripts/constraints/$release.txt"); then
            install_if_changed "$doc" "$PREFIX/share/constraints/$release.txt" 0644 || true
        fi
    done
    if doc=$(find_asset deploy.md docs/deploy.md); then
        install_if_changed "$doc" "$PREFIX/share/doc/deploy.md" 0644 || true
    fi
}

systemd_running() { [ -d /run/systemd/system ]; }

enable_service() {
    step service "see systemctl status edge.service and journalctl -u edge, then run install.sh again"
    if ! systemd_running; then
        log "systemd is not running (chroot/image build): enabling only"
        run systemctl enable edge.service
        return
    fi
    run systemctl daemon-reload
    if [ "$WATCHDOG_CHANGED" = 1 ]; then
        run systemctl daemon-reexec   # PID 1 re-reads RuntimeWatchdogSec
    fi
    run systemctl enable edge.service
    if [ "$NO_START" = 1 ]; then
        log "--no-start: not (re)starting edge.service"
        return
    fi
    if [ "$DRY_RUN" = 1 ]; then
        run "$PREFIX/venv/bin/edge" config check "$ETC_DIR/edge.yaml"
    elif ! "$PREFIX/venv/bin/edge" config check "$ETC_DIR/edge.yaml"; then
        die "$ETC_DIR/edge.yaml is invalid (see above); fix it, then: systemctl restart edge"
    fi
    run systemctl reset-failed edge.service
    run systemctl restart edge.service
    log "(re)started; follow it with: journalctl -u edge -f"
}

do_install() {
    check_platform
    install_apt_packages
    ensure_user
    make_venv
    write_constraints
    install_project
    install_config
    install_units
    install_boot_fragment
    enable_service
    log "done"
}

remove_boot_fragment() {
    [ -f "$BOOT_CONFIG" ] && grep -qF "$FRAGMENT_BEGIN" "$BOOT_CONFIG" || return 0
    log "removing the edge-emotion block from $BOOT_CONFIG"
    run sed -i "\\|^$FRAGMENT_BEGIN\$|,\\|^$FRAGMENT_END\$|d" "$BOOT_CONFIG"
}

do_uninstall() {
    if systemd_running; then
        run systemctl disable --now edge.service || true
    fi
    run rm -f "$UNIT_PATH" "$WATCHDOG_DROPIN"
    if systemd_running; then
        run systemctl daemon-reload
        run systemctl reset-failed edge.service || true
    fi
    run rm -rf "$PREFIX"
    if [ "$PURGE" = 1 ]; then
        run rm -rf "$ETC_DIR" /var/lib/edge /var/lib/private/edge
        remove_boot_fragment
        if id "$SERVICE_USER" >/dev/null 2>&1; then run userdel "$SERVICE_USER"; fi
    else
        log "kept $ETC_DIR, /var/lib/edge and user $SERVICE_USER (add --purge to remove them)"
    fi
    log "uninstalled"
}

main() {
    parse_args "$@"
    [ "$DRY_RUN" = 0 ] || log "dry run: nothing will be changed"
    if [ "$ACTION" = uninstall ]; then do_uninstall; else do_install; fi
}

main "$@"
