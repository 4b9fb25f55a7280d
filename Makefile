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
	$(MAKE) static-smoke
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

## What CI runs: every target for a short, bounded time on the committed corpus, with a fixed
## libFuzzer seed (the same inputs on every run of a commit).
fuzz-ci: fuzz-deps
	FUZZ_SEED=1 bash fuzz/run.sh "" 30

## Message throughput with and without a monitoring request flood (issue 4), for rnatsd and,
## when installed, Debian's nats-server; knobs PAIRS, MSGS, CLIENTS, FLOOD_RATE (see the script).
.PHONY: bench-monitor
bench-monitor:
	CARGO="$(CARGO)" bash tests/bench/monitor-flood.sh

## rnatsd vs nats-server, every scenario, a table against the goals; knobs PAIRS MSGS QUICK SCENARIOS README.
.PHONY: bench
bench: static
	CARGO="$(CARGO)" python3 tests/bench/bench.py

## Static and cross builds (issue 6). `make static`: a fully static, stripped x86_64 musl binary at
## target/x86_64-unknown-linux-musl/release/rnatsd; `make static-smoke` also runs black-box tests
## on it (what CI does); `make arm`: an aarch64 musl binary, built with Debian's cross linker and
## tested with every black-box test under Debian's qemu-user.
STATIC_TARGET := x86_64-unknown-linux-musl
STATIC_BIN    := target/$(STATIC_TARGET)/release/rnatsd
ARM_TARGET    := aarch64-unknown-linux-musl
ARM_BIN       := target/$(ARM_TARGET)/release/rnatsd
ARM_ENV       := CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=aarch64-linux-gnu-gcc \
                 CC_aarch64_unknown_linux_musl=aarch64-linux-gnu-gcc \
                 AR_aarch64_unknown_linux_musl=aarch64-linux-gnu-ar
.PHONY: static static-smoke arm arm-deps

static:
	@rustup target list --installed | grep -qx $(STATIC_TARGET) || rustup target add $(STATIC_TARGET)
	@command -v x86_64-linux-musl-gcc >/dev/null || \
	  { export DEBIAN_FRONTEND=noninteractive; apt-get install -y -qq musl-tools || \
	    { apt-get update -qq && apt-get install -y -qq musl-tools; }; }
	$(CARGO) build --release --target $(STATIC_TARGET) --bin rnatsd
	@bash tests/cross/check-static.sh $(STATIC_BIN) 4194304

static-smoke: static
	RNATSD_TEST_BIN=$(CURDIR)/$(STATIC_BIN) $(CARGO) test --test protocol --test cli --test tls --test cluster

arm-deps:
	@rustup target list --installed | grep -qx $(ARM_TARGET) || rustup target add $(ARM_TARGET)
	@command -v aarch64-linux-gnu-gcc >/dev/null && command -v qemu-aarch64 >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc-aarch64-linux-gnu qemu-user; }

arm: arm-deps
	$(ARM_ENV) $(CARGO) build --release --target $(ARM_TARGET) --bin rnatsd
	@bash tests/cross/check-static.sh $(ARM_BIN) 4194304
	RNATSD_ARM_BIN=$(CURDIR)/$(ARM_BIN) RNATSD_TEST_BIN=$(CURDIR)/tests/cross/rnatsd-aarch64 \
	  $(CARGO) test --test '*'

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
