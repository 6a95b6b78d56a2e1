#!/usr/bin/env bash
# Creates (idempotently) the Home Assistant venv the real-HA integration test uses
# (tests/integration/test_homeassistant_real.py), outside the repository.
#
#   scripts/ha-venv.sh [VENV]        default: $EDGE_HA_VENV or /opt/edge-ci/ha-venv
#
# Home Assistant 2025.4.4 is the newest release that installs on Python 3.13.0 (later ones
# need >= 3.13.2); the interpreter is pyenv's 3.13.0 unless $EDGE_HA_PYTHON names another.
# A stamp file records what was installed: a second run with the same pins does nothing.
set -euo pipefail

VENV="${1:-${EDGE_HA_VENV:-/opt/edge-ci/ha-venv}}"
PY="${EDGE_HA_PYTHON:-$HOME/.pyenv/versions/3.13.0/bin/python3}"
# Pins: HA itself, and the requirements of the integrations the test loads (mqtt and the
# ones onboarding pulls in), so that HA never installs packages at run time (--skip-pip).
PINS=(
  "homeassistant==2025.4.4"
  "paho-mqtt==2.1.0"
  "home-assistant-frontend==20250411.0"
)
STAMP="$VENV/.edge-ha-pins"
WANT="$(printf '%s\n' "${PINS[@]}")"

if [ -x "$VENV/bin/hass" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then
  echo "ha-venv: $VENV is up to date"
  exit 0
fi
if [ ! -x "$PY" ]; then
  echo "ha-venv: $PY not found; install Python 3.13.0 (pyenv install 3.13.0) or set EDGE_HA_PYTHON" >&2
  exit 1
fi
start=$(date +%s)
"$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q "${PINS[@]}"
printf '%s\n' "${PINS[@]}" > "$STAMP"
echo "ha-venv: $VENV ready in $(( $(date +%s) - start )) s"
