#!/usr/bin/env bash
# Instructions per operation (spawn, wake, timer, ready_timeout, sleep, gather) under asyncio, tokio's
# current-thread runtime and smol's LocalExecutor, counted by callgrind:
# repeatable where wall times on a shared machine are not.
#
#   bash benches/callgrind.sh                  # every workload and runtime (about a minute)
#   N1=50000 N2=100000 bash benches/callgrind.sh
#   WORKLOADS="spawn wake" RUNTIMES="asyncio tokio-ct" bash benches/callgrind.sh
#   RUNTIMES="asyncio asyncio-debug" bash benches/callgrind.sh   # what debug mode costs
#
# Each workload runs alone in a fresh process (the `instructions` bench
# target, benches/benches/instructions.rs) at two sizes N1 < N2; the
# per-operation count is (Ir(N2) - Ir(N1)) / (N2 - N1), which cancels the
# fixed cost of starting the process and building the runtime. Counts are
# instructions executed in user space (syscalls count as one instruction,
# time spent blocked in the kernel not at all).
#
# Per-function profile of one run (see BENCHMARKS.md's recipe):
#   valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out BIN spawn 100000 asyncio
#   callgrind_annotate --inclusive=no /tmp/cg.out | head -30
set -euo pipefail

cd "$(dirname "$0")/.."

N1=${N1:-20000}
N2=${N2:-40000}
WORKLOADS=${WORKLOADS:-"spawn wake timer sleep"}
RUNTIMES=${RUNTIMES:-"asyncio tokio-ct smol-local"}

if ! command -v valgrind >/dev/null; then
    echo "callgrind.sh: valgrind is not installed" >&2
    exit 1
fi
if ((N2 <= N1)); then
    echo "callgrind.sh: N2 ($N2) must be larger than N1 ($N1)" >&2
    exit 1
fi

# Build the bench binary (bench profile: optimized, with line tables) and
# find it from cargo's own report.
bin=$(cargo bench -p asyncio-benches --bench instructions --no-run --message-format=json 2>/dev/null |
    grep '"executable":"' | grep '"name":"instructions"' |
    sed -e 's/.*"executable":"\([^"]*\)".*/\1/' | tail -n 1)
if [[ -z "$bin" || ! -x "$bin" ]]; then
    echo "callgrind.sh: could not build or find the instructions bench binary" >&2
    cargo bench -p asyncio-benches --bench instructions --no-run >&2
    exit 1
fi
echo "binary: $bin" >&2

# Ir of one run: callgrind's "Collected" total (the profile itself is thrown away).
count() {
    local out
    out=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" "$3" 2>&1) || {
        echo "callgrind.sh: '$bin $1 $2 $3' failed:" >&2
        echo "$out" >&2
        exit 1
    }
    sed -n 's/^==[0-9]*== Collected : \([0-9]*\)$/\1/p' <<<"$out"
}

unit() {
    case $1 in
    spawn | sleep) echo task ;;
    wake) echo yield ;;
    timer) echo timeout ;;
    gather) echo future ;;
    *) echo op ;;
    esac
}

declare -A per_op
for w in $WORKLOADS; do
    for r in $RUNTIMES; do
        a=$(count "$w" "$N1" "$r")
        b=$(count "$w" "$N2" "$r")
        per_op[$w,$r]=$(awk -v a="$a" -v b="$b" -v n1="$N1" -v n2="$N2" 'BEGIN { printf "%.0f", (b - a) / (n2 - n1) }')
        echo "  $w $r: Ir($N1) = $a, Ir($N2) = $b -> ${per_op[$w,$r]} per op" >&2
    done
done

read -r -a rts <<<"$RUNTIMES"
base=${rts[0]}

echo
echo "Instructions per operation (callgrind, (Ir(N2) - Ir(N1)) / (N2 - N1), N1 = $N1, N2 = $N2)"
echo
header="| workload | unit |"
rule="|---|---:|"
for r in "${rts[@]}"; do
    header+=" $r |"
    rule+="---:|"
done
for r in "${rts[@]:1}"; do
    header+=" $r / $base |"
    rule+="---:|"
done
echo "$header"
echo "$rule"
for w in $WORKLOADS; do
    line="| $w | Ir/$(unit "$w") |"
    for r in "${rts[@]}"; do
        line+=" ${per_op[$w,$r]} |"
    done
    for r in "${rts[@]:1}"; do
        line+=" $(awk -v p="${per_op[$w,$r]}" -v b="${per_op[$w,$base]}" 'BEGIN { if (b > 0) printf "%.2f×", p / b; else print "–" }') |"
    done
    echo "$line"
done
