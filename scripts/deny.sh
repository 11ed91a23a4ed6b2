#!/usr/bin/env bash
# Supply-chain checks with cargo deny (deny.toml): licences (an allow list of what our
# dependencies use; ours is EUPL-1.2), bans (wildcard requirements denied, duplicate
# versions warned) and sources (crates.io only). Needs no network.
#
# Advisories (RustSec) need the advisory database, which cargo deny fetches from GitHub;
# the machines here cannot reach it. So `advisories` runs only when the database is already
# in $CARGO_HOME/advisory-dbs (then without fetching), or with SAMMEN_DENY_FETCH=1 (fetching
# it; for a machine that reaches GitHub). Otherwise it says that advisories were NOT
# checked, and the rest still counts. Called by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo-deny >/dev/null; then
  echo "cargo-deny is not installed: run scripts/install-test-deps.sh" >&2
  exit 1
fi

cargo deny --locked check --hide-inclusion-graph licenses bans sources

db_dir="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs"
if [ -n "${SAMMEN_DENY_FETCH:-}" ]; then
  cargo deny --locked check advisories
elif compgen -G "$db_dir/*/crates" >/dev/null; then
  echo "advisories: using the advisory database already in $db_dir (not fetched now)"
  cargo deny --locked check --disable-fetch advisories
else
  echo "advisories: NOT checked: no advisory database in $db_dir and no SAMMEN_DENY_FETCH=1 (GitHub is not reachable here)"
fi
