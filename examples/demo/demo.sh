#!/usr/bin/env bash
# make demo: a fresh agent on loopback, a scenario with every fault kind
# delivered by `arbiter sim run`, and `arbiter sim verify` scoring what the
# agent decided against the scenario's ground truth. Cleans up after itself.
#
#   examples/demo/demo.sh                 # build arbiter, run the demo
#   ARBITER=bin/arbiter examples/demo/demo.sh --count 5000 --keep
set -euo pipefail

usage() {
	cat <<'EOF_USAGE'
usage: demo.sh [options]

  --count N        deliveries in the scenario (default 1500)
  --customers N    customers, each a proof chain (default 8)
  --fault K=R      fault rates, repeatable (default all=0.02: every kind)
  --seed N         scenario seed (default 2026)
  --port P         loopback port for arbiter serve (default 3941)
  --grace D        worker.grace: how long a delta waits for its predecessor (default 2s)
  --arbiter PATH   arbiter binary (default $ARBITER, else built from this repository)
  --keep           keep the work directory (config, logs, truth, ledger, database)
EOF_USAGE
}

die() { echo "demo: $*" >&2; exit 2; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

count=1500 customers=8 seed=2026 port=3941 grace=2s keep=0
faults=()
arbiter=${ARBITER:-}
while (($#)); do
	case $1 in
	--count) count=${2:?}; shift ;;
	--customers) customers=${2:?}; shift ;;
	--fault) faults+=(--fault "${2:?}"); shift ;;
	--seed) seed=${2:?}; shift ;;
	--port) port=${2:?}; shift ;;
	--grace) grace=${2:?}; shift ;;
	--arbiter) arbiter=${2:?}; shift ;;
	--keep) keep=1 ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument: $1" ;;
	esac
	shift
done
((${#faults[@]})) || faults=(--fault all=0.02)

work=$(mktemp -d "${TMPDIR:-/tmp}/arbiter-demo.XXXXXX")
pid=
cleanup() {
	if [[ -n $pid ]]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	if ((keep)); then
		echo "demo: kept $work" >&2
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -z $arbiter ]]; then
	echo "demo: building arbiter" >&2
	(cd "$repo" && plugins/build.sh plugins/bundled bundled >/dev/null && go build -o "$work/arbiter" ./cmd/arbiter)
	arbiter=$work/arbiter
fi
(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && die "port $port is in use (--port)"

random() { od -An -tx1 -N16 /dev/urandom | tr -d ' \n'; }
# Given to every child through the environment, never on a command line.
export PACSPACE_WEBHOOK_SECRET="whsec_demo_$(random)"
export ARBITER_ADMIN_TOKEN="arb_demo_$(random)"
server=http://127.0.0.1:$port
cat >"$work/arbiter.yaml" <<EOF_CONFIG
listen: "127.0.0.1:$port"
data_dir: "$work/data"
log: {level: warn}
worker: {grace: $grace}
EOF_CONFIG

step() { printf '\n== %s\n' "$*"; }

step "arbiter serve on 127.0.0.1:$port (worker.grace $grace; log: $work/serve.log)"
"$arbiter" serve --config "$work/arbiter.yaml" >"$work/serve.log" 2>&1 &
pid=$!
for ((i = 0; i < 300; i++)); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	kill -0 "$pid" 2>/dev/null || { cat "$work/serve.log" >&2; die "arbiter serve exited"; }
	sleep 0.1
done
((i < 300)) || die "arbiter serve did not listen within 30s"

# One clock start for both runs: the same seed and start give the same events.
scenario=(--seed "$seed" --start "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --customers "$customers" --count "$count" "${faults[@]}")

step "the scenario's internal ledger, imported with arbiter ledger import"
"$arbiter" sim run --dry-run "${scenario[@]}" --ledger-out "$work/ledger.csv"
"$arbiter" ledger import --server "$server" "$work/ledger.csv"

step "arbiter sim run: $count deliveries with faults"
status=0
"$arbiter" sim run "${scenario[@]}" --target "$server/webhooks/pacspace" --truth "$work/truth.jsonl" || status=$?

step "waiting for the agent to settle"
health=
for ((i = 0; i < 600; i++)); do
	health=$(exec 3<>"/dev/tcp/127.0.0.1/$port" && printf 'GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3 && cat <&3) || true
	[[ $health == *'"inboxPending":0'* ]] && break
	sleep 0.1
done
[[ $health =~ \"inboxEvents\":([0-9]+),\"inboxPending\":([0-9]+) ]] &&
	echo "inbox: ${BASH_REMATCH[1]} events, ${BASH_REMATCH[2]} not decided yet"

step "arbiter sim verify"
"$arbiter" sim verify --server "$server" --truth "$work/truth.jsonl" --wait 30s || status=$?
exit "$status"
