#!/usr/bin/env bash
# Fuzzes the connectors' parsers (connectors/fuzz, a cargo-fuzz project outside the
# workspace) for a bounded time per target, and prints each target's executions and
# findings.
#
# Needs the nightly toolchain (`rustup toolchain install nightly`; libFuzzer needs
# -Zsanitizer) and cargo-fuzz (`cargo install cargo-fuzz --locked`); the default test run
# (scripts/test.sh) needs neither and does not call this script.
#
#   scripts/fuzz.sh                 every target, 60 s each
#   scripts/fuzz.sh 120             every target, 120 s each
#   scripts/fuzz.sh 300 soap        one target, 300 s
#
# Targets: medcom (parse_message), medcom_parts (XDIS91, XCTL03 and DDB parsers, the XML
# reader and decoder), soap (SOAP reader, social services' replies), json_sources (the REST
# sources' JSON, as bodies and as replies). The corpus of each target is seeded with
# MedCom's published samples (../shared/samples/medcom, when present) and a few small
# documents written here; it grows in connectors/fuzz/corpus/<target> (git-ignored).
# A finding is a file in connectors/fuzz/artifacts/<target>; the script exits 1 if any.
set -euo pipefail
cd "$(dirname "$0")/../connectors/fuzz"

seconds="${1:-60}"
shift || true
if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "the nightly toolchain is missing: rustup toolchain install nightly" >&2
  exit 2
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2
  exit 2
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

seed() {
  local dir="corpus/$1"
  mkdir -p "$dir"
  case "$1" in
    medcom | medcom_parts)
      if [ -d ../../../shared/samples/medcom ]; then
        cp -n ../../../shared/samples/medcom/*.xml "$dir"/ 2>/dev/null || true
      fi
      ;;
    soap)
      printf '%s' '<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault><faultcode>soap:Client</faultcode><faultstring>x</faultstring><detail><errorCode>UnknownCitizen</errorCode></detail></soap:Fault></soap:Body></soap:Envelope>' > "$dir/fault.xml"
      ;;
    json_sources)
      printf '%s' '{"civilRegistrationIdentifier":"0101609900","jobcenter":"J","visitation":{"id":"V","date":"2025-01-01","targetGroup":"x","status":"y"},"contacts":[],"plan":null}' > "$dir/case.json"
      printf '%s' '{"searchable":true,"educations":[],"workExperiences":[],"jobsWanted":[],"competences":["a"],"languages":[{"language":"da","level":"native"}],"drivingLicences":["B"]}' > "$dir/cv.json"
      ;;
  esac
}

summary=()
found=0
for t in "${targets[@]}"; do
  seed "$t"
  mkdir -p "artifacts/$t"
  log="artifacts/$t.log"
  echo "== $t: ${seconds} s"
  # -max_total_time bounds the run; `timeout` bounds the build and a hung run as well.
  status=0
  timeout --kill-after=30 "$((seconds + 900))" \
    cargo +nightly fuzz run "$t" "corpus/$t" -- \
      -max_total_time="$seconds" -timeout=10 -print_final_stats=1 > "$log" 2>&1 || status=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  crashes=$(find "artifacts/$t" -type f | wc -l)
  if [ "$status" -ne 0 ] || [ "$crashes" -gt 0 ]; then
    found=1
    tail -40 "$log"
  fi
  summary+=("$(printf '%-14s %12s executions %8s/s  findings: %s  (exit %s, log %s)' "$t" "${execs:-?}" "${rate:-?}" "$crashes" "$status" "connectors/fuzz/$log")")
done

echo
echo "== fuzzing summary (${seconds} s per target)"
printf '%s\n' "${summary[@]}"
exit "$found"
