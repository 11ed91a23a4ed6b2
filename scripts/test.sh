#!/usr/bin/env bash
# Runs every test of sammen. Installs first what the tests need that cargo does not
# bring (scripts/install-test-deps.sh: Debian's chromium, Node.js, tests/js's npm
# packages, schemathesis, cargo-deny), then checks formatting, lints and the supply chain
# (scripts/deny.sh), then runs all tests, then
# the API against its OpenAPI document (scripts/schemathesis.sh).
#
#   scripts/test.sh            everything
#   SAMMEN_SKIP_LINT=1 ...     tests only
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n== %s\n' "$*"; }

say "toolchain"
cargo --version
rustc --version

# rustfmt and clippy are rustup components; add them if this toolchain lacks them.
for component in rustfmt clippy; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^${component}"; then
    echo "installing the ${component} component"
    rustup component add "${component}" || echo "warning: could not install ${component}" >&2
  fi
done

say "test dependencies (chromium, node, tests/js)"
scripts/install-test-deps.sh

if [ -z "${SAMMEN_SKIP_LINT:-}" ]; then
  say "format (cargo fmt --check)"
  cargo fmt --all -- --check
  say "lints (cargo clippy -D warnings)"
  cargo clippy --workspace --all-targets --locked -- -D warnings
fi

say "supply chain (scripts/deny.sh: cargo deny licences, bans, sources; advisories when the database is here)"
scripts/deny.sh

say "tests (cargo test --workspace)"
# The samples published by MedCom live beside the checkout, in ../shared/samples.
if [ ! -d ../shared/samples/medcom ]; then
  echo "warning: ../shared/samples/medcom is missing; the MedCom sample tests will fail" >&2
fi
cargo test --workspace --locked --no-fail-fast

say "the API against its OpenAPI document (scripts/schemathesis.sh, at most 3 minutes)"
scripts/schemathesis.sh
