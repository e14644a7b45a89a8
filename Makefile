# Arbiter: `make run` starts the agent on its embedded defaults, `make test`
# runs every test. Tools (opa, staticcheck) are pinned in go.mod.

GO      ?= go
BIN     := bin/arbiter
PKGS    := ./...
BENCH   ?= .
COUNT   ?= 1

.PHONY: run build plugins plugin-ntfy test test-examples test-go test-race test-policies bench bench-load demo crash screenshots lint fmt check clean

# The bundled plugins are compiled to Wasm and embedded into the binary.
plugins:
	plugins/build.sh plugins/bundled bundled >/dev/null

# The example plugin in C, rebuilt from examples/plugins/ntfy/ntfy.c into
# the committed ntfy.wasm. Needs clang, lld and wasi-libc (Debian: apt-get
# install clang lld wasi-libc libclang-rt-dev-wasm32); its test checks that
# the committed module is current wherever they are installed.
plugin-ntfy:
	examples/plugins/ntfy/build.sh

build: plugins
	$(GO) build -o $(BIN) ./cmd/arbiter

run: build
	$(BIN) serve

test: test-go test-race test-policies

test-go: plugins
	$(GO) test -count=1 $(PKGS)

# The concurrent core again under the race detector.
RACE_PKGS := ./engine/journal ./engine/inbox ./engine/store ./engine/worker ./engine/dispatch ./engine/receiver ./engine/policy ./engine/admin
test-race: plugins
	$(GO) test -race -count=1 $(RACE_PKGS)

test-policies:
	$(GO) tool opa test policies/ --coverage --threshold 90 >/dev/null
	$(GO) tool opa test policies/ -v | tail -n 1
	$(GO) tool opa test policies/ examples/policies/ | tail -n 1

# Every --help example and every README shell block, run as written, each
# in a world of its own network namespace (unshare -n: run as root). A few
# minutes; CI runs it after make test.
test-examples: plugins
	$(GO) tool opa version >/dev/null   # built once here, not inside an example's time limit
	ARBITER_TEST_EXAMPLES=1 $(GO) test -count=1 -parallel 3 -run TestExamples ./cmd/arbiter

bench: plugins
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -count $(COUNT) $(PKGS)

# Load test over loopback: the seed Express agent and arbiter serve, measured
# in one run with the same load generator (needs npm for express), then the
# worker's pipeline benchmark against the seed agent's rate.
BENCH_LOAD_FLAGS ?= --pipeline
bench-load: build
	ARBITER=$(BIN) examples/seed-agent/bench.sh $(BENCH_LOAD_FLAGS)

# A fresh agent on loopback, a scenario with every fault kind from
# `arbiter sim run`, scored by `arbiter sim verify`; cleans up after itself.
demo: build
	ARBITER=$(BIN) examples/demo/demo.sh

# The journal's crash harness at length: every crash point of CRASH_ROUNDS
# runs (payload and segment sizes vary by round), as process crashes and as
# every state a power cut could leave; `make test` runs one round.
CRASH_ROUNDS ?= 100
crash:
	ARBITER_CRASH_ROUNDS=$(CRASH_ROUNDS) $(GO) test -count=1 -timeout 60m -run '^TestCrashPoints$$' -v ./engine/journal

# A screenshot of every console page, light and dark, into docs/console:
# the real binary filled by arbiter sim, in headless Chromium.
screenshots: plugins
	CONSOLE_SCREENSHOTS=$(CURDIR)/docs/console $(GO) test -count=1 -run '^TestScreenshots$$' ./engine/console

# Go vet and staticcheck; Rego checked strictly and held to opa fmt.
lint:
	$(GO) vet $(PKGS)
	$(GO) tool staticcheck $(PKGS)
	$(GO) tool opa check --strict policies/ examples/policies/
	@$(GO) tool opa fmt --fail --list policies/ examples/policies/ || \
		{ echo "lint: opa fmt would change the Rego files listed; run make fmt" >&2; exit 1; }

fmt:
	gofmt -w $$(git ls-files '*.go')
	$(GO) tool opa fmt -w policies/ examples/policies/

check: lint test

clean:
	rm -rf bin plugins/bundled/*.wasm testdata/plugins/.build
