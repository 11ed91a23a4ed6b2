#!/usr/bin/env bash
# Instruction counts (valgrind's callgrind) for BENCHMARKS.md: one 4-category decision
# (ledger lookup + policy decision) and one case-file request through the gateway.
# Instruction counts do not depend on the machine's load, unlike times.
#
#   scripts/callgrind.sh decision [CONSENTS]   # default 10000 consents in the store
#   scripts/callgrind.sh case-file [REQUESTS]  # default 100 case files, 10000 consents
#
# decision: runs the `decision_ir` bench twice under callgrind, with N1 and N2 decisions
# after the same warm-up, and divides the difference in the inclusive counts of
# `lookup_once`, `decide_once` and the whole program by N2 - N1, so set-up and warm-up
# cancel out. case-file: the load harness with `--callgrind`, which runs the gateway under
# callgrind, zeroes its counters after warm-up and dumps them after N case files.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
what="${1:-decision}"

case "$what" in
decision)
    consents="${2:-10000}"
    n1=100
    n2=300
    # Build, and build the store natively once (reused from <target>/tmp/scale-N).
    SAMMEN_IR_CONSENTS="$consents" SAMMEN_IR_DECISIONS=1 cargo bench -p bench --bench decision_ir
    exe=$(ls -t "$target"/release/deps/decision_ir-* | grep -v '\.d$' | head -1)
    out=$(mktemp -d)
    for n in $n1 $n2; do
        SAMMEN_IR_CONSENTS="$consents" SAMMEN_IR_DECISIONS=$n \
            valgrind --tool=callgrind --callgrind-out-file="$out/cg.$n" "$exe" --bench >/dev/null 2>"$out/log.$n"
    done
    ir() { # inclusive Ir of function $2 in file $1 (the whole program when $2 is empty)
        if [ -z "$2" ]; then
            awk '!done && /^(totals|summary):/ {print $2; done = 1}' "$1"
        else
            callgrind_annotate --inclusive=yes --threshold=100 "$1" 2>/dev/null |
                awk -v f="$2" '!done && $0 ~ f {gsub(",", "", $1); print $1; done = 1}'
        fi
    }
    echo "callgrind, ${consents} consents, ($n2 - $n1) decisions: instructions per 4-category decision"
    for f in "" "decision_ir::lookup_once" "decision_ir::decide_once"; do
        a=$(ir "$out/cg.$n1" "$f")
        b=$(ir "$out/cg.$n2" "$f")
        echo "  ${f:-whole program}: $(((b - a) / (n2 - n1)))"
    done
    rm -rf "$out"
    ;;
case-file)
    requests="${2:-100}"
    cargo build --release -p bench
    "$target"/release/bench --callgrind "$requests" --consents 10000 --fresh-tokens "$requests" \
        --gateway-log warn
    ;;
*)
    echo "usage: $0 decision [CONSENTS] | case-file [REQUESTS]" >&2
    exit 2
    ;;
esac
