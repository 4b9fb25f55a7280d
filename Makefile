# rnatsd — build, run and test. `make run` and `make test` are all a fresh machine needs.

CARGO   ?= cargo
ARGS    ?=
FUZZ_SECONDS ?= 60
T       ?=
S       ?= $(FUZZ_SECONDS)

.PHONY: all build run test test-deps unit fuzz fuzz-ci fuzz-deps clean fmt

all: build

build:
	$(CARGO) build --release

## Build and start the server on its defaults (0.0.0.0:4222); extra flags via ARGS="...".
run: build
	./target/release/rnatsd $(ARGS)

## Install what the tests need (Debian's nats-server and libnats-dev, nats-py, the npm client),
## then run every test: unit, black-box, interop, differential, and a short fuzz pass.
test: test-deps
	$(CARGO) test --all-targets
	$(MAKE) fuzz-ci

test-deps:
	bash tests/interop/setup.sh

## Unit and black-box tests only (no installs).
unit:
	$(CARGO) test

fuzz-deps:
	@command -v cargo-fuzz >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked
	@rustup toolchain list | grep -q nightly || rustup toolchain install nightly --profile minimal

## Fuzz one target (T=name) for S seconds, or every target when T is empty.
fuzz: fuzz-deps
	bash fuzz/run.sh "$(T)" "$(S)"

## What CI runs: every target for a short, bounded time on the committed corpus.
fuzz-ci: fuzz-deps
	bash fuzz/run.sh "" 20

## Message throughput with and without a monitoring request flood (issue 4), for rnatsd and,
## when installed, Debian's nats-server; knobs PAIRS, MSGS, CLIENTS, FLOOD_RATE (see the script).
.PHONY: bench-monitor
bench-monitor:
	CARGO="$(CARGO)" bash tests/bench/monitor-flood.sh

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
