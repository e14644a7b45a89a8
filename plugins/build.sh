#!/usr/bin/env bash
# build.sh OUTDIR [bundled] — build every plugin to WebAssembly; with
# "bundled", only the bundled plugins (what `make plugins` embeds).
#
#   OUTDIR/bundled.wasm          the bundled plugins, one module (plugins/bundled)
#   OUTDIR/examples/<name>.wasm  the example plugins, examples/plugins/*/
#   OUTDIR/testdata/<name>.wasm  the hostile test guests, testdata/plugins/*/
#
# Go plugins are WASI reactors: GOOS=wasip1 GOARCH=wasm -buildmode=c-shared,
# with -trimpath. Not -ldflags="-s -w": it drops only the name section (2% of
# a module, no measurable load time) and with it the function names in
# wazero's stack traces.
# Hand-written .wat guests are reassembled when wat2wasm (wabt) is installed,
# and C plugins (examples/plugins/ntfy) rebuilt when clang and wasi-libc are;
# otherwise their checked-in .wasm is copied. Builds run in parallel, one per
# CPU. Called by `make plugins`.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 || ( $# -eq 2 && $2 != bundled ) ]]; then
	echo "usage: $0 OUTDIR [bundled]" >&2
	exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
cd "$root"
dirs=(plugins/*/ examples/plugins/*/ testdata/plugins/*/)
if [[ ${2:-} == bundled ]]; then
	dirs=(plugins/bundled/)
	# Each bundled plugin was once its own OUTDIR/<name>.wasm; the binary
	# embeds every file in plugins/bundled, so stale ones must go.
	find "$out" -maxdepth 1 -name '*.wasm' ! -name bundled.wasm -delete
else
	mkdir -p "$out/examples" "$out/testdata"
fi

jobs=()
for dir in "${dirs[@]}"; do
	dir=${dir%/}
	name=$(basename "$dir")
	case $dir in
	plugins/*) dest=$out/$name.wasm ;;
	examples/*) dest=$out/examples/$name.wasm ;;
	testdata/*) dest=$out/testdata/$name.wasm ;;
	esac
	if grep -qsx 'package main' "$dir"/*.go; then
		jobs+=("$dir $dest")
	elif [[ -f $dir/$name.c ]]; then
		if "$dir/build.sh" --available; then
			"$dir/build.sh" "$dest"
		else
			cp "$dir/$name.wasm" "$dest"
		fi
		echo "$dest"
	elif [[ -f $dir/$name.wat ]]; then
		if command -v wat2wasm >/dev/null; then
			wat2wasm "$dir/$name.wat" -o "$dir/$name.wasm"
		fi
		cp "$dir/$name.wasm" "$dest"
		echo "$dest"
	fi
done

printf '%s\n' "${jobs[@]}" | xargs -P "$(nproc 2>/dev/null || echo 2)" -L 1 sh -c '
	GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 go build -buildmode=c-shared -trimpath -o "$1" "./$0" && echo "$1"
'
