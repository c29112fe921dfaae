#!/usr/bin/env bash
# Runs the benchmarks behind BENCHMARKS.md. Needs root and containerd/runc
# installed (the containerd benchmarks start a private daemon). Each line
# of output is one `go test -bench` result; copy them into BENCHMARKS.md
# with the date and the machine.
#
#   BENCH_1M=1  also index one million lines and measure search p50/p99
#               (several minutes and ~1 GB of disk)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin

run() {
	echo "== go test $*"
	go test -run '^$' -benchmem "$@" 2>&1 | grep -E '^(Benchmark|ok|FAIL|---)' || true
}

run -bench 'DropToDispatch' -benchtime 200x ./engine/
run -bench 'DropToReady' -benchtime 300x ./drop/
run -bench 'RunTrue|BareContainerd' -benchtime 50x ./containers/
run -bench 'EnqueueComplete' -benchtime 20000x ./jobs/
run -bench 'IndexLines/numbers=text/gogc=400' -benchtime 100000x ./index/
run -bench 'Search' -benchtime 200x ./index/
if [ "${BENCH_1M:-}" = 1 ]; then
	GOGC=400 VENTAPP_BENCH_1M=1 run -bench 'Million|1M' -benchtime 1x -timeout 60m ./index/
fi
