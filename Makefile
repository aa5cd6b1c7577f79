# Moat: the two commands are `make run` and `make test`; both install what is missing first.
.PHONY: all build run test deps js-deps unit sanitize fuzz-smoke integration bench-micro clean

JOBS ?= $(shell nproc)
BUILD_TYPE ?= Release
PYTHON := /usr/bin/python3
FUZZ_SECONDS ?= 20
# Every tests/fuzz/fuzz_NAME.cc, run over the seed corpus tests/fuzz/corpus/NAME.
FUZZ_TARGETS := $(basename $(notdir $(wildcard tests/fuzz/fuzz_*.cc)))
# ccache hits whatever directory the checkout is in (CI builds a fresh clone each time).
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1

all: build

deps:
	@scripts/install-deps

# MQTT.js (npm) for the WebSocket tests.
js-deps:
	@scripts/install-js-deps

build/build.ninja:
	cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

# The release binary is build/moat.
build: deps build/build.ninja
	ninja -C build -j$(JOBS)

# Starts the broker on its embedded default (plain MQTT on 127.0.0.1:1883).
run: build
	./build/moat serve

# Everything: unit tests, the same under ASan+UBSan, a fuzzing smoke run, and the
# integration and conformance suites against the real binary with outside clients.
test: build unit sanitize fuzz-smoke integration

unit: build
	ctest --test-dir build --output-on-failure -j$(JOBS)

build-asan/build.ninja:
	cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMOAT_SANITIZE=ON

sanitize: deps build-asan/build.ninja
	ninja -C build-asan -j$(JOBS) base_test mqtt_test config_test broker_test net_test client_test pki_test security_test app_test
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --test-dir build-asan --output-on-failure -j$(JOBS)

build-fuzz/build.ninja:
	CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMOAT_FUZZ=ON

# A bounded libFuzzer run over the seed corpus (the corpus is copied: the run adds to the copy).
fuzz-smoke: deps build-fuzz/build.ninja
	ninja -C build-fuzz -j$(JOBS) $(FUZZ_TARGETS)
	@for t in $(FUZZ_TARGETS); do \
	  c=build-fuzz/corpus-$${t#fuzz_}; rm -rf $$c && mkdir -p $$c && cp tests/fuzz/corpus/$${t#fuzz_}/* $$c/ && \
	  echo "== $$t"; ./build-fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $$c > build-fuzz/$$t.log 2>&1; \
	  s=$$?; tail -6 build-fuzz/$$t.log; [ $$s -eq 0 ] || exit 1; \
	done

integration: build js-deps
	$(PYTHON) -m pytest tests/integration tests/conformance -q

# Micro-benchmarks (Google Benchmark): not part of `make test`.
bench-micro: deps
	cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DMOAT_BENCH=ON -DMOAT_TESTS=OFF
	ninja -C build-bench -j$(JOBS) moat_microbench
	./build-bench/moat_microbench

clean:
	rm -rf build build-asan build-fuzz build-bench
