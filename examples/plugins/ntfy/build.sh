#!/usr/bin/env bash
# build.sh [OUT.wasm] — compile ntfy.c to a WASI reactor module (default:
# ntfy.wasm beside it, the module that is committed). build.sh --available
# exits 0 only if the toolchain is there: clang, lld and wasi-libc (on
# Debian: apt-get install clang lld wasi-libc libclang-rt-dev-wasm32).
# Debug sections are stripped (wasi-libc's carry its build paths); the name
# section stays, for stack traces.
set -euo pipefail
clang=${CLANG:-clang}
if [[ ${1:-} == --available ]]; then
	command -v "$clang" >/dev/null && command -v wasm-ld >/dev/null &&
		[[ $("$clang" --target=wasm32-wasi -print-file-name=libc.a) == /* ]]
	exit
fi
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/ntfy.wasm}
"$clang" --target=wasm32-wasi -O2 -std=c99 -Wall -Wextra -Werror \
	-mexec-model=reactor -Wl,--strip-debug -o "$out" "$here/ntfy.c"
