# xling build. `make` builds build/libxling.a and build/xling; `make test` runs the suite;
# `make asan` builds with AddressSanitizer + UndefinedBehaviorSanitizer into build-asan/
# and runs the whole suite there. BUILD=dir selects another build folder (NATIVE=1, for
# this machine only: build-native).
CC      ?= cc
CXX     ?= g++
BUILD   ?= $(if $(filter 1,$(NATIVE)),build-native,build)
ASAN_BUILD ?= build-asan
PKGS     = jansson libutf8proc libpcre2-8 sqlite3 libmicrohttpd libcurl libzip libcrypto
# PKG_CONFIG: the cross build (aarch64-test) points it at the target's .pc files, whose
# include folders (libcurl's multiarch one) differ from the host's.
PKG_CONFIG ?= pkg-config
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
# OpenBLAS built for OpenMP (Debian's libopenblas-openmp-dev), linked by path with an
# rpath: our kernels use OpenMP too, and the pthread build's threads spin against
# OpenMP's on a small machine (3-20x slower). One runtime, one pool of threads.
MULTIARCH   := $(shell $(CC) -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
OPENBLAS_LIB ?= /usr/lib/$(MULTIARCH)/openblas-openmp
OPENBLAS_INC ?= /usr/include/$(MULTIARCH)/openblas-openmp
PKG_CFLAGS += -I$(OPENBLAS_INC)
PKG_LIBS   += -L$(OPENBLAS_LIB) -lopenblas -Wl,-rpath,$(OPENBLAS_LIB) -llinear
OPT     ?= -O2
# Kernel sets (src/kernels/dispatch.h): every src/kernels/*.c but dispatch.c is built
# once per set with the set's flags and renamed symbols; dispatch.c picks one at run
# time from CPUID (or XLING_ISA). The rest of the library targets the compiler's
# portable baseline. NATIVE=1: one set, everything built for this machine only.
# Targets other than x86-64 (aarch64...) have one set, "generic".
TARGET_MACHINE := $(shell $(CC) -dumpmachine 2>/dev/null)
ifeq ($(NATIVE),1)
ARCH    ?= -march=native
ISA_SETS := native
ISA_SINGLE := native
else ifneq ($(filter x86_64-%,$(TARGET_MACHINE)),)
ARCH    ?=
ISA_SETS := generic avx2_novnni avx2 avx512_novnni avx512
else
ARCH    ?=
ISA_SETS := generic
ISA_SINGLE := generic
endif
ISA_FLAGS_generic       := $(if $(ISA_SINGLE),,-march=x86-64 -mtune=generic)
ISA_FLAGS_avx2_novnni   := -march=x86-64-v3
ISA_FLAGS_avx2          := -march=x86-64-v3 -mavxvnni
ISA_FLAGS_avx512_novnni := -march=x86-64-v4
ISA_FLAGS_avx512        := -march=x86-64-v4 -mavx512vnni
NM      ?= nm
CFLAGS  ?=
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -g $(OPT) $(ARCH) -fopenmp \
           -Iinclude -Isrc $(PKG_CFLAGS) $(SAN)
LDFLAGS += -fopenmp $(SAN)
# hnswlib (src/tasks/hnsw.cpp, the one C++ file) needs the C++ runtime
LDLIBS  += $(PKG_LIBS) -lstdc++ -lm -lpthread
# Under the sanitizers hnswlib's SSE path is off: 0.6.2's prefetch hints read one entry
# past a link list (a heap over-read ASan reports; harmless for a prefetch).
CXXFLAGS = -std=c++17 -Wall -Wextra -g -O2 $(ARCH) -fopenmp -Iinclude -Isrc $(SAN) \
           $(if $(SAN),-DNO_MANUAL_VECTORIZATION)

LIB_SRC  := $(sort $(wildcard src/*/*.c))
KERNEL_SRC := $(filter-out src/kernels/dispatch.c,$(filter src/kernels/%,$(LIB_SRC)))
LIB_SRC  := $(filter-out $(KERNEL_SRC),$(LIB_SRC))
LIB_CXX  := $(sort $(wildcard src/*/*.cpp))
# The HTTP server (server/) is part of the xling binary; like the CLI it sees only xling.h.
CLI_SRC  := $(sort $(wildcard cli/*.c server/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
BENCH_SRC:= $(sort $(wildcard bench/*.c))
EXAMPLE_SRC := $(sort $(wildcard examples/*.c))
ISA_OBJ  := $(foreach i,$(ISA_SETS),$(KERNEL_SRC:%.c=$(BUILD)/isa/$(i)/%.o))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o) $(LIB_CXX:%.cpp=$(BUILD)/%.o) $(ISA_OBJ)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TESTS    := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCHES  := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
EXAMPLES := $(EXAMPLE_SRC:examples/%.c=$(BUILD)/examples/%)

.PHONY: all test asan aarch64-test clean bench fuzz fuzz-run install shared
.SECONDARY:
all: $(BUILD)/libxling.a $(BUILD)/xling $(TESTS) $(BENCHES) $(EXAMPLES)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# The CLI sees only the public header: its objects are built without -Isrc.
$(CLI_OBJ): CFLAGS := $(filter-out -Isrc,$(CFLAGS))
$(BUILD)/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -MMD -MP -c $< -o $@
# One kernel source for one set: its flags, its symbol suffix, then a check that every
# xl_* function it defines was renamed (else two sets would define the same name).
define ISA_RULE
$(BUILD)/isa/$(1)/%.o: %.c
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS) $$(ISA_FLAGS_$(1)) -include src/kernels/isa_rename.h -DXL_ISA_SUFFIX=$(1) \
	  '-DXL_ISA_LABEL="$(subst _,-,$(1))"' -MMD -MP -c $$< -o $$@
	@sh scripts/check_isa_symbols.sh "$$(NM)" $$@ $(1)
$(BUILD)/pic/isa/$(1)/%.o: %.c
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS) -fPIC $$(ISA_FLAGS_$(1)) -include src/kernels/isa_rename.h -DXL_ISA_SUFFIX=$(1) \
	  '-DXL_ISA_LABEL="$(subst _,-,$(1))"' -MMD -MP -c $$< -o $$@
endef
$(foreach i,$(ISA_SETS),$(eval $(call ISA_RULE,$(i))))
$(BUILD)/src/kernels/dispatch.o: CFLAGS += $(if $(ISA_SINGLE),-DXL_ISA_SINGLE=$(ISA_SINGLE) '-DXL_ISA_SINGLE_LABEL="$(ISA_SINGLE)"')

$(BUILD)/libxling.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/xling: $(CLI_OBJ) $(BUILD)/libxling.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libxling.a $(LDLIBS)

$(BUILD)/tests/%.o: CFLAGS += $(TEST_CFLAGS)
$(BUILD)/tests/%: $(BUILD)/tests/%.o $(BUILD)/tests/testlib.o $(BUILD)/libxling.a
	$(CC) $(LDFLAGS) -o $@ $< $(BUILD)/tests/testlib.o $(BUILD)/libxling.a $(LDLIBS)

# Examples see only the public header (no -Isrc): they show what a user of xling.h can do.
$(BUILD)/examples/%: examples/%.c $(BUILD)/libxling.a
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -Isrc,$(CFLAGS)) -MMD -MP $(LDFLAGS) -o $@ $< $(BUILD)/libxling.a $(LDLIBS)

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(BUILD)/libxling.a
	$(CC) $(LDFLAGS) -o $@ $< $(BUILD)/libxling.a $(LDLIBS)

# Shared library: the library objects again with -fPIC, only when asked for (make shared /
# make install), so that the everyday build and the kernels stay non-PIC.
VERSION  := $(shell sed -n 's/^\#define XLING_VERSION "\(.*\)"/\1/p' include/xling.h)
SOMAJOR  := $(firstword $(subst ., ,$(VERSION)))
PIC_OBJ  := $(LIB_SRC:%.c=$(BUILD)/pic/%.o) $(LIB_CXX:%.cpp=$(BUILD)/pic/%.o) \
            $(foreach i,$(ISA_SETS),$(KERNEL_SRC:%.c=$(BUILD)/pic/isa/$(i)/%.o))
$(BUILD)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC -MMD -MP -c $< -o $@
$(BUILD)/pic/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -fPIC -MMD -MP -c $< -o $@

$(BUILD)/libxling.so: $(PIC_OBJ)
	$(CC) -shared -Wl,-soname,libxling.so.$(SOMAJOR) $(LDFLAGS) -o $@ $^ $(LDLIBS)
shared: $(BUILD)/libxling.so

# make install PREFIX=/usr/local (DESTDIR for staging): bin/xling, lib/libxling.a,
# lib/libxling.so*, include/xling.h, lib/pkgconfig/xling.pc.
PREFIX  ?= /usr/local
DESTDIR ?=
install: $(BUILD)/xling $(BUILD)/libxling.a $(BUILD)/libxling.so
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include
	install -m 755 $(BUILD)/xling $(DESTDIR)$(PREFIX)/bin/xling
	install -m 644 $(BUILD)/libxling.a $(DESTDIR)$(PREFIX)/lib/libxling.a
	install -m 755 $(BUILD)/libxling.so $(DESTDIR)$(PREFIX)/lib/libxling.so.$(VERSION)
	ln -sf libxling.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libxling.so.$(SOMAJOR)
	ln -sf libxling.so.$(SOMAJOR) $(DESTDIR)$(PREFIX)/lib/libxling.so
	install -m 644 include/xling.h $(DESTDIR)$(PREFIX)/include/xling.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' \
	    -e 's|@LIBS_PRIVATE@|$(LDFLAGS) $(filter-out -ljansson -lutf8proc -lpcre2-8,$(LDLIBS))|' \
	    scripts/xling.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/xling.pc

# The test command (README, .ci/run): builds, runs every tests/test_* binary and the
# CLI tests, prints "N passed, N failed" last.
test: all
	@BUILD=$(BUILD) sh tests/run_tests.sh

# aarch64 (the generic kernel set): cross-compiled with Debian's gcc-aarch64-linux-gnu
# and run under qemu-user (the arm64 libraries from multiarch: see scripts/setup.sh
# --aarch64). The model, kernel and tokenizer tests; not the CLI tests. The tests are
# built without the vectorizer: GCC 12's aarch64 vectorizer crashes on test_llama.c.
AARCH64_BUILD ?= build-aarch64
AARCH64_TESTS := test_kernels test_kernel_sets test_bert test_llama test_gemma3 test_embed test_safetensors \
                 test_tokenizer test_tokenizer_units test_bpe test_tok_cache test_tokenizer_offsets \
                 test_pickle test_st_writer test_rerank test_m3 test_chunk
aarch64-test:
	$(MAKE) CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ NM=aarch64-linux-gnu-nm BUILD=$(AARCH64_BUILD) TEST_CFLAGS=-fno-tree-vectorize \
	  PKG_CONFIG='env PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig pkg-config' \
	  $(AARCH64_TESTS:%=$(AARCH64_BUILD)/tests/%)
	@BUILD=$(AARCH64_BUILD) XLING_TEST_RUNNER=qemu-aarch64 XLING_TESTS="$(AARCH64_TESTS)" sh tests/run_tests.sh

asan:
	$(MAKE) BUILD=$(ASAN_BUILD) OPT=-O1 SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" test

# libFuzzer targets (clang) for every fixture tokenizer: build, then a bounded run each.
fuzz:
	sh fuzz/build.sh
fuzz-run: fuzz
	sh fuzz/run.sh

clean:
	rm -rf build build-asan build-fuzz build-aarch64 build-native

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TESTS:=.d) $(PIC_OBJ:.o=.d) $(EXAMPLES:=.d) $(BENCHES:=.d)
