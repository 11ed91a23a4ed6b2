#!/usr/bin/env bash
# Installs what the browser and OpenID provider tests need beyond the Rust toolchain:
# Debian's chromium (+ fonts) for tests/e2e/browser.rs, Node.js + npm, and the pinned
# npm packages of tests/js (oidc-provider, playwright-core, axe-core) via `npm ci`; and
# strace for consent/tests/power_loss.rs (which traces the store's fsync calls); and
# Debian's PostgreSQL server binaries, from which the PostgreSQL tests start throw-away
# clusters of their own (consent/tests/contract_postgres.rs, tests/e2e/postgres.rs); and
# Debian's docker-compose (1.29), with which the gateway's settings tests validate
# compose/compose.yaml (`docker-compose config`; no container engine is needed); and a
# Python virtual environment .venv-schemathesis with the pinned schemathesis, for
# scripts/schemathesis.sh (Debian's python3-venv when `python3 -m venv` is missing); and
# cargo-deny (pinned, built from crates.io) for scripts/deny.sh.
# Idempotent and quick when everything is already there. Called by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

# apt-get as root, or through sudo.
apt_install() {
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
  if [ -z "${_SAMMEN_APT_UPDATED:-}" ]; then
    "${sudo[@]}" apt-get update -qq
    _SAMMEN_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@"
}

if [ ! -x /usr/bin/chromium ]; then
  echo "installing Debian's chromium (for tests/e2e/browser.rs)"
  # Fonts: the portal's pages render text; without fonts chromium draws empty boxes.
  apt_install chromium fonts-dejavu-core fonts-liberation
fi

if ! command -v strace >/dev/null; then
  echo "installing Debian's strace (for consent/tests/power_loss.rs)"
  apt_install strace
fi

if [ ! -x /usr/lib/postgresql/15/bin/initdb ]; then
  echo "installing Debian's postgresql (server binaries for the PostgreSQL tests)"
  # The tests start clusters of their own: no default cluster, no service.
  if [ "$(id -u)" -eq 0 ]; then
    mkdir -p /etc/postgresql-common
    [ -f /etc/postgresql-common/createcluster.conf ] || echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf
  fi
  apt_install postgresql
fi

if ! command -v docker-compose >/dev/null; then
  echo "installing Debian's docker-compose (validates compose/compose.yaml)"
  apt_install docker-compose
fi

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "installing Debian's nodejs and npm"
  apt_install nodejs npm
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "warning: node $(node --version) is older than 20; oidc-provider 9 needs node 20" >&2
fi

# npm ci only when tests/js/node_modules is missing or older than the lock file.
lock=tests/js/package-lock.json
stamp=tests/js/node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ "$lock" -nt "$stamp" ]; then
  echo "installing tests/js's npm packages (npm ci)"
  npm ci --prefix tests/js --no-audit --no-fund
fi

# schemathesis (scripts/schemathesis.sh) in its own virtual environment, pinned.
SCHEMATHESIS_VERSION=4.32.5
venv=.venv-schemathesis
if ! "$venv/bin/st" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
    echo "installing Debian's python3-venv (for schemathesis)"
    apt_install python3-venv
  fi
  echo "installing schemathesis $SCHEMATHESIS_VERSION into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

# cargo-deny (scripts/deny.sh), pinned; 0.20.2 needs Rust 1.88, which is ours too.
CARGO_DENY_VERSION=0.20.2
if ! cargo deny --version 2>/dev/null | grep -q "$CARGO_DENY_VERSION"; then
  echo "installing cargo-deny $CARGO_DENY_VERSION (cargo install --locked; takes minutes once)"
  cargo install --locked cargo-deny --version "$CARGO_DENY_VERSION"
fi
