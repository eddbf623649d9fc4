# xling build. `make` builds build/libxling.a and build/xling; `make test` runs the suite;
# `make asan` builds with AddressSanitizer + UndefinedBehaviorSanitizer into build-asan/
# and runs the whole suite there. BUILD=dir selects another build folder.
CC      ?= cc
BUILD   ?= build
ASAN_BUILD ?= build-asan
PKGS     = jansson libutf8proc libpcre2-8
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# OpenBLAS built for OpenMP (Debian's libopenblas-openmp-dev), linked by path with an
# rpath: our kernels use OpenMP too, and the pthread build's threads spin against
# OpenMP's on a small machine (3-20x slower). One runtime, one pool of threads.
MULTIARCH   := $(shell $(CC) -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
OPENBLAS_LIB ?= /usr/lib/$(MULTIARCH)/openblas-openmp
OPENBLAS_INC ?= /usr/include/$(MULTIARCH)/openblas-openmp
PKG_CFLAGS += -I$(OPENBLAS_INC)
PKG_LIBS   += -L$(OPENBLAS_LIB) -lopenblas -Wl,-rpath,$(OPENBLAS_LIB) -llinear
OPT     ?= -O2
ARCH    ?= -march=native
CFLAGS  ?=
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -g $(OPT) $(ARCH) -fopenmp \
           -Iinclude -Isrc $(PKG_CFLAGS) $(SAN)
LDFLAGS += -fopenmp $(SAN)
LDLIBS  += $(PKG_LIBS) -lm -lpthread

LIB_SRC  := $(sort $(wildcard src/*/*.c))
CLI_SRC  := $(sort $(wildcard cli/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
BENCH_SRC:= $(sort $(wildcard bench/*.c))
EXAMPLE_SRC := $(sort $(wildcard examples/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TESTS    := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCHES  := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
EXAMPLES := $(EXAMPLE_SRC:examples/%.c=$(BUILD)/examples/%)

.PHONY: all test asan clean bench fuzz fuzz-run
.SECONDARY:
all: $(BUILD)/libxling.a $(BUILD)/xling $(TESTS) $(BENCHES) $(EXAMPLES)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libxling.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/xling: $(CLI_OBJ) $(BUILD)/libxling.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libxling.a $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(BUILD)/tests/testlib.o $(BUILD)/libxling.a
	$(CC) $(LDFLAGS) -o $@ $< $(BUILD)/tests/testlib.o $(BUILD)/libxling.a $(LDLIBS)

# Examples see only the public header (no -Isrc): they show what a user of xling.h can do.
$(BUILD)/examples/%: examples/%.c $(BUILD)/libxling.a
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -Isrc,$(CFLAGS)) -MMD -MP $(LDFLAGS) -o $@ $< $(BUILD)/libxling.a $(LDLIBS)

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(BUILD)/libxling.a
	$(CC) $(LDFLAGS) -o $@ $< $(BUILD)/libxling.a $(LDLIBS)

# The test command (README, .ci/run): builds, runs every tests/test_* binary and the
# CLI tests, prints "N passed, N failed" last.
test: all
	@BUILD=$(BUILD) sh tests/run_tests.sh

asan:
	$(MAKE) BUILD=$(ASAN_BUILD) OPT=-O1 SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" test

# libFuzzer targets (clang) for every fixture tokenizer: build, then a bounded run each.
fuzz:
	sh fuzz/build.sh
fuzz-run: fuzz
	sh fuzz/run.sh

clean:
	rm -rf build build-asan build-fuzz

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TESTS:=.d) $(EXAMPLES:=.d)
