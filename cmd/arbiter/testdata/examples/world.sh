#!/usr/bin/env bash
# world.sh DIR — run the examples listed in DIR/.examples/manifest inside
# the world they presuppose, and leave each one's exit status and output
# beside it (NAME.rc, NAME.log). Run by TestExamples inside a fresh network
# namespace (unshare -n), so that the examples' own addresses, 127.0.0.1:3000
# and :8090, are free and nothing reaches past loopback.
#
# DIR is a copy of the repository with bin/arbiter and a signed bundle of
# the default set (bundle.tar.gz, bundle.pub.pem). The world adds what the
# examples name: the user's files (this directory's fixtures), an agent on
# 127.0.0.1:3000 (arbiter.yaml here) seeded with the event, delivery and
# ledger record the examples look up, and the webhook secret and admin
# token in the environment. A manifest line is "NAME run" (the example
# runs to the end, the agent up), "NAME alone" (the same without the
# agent, for an example that names neither arbiter nor its port) or
# "NAME serve URL" (the example starts a server, alone: it passes once URL
# answers with a status below 500, and is then stopped).
set -uo pipefail
dir=$1
fixtures=$(cd "$(dirname "$0")" && pwd)
cd "$dir"
ip link set lo up
mkdir -p .world
export PATH="$dir/bin:$PATH"

cp "$fixtures"/{submitted-2026-04.csv,records.json,overrides.json} .
gzip -c "$fixtures/records.csv" >records.csv.gz
cp -r policies my-policies
cp -r policies policies.next
cp examples/policies/large-refund/*.rego policies.next/

# http_status URL: the status a GET of http://HOST:PORT/PATH answers with.
http_status() {
	local rest=${1#http://} hostport path status=
	hostport=${rest%%/*} path=/${rest#*/}
	{ exec 3<>"/dev/tcp/${hostport%:*}/${hostport#*:}"; } 2>/dev/null || return 1
	printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$hostport" >&3
	read -r _ status _ <&3
	exec 3<&-
	echo "$status"
}
http_ok() { [[ $(http_status "$1") == 200 ]]; }
# http_serves URL: URL answers, with a status that is not a server error.
http_serves() {
	local s
	s=$(http_status "$1") && ((s > 0 && s < 500))
}

# wait_for N CMD...: until CMD succeeds, N tenths of a second at most.
wait_for() {
	local n=$1
	shift
	until "$@"; do
		((n-- > 0)) || return 1
		sleep 0.1
	done
}

agent=
start_agent() {
	# Worlds share the compiled plugins, as restarts of one agent would.
	mkdir -p .world/data
	[[ -n ${EXAMPLES_WASM_CACHE:-} ]] && ln -s "$EXAMPLES_WASM_CACHE" .world/data/wasm-cache
	arbiter serve --config "$fixtures/arbiter.yaml" >>.world/agent.log 2>&1 &
	agent=$!
	wait_for 300 http_ok http://127.0.0.1:3000/readyz || { echo "world: the agent did not start" >&2; return 1; }
	# Seed what the examples look up: cus_8421's proof chain (the fixture
	# delta, held for its predecessor), evt_01j9z0042 and its alert's
	# failed Slack delivery (another customer's delta without a proof,
	# decided at once rather than after worker.grace), enough events for
	# seq:42, and the ledger record ref_inv_20260410_0042.
	arbiter emit delta.verified >/dev/null &&
		arbiter emit --event-id evt_01j9z0042 - <"$fixtures/unproven-delta.json" >/dev/null &&
		arbiter load --count 60 --shape delta --quiet >/dev/null &&
		wait_for 300 dead_letter &&
		wait_for 300 arbiter chains cus_8421 >/dev/null 2>&1 &&
		arbiter ledger import submitted-2026-04.csv >/dev/null ||
		{ echo "world: seeding failed" >&2; return 1; }
}
dead_letter() {
	arbiter deliveries get dlv_cbc0102c8b70001a17fe8a9d --output json 2>/dev/null | grep -q '"status": *"failed"'
}
stop_agent() {
	[[ -n $agent ]] || return 0
	kill "$agent" 2>/dev/null
	wait "$agent" 2>/dev/null
	agent=
}
trap stop_agent EXIT

while read -r -u 4 name kind url; do
	script=.examples/$name.sh log=.examples/$name.log
	case $kind in
	run | alone)
		if [[ $kind == run && -z $agent ]] && ! start_agent >"$log" 2>&1; then
			cat .world/agent.log >>"$log"
			echo 1 >".examples/$name.rc"
			continue
		fi
		# Its own process group, so that what it leaves running stops with it.
		setsid bash "$script" >>"$log" 2>&1 </dev/null &
		pid=$!
		wait "$pid"
		echo $? >".examples/$name.rc"
		kill -- -"$pid" 2>/dev/null
		;;
	serve)
		stop_agent
		setsid bash "$script" >"$log" 2>&1 </dev/null &
		pid=$!
		if wait_for 600 http_serves "$url"; then
			echo 0 >".examples/$name.rc"
		else
			echo "example: $url did not answer within 60s" >>"$log"
			echo 1 >".examples/$name.rc"
		fi
		kill -- -"$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		;;
	esac
done 4<.examples/manifest

# The examples' own results are in their .rc files.
exit 0
