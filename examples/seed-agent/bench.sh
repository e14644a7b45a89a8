#!/usr/bin/env bash
# Measures the seed Express agent (seed 000, verbatim) and Arbiter under the
# same load, over loopback: `arbiter load` (or `arbiter sim run` with
# --source sim), legacy sha256= scheme, batch shape, 32 keep-alive
# connections, 10 s per target straight after a 2 s warm-up.
#
#   examples/seed-agent/bench.sh                      # seed agent, then arbiter serve
#   examples/seed-agent/bench.sh --no-serve           # the seed agent alone
#   examples/seed-agent/bench.sh --target http://127.0.0.1:3000/webhooks/pacspace
#   examples/seed-agent/bench.sh --source sim         # load from `arbiter sim run` instead
#   make bench-load BENCH_SOURCE=sim                  # the same through make
#   examples/seed-agent/bench.sh --rate 3000          # a steady load: does the backlog stay flat?
#
# A --target must already be running with the same secret: pass --secret or
# export PACSPACE_WEBHOOK_SECRET (otherwise a random one is generated).
set -euo pipefail

usage() {
	cat <<'EOF'
usage: bench.sh [options]

  --duration D      measured time per target (default 10s)
  --warmup D        unmeasured load before each measurement, 0 for none (default 2s)
  --connections N   keep-alive connections (default 32)
  --rate R          offer R events per second instead of as many as answered
                    (--source load only), and sample arbiter's inbox depth
                    (received, not yet decided) every half second of the
                    measurement: flat means its decisions keep up
  --scheme S        legacy or v1 (default legacy; the seed agent only verifies legacy)
  --shape S         batch or delta (default batch; delta with --source sim)
  --source S        load: arbiter load, unordered unique events;
                    sim: arbiter sim run, a scenario without faults whose
                    customers each send their chain in order, in parallel
                    (default $BENCH_SOURCE, else load)
  --customers N     customers for --source sim (default 4 × connections)
  --target URL      also measure this running receiver (repeatable)
  --no-seed         do not start and measure the seed Express agent
  --no-serve        do not start and measure `arbiter serve`
  --seed-port P     loopback port for the seed agent (default 3901)
  --serve-port P    loopback port for arbiter serve (default 3902)
  --arbiter PATH    arbiter binary (default $ARBITER, else built from this repository)
  --secret S        webhook secret (default $PACSPACE_WEBHOOK_SECRET, else random)
  --pipeline        also run the worker's pipeline benchmark (inbox to committed
                    decision, no HTTP) and compare it with the seed agent's rate
  --keep            keep the work directory (logs, reports, arbiter's database)
EOF
}

die() { echo "bench: $*" >&2; exit 2; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

duration=10s warmup=2s connections=32 scheme=legacy shape= source=${BENCH_SOURCE:-load} customers=
rate= seed=1 serve=1 seed_port=3901 serve_port=3902 keep=0 pipeline=0
arbiter=${ARBITER:-}
secret=${PACSPACE_WEBHOOK_SECRET:-}
targets=()

while (($#)); do
	case $1 in
	--duration) duration=${2:?}; shift ;;
	--warmup) warmup=${2:?}; shift ;;
	--connections) connections=${2:?}; shift ;;
	--rate) rate=${2:?}; shift ;;
	--scheme) scheme=${2:?}; shift ;;
	--shape) shape=${2:?}; shift ;;
	--source) source=${2:?}; shift ;;
	--customers) customers=${2:?}; shift ;;
	--target) targets+=("${2:?}"); shift ;;
	--no-seed) seed=0 ;;
	--no-serve) serve=0 ;;
	--seed-port) seed_port=${2:?}; shift ;;
	--serve-port) serve_port=${2:?}; shift ;;
	--arbiter) arbiter=${2:?}; shift ;;
	--secret) secret=${2:?}; shift ;;
	--keep) keep=1 ;;
	--pipeline) pipeline=1 ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument: $1" ;;
	esac
	shift
done
case $source in
load) shape=${shape:-batch} ;;
# The batch stream is one ordered stream; customers' chains go in parallel.
sim) shape=${shape:-delta} customers=${customers:-$((4 * connections))} ;;
*) die "unknown --source $source (want load or sim)" ;;
esac
[[ -z $rate || $source == load ]] || die "--rate needs --source load"
if ((seed)) && [[ $scheme != legacy ]]; then
	echo "bench: the seed agent only verifies legacy sha256= signatures; skipping it for --scheme $scheme" >&2
	seed=0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/arbiter-bench.XXXXXX")
pids=()
cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if ((keep)); then
		echo "bench: kept $work" >&2
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -z $secret ]]; then
	secret="whsec_bench_$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
fi
# Given to every child through the environment, never on a command line.
export PACSPACE_WEBHOOK_SECRET=$secret

if [[ -z $arbiter ]]; then
	echo "bench: building arbiter" >&2
	(cd "$repo" && go build -o "$work/arbiter" ./cmd/arbiter)
	arbiter=$work/arbiter
fi
"$arbiter" load --help >/dev/null 2>&1 ||
	die "$arbiter has no load command (is newLoadCmd registered in cmd/arbiter/main.go?)"
[[ $source != sim ]] || "$arbiter" sim run --help >/dev/null 2>&1 ||
	die "$arbiter has no sim command (is newSimCmd registered in cmd/arbiter/main.go?)"

# wait_port PORT PID: until something accepts on 127.0.0.1:PORT, or PID dies.
wait_port() {
	local i
	for ((i = 0; i < 150; i++)); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
			return 0
		fi
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# port_free PORT: nothing listens there yet.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# cpu_ticks PID: user + system CPU time the process has used, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
hz=$(getconf CLK_TCK)

# depth URL: arbiter's inbox depth (received, not yet decided) from the
# metrics of the receiver at webhook URL.
depth() { curl -fsS "${1%/webhooks/*}/metrics" | awk '/^arbiter_inbox_depth /{print $2}'; }

# sample_depth URL FILE: append the depth to FILE every half second, until
# killed.
sample_depth() { while sleep 0.5; do depth "$1" >>"$2" || true; done; }

names=() urls=() tpids=()

if ((seed)); then
	command -v node >/dev/null || die "node is not installed (the seed agent needs Node.js 18+)"
	if [[ ! -f $here/node_modules/express/package.json ]]; then
		echo "bench: installing express" >&2
		(cd "$here" && npm ci --no-audit --no-fund >&2)
	fi
	port_free "$seed_port" || die "port $seed_port is in use (--seed-port)"
	# The seed program listens on every interface (app.listen(PORT)); we
	# only ever connect over loopback.
	(cd "$here" && PORT=$seed_port exec node settlement-agent.js >"$work/seed-agent.log" 2>&1) &
	pids+=($!)
	wait_port "$seed_port" "$!" || { cat "$work/seed-agent.log" >&2; die "the seed agent did not start"; }
	tpids+=("$!")
	names+=("seed-agent (node $(node --version), express $(node -p "require('$here/node_modules/express/package.json').version"))")
	urls+=("http://127.0.0.1:$seed_port/webhooks/pacspace")
fi

if ((serve)); then
	port_free "$serve_port" || die "port $serve_port is in use (--serve-port)"
	"$arbiter" serve --listen "127.0.0.1:$serve_port" --data-dir "$work/arbiter-data" --log-level warn \
		>"$work/arbiter-serve.log" 2>&1 &
	pids+=($!)
	wait_port "$serve_port" "$!" || { cat "$work/arbiter-serve.log" >&2; die "arbiter serve did not start"; }
	tpids+=("$!")
	names+=("arbiter serve (data dir on $(df -T "$work" | awk 'NR==2 {print $2}'))")
	urls+=("http://127.0.0.1:$serve_port/webhooks/pacspace")
fi

for t in "${targets[@]}"; do
	tpids+=("")
	names+=("target $t")
	urls+=("$t")
done
((${#urls[@]})) || die "nothing to measure"

what="$scheme $shape events"
[[ -z $rate ]] || what="$what at $rate/s"
[[ $source == load ]] || what="$what from arbiter sim run ($customers customers)"
echo "bench: $what, $connections connections, $duration per target (warm-up $warmup), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
status=0
cpu=() rates=()
for i in "${!urls[@]}"; do
	echo
	echo "== ${names[$i]}"
	if [[ $source == sim ]]; then
		sim_scheme=$scheme
		[[ $scheme != legacy ]] || sim_scheme=sha256
		load=("$arbiter" sim run -q --target "${urls[$i]}" --scheme "$sim_scheme" --shape "$shape"
			--customers "$customers" --concurrency "$connections")
	else
		load=("$arbiter" load -q --url "${urls[$i]}" --scheme "$scheme" --shape "$shape" --connections "$connections")
		[[ -z $rate ]] || load+=(--rate "$rate")
	fi
	pid=${tpids[$i]}
	# With --rate, arbiter's depth is sampled from the measurement's start.
	sample=0 spid=
	[[ -z $rate || ${names[$i]} != arbiter* ]] || sample=1
	if [[ $source == load && $warmup != 0 && $warmup != 0s ]]; then
		# One run: the warm-up goes straight into the measurement, on the
		# same connections; the receiver's CPU is counted from its end.
		"${load[@]}" --warmup "$warmup" --duration "$duration" --json-file "$work/report-$i.json" 2>"$work/load-$i.err" &
		lpid=$!
		while ! grep -q '^load: measuring' "$work/load-$i.err" 2>/dev/null && kill -0 "$lpid" 2>/dev/null; do
			sleep 0.02
		done
		before=$([[ -n $pid ]] && cpu_ticks "$pid" || echo 0)
		((!sample)) || { sample_depth "${urls[$i]}" "$work/depth-$i" & spid=$!; }
		wait "$lpid" || status=1
		grep -v '^load: measuring' "$work/load-$i.err" >&2 || true
	else
		if [[ $warmup != 0 && $warmup != 0s ]]; then
			"${load[@]}" --duration "$warmup" >/dev/null || true
		fi
		before=$([[ -n $pid ]] && cpu_ticks "$pid" || echo 0)
		((!sample)) || { sample_depth "${urls[$i]}" "$work/depth-$i" & spid=$!; }
		"${load[@]}" --duration "$duration" --json-file "$work/report-$i.json" || status=1
	fi
	if [[ -n $spid ]]; then
		kill "$spid" 2>/dev/null || true
		wait "$spid" 2>/dev/null || true
		echo "inbox depth every 0.5 s of the measurement: $(tr '\n' ' ' <"$work/depth-$i")"
		awk '{n++; if ($1 > max) max = $1; last = $1} END {if (n) printf "inbox depth: max %d, at the end %d (%d samples)\n", max, last, n}' "$work/depth-$i"
	fi
	if [[ -n $pid ]]; then
		cpu[i]=$(awk -v a="$before" -v b="$(cpu_ticks "$pid")" -v hz="$hz" 'BEGIN {printf "%.2f", (b - a) / hz}')
		echo "receiver CPU time during the measurement: ${cpu[i]}s"
	fi
	if [[ ${names[$i]} == arbiter* ]]; then
		# Acknowledged but not yet decided: arbiter loads and decides a
		# burst's backlog after it (inbox.max_lag). Wait for it, and count
		# the CPU it took, so events/cpu_s covers deciding too.
		backlog=$(depth "${urls[$i]}") t0=$(date +%s.%N)
		while [[ $(depth "${urls[$i]}") != 0 ]] && awk -v t0="$t0" -v now="$(date +%s.%N)" 'BEGIN {exit !(now - t0 < 300)}'; do
			sleep 0.2
		done
		echo "backlog at the end: ${backlog:-?} events not yet decided; all decided $(awk -v t0="$t0" -v now="$(date +%s.%N)" 'BEGIN {printf "%.1f", now - t0}')s later"
		if [[ -n $pid ]]; then
			cpu[i]=$(awk -v a="$before" -v b="$(cpu_ticks "$pid")" -v hz="$hz" 'BEGIN {printf "%.2f", (b - a) / hz}')
			echo "receiver CPU time until all were decided: ${cpu[i]}s"
		fi
	fi
done

if ((seed)); then
	log=$work/seed-agent.log
	echo
	echo "seed agent log: $(grep -c '^Received event' "$log" || true) events received," \
		"$(grep -c 'Invalid webhook signature' "$log" || true) invalid signatures," \
		"$(grep -c '^\[ESCALATION\]' "$log" || true) escalations" \
		"($(grep -c '^\[ESCALATION\] chain_break' "$log" || true) chain_break: batches that arrived out of order)"
fi

echo
printf '%-48s %10s %8s %8s %8s %7s %7s %12s\n' target events/s p50_ms p99_ms max_ms failed cpu_s events/cpu_s
for i in "${!urls[@]}"; do
	f=$work/report-$i.json
	[[ -f $f ]] || continue
	if [[ $source == sim ]]; then
		# arbiter sim run's summary: failed is any answer but the expected one.
		if command -v jq >/dev/null; then
			row=$(jq -r '[.eventsPerSec, .latencyMs.p50, .latencyMs.p99, .latencyMs.max, .unexpected, (.acknowledged + .duplicates)] | @tsv' "$f")
		else
			row=$(node -e 'const r=require(process.argv[1]);console.log([r.eventsPerSec,r.latencyMs.p50,r.latencyMs.p99,r.latencyMs.max,r.unexpected,r.acknowledged+r.duplicates].join("\t"))' "$f")
		fi
	elif command -v jq >/dev/null; then
		row=$(jq -r '[.eventsPerSec, .latencyMs.p50, .latencyMs.p99, .latencyMs.max, (.errors + ([.non2xx[]] | add // 0)), .ok] | @tsv' "$f")
	else
		row=$(node -e 'const r=require(process.argv[1]);console.log([r.eventsPerSec,r.latencyMs.p50,r.latencyMs.p99,r.latencyMs.max,r.errors+Object.values(r.non2xx).reduce((a,b)=>a+b,0),r.ok].join("\t"))' "$f")
	fi
	IFS=$'\t' read -r eps p50 p99 max failed ok <<<"$row"
	c=${cpu[i]:-} per=-
	if [[ -n $c ]]; then
		per=$(awk -v ok="$ok" -v c="$c" 'BEGIN {if (c > 0) printf "%.0f", ok / c; else print "-"}')
	fi
	printf '%-48s %10.1f %8.2f %8.2f %8.2f %7d %7s %12s\n' "${names[$i]:0:48}" "$eps" "$p50" "$p99" "$max" "$failed" "${c:--}" "$per"
	rates[i]=$eps
done

seed_rate=
if ((seed)) && [[ -n ${rates[0]:-} ]]; then
	seed_rate=${rates[0]}
	for i in "${!urls[@]}"; do
		((i > 0)) && [[ -n ${rates[i]:-} ]] || continue
		awk -v a="${rates[i]}" -v s="$seed_rate" -v n="${names[$i]%% (*}" 'BEGIN {if (s > 0) printf "%s: %.2f× the seed agent'"'"'s events/s\n", n, a / s}'
	done
fi
if ((pipeline)); then
	echo
	echo "== pipeline: go test -bench Pipeline -benchtime 20000x ./engine/worker"
	out=$(cd "$repo" && go test -run '^$' -bench Pipeline -benchtime 20000x -count 1 ./engine/worker) || { echo "$out"; exit 1; }
	echo "$out" | grep Benchmark
	prate=$(echo "$out" | awk '/^BenchmarkPipeline/ {for (i = 1; i < NF; i++) if ($(i + 1) == "events/s") print $i}')
	if [[ -n $seed_rate && -n $prate ]]; then
		awk -v p="$prate" -v s="$seed_rate" 'BEGIN {printf "pipeline: %.2f× the seed agent'"'"'s events/s\n", p / s}'
	fi
fi
exit "$status"
