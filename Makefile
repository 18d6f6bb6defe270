# Makefile - the front door. On a fresh Debian 12 machine:
#
#   make demo     build, then run every example (C, Python, Lua, the C
#                 host embedding Lua and Python, Tcl, Perl),
#                 each under a 60 s limit (DEMO_TIMEOUT)
#   make demo-repeat  every example DEMO_REPEAT (20) times in a row, failing
#                 on the first run that fails or times out (CI runs it)
#   make test     build, then run every test through ctest
#   make check    make test, then the C suite under ASan+UBSan, TSan and
#                 valgrind memcheck (what CI runs, via .ci/run)
#   make install  PREFIX=/usr/local
#
# Missing Debian packages are installed when run as root (`make deps`);
# otherwise they are listed and the build goes on with what is there.
# Variables: BUILD (build), BUILD_TYPE (RelWithDebInfo), CSP_WERROR (OFF),
# JOBS (2), PREFIX (/usr/local), DEMO_REPEAT (20), DEMO_TIMEOUT (60).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

BUILD ?= build
BUILD_TYPE ?= RelWithDebInfo
CSP_WERROR ?= OFF
JOBS ?= 2
PREFIX ?= /usr/local
VENV := .venv
PY := $(VENV)/bin/python

DEB_PACKAGES := build-essential cmake pkg-config clang libclang-rt-14-dev \
    valgrind python3-venv python3-dev python3-cffi python3-pytest \
    python3-hypothesis python3-setuptools python3-wheel python3-trio \
    python3-anyio python3-sniffio python3-uvloop lua5.4 \
    liblua5.4-dev lua5.1 liblua5.1-0-dev luajit libluajit-5.1-dev swig \
    tcl tcl-dev libffi-dev perl libperl-dev luarocks unzip libpython3-dev

# Sanitizer reports fail the test and say where.
export ASAN_OPTIONS ?= detect_leaks=1:abort_on_error=0:strict_string_checks=1
export UBSAN_OPTIONS ?= print_stacktrace=1:halt_on_error=1
export TSAN_OPTIONS ?= halt_on_error=1:second_deadlock_stack=1:die_after_fork=0

.PHONY: deps build venv test check asan tsan valgrind demo demo-repeat \
        install bench \
        bench-callgrind fuzz stress soak \
        clean

deps:
	@if ! command -v dpkg-query >/dev/null; then \
	    echo "deps: not a Debian system; install by hand: $(DEB_PACKAGES)"; \
	    exit 0; \
	fi; \
	missing=""; \
	for p in $(DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | \
	        grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then \
	    echo "deps: all Debian packages present"; \
	elif [ "$$(id -u)" = 0 ]; then \
	    echo "deps: installing$$missing"; \
	    apt-get update -qq; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	else \
	    echo "deps: missing (run 'sudo make deps' to install):$$missing"; \
	fi

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
	    -DCSP_WERROR=$(CSP_WERROR)
	cmake --build $(BUILD) -j$(JOBS)

# The venv sees Debian's cffi, pytest and hypothesis; PyPI is not needed.
# python/ is reinstalled when it or the C sources it compiles change.
PY_INPUTS := $(shell find python core bindings -type f \
    -not -path 'python/build/*' -not -path '*/__pycache__/*' \
    -not -name '*.egg-info' -not -path '*.egg-info/*' -not -name '*.so' \
    -not -name '*.o' 2>/dev/null)

$(PY):
	/usr/bin/python3 -m venv --system-site-packages $(VENV)

$(VENV)/.csp-installed: $(PY) $(PY_INPUTS)
	@if [ -d python ]; then \
	    echo "venv: pip install ./python"; \
	    CSP_BUILD_DIR=$(abspath $(BUILD)) $(VENV)/bin/pip install -q \
	        --no-index --no-build-isolation ./python; \
	fi
	touch $@

venv: build $(VENV)/.csp-installed

test: build venv
	ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS)

# Sanitizer builds run the C suite only (Python and Lua hosts are not
# instrumented). Each has its own build tree.
asan:
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
	    -DCSP_WERROR=$(CSP_WERROR) '-DCSP_SANITIZE=address;undefined' \
	    -DCSP_BUILD_EXAMPLES=OFF
	cmake --build build-asan -j$(JOBS) --target csp csp_tests fuzz_chan_replay
	ctest --test-dir build-asan -L '^c$$' --output-on-failure -j$(JOBS)

tsan:
	cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
	    -DCSP_WERROR=$(CSP_WERROR) -DCSP_SANITIZE=thread \
	    -DCSP_BUILD_EXAMPLES=OFF
	cmake --build build-tsan -j$(JOBS) --target csp csp_tests fuzz_chan_replay
	ctest --test-dir build-tsan -L '^c$$' --output-on-failure -j$(JOBS)

# valgrind memcheck over the C suite of the normal build: every C test not
# labelled slow, one valgrind process each (tests/CMakeLists.txt writes
# the entries into $(BUILD)/valgrind, outside the default test list).
valgrind: build
	ctest --test-dir $(BUILD)/valgrind --output-on-failure -j$(JOBS)

check: test asan tsan valgrind fuzz

# Examples run through examples/run.sh: each run under `timeout`, so a
# hung example fails with its name instead of hanging make.
DEMO_REPEAT ?= 20
DEMO_TIMEOUT ?= 60
demo: build venv
	@examples/run.sh -t $(DEMO_TIMEOUT) $(BUILD) $(PY)

# Every example DEMO_REPEAT times in a row (an example that races, loses
# values or hangs on one run in twenty fails here, not in a reader's
# hands). Output is shown only for a failing run.
demo-repeat: build venv
	@examples/run.sh -q -n $(DEMO_REPEAT) -t $(DEMO_TIMEOUT) $(BUILD) $(PY)

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)
	@if [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null; then \
	    ldconfig; \
	fi

# Benchmarks (bench/Makefile): never part of a test run. QUICK=1 for a
# sub-minute run, SCALE=1 for SPEC.md's full size (under 15 minutes on 2
# vCPUs), ANCHORS=1 to install Go, core.async, Boost.Fiber, trio (the
# anchor programs are in bench/anchors/).
bench: venv
	$(MAKE) -C bench QUICK=$(QUICK) ANCHORS=$(ANCHORS)

bench-callgrind:
	$(MAKE) -C bench callgrind

clean:
	rm -rf $(BUILD) build-asan build-tsan $(VENV) python/build
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	find python -maxdepth 2 -name '*.egg-info' -type d -prune \
	    -exec rm -rf {} + 2>/dev/null || true

# ---------------------------------------------------------------------------
# Reliability (issues #8, #11; fuzz/, tests/c/test_stress.c, test_fault*.c,
# tests/soak/).
#
# make stress: the stress tests at 10x their ctest size (CSP_STRESS_SCALE
# and CSP_STRESS): mixed parties and alts fan-in/fan-out on every channel
# kind with closes, releases and cancels racing the traffic, an 8-stage
# pipeline over 10^6 values, a pub with 100 topics over 10^6 values.
# STRESS_SCALE=N for another factor.
STRESS_SCALE ?= 10
stress: build
	@for t in $$(./$(BUILD)/tests/csp_tests --list | \
	    grep -E '^(stress_|pipeline_of_8|pub_with_100)'); do \
	    CSP_STRESS=1 CSP_STRESS_SCALE=$(STRESS_SCALE) \
	        ./$(BUILD)/tests/csp_tests $$t || exit 1; \
	done

# make fuzz: model-based fuzzing (fuzz/fuzz_chan.c) with libFuzzer for
# FUZZ_TIME seconds (clang, ASan+UBSan, csp's assertions on), starting from
# the committed corpus (copied: new inputs stay in build-fuzz/). A crash
# leaves its input in build-fuzz/; add it to fuzz/corpus/chan as
# regress-<name> (ctest replays the corpus) with a named C test.
FUZZ_TIME ?= 60
FUZZ_SOURCES := $(wildcard core/*.c core/coro/*.c core/ops/*.c) \
    bindings/loop.c core/coro/switch_x86_64.S core/coro/switch_aarch64.S
fuzz: deps
	@mkdir -p build-fuzz/corpus
	clang -O1 -g -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=undefined -DCSP_DEBUG -Icore/include -Icore \
	    fuzz/fuzz_chan.c $(FUZZ_SOURCES) -lpthread -o build-fuzz/fuzz_chan
	cp -n fuzz/corpus/chan/* build-fuzz/corpus/ 2>/dev/null || true
	cd build-fuzz && ./fuzz_chan -max_total_time=$(FUZZ_TIME) -max_len=512 \
	    -print_final_stats=1 corpus 2>&1 | \
	    grep -E '^(stat::|fuzz_chan|==|SUMMARY)'

# make soak: the C, Python and Lua soaks (tests/soak/) side by side, three
# processes, each for SOAK_SECONDS: a mixed workload in rounds (go
# processes, threads and blocking ops, callback ops, alts with timeouts,
# combinators) checking that every value arrives exactly once and that
# live channels, pending ops, processes and RSS stay flat (docs/errors.md,
# "Soak"). Lines are prefixed [c], [py], [lua]; fails if any soak fails.
# Every wait inside a soak is bounded; `timeout` (SOAK_SECONDS + 600 s)
# guards the whole run as well. The three are separate processes; one
# process with C, Python and Lua on one runtime (every binding links the
# one libcsp.so.0, issue 14) is examples/embed, run by `make demo` and
# ctest (embed.*), not yet a soak of its own.
SOAK_SECONDS ?= 3600
soak: build venv
	@echo "soak: C, Python and Lua side by side, $(SOAK_SECONDS) s each"
	@. ./$(BUILD)/lua-env.sh; export CSP_BUILD_DIR=$(abspath $(BUILD)); \
	limit=$$(( $(SOAK_SECONDS) + 600 )); \
	run() { \
	    tag=$$1; shift; \
	    timeout -k 10 $$limit "$$@" 2>&1 | sed -u "s/^/[$$tag] /"; \
	}; \
	run c ./$(BUILD)/tests/csp_soak --seconds $(SOAK_SECONDS) & c=$$!; \
	run py $(PY) tests/soak/soak.py --seconds $(SOAK_SECONDS) & p=$$!; \
	run lua lua5.4 tests/soak/soak.lua --seconds $(SOAK_SECONDS) & l=$$!; \
	rc=0; \
	wait $$c || { rc=$$?; echo "soak: FAIL: the C soak exited with $$rc"; }; \
	wait $$p || { rc=$$?; echo "soak: FAIL: the Python soak exited with $$rc"; }; \
	wait $$l || { rc=$$?; echo "soak: FAIL: the Lua soak exited with $$rc"; }; \
	exit $$rc
# ---------------------------------------------------------------------------
