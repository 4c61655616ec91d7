# ferry: one plain Makefile for the whole tree.
#
#   make          build/bin/ferry and the libraries under build/lib/
#   make check    install what is missing, build with ASan+UBSan, run every test
#   make check-stress  the whole suite RUNS times (3) beside a CPU load
#   make demo     install what is missing, build, show ferry on real frames
#   make soak     make demo's flow 20 times in a row (DEMO_RUNS)
#   make bench    optimised build, figures and ratios against lora-packet
#   make bench-se the secure element's code, RAM and stack on a Cortex-M0+,
#                 and its flash wear
#   make se-target  cross-build the element for a Cortex-M0+ (part of check)
#   make fuzz     run each libFuzzer target for FUZZ_SECONDS (clang)
#
# Each layer is a folder under src/ and becomes one static library; a layer
# links only against the layers below it (see docs/architecture.md).

CC        ?= cc
PKG       ?= pkg-config
BUILD     ?= build
OPT       ?= -O2 -g
FUZZ_SECONDS ?= 60

WARN      := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
             -Wformat=2 -Wvla
BASE_CFLAGS := -std=c17 -D_DEFAULT_SOURCE -D_GNU_SOURCE $(WARN) -Isrc

# mbedTLS 2.28 on Debian ships no .pc file; fall back to the plain names.
MBEDTLS_LIBS := $(shell $(PKG) --libs mbedcrypto 2>/dev/null || echo -lmbedcrypto)
JANSSON_CFLAGS := $(shell $(PKG) --cflags jansson 2>/dev/null)
JANSSON_LIBS   := $(shell $(PKG) --libs jansson 2>/dev/null || echo -ljansson)
CMOCKA_CFLAGS  := $(shell $(PKG) --cflags cmocka 2>/dev/null)
CMOCKA_LIBS    := $(shell $(PKG) --libs cmocka 2>/dev/null || echo -lcmocka)
# Server side: HTTP (libmicrohttpd + GnuTLS), HTTP client, SQLite,
# PostgreSQL, PKCS#11 headers (the module itself is dlopen()ed).
SERVER_PKGS    := libmicrohttpd gnutls libcurl sqlite3 libpq p11-kit-1
SERVER_CFLAGS  := $(shell $(PKG) --cflags $(SERVER_PKGS) 2>/dev/null)
SERVER_LIBS    := $(shell $(PKG) --libs $(SERVER_PKGS) 2>/dev/null) -lpthread -ldl

# Layers, bottom first. Static link order is the reverse.
# A layer exists once its folder has a source file.
LAYERS    := $(foreach l,lorawan net mls se sehost hsm store bi js idm hub lab,$(if $(wildcard src/$(l)/*.c),$(l)))
LAYER_LIBS = $(foreach l,$(call reverse,$(LAYERS)),$(1)/lib/libferry-$(l).a)
reverse    = $(if $(1),$(call reverse,$(wordlist 2,$(words $(1)),$(1))) $(firstword $(1)))

EXT_LIBS  := $(JANSSON_LIBS) $(SERVER_LIBS) $(MBEDTLS_LIBS) -lm
EXT_CFLAGS := $(JANSSON_CFLAGS) $(CMOCKA_CFLAGS) $(SERVER_CFLAGS)

CLI_SRC   := $(wildcard src/cli/*.c)
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
FUZZ_SRC  := $(wildcard tests/fuzz/fuzz_*.c)
HEADERS   := $(wildcard src/*/*.h tests/unit/*.h)

# The activation console's static files, embedded in `idm serve`
# (src/idm/idm_console.h, docs/console.md): index.html first.
CONSOLE_FILES := console/index.html $(filter-out console/index.html,$(wildcard console/*.html console/*.js console/*.css console/*.svg))
CONSOLE_C     := $(BUILD)/gen/idm_console_assets.c
$(CONSOLE_C): $(CONSOLE_FILES) scripts/embed_console.sh
	@mkdir -p $(dir $@)
	$(Q)scripts/embed_console.sh $@ $(CONSOLE_FILES)

# Quiet by default: one line per file; `make V=1` prints whole commands.
ifeq ($(V),1)
Q :=
say = @true
else
Q := @
say = @printf '  %-6s %s\n' $(1) $(2)
endif

# ---------------------------------------------------------------------------
# One build tree per flavour: $(BUILD) (normal), $(BUILD)/san (sanitizers),
# $(BUILD)/bench (optimised, no debug checks).
# $(call flavour,DIR,CFLAGS,LDFLAGS)
define flavour
$(1)/obj/%.o: %.c $(HEADERS)
	@mkdir -p $$(dir $$@)
	$$(call say,CC,$$@)
	$(Q)$$(CC) $(BASE_CFLAGS) $(2) $(EXT_CFLAGS) -c $$< -o $$@

$(1)/obj/gen/idm_console_assets.o: $(CONSOLE_C) src/idm/idm_console.h
	@mkdir -p $$(dir $$@)
	$$(call say,CC,$$@)
	$(Q)$$(CC) $(BASE_CFLAGS) $(2) -c $$< -o $$@

$(foreach l,$(LAYERS),
$(1)/lib/libferry-$(l).a: $$(patsubst %.c,$(1)/obj/%.o,$$(wildcard src/$(l)/*.c)) $(if $(filter idm,$(l)),$(1)/obj/gen/idm_console_assets.o)
	@mkdir -p $$(dir $$@)
	$$(call say,AR,$$@)
	$(Q)rm -f $$@ && ar rcs $$@ $$^
)

$(1)/bin/ferry: $$(patsubst %.c,$(1)/obj/%.o,$(CLI_SRC)) $(call LAYER_LIBS,$(1))
	@mkdir -p $$(dir $$@)
	$$(call say,LD,$$@)
	$(Q)$$(CC) $(2) $(3) $$^ $(EXT_LIBS) -o $$@

$(1)/tests/%: $(1)/obj/tests/unit/%.o $(call LAYER_LIBS,$(1))
	@mkdir -p $$(dir $$@)
	$$(call say,LD,$$@)
	$(Q)$$(CC) $(2) $(3) $$^ $(CMOCKA_LIBS) $(EXT_LIBS) -o $$@

$(1)/tests/oracle_check: $(1)/obj/tests/oracle/oracle_check.o $(call LAYER_LIBS,$(1))
	@mkdir -p $$(dir $$@)
	$$(call say,LD,$$@)
	$(Q)$$(CC) $(2) $(3) $$^ $(EXT_LIBS) -o $$@

$(1)/bench/bench_lw: $(1)/obj/bench/bench_lw.o $(call LAYER_LIBS,$(1))
	@mkdir -p $$(dir $$@)
	$$(call say,LD,$$@)
	$(Q)$$(CC) $(2) $(3) $$^ $(EXT_LIBS) -o $$@

$(1)/bench/js_load: $(1)/obj/bench/js_load.o $(call LAYER_LIBS,$(1))
	@mkdir -p $$(dir $$@)
	$$(call say,LD,$$@)
	$(Q)$$(CC) $(2) $(3) $$^ $(EXT_LIBS) -o $$@

$(1)/bench/idm_profile: $(1)/obj/bench/idm_profile.o $(call LAYER_LIBS,$(1))
	@mkdir -p $$(dir $$@)
	$$(call say,LD,$$@)
	$(Q)$$(CC) $(2) $(3) $$^ $(EXT_LIBS) -o $$@

$(1)/bench/idm_uplink: $(1)/obj/bench/idm_uplink.o $(call LAYER_LIBS,$(1))
	@mkdir -p $$(dir $$@)
	$$(call say,LD,$$@)
	$(Q)$$(CC) $(2) $(3) $$^ $(EXT_LIBS) -ldl -lpthread -o $$@

$(1)/bench/lab_scale: $(1)/obj/bench/lab_scale.o $(call LAYER_LIBS,$(1))
	@mkdir -p $$(dir $$@)
	$$(call say,LD,$$@)
	$(Q)$$(CC) $(2) $(3) $$^ $(EXT_LIBS) -o $$@
endef

SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

$(eval $(call flavour,$(BUILD),$(OPT),))
$(eval $(call flavour,$(BUILD)/san,-O1 -g $(SAN),$(SAN)))
$(eval $(call flavour,$(BUILD)/bench,-O2 -DNDEBUG,))

UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/san/tests/%,$(UNIT_SRC))

# LoRaMac-node's end-device crypto, unmodified, as a host program for tests
# (tests/loramac/lmn_dev.c; issue 20). Built from LORAMAC_NODE_DIR when its
# source is there; the tests that use it say "skipped" when it is not. Only
# tests/loramac/ is ours: upstream's files are compiled in place, with their
# own warnings (not -Werror: their code, not ours to fix).
LORAMAC_NODE_DIR ?= $(abspath ../shared/loramac-node)
LMN_SRC_DIR := $(LORAMAC_NODE_DIR)/src
LMN_UPSTREAM := $(addprefix $(LMN_SRC_DIR)/,mac/LoRaMacCrypto.c mac/LoRaMacParser.c mac/LoRaMacSerializer.c \
                  peripherals/soft-se/soft-se.c peripherals/soft-se/aes.c peripherals/soft-se/cmac.c)
LMN_OURS  := tests/loramac/lmn_dev.c tests/loramac/lmn_shim.c
LMN_INC   := -I$(LMN_SRC_DIR)/mac -I$(LMN_SRC_DIR)/boards -I$(LMN_SRC_DIR)/system -I$(LMN_SRC_DIR)/peripherals/soft-se
LMN_BIN   := $(BUILD)/loramac/lmn_dev
LMN_BINS  := $(if $(wildcard $(LMN_SRC_DIR)/mac/LoRaMacCrypto.c),$(LMN_BIN))
# lmn_se: the same crypto on ferry's element through its driver (rules below
# ELEMENT_SRC).
LMN_SE_BIN := $(BUILD)/loramac/lmn_se
LMN_SE_LOCAL_BIN := $(BUILD)/loramac/lmn_se_local
LMN_SE_BINS := $(if $(wildcard $(LMN_SRC_DIR)/mac/LoRaMacCrypto.c),$(LMN_SE_BIN) $(LMN_SE_LOCAL_BIN))

$(LMN_BIN): $(LMN_UPSTREAM) $(LMN_OURS)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) -std=c17 -D_DEFAULT_SOURCE -O1 -g $(SAN) -DSOFT_SE $(LMN_INC) $(LMN_UPSTREAM) $(LMN_OURS) -o $@ $(SAN)

# One LoRaMac-node device on the lab's radio (ports/loramac-node/lab/lmn_node.c;
# issue 20): upstream's MAC, region EU868 (with RegionCommon), class B as
# upstream builds it without LORAMAC_CLASSB_ENABLED (its stubs), LmHandler and
# its packages, timer.c and systime.c, all unmodified and compiled in place;
# ferry's board (ports/loramac-node/lab/: clock, virtual radio on ferry's lab
# gateways, NVM in a file), ferry's element driver and activation package
# (ports/loramac-node/ferry-se/) and the in-process element transport
# (tests/loramac/lmn_transport_local.c). Built in the normal and the
# sanitizer flavours, beside each flavour's ferry binary (`ferry demo
# --stack loramac-node` looks for it there). Built without SOFT_SE: the
# stack's NVM then has no key list. Our files are checked with ferry's
# warnings as errors first (upstream's are built with their own warnings).
LMN_APP_DIR := $(LMN_SRC_DIR)/apps/LoRaMac/common
LMN_NODE_UPSTREAM := $(addprefix $(LMN_SRC_DIR)/,mac/LoRaMac.c mac/LoRaMacAdr.c mac/LoRaMacClassB.c \
                  mac/LoRaMacCommands.c mac/LoRaMacConfirmQueue.c mac/LoRaMacCrypto.c mac/LoRaMacParser.c \
                  mac/LoRaMacSerializer.c mac/region/Region.c mac/region/RegionCommon.c mac/region/RegionEU868.c \
                  system/timer.c system/systime.c boards/mcu/utilities.c) \
                  $(addprefix $(LMN_APP_DIR)/LmHandler/,LmHandler.c packages/LmhpCompliance.c packages/LmhpClockSync.c \
                  packages/LmhpRemoteMcastSetup.c packages/LmhpFragmentation.c packages/FragDecoder.c)
LMN_NODE_OURS := $(wildcard ports/loramac-node/lab/*.c) ports/loramac-node/ferry-se/LmhpFerry.c \
                  ports/loramac-node/ferry-se/ferry-se.c tests/loramac/lmn_transport_local.c
LMN_NODE_HDR  := $(wildcard ports/loramac-node/lab/*.h ports/loramac-node/ferry-se/*.h tests/loramac/*.h)
LMN_NODE_INC  := -I$(LMN_SRC_DIR)/mac -I$(LMN_SRC_DIR)/mac/region -I$(LMN_SRC_DIR)/boards -I$(LMN_SRC_DIR)/system \
                  -I$(LMN_SRC_DIR)/radio -I$(LMN_APP_DIR) -I$(LMN_APP_DIR)/LmHandler -I$(LMN_APP_DIR)/LmHandler/packages \
                  -Iports/loramac-node/lab -Iports/loramac-node/ferry-se -Itests/loramac -Isrc
LMN_NODE_DEFS := -DREGION_EU868 -DLMN_LAB
LMN_HAVE_SRC  := $(wildcard $(LMN_SRC_DIR)/mac/LoRaMac.c)
LMN_NODE_BINS := $(if $(LMN_HAVE_SRC),$(BUILD)/loramac/lmn_node)
LMN_NODE_SAN  := $(if $(LMN_HAVE_SRC),$(BUILD)/san/loramac/lmn_node)

# $(call lmn_node_rule,OUT,CFLAGS,LIBDIR)
define lmn_node_rule
$(1): $(LMN_NODE_UPSTREAM) $(LMN_NODE_OURS) $(LMN_NODE_HDR) $(call LAYER_LIBS,$(3))
	@mkdir -p $$(dir $$@)
	$$(call say,LD,$$@)
	$(Q)for f in $(filter ports/%,$(LMN_NODE_OURS)); do \
	    $$(CC) -std=gnu17 -D_DEFAULT_SOURCE $(WARN) -fsyntax-only $(LMN_NODE_DEFS) $(LMN_NODE_INC) $$$$f || exit 1; done
	$(Q)$$(CC) -std=gnu17 -D_DEFAULT_SOURCE $(2) $(LMN_NODE_DEFS) $(LMN_NODE_INC) $(JANSSON_CFLAGS) \
	    $(LMN_NODE_UPSTREAM) $(LMN_NODE_OURS) $(call LAYER_LIBS,$(3)) $(EXT_LIBS) -lm -o $$@
endef
$(eval $(call lmn_node_rule,$(BUILD)/loramac/lmn_node,$(OPT),$(BUILD)))
$(eval $(call lmn_node_rule,$(BUILD)/san/loramac/lmn_node,-O1 -g $(SAN),$(BUILD)/san))

.PHONY: loramac
loramac: $(LMN_BINS) $(LMN_SE_BINS) $(LMN_NODE_BINS)
	@$(if $(LMN_HAVE_SRC),true,echo "loramac: skipped: no LoRaMac-node source in $(LORAMAC_NODE_DIR) (set LORAMAC_NODE_DIR)")

.PHONY: all deps check check-stress demo soak bench bench-se se-target fuzz clean san-build
.DEFAULT_GOAL := all
.SECONDARY:

all: $(BUILD)/bin/ferry $(foreach l,$(LAYERS),$(BUILD)/lib/libferry-$(l).a)

deps:
	@./scripts/deps.sh

san-build: $(BUILD)/san/bin/ferry $(UNIT_BINS) $(BUILD)/san/tests/oracle_check $(LMN_BINS) $(LMN_SE_BINS) \
           $(LMN_NODE_SAN)

# The bench flavour (-O2 -DNDEBUG) is built too, not run: an assert-only
# variable or a warning that only NDEBUG shows would otherwise break
# `make bench` unseen.
check: deps
	@$(MAKE) --no-print-directory all san-build se-target $(BENCH_BINS)
	@BUILD=$(BUILD) ONLY="$(ONLY)" LORAMAC_NODE_DIR=$(LORAMAC_NODE_DIR) ./tests/run.sh

# Not part of `make check`: several runs of it take most of an hour.
# RUNS=N, STRESS_LOAD=cpu|build|none (tests/stress.sh).
check-stress: deps
	@$(MAKE) --no-print-directory all san-build
	@BUILD=$(BUILD) ./tests/stress.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) ./scripts/demo.sh

# Not part of `make check`: `make demo`'s flow DEMO_RUNS times (20), about
# an hour (tests/soak.sh).
soak: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) ./tests/soak.sh

BENCH_BINS := $(BUILD)/bench/bench/bench_lw $(BUILD)/bench/bench/js_load $(BUILD)/bench/bench/idm_profile \
              $(BUILD)/bench/bench/idm_uplink $(BUILD)/bench/bench/lab_scale $(BUILD)/bench/bin/ferry
bench: deps
	@$(MAKE) --no-print-directory $(BENCH_BINS)
	@BUILD=$(BUILD) BENCH_LW=$(BUILD)/bench/bench/bench_lw ./bench/run.sh
	@$(MAKE) --no-print-directory bench-se
	@BUILD=$(BUILD) ./bench/idm_import.sh
	@BUILD=$(BUILD) IDM_PROFILE=$(BUILD)/bench/bench/idm_profile ./bench/idm_profile.sh
	@BUILD=$(BUILD) IDM_UPLINK=$(BUILD)/bench/bench/idm_uplink ./bench/idm_uplink.sh
	@BUILD=$(BUILD) JS_LOAD=$(BUILD)/bench/bench/js_load ./bench/js_bench.sh
	@BUILD=$(BUILD) ./bench/lab_demo.sh
	@# the simulated 10,000-device flow does not complete yet (issue 15, docs/scale.md): its
	@# failure is a figure to print, not the end of the bench
	-@BUILD=$(BUILD) LAB_BENCH_CLOCK=simulated LAB_BENCH_DEVICES=10000 ./bench/lab_demo.sh
	@$(BUILD)/bench/bench/lab_scale

# ---------------------------------------------------------------------------
# The secure element on its target: src/se, src/mls and the parts of
# src/lorawan they use, cross-built for a Cortex-M0+ with newlib-nano and the
# element's compact AES (no mbedTLS), then run under QEMU's mps2-an385
# (tests/integration/se_target.sh) and measured (bench/se_footprint.sh).
# SE_MLS_MSG_MAX: the largest MLS message the element's firmware takes
# (docs/mls.md, "Message size"); LW_KEY_MAX=16: the element's keys are all
# AES-128, so every key reference on its stack is 16 bytes smaller.
ARM_CC    ?= arm-none-eabi-gcc
SE_MLS_MSG_MAX ?= 512
TARGET    := $(BUILD)/target
TARGET_CPU := -mcpu=cortex-m0plus -mthumb
# -flto: the firmware (the element and the test firmware around it) is
# linked as one unit, as a device maker's firmware would be: calls across
# files are inlined, and the element's functions are specialised for its one
# static context. On cortex-m0plus that was 24,152 bytes of code against
# 26,544 without (24,632 if only the element's files were optimised
# together): the 24 KiB budget needs it since the flash store.
# tests/target/se_life_target.c keeps the painted stack honest under it.
# -fstack-usage at link: the frames of the optimised code land in
# <elf>.ltrans*.su (bench/se_footprint.sh).
# --param=max-inline-insns-auto=0: GCC inlines no function on its own
# judgement beyond what -Os already inlines (single callers, static
# inline): 208 bytes less code for the element with the LoRaMac-node
# commands, for a few dozen bytes more stack (bench-se measures both).
TARGET_SIZE := -Os --param=max-inline-insns-auto=0
TARGET_CFLAGS := -std=c17 $(WARN) $(TARGET_CPU) $(TARGET_SIZE) -g -ffunction-sections -fdata-sections -flto \
             -DMLS_MSG_MAX=$(SE_MLS_MSG_MAX) -DLW_KEY_MAX=16 -Isrc -Itests/target -I$(TARGET)
TARGET_LDFLAGS := $(TARGET_CPU) $(TARGET_SIZE) -flto -fstack-usage -nostartfiles --specs=nano.specs -T tests/target/mps2.ld \
             -Wl,--gc-sections
ELEMENT_SRC := $(wildcard src/se/*.c src/mls/*.c) $(filter-out src/lorawan/lw_crypto_mbedtls.c,$(wildcard src/lorawan/*.c))
ELEMENT_HDR := $(wildcard src/se/*.h src/mls/*.h) $(filter-out src/lorawan/lw_crypto_mbedtls.h,$(wildcard src/lorawan/*.h))

# The same crypto on ferry's element through its LoRaMac-node driver
# (ports/loramac-node/ferry-se/, no soft-se), over a socket to `ferry se
# serve` or the element in the process (tests/loramac/lmn_se.c).
LMN_SE_UPSTREAM := $(addprefix $(LMN_SRC_DIR)/,mac/LoRaMacCrypto.c mac/LoRaMacParser.c mac/LoRaMacSerializer.c)
LMN_SE_OURS := ports/loramac-node/ferry-se/ferry-se.c tests/loramac/lmn_se.c tests/loramac/lmn_shim.c \
               tests/loramac/lmn_transport_socket.c
LMN_SE_ELEMENT := tests/loramac/lmn_transport_local.c $(ELEMENT_SRC) \
                  src/sehost/se_nvm_file.c src/sehost/se_nvm_ram.c
LMN_SE_INC := -I$(LMN_SRC_DIR)/mac -I$(LMN_SRC_DIR)/boards -I$(LMN_SRC_DIR)/system -Iports/loramac-node/ferry-se \
              -Itests/loramac

# The driver is ours: warnings are errors for it (upstream's files are
# built in the same command, so only ferry-se.c is checked alone first).
$(LMN_SE_BIN): $(LMN_SE_UPSTREAM) $(LMN_SE_OURS) ports/loramac-node/ferry-se/ferry-se.h \
               ports/loramac-node/ferry-se/ferry-se-transport.h tests/loramac/lmn_transport.h tests/loramac/lmn_util.h
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) -std=c17 -Wall -Wextra -Werror -fsyntax-only $(LMN_SE_INC) ports/loramac-node/ferry-se/ferry-se.c
	$(Q)$(CC) -std=c17 -D_DEFAULT_SOURCE -O1 -g $(SAN) $(LMN_SE_INC) $(LMN_SE_UPSTREAM) $(LMN_SE_OURS) -o $@ $(SAN)

# The element in the process: the socket transport swapped for the local one.
$(LMN_SE_LOCAL_BIN): $(LMN_SE_UPSTREAM) $(LMN_SE_OURS) $(LMN_SE_ELEMENT) $(ELEMENT_HDR)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) -std=c17 -D_DEFAULT_SOURCE -DLMN_SE_LOCAL -O1 -g $(SAN) $(LMN_SE_INC) -Isrc $(LMN_SE_UPSTREAM) \
	    $(filter-out tests/loramac/lmn_transport_socket.c,$(LMN_SE_OURS)) $(LMN_SE_ELEMENT) -o $@ $(SAN)

ELEMENT_OBJ := $(patsubst %.c,$(TARGET)/obj/%.o,$(ELEMENT_SRC))
TARGET_OBJ  = $(patsubst %.c,$(TARGET)/obj/%.o,$(addprefix tests/target/,$(1)))

# Makefile too: objects built under other TARGET_CFLAGS (an existing build
# directory from before -flto) would link into a larger element.
$(TARGET)/obj/%.o: %.c $(HEADERS) $(wildcard tests/target/*.h) Makefile
	@mkdir -p $(dir $@)
	$(call say,ARMCC,$@)
	$(Q)$(ARM_CC) $(TARGET_CFLAGS) -c $< -o $@

$(TARGET)/obj/tests/target/se_life_target.o: $(TARGET)/se_life_transcript.h

# The life the firmware replays, run and checked on the host first (with
# the firmware's RAM NVM, compiled for the host).
$(BUILD)/obj/tests/target/se_life_gen.o $(BUILD)/obj/tests/target/target_flash.o: $(wildcard tests/target/*.h)
$(TARGET)/se_life_gen: $(BUILD)/obj/tests/target/se_life_gen.o $(BUILD)/obj/tests/target/target_flash.o \
		$(call LAYER_LIBS,$(BUILD))
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(OPT) $^ $(EXT_LIBS) -o $@

$(TARGET)/se_life_transcript.h: $(TARGET)/se_life_gen
	$(call say,GEN,$@)
	$(Q)$(TARGET)/se_life_gen $@ >/dev/null

$(TARGET)/se_life.elf: $(ELEMENT_OBJ) $(call TARGET_OBJ,startup.c target_flash.c se_life_target.c)
	$(call say,ARMLD,$@)
	$(Q)$(ARM_CC) $(TARGET_LDFLAGS) $^ -o $@

$(TARGET)/se_footprint.elf: $(ELEMENT_OBJ) $(call TARGET_OBJ,startup.c target_flash.c se_footprint_target.c)
	$(call say,ARMLD,$@)
	$(Q)$(ARM_CC) $(TARGET_LDFLAGS) $^ -o $@

$(TARGET)/empty.elf: $(call TARGET_OBJ,startup.c target_empty.c)
	$(call say,ARMLD,$@)
	$(Q)$(ARM_CC) $(TARGET_LDFLAGS) $^ -o $@

# Nothing in the element may include a host header (stdio, allocation,
# time, files): checked before anything is cross-built.
$(TARGET)/element-headers.ok: tests/target/element_headers.sh $(ELEMENT_SRC) $(ELEMENT_HDR)
	@mkdir -p $(dir $@)
	$(call say,CHECK,"element headers")
	$(Q)tests/target/element_headers.sh $(ELEMENT_SRC) $(ELEMENT_HDR)
	@touch $@

se-target: $(TARGET)/element-headers.ok $(TARGET)/se_life.elf $(TARGET)/se_footprint.elf $(TARGET)/empty.elf

# Quick: code, static RAM and the painted stack of the element on a
# Cortex-M0+ (and the host figures of bench/se_footprint.sh); its flash wear
# over a simulated long life (bench/se_wear.sh).
bench-se: deps
	@$(MAKE) --no-print-directory se-target
	@BUILD=$(BUILD) ./bench/se_footprint.sh
	@BUILD=$(BUILD) ./bench/se_wear.sh

# libFuzzer needs clang; each target gets its own corpus directory.
FUZZ_BINS := $(patsubst tests/fuzz/fuzz_%.c,$(BUILD)/fuzz/fuzz_%,$(FUZZ_SRC))
# The fuzz targets link the pure layers' sources directly.
PURE_SRC := $(wildcard src/lorawan/*.c src/mls/*.c src/se/*.c) src/sehost/se_nvm_ram.c
$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(PURE_SRC) $(HEADERS)
	@mkdir -p $(dir $@)
	clang $(BASE_CFLAGS) -g -O1 -fsanitize=fuzzer,address,undefined $< $(PURE_SRC) $(MBEDTLS_LIBS) -o $@

# The Backend Interfaces parsers need jansson and the bi layer (which uses
# the core's constant-time hex decoding and the server layer's JSON depth
# guard, net_json.c); a more specific pattern wins.
BI_FUZZ_SRC := $(wildcard src/bi/*.c src/lorawan/*.c) src/net/net_json.c
$(BUILD)/fuzz/fuzz_bi_%: tests/fuzz/fuzz_bi_%.c $(BI_FUZZ_SRC) $(HEADERS)
	@mkdir -p $(dir $@)
	clang $(BASE_CFLAGS) $(JANSSON_CFLAGS) -g -O1 -fsanitize=fuzzer,address,undefined $< $(BI_FUZZ_SRC) $(JANSSON_LIBS) $(MBEDTLS_LIBS) -o $@

# The IDM's batch-line parser needs jansson, the store (MAC version names)
# and the core.
IDM_FUZZ_SRC := src/idm/idm_batch.c src/idm/idm_status.c $(wildcard src/store/*.c src/lorawan/*.c)
$(BUILD)/fuzz/fuzz_idm_%: tests/fuzz/fuzz_idm_%.c $(IDM_FUZZ_SRC) $(HEADERS)
	@mkdir -p $(dir $@)
	clang $(BASE_CFLAGS) $(JANSSON_CFLAGS) $(SERVER_CFLAGS) -g -O1 -fsanitize=fuzzer,address,undefined $< $(IDM_FUZZ_SRC) $(JANSSON_LIBS) $(SERVER_LIBS) $(MBEDTLS_LIBS) -o $@

# The packet-forwarder codec needs jansson and the core's byte helpers.
LAB_FUZZ_SRC := src/lab/lab_udp.c src/lab/lab_status.c $(wildcard src/lorawan/*.c)
$(BUILD)/fuzz/fuzz_lab_%: tests/fuzz/fuzz_lab_%.c $(LAB_FUZZ_SRC) $(HEADERS)
	@mkdir -p $(dir $@)
	clang $(BASE_CFLAGS) $(JANSSON_CFLAGS) -g -O1 -fsanitize=fuzzer,address,undefined $< $(LAB_FUZZ_SRC) $(JANSSON_LIBS) $(MBEDTLS_LIBS) -o $@

fuzz: deps $(FUZZ_BINS)
	@for f in $(FUZZ_BINS); do \
	    name=$${f##*/fuzz_}; mkdir -p $(BUILD)/fuzz/corpus-$$name; \
	    echo "fuzz: $$name for $(FUZZ_SECONDS)s"; \
	    $$f -max_total_time=$(FUZZ_SECONDS) -max_len=$$(case $$name in bi_*|idm_*|lab_*) echo 4096;; *) echo 600;; esac) $(BUILD)/fuzz/corpus-$$name tests/fuzz/corpus/$$name || exit 1; \
	done

clean:
	rm -rf $(BUILD)
