# swift-dino — the front door. On a fresh Debian/Ubuntu machine with Swift 6 installed:
#   make demo    install system libraries, build in release, run the demo
#   make test    install system libraries, run the test suite
# Other targets: setup, build, examples (build and run Examples/) and docs (the DocC reference of
# `Dino`), both part of `make test`, bench (swift-dino beside PyTorch), bench-gemm (OpenBLAS,
# oneDNN and BLIS on the training-step shapes), clean.

SWIFT  ?= swift
PYTHON ?= python3
CC     ?= cc

# System libraries from apt, one list: oneDNN (Float32 matrix products), OpenBLAS (Float64
# products), image codecs (libjpeg-turbo, libspng, libwebp, libtiff), faiss (approximate k-NN
# for `dino curate`), Open MPI (`mpirun` for data-parallel training and its tests; libmpi is
# loaded at run time with dlopen, so `dino` builds and runs without it: docs/distributed.md).
APT_PACKAGES := libdnnl-dev libopenblas-dev libturbojpeg0-dev libspng-dev libwebp-dev libtiff-dev libfaiss-dev libopenmpi-dev openmpi-bin

# Tests build in debug: on the present suite a debug build and run takes about 32 s from a
# clean tree on 2 cores, a release build with -enable-testing about 74 s (the tests themselves
# run in well under a second either way). Switch with `make test TEST_CONFIG=release` and
# measure again when the suite grows; release tests build in their own folder (.build-test)
# so that they do not invalidate the release build of `dino`.
TEST_CONFIG ?= debug
ifeq ($(TEST_CONFIG),release)
TEST_FLAGS := -c release -Xswiftc -enable-testing --scratch-path .build-test
else
TEST_FLAGS :=
endif

# Extra arguments for `pip install torch` in `make bench` (an index or a wheel folder).
TORCH_PIP_ARGS ?=
# Arguments passed to both sides of `make bench`, e.g. BENCH_ARGS="--repeats 20 --filter matmul".
BENCH_ARGS ?=

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DINO := .build/release/dino

.PHONY: setup build demo test examples docs bench bench-gemm clean

# Installs the missing packages of the list $(1) with apt-get; does nothing when all are present.
define apt_install
	@missing=""; \
	for p in $(1); do \
		dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	fi
endef

setup:
	$(call apt_install,$(APT_PACKAGES))

build: setup
	$(SWIFT) build -c release

# DINO pretraining of vit_nano_patch4 on the bundled glyphs-mini set for a few minutes, with
# k-NN accuracy before and after (DEMO_MINUTES=4).
DEMO_MINUTES ?= 4
demo: build
	DINO=$(DINO) scripts/demo.sh $(DEMO_MINUTES)

test: setup
	$(SWIFT) test $(TEST_FLAGS)
	$(MAKE) examples docs

# The DocC reference of the `Dino` library (swift-docc-plugin), warnings as errors: a broken
# symbol link fails the build. Output: .build/plugins/Swift-DocC/outputs/Dino.doccarchive.
# Measured on this project's machine: 16 s the first time (it builds the plugin), 4 s after.
docs: setup
	$(SWIFT) package generate-documentation --target Dino --warnings-as-errors

# Examples/: programs that import only `Dino` (a package of their own that depends on this one
# by path). Built in debug into Examples/.build and run briefly: pretrain-knn trains the test
# model for 5 steps on glyphs-mini and runs k-NN, embed-neighbours embeds glyphs-mini/val with
# the result. Measured on this project's 2-core machine: +39 to +61 s of wall time to
# `make test` from a clean Examples/.build (46 s of CPU, the build; both runs take under 3 s),
# +10 s when it is up to date; `make docs` (above) adds 4 to 16 s.
EXAMPLES_RUN := Examples/.build/pretrain-knn-run
examples: setup
	$(SWIFT) build --package-path Examples
	rm -rf $(EXAMPLES_RUN)
	Examples/.build/debug/pretrain-knn --steps 5 --model test_dino --out $(EXAMPLES_RUN) \
		head.hidden_dimensions=32 head.bottleneck_dimensions=16 data.workers=1
	Examples/.build/debug/embed-neighbours data/glyphs-mini/val --run $(EXAMPLES_RUN) --neighbours 2 \
		> Examples/.build/neighbours.txt
	head -3 Examples/.build/neighbours.txt

bench: build
	@$(PYTHON) -c 'import torch' 2>/dev/null || $(PYTHON) -m pip install torch $(TORCH_PIP_ARGS)
	DINO=$(DINO) PYTHON=$(PYTHON) scripts/bench_ops.sh $(BENCH_ARGS)

# BLIS (Debian's libblis-dev, OpenMP variant) is a benchmark-only peer: installed here, not by setup.
BLIS_DIR := x86_64-linux-gnu/blis-openmp
bench-gemm: setup
	$(call apt_install,libblis-dev)
	@mkdir -p .build
	$(CC) -O2 -fopenmp -DWITH_BLIS -idirafter /usr/include/$(BLIS_DIR) scripts/gemm_backends.c -o .build/gemm_backends \
		-lopenblas -ldnnl -L/usr/lib/$(BLIS_DIR) -lblis -lm -lpthread -Wl,-rpath,/usr/lib/$(BLIS_DIR)
	.build/gemm_backends

clean:
	$(SWIFT) package clean
	rm -rf .build-test Examples/.build
