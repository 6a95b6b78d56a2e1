#!/bin/bash
# First boot of a card prepared by `edge provision` (the path for Raspberry Pi OS Bookworm
# images, which have no cloud-init). The kernel command line runs it once, before the normal
# boot: systemd.run=/boot/firmware/firstrun.sh systemd.run_success_action=reboot
# systemd.unit=kernel-command-line.target
#
# * On an image with cloud-init (Trixie) it only removes itself: cloud-init applies the
#   user-data / network-config seed on the next boot.
# * Otherwise it applies /boot/firmware/edge/firstrun.env (hostname, admin user and SSH key,
#   Wi-Fi, time zone), installs /etc/edge/edge.yaml and enables edge-firstboot.service, which
#   runs install.sh once the network is up (retrying until it succeeds).
#
# It never stops half-way (each step logs its own failure), removes its hook from cmdline.txt
# first so it cannot loop, and deletes firstrun.env (it holds the derived Wi-Fi key) when done.
# EDGE_FIRSTRUN_ROOT (tests only) prefixes every path.
set -u

ROOT=${EDGE_FIRSTRUN_ROOT:-}
BOOT=$ROOT/boot/firmware
PAYLOAD=$BOOT/edge
ENV_FILE=$PAYLOAD/firstrun.env
ADMIN_GROUPS="adm dialout audio video plugdev users input netdev gpio i2c spi render sudo"
IMAGER_CUSTOM=$ROOT/usr/lib/raspberrypi-sys-mods/imager_custom

log() { echo "edge firstrun: $*"; }

strip_hook() {
    sed -i -e 's| systemd\.run=[^ ]*||g' -e 's| systemd\.run_success_action=[^ ]*||g' \
        -e 's| systemd\.unit=kernel-command-line\.target||g' "$BOOT/cmdline.txt"
}

finish() {
    rm -f "$ENV_FILE" "$BOOT/firstrun.sh"
    log "done"
    exit 0
}

set_hostname() {
    local current
    current=$(tr -d ' \t\n\r' <"$ROOT/etc/hostname" 2>/dev/null)
    if [ -z "$ROOT" ] && [ -x "$IMAGER_CUSTOM" ]; then
        "$IMAGER_CUSTOM" set_hostname "$EDGE_HOSTNAME"
        return
    fi
    echo "$EDGE_HOSTNAME" >"$ROOT/etc/hostname"
    if [ -n "$current" ] && grep -q "^127\.0\.1\.1" "$ROOT/etc/hosts" 2>/dev/null; then
        sed -i "s/^127\.0\.1\.1.*$current.*/127.0.1.1\t$EDGE_HOSTNAME/" "$ROOT/etc/hosts"
    else
        printf '127.0.1.1\t%s\n' "$EDGE_HOSTNAME" >>"$ROOT/etc/hosts"
    fi
}

existing_groups() {
    local group found=()
    for group in $ADMIN_GROUPS; do
        if getent group "$group" >/dev/null; then found+=("$group"); fi
    done
    local IFS=,
    echo "${found[*]}"
}

setup_user() {
    local first home
    first=$(getent passwd 1000 | cut -d: -f1)
    if [ -n "$first" ] && [ "$first" != "$EDGE_USER" ] && [ -x "$ROOT/usr/lib/userconf-pi/userconf" ]; then
        # Bookworm ships a placeholder first user: rename it, '*' = no password login.
        "$ROOT/usr/lib/userconf-pi/userconf" "$EDGE_USER" '*'
    elif ! getent passwd "$EDGE_USER" >/dev/null; then
        useradd --create-home --shell /bin/bash "$EDGE_USER"
        usermod --password '*' "$EDGE_USER"
    fi
    usermod -a -G "$(existing_groups)" "$EDGE_USER"
    install -d -m 0755 "$ROOT/etc/sudoers.d"
    echo "$EDGE_USER ALL=(ALL) NOPASSWD: ALL" >"$ROOT/etc/sudoers.d/010_edge-nopasswd"
    chmod 0440 "$ROOT/etc/sudoers.d/010_edge-nopasswd"
    [ -n "$EDGE_SSH_KEYS" ] || return 0
    home=$ROOT$(getent passwd "$EDGE_USER" | cut -d: -f6)
    install -d -m 0700 "$home/.ssh"
    printf '%s\n' "$EDGE_SSH_KEYS" >"$home/.ssh/authorized_keys"
    chmod 0600 "$home/.ssh/authorized_keys"
    chown -R "$EDGE_USER:" "$home/.ssh"
    systemctl enable ssh
}

setup_wifi() {
    local dir=$ROOT/etc/NetworkManager/system-connections file uuid
    [ -n "$EDGE_WIFI_SSID" ] || return 0
    file=$dir/edge-wifi.nmconnection
    uuid=$(cat /proc/sys/kernel/random/uuid)
    install -d -m 0700 "$dir"
    (
        umask 077
        cat >"$file" <<EOF
[connection]
id=edge-wifi
uuid=$uuid
type=wifi
autoconnect=true

[wifi]
mode=infrastructure
ssid=$EDGE_WIFI_SSID

[wifi-security]
key-mgmt=wpa-psk
psk=$EDGE_WIFI_PSK

[ipv4]
method=auto

[ipv6]
method=auto
EOF
    )
    if command -v raspi-config >/dev/null && [ -z "$ROOT" ]; then
        raspi-config nonint do_wifi_country "$EDGE_WIFI_COUNTRY"
    fi
    for state in "$ROOT"/var/lib/systemd/rfkill/*:wlan; do
        [ -e "$state" ] && echo 0 >"$state"
    done
    return 0
}

set_timezone() {
    [ -n "$EDGE_TIMEZONE" ] || return 0
    if [ -z "$ROOT" ] && [ -x "$IMAGER_CUSTOM" ]; then
        "$IMAGER_CUSTOM" set_timezone "$EDGE_TIMEZONE"
        return
    fi
    ln -sf "/usr/share/zoneinfo/$EDGE_TIMEZONE" "$ROOT/etc/localtime"
    echo "$EDGE_TIMEZONE" >"$ROOT/etc/timezone"
}

install_firstboot_service() {
    local unit=$ROOT/etc/systemd/system/edge-firstboot.service
    install -D -m 0640 "$PAYLOAD/edge.yaml" "$ROOT/etc/edge/edge.yaml"
    install -d "$ROOT/etc/systemd/system/multi-user.target.wants"
    cat >"$unit" <<EOF
[Unit]
Description=edge-emotion first-boot install (disables itself when done)
Wants=network-online.target
After=network-online.target time-sync.target
StartLimitIntervalSec=0

[Service]
Type=oneshot
ExecStart=$EDGE_INSTALL_CMD
ExecStartPost=/bin/systemctl disable edge-firstboot.service
Restart=on-failure
RestartSec=60
TimeoutStartSec=1h

[Install]
WantedBy=multi-user.target
EOF
    ln -sf /etc/systemd/system/edge-firstboot.service \
        "$ROOT/etc/systemd/system/multi-user.target.wants/edge-firstboot.service"
}

main() {
    strip_hook
    if [ -x "$ROOT/usr/bin/cloud-init" ]; then
        log "cloud-init present: it applies the seed on the next boot"
        finish
    fi
    if [ ! -r "$ENV_FILE" ]; then
        log "no $ENV_FILE: nothing to do"
        finish
    fi
    # shellcheck source=/dev/null
    . "$ENV_FILE"
    set_hostname || log "setting the hostname failed"
    setup_user || log "setting up user $EDGE_USER failed"
    setup_wifi || log "setting up Wi-Fi failed"
    set_timezone || log "setting the time zone failed"
    install_firstboot_service || log "installing edge-firstboot.service failed"
    finish
}

main "$@"
