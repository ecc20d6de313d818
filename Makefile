# journeyd — build, test and CI gates. Flags come from pkg-config.
#   make                 build/journeyd
#   make test            unit tests + end-to-end replay tests
#   make check           test + ASan/UBSan test run + Kafka end-to-end (what CI runs)
#   make SANITIZE=address,undefined test
#   make valgrind        unit tests under valgrind
#   make fuzz            libFuzzer targets for the decoder and the config loader (clang)
#   make bench           optimized build + benchmark (build/bench.json)
#   make hostile         peak RSS under hostile input (tests/hostile/measure.sh, minutes)
#   make kafka-up / kafka-down   real single-node Apache Kafka on 127.0.0.1:9092
#   make soak            the Kafka fault scenarios at full size (600k events, 20 kills)
#   make demo            zero-install demo on librdkafka's embedded mock cluster

CC       ?= cc
PKGS     := rdkafka jansson zlib libmicrohttpd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS))
OPT      ?= -O2
CFLAGS   ?= $(OPT) -g
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
CPPFLAGS += -std=c11 -D_GNU_SOURCE -Iinclude $(PKG_CFLAGS)
LDLIBS   += $(PKG_LIBS) -lpthread -lm

ifdef SANITIZE
BUILD    ?= build/san
CFLAGS   += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS  += -fsanitize=$(SANITIZE)
else
BUILD    ?= build
endif

# src/<layer>/*.c; src/cli/main.c is the binary's entry, the rest a library.
SRCS     := $(filter-out src/cli/main.c,$(wildcard src/*/*.c))
OBJS     := $(SRCS:src/%.c=$(BUILD)/obj/%.o)
HDRS     := $(wildcard include/journeyd/*.h) $(wildcard src/*/*.h)
LIB      := $(BUILD)/libjourneyd.a
BIN      := $(BUILD)/journeyd
TESTS    := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))
TEST_HELPERS := $(wildcard tests/unit/helpers/*.c)

.PHONY: all test unit e2e check valgrind fuzz bench hostile kafka-up kafka-down kafka-e2e soak demo clean docs

all: $(BIN)

$(BUILD)/obj/%.o: src/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -c $< -o $@

$(LIB): $(OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(BUILD)/obj/cli/main.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(TEST_HELPERS) $(LIB) $(wildcard tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Isrc -Itests/unit $(CFLAGS) $(WARN) -o $@ $< $(TEST_HELPERS) $(LIB) $(LDFLAGS) $(LDLIBS) $(shell pkg-config --libs cmocka)

unit: $(TESTS)
	@set -e; for t in $(TESTS); do echo "== $$t"; JD_TEST_DATA=tests/data $$t; done

e2e: $(BIN) $(BUILD)/tests/test_metrics $(BUILD)/tests/test_http
	@JOURNEYD=$(BIN) JD_BUILD=$(BUILD) bash tests/e2e/run.sh

test: unit e2e
	@echo "make test: all unit and end-to-end tests passed"

valgrind: $(TESTS) $(BIN)
	@set -e; for t in $(TESTS); do echo "== valgrind $$t"; \
	  valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect $$t; done
	@JOURNEYD_FREE_AT_EXIT=1 JOURNEYD="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect $(BIN)" bash tests/e2e/run.sh

# libFuzzer targets (clang + libclang-rt-dev): the library is built once
# with the fuzzer's instrumentation, each target links it.
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -Iinclude -Isrc $(PKG_CFLAGS) -g -O1 \
	-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
FUZZ_OBJS   := $(SRCS:src/%.c=build/fuzz/obj/%.o)
FUZZ_BINS   := build/fuzz/fuzz_decode build/fuzz/fuzz_config

build/fuzz/obj/%.o: src/%.c $(HDRS)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -c $< -o $@

build/fuzz/%: tests/fuzz/%.c $(FUZZ_OBJS) $(HDRS)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJS) $(PKG_LIBS) -lpthread -lm

fuzz: $(FUZZ_BINS)
	@echo "run: mkdir -p build/fuzz/corpus && build/fuzz/fuzz_decode -max_total_time=60 -dict=tests/fuzz/json.dict build/fuzz/corpus tests/fuzz/corpus"
	@echo " or: mkdir -p build/fuzz/config-corpus && build/fuzz/fuzz_config -max_total_time=60 -dict=tests/fuzz/json.dict build/fuzz/config-corpus tests/fuzz/config-corpus"

kafka-up:
	@bash scripts/kafka.sh up

kafka-down:
	@bash scripts/kafka.sh down

kafka-e2e: $(BIN)
	@JOURNEYD=$(BIN) bash tests/e2e/kafka.sh
	@JOURNEYD=$(BIN) bash tests/e2e/kafka_state.sh
	@JOURNEYD=$(BIN) bash tests/e2e/kafka_consumer.sh
	@JOURNEYD=$(BIN) bash tests/e2e/kafka_ops.sh
	@JOURNEYD=$(BIN) bash tests/e2e/kafka_reload.sh
	@JOURNEYD=$(BIN) bash tests/e2e/kafka_kinds.sh
	@JOURNEYD=$(BIN) bash tests/e2e/kafka_faults.sh
	@JOURNEYD=$(BIN) bash tests/e2e/kafka_anykeyed.sh

soak: $(BIN)
	$(MAKE) kafka-up
	@JOURNEYD=$(BIN) bash tests/e2e/kafka_faults.sh --scale soak

check:
	$(MAKE) test
	$(MAKE) SANITIZE=address,undefined test
	$(MAKE) valgrind
	$(MAKE) kafka-up
	$(MAKE) kafka-e2e
	@echo "make check: all gates passed"

demo: $(BIN)
	@bash scripts/demo.sh $(BIN)

bench:
	@$(MAKE) BUILD=build/bench OPT="-O3 -march=native -DNDEBUG" CFLAGS="-O3 -march=native -g" build/bench/journeyd
	@bash bench/run.sh build/bench/journeyd

hostile: $(BIN)
	@bash tests/hostile/measure.sh $(BIN)

clean:
	rm -rf build
