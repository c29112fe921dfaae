#!/usr/bin/env bash
# GPU check for a machine with an NVIDIA GPU (run as root, no network needed).
#
#  1. Builds ventapp with cgo (GPU support needs it) and the gpu-probe plugin,
#     unless VENTAPP / PROBE name prebuilt binaries (for a machine without Go).
#  2. Prints the host's view (nvidia-smi -L, /dev/nvidia*, CDI specs) and
#     runs `ventapp gpu` and `ventapp gpu --json`.
#  3. If containerd and runc are installed, starts a PRIVATE containerd and
#     a ventapp daemon in a temp folder, installs gpu/testdata/gpu-probe
#     ([gpu] enabled = yes, mem_mb = 256), drops one file and prints the
#     job's output: the /dev/nvidia* nodes the container sees. Without
#     containerd this part is skipped with a message; it installs nothing.
#
# Everything it writes goes to $OUT (default ./.gpu-check): gpu.json,
# gpu.txt, job.txt, serve.log, containerd.log. Exit 0 when every part that
# ran passed, 1 otherwise. Bounded: about 3 minutes at most.
#
#   VENTAPP=FILE  a ventapp built with CGO_ENABLED=1 (default: build one)
#   PROBE=FILE    the static gpu-probe binary (default: build one)
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-$ROOT/.gpu-check}
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/ventapp-gpu-check.XXXXXX)
export PATH=$PATH:/usr/local/go/bin
status=0
pids=()

say() { printf '\n== %s\n' "$*"; }
fail() { echo "FAIL: $*"; status=1; }
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	[ -f "$WORK/data/serve.log" ] && cp "$WORK/data/serve.log" "$OUT/serve.log"
	[ -f "$WORK/containerd.log" ] && cp "$WORK/containerd.log" "$OUT/containerd.log"
	umount -R "$WORK/ctrd" 2>/dev/null
	rm -rf "$WORK"
	rmdir "/run/containerd/runc/gpucheck-$$" 2>/dev/null
}
trap cleanup EXIT

say "build"
if [ -z "${VENTAPP:-}" ] || [ -z "${PROBE:-}" ]; then
	if ! command -v go >/dev/null; then
		echo "no Go toolchain here: set VENTAPP and PROBE to prebuilt binaries"
		exit 1
	fi
fi
if [ -z "${VENTAPP:-}" ]; then
	VENTAPP=$WORK/ventapp
	CGO_ENABLED=1 go build -o "$VENTAPP" ./cmd/ventapp 2>"$WORK/build.log" || { cat "$WORK/build.log"; exit 1; }
fi
mkdir -p "$WORK/gpu-probe"
cp gpu/testdata/gpu-probe/Dockerfile gpu/testdata/gpu-probe/vent.template "$WORK/gpu-probe/"
if [ -n "${PROBE:-}" ]; then
	cp "$PROBE" "$WORK/gpu-probe/gpu-probe"
else
	CGO_ENABLED=0 go build -o "$WORK/gpu-probe/gpu-probe" ./gpu/testdata/gpu-probe || exit 1
fi
"$VENTAPP" version

say "host"
uname -r
command -v nvidia-smi >/dev/null && nvidia-smi -L
ls -l /dev/nvidia* 2>&1
ls -l /etc/cdi /var/run/cdi 2>&1 | head -20
ldconfig -p 2>/dev/null | grep -E 'libnvidia-ml|libcuda' | head -5

say "ventapp gpu"
"$VENTAPP" gpu 2>&1 | tee "$OUT/gpu.txt"
rc=${PIPESTATUS[0]}
"$VENTAPP" gpu --json >"$OUT/gpu.json" 2>&1
cat "$OUT/gpu.json"
if [ "$rc" != 0 ]; then
	fail "ventapp gpu exited $rc (is the gpu command in the command table?)"
elif ! grep -q '"available": true' "$OUT/gpu.json"; then
	fail "ventapp found no usable GPU"
fi

say "GPU job in a container"
missing=""
[ "$(id -u)" = 0 ] || missing="root"
for b in containerd runc; do command -v "$b" >/dev/null || missing="$missing $b"; done
if [ -n "$missing" ]; then
	echo "SKIPPED: needs$missing (install containerd and runc to run this part)"
	exit $status
fi

C=$WORK/ctrd
mkdir -p "$C/fifo" "$WORK/drop" "$WORK/data"
cat >"$C/config.toml" <<CFG
version = 2
root = "$C/root"
state = "$C/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$C/c.sock"
[ttrpc]
  address = "$C/t.sock"
[debug]
  address = "$C/d.sock"
CFG
containerd --config "$C/config.toml" >"$WORK/containerd.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -S "$C/c.sock" ] && break; sleep 0.1; done
[ -S "$C/c.sock" ] || { fail "private containerd did not start"; tail "$WORK/containerd.log"; exit 1; }

cat >"$WORK/vent.cfg" <<CFG
[main]
files = $WORK/drop
[ventapp]
data_dir = $WORK/data
log_level = debug
[containerd]
address = $C/c.sock
namespace = gpucheck-$$
fifo_dir = $C/fifo
[jobs]
workers = 1
timeout = 2m
max_attempts = 1
[drop]
quiet_period = 200ms
CFG
V=("$VENTAPP" --config "$WORK/vent.cfg")
"${V[@]}" serve >"$WORK/data/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do "${V[@]}" status >/dev/null 2>&1 && break; sleep 0.1; done
"${V[@]}" status || { fail "ventapp serve did not start"; tail -20 "$WORK/data/serve.log"; exit 1; }

"${V[@]}" plugins add "$WORK/gpu-probe" || fail "plugins add gpu-probe"
echo "probe input" >"$WORK/sample.gpucheck"
"${V[@]}" drop "$WORK/sample.gpucheck" || fail "drop"

for _ in $(seq 240); do
	if "${V[@]}" jobs --tool gpu-probe 2>/dev/null | grep -qE ' (done|failed|cancelled) '; then break; fi
	sleep 0.5
done
"${V[@]}" jobs
id=$("${V[@]}" jobs --tool gpu-probe 2>/dev/null | awk 'NR==2 {print $1}')
if [ -z "$id" ]; then
	fail "no gpu-probe job was queued"
else
	"${V[@]}" job show "$id" | tee "$OUT/job.txt"
	grep -q 'gpu-probe: node /dev/nvidia[0-9]' "$OUT/job.txt" || fail "the container saw no /dev/nvidiaN node"
fi
"${V[@]}" status
exit $status
