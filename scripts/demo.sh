#!/usr/bin/env bash
# The main job end to end, for a newcomer on a fresh Debian machine (as root):
# install containerd and runc if missing and make sure containerd runs, build
# ventapp and the example plugin, start the appliance on its embedded
# defaults (state in ./.demo, drop folder /opt/vent_files), install the
# example plugin, drop sample captures, wait for the jobs, and search.
#
#   PCAPS=DIR   captures to drop (default: ../shared/testdata/pcaps)
#   KEEP=1      leave the daemon running afterwards
set -euo pipefail
cd "$(dirname "$0")/.."

PCAPS=${PCAPS:-../shared/testdata/pcaps}
DATA=${DATA:-$PWD/.demo}
export PATH=$PATH:/usr/local/go/bin

say() { printf '\n== %s\n' "$*"; }

if [ "$(id -u)" != 0 ]; then
	echo "demo: run as root (containerd and plugin containers need it)" >&2
	exit 1
fi
if ! ls "$PCAPS"/*.pcap >/dev/null 2>&1; then
	echo "demo: no captures in $PCAPS; set PCAPS=/folder/with/pcaps" >&2
	exit 1
fi

say "packages and containerd"
need=()
for pkg in containerd runc gcc libc6-dev libpcap-dev make; do
	dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
	echo "installing ${need[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
sock=/run/containerd/containerd.sock
# A socket file alone proves nothing: a containerd that died leaves it
# behind. Ask the daemon itself (ctr comes with Debian's containerd).
alive() { ctr --address "$sock" version >/dev/null 2>&1; }
if ! alive; then
	if [ -d /run/systemd/system ]; then
		systemctl start containerd
	else
		mkdir -p /var/log
		setsid containerd >/var/log/containerd-demo.log 2>&1 < /dev/null &
	fi
	for _ in $(seq 150); do alive && break; sleep 0.2; done
fi
alive || { echo "demo: containerd does not answer at $sock (see journalctl -u containerd or /var/log/containerd-demo.log)" >&2; exit 1; }
echo "containerd is running at $sock"

say "build"
make -s build example
VENTAPP="$PWD/bin/ventapp --data-dir $DATA"
bin/ventapp version

say "start the appliance (log: $DATA/serve.log)"
mkdir -p "$DATA"
$VENTAPP serve >"$DATA/serve.log" 2>&1 &
daemon=$!
if [ "${KEEP:-}" != 1 ]; then
	trap 'kill $daemon 2>/dev/null; wait $daemon 2>/dev/null || true' EXIT
fi
for _ in $(seq 100); do $VENTAPP status >/dev/null 2>&1 && break; sleep 0.1; done
$VENTAPP status

say "install the example plugin"
$VENTAPP plugins add examples/plugins/pcap-summary
$VENTAPP plugins list

say "drop the sample captures from $PCAPS"
num() { echo "$1" | grep -o "\"$2\": [0-9]*" | head -1 | grep -o '[0-9]*$'; }
s=$($VENTAPP status --json)
before=$(( $(num "$s" done) + $(num "$s" failed) ))
files=$(find "$PCAPS" -type f \( -name '*.pcap' -o -name '*.pcapng' \) | sort)
n=$(echo "$files" | wc -l)
# shellcheck disable=SC2086
$VENTAPP drop $files >/dev/null
echo "dropped $n files"

say "wait for the jobs"
for _ in $(seq 240); do
	s=$($VENTAPP status --json)
	if [ $(( $(num "$s" done) + $(num "$s" failed) )) -ge $((before + n)) ]; then
		break
	fi
	sleep 0.5
done
$VENTAPP jobs
$VENTAPP status

say "search: DNS queries for www.tcpdump.org"
$VENTAPP search '+fields.type:dns +fields.query:www.tcpdump.org'
say "search: HTTP hosts"
$VENTAPP search --limit 5 '+fields.type:http'
say "search: UDP flows to port 53"
$VENTAPP search --limit 3 '+fields.type:flow +fields.proto:udp +fields.dst_port:53'

if [ "${KEEP:-}" = 1 ]; then
	echo
	echo "the daemon is still running (pid $daemon); try: bin/ventapp --data-dir $DATA status"
fi
