#!/usr/bin/env bash
# The caseworker API against its own OpenAPI document, by schemathesis.
#
# Runs the end-to-end test tests/e2e/schemathesis.rs (ignored by a plain `cargo test`),
# which starts the sandbox and the gateway as real processes on 127.0.0.1 the way the other
# end-to-end tests do, fetches the served /api/v1/openapi.json, and runs `st run` from
# .venv-schemathesis (scripts/install-test-deps.sh installs the pinned version) as a child
# over mTLS (the kk system's client certificate, the test CA) with a valid caseworker
# token, with the checks not_a_server_error, response_schema_conformance,
# content_type_conformance and status_code_conformance. No check is excluded.
#
# Bounded: SAMMEN_SCHEMATHESIS_EXAMPLES examples per operation (default 100), 10 s per
# request, 150 s for schemathesis inside the test, and 180 s for this whole script (the
# build of the test binary comes before the clock starts). Called by scripts/test.sh.
#
#   scripts/schemathesis.sh
#   SAMMEN_SCHEMATHESIS_EXAMPLES=500 scripts/schemathesis.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv-schemathesis/bin/st ]; then
  echo "schemathesis is not installed in .venv-schemathesis: run scripts/install-test-deps.sh" >&2
  exit 1
fi
cargo test -p gateway --test e2e --locked --no-run
timeout --kill-after=10 180 \
  cargo test -p gateway --test e2e --locked schemathesis::the_api_conforms_to_its_openapi_document \
  -- --ignored --exact --nocapture
