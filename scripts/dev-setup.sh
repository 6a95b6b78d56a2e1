#!/usr/bin/env bash
# Sets up a checkout on a fresh Debian 12 (bookworm), as root (e.g. a root shell in a
# container) or as a user with sudo: the README's two commands and .ci/run all start here,
# so they cannot drift apart.
#
#   scripts/dev-setup.sh            Python 3 and venv (apt), then .venv with `pip install -e .`
#                                   (enough for `edge demo`)
#   scripts/dev-setup.sh --test     also mosquitto and .ci/apt-packages.txt (apt), the Home
#                                   Assistant venv (scripts/ha-venv.sh) and `-e '.[test]'`
#   --dry-run                       print each step instead of running it
#
# apt-get update always runs before apt-get install (a fresh machine has no package lists);
# packages already installed are skipped, and nothing is asked for when all are there.
set -euo pipefail
cd "$(dirname "$0")/.."

TEST=0
DRY=0
for arg in "$@"; do
  case "$arg" in
    --test) TEST=1 ;;
    --dry-run) DRY=1 ;;
    *) echo "dev-setup: unknown option $arg (use --test and/or --dry-run)" >&2; exit 2 ;;
  esac
done

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "dev-setup: not root and no sudo: run it as root, or install sudo first" >&2
    exit 1
  fi
  SUDO=(sudo)
fi

run() {
  if [ "$DRY" -eq 1 ]; then
    echo "would run: $*"
  else
    "$@"
  fi
}

wanted=(python3 python3-venv)
if [ "$TEST" -eq 1 ]; then
  mapfile -t -O "${#wanted[@]}" wanted < <(printf 'mosquitto\n'; grep -Ev '^\s*(#|$)' .ci/apt-packages.txt)
fi
missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "dev-setup: installing ${missing[*]}"
  run "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  run "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends "${missing[@]}"
fi

if [ "$TEST" -eq 1 ]; then
  # Home Assistant for tests/integration/test_ha_real.py, in its own venv outside the
  # checkout (idempotent: a second run with the same pins does nothing). It needs Python 3.13
  # (pyenv's, found from the caller's HOME: sudo would look in root's); Debian 12 has 3.11,
  # so without it the rest is still set up and only that test fails, saying why.
  ha_python="${EDGE_HA_PYTHON:-$HOME/.pyenv/versions/3.13.0/bin/python3}"
  if [ -x "$ha_python" ]; then
    run "${SUDO[@]}" env EDGE_HA_PYTHON="$ha_python" bash scripts/ha-venv.sh
  else
    echo "dev-setup: no Python 3.13 at $ha_python (pyenv install 3.13.0, or set" \
      "EDGE_HA_PYTHON): the Home Assistant venv is skipped, so tests/integration/test_ha_real.py" \
      "fails until scripts/ha-venv.sh has run" >&2
  fi
fi

run python3 -m venv .venv
run .venv/bin/pip install -q --upgrade pip
if [ "$TEST" -eq 1 ]; then
  run .venv/bin/pip install -q -e '.[test]'
else
  run .venv/bin/pip install -q -e .
fi
echo "dev-setup: done"
