# SPDX-License-Identifier: GPL-2.0-only
# snigate: one non-recursive Makefile. Out-of-tree build in $(BUILD).
# `make help` lists the targets.

.DELETE_ON_ERROR:
# Keep test objects (pattern-rule intermediates) so re-runs do not rebuild them.
.SECONDARY:
.SUFFIXES:
.DEFAULT_GOAL := all

SAN ?=
ifeq ($(SAN),)
BUILD ?= build
else
BUILD ?= build-san
endif

CC ?= cc
ifeq ($(origin CC),default)
CC := gcc
endif
CLANG ?= clang
BPFTOOL ?= bpftool
PKG_CONFIG ?= pkg-config

V ?= 0
ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

# ---- libraries (pkg-config module : Debian package) ---------------------
PKGS := libbpf:libbpf-dev libelf:libelf-dev zlib:zlib1g-dev \
	openssl:libssl-dev jansson:libjansson-dev yaml-0.1:libyaml-dev \
	check:check libmicrohttpd:libmicrohttpd-dev libcurl:libcurl4-openssl-dev
pkg_mod = $(word 1,$(subst :, ,$(1)))
pkg_deb = $(word 2,$(subst :, ,$(1)))
check_pkg = $(if $(shell $(PKG_CONFIG) --exists $(call pkg_mod,$(1)) && echo y),,$(error missing library $(call pkg_mod,$(1)): apt-get install $(call pkg_deb,$(1)) - or run make deps))
ifneq ($(filter-out help deps clean,$(or $(MAKECMDGOALS),all)),)
$(foreach p,$(PKGS),$(call check_pkg,$(p)))
endif
pc_cflags = $(shell $(PKG_CONFIG) --cflags $(1))
pc_libs = $(shell $(PKG_CONFIG) --libs $(1))

POLICY_PKGS := jansson yaml-0.1 openssl
AGENT_PKGS := libbpf libelf zlib openssl jansson libmicrohttpd libcurl
TEST_PKGS := check

WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes \
	-Wmissing-prototypes -Wno-unused-parameter -Wpointer-arith -Wundef \
	-Wvla -Wimplicit-fallthrough
CFLAGS ?= -O2 -g
BASE_CFLAGS := -std=gnu11 $(WARN) -D_GNU_SOURCE -fno-strict-aliasing \
	-Iinclude -Ipolicy -Iagent -Ibpf -I$(BUILD)/include -MMD -MP
ifneq ($(SAN),)
BASE_CFLAGS += -fsanitize=$(SAN) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SAN)
endif
POLICY_CFLAGS := $(BASE_CFLAGS) $(call pc_cflags,$(POLICY_PKGS))
AGENT_CFLAGS := $(BASE_CFLAGS) $(call pc_cflags,$(AGENT_PKGS) $(POLICY_PKGS))
POLICY_LIBS := $(call pc_libs,$(POLICY_PKGS))
AGENT_LIBS := $(call pc_libs,$(AGENT_PKGS) $(POLICY_PKGS)) -lpthread -lm
TEST_LIBS := $(call pc_libs,$(TEST_PKGS))

# ---- BPF --------------------------------------------------------------
ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -D__bpf__ \
	-Wall -Werror -Wno-unused-function -Iinclude -Ibpf -I$(BUILD)/include \
	-I/usr/include/$(shell uname -m)-linux-gnu -MMD -MP
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(BPF_SRCS:bpf/%.bpf.c=$(BUILD)/bpf/%.bpf.o)
SKELS := $(BPF_SRCS:bpf/%.bpf.c=$(BUILD)/include/%.skel.h)

# vmlinux.h: regenerated only when its content changes (selftests habit).
$(BUILD)/include/vmlinux.h: $(VMLINUX_BTF) | $(BUILD)/include
	$(call msg,GEN,$@)
	$(Q)$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@.tmp
	$(Q)if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c $(BUILD)/include/vmlinux.h | $(BUILD)/bpf
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -MF $(@:.o=.d) -c $< -o $@

$(BUILD)/include/%.skel.h: $(BUILD)/bpf/%.bpf.o | $(BUILD)/include
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*)_bpf > $@

# Test-only BPF objects (tests/bpf/*.bpf.c): same flags and skeleton naming;
# static pattern rules so they never shadow the bpf/ ones.
TEST_BPF_SRCS := $(wildcard tests/bpf/*.bpf.c)
TEST_BPF_OBJS := $(TEST_BPF_SRCS:tests/bpf/%.bpf.c=$(BUILD)/tests/bpf/%.bpf.o)
TEST_SKELS := $(TEST_BPF_SRCS:tests/bpf/%.bpf.c=$(BUILD)/include/%.skel.h)
$(TEST_BPF_OBJS): $(BUILD)/tests/bpf/%.bpf.o: tests/bpf/%.bpf.c $(BUILD)/include/vmlinux.h
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -MF $(@:.o=.d) -c $< -o $@
$(TEST_SKELS): $(BUILD)/include/%.skel.h: $(BUILD)/tests/bpf/%.bpf.o | $(BUILD)/include
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*)_bpf > $@

# ---- sources -------------------------------------------------------------
POLICY_SRCS := $(wildcard policy/*.c)
AGENT_SRCS := $(filter-out agent/main.c,$(wildcard agent/*.c))
POLICY_OBJS := $(POLICY_SRCS:%.c=$(BUILD)/%.o)
AGENT_OBJS := $(AGENT_SRCS:%.c=$(BUILD)/%.o)
MAIN_OBJ := $(BUILD)/agent/main.o
LIBPOLICY := $(BUILD)/libpolicy.a
LIBAGENT := $(BUILD)/libagent.a

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)
SOCK_SRCS := $(wildcard tests/sock/*.c)
SOCK_BINS := $(SOCK_SRCS:tests/sock/%.c=$(BUILD)/tests/sock/%)
TOOL_SRCS := $(wildcard tests/tools/*.c)
TOOL_BINS := $(TOOL_SRCS:tests/tools/%.c=$(BUILD)/tests/tools/%)
BENCH_SRCS := $(wildcard tests/bench/*.c)
BENCH_BINS := $(BENCH_SRCS:tests/bench/%.c=$(BUILD)/tests/bench/%)
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/fuzz/%)

$(POLICY_OBJS): $(BUILD)/%.o: %.c | $(BUILD)/include/vmlinux.h
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(POLICY_CFLAGS) -c $< -o $@

# Agent objects may include any skeleton: generate them first.
$(AGENT_OBJS) $(MAIN_OBJ): $(BUILD)/%.o: %.c | $(SKELS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(AGENT_CFLAGS) -c $< -o $@

$(LIBPOLICY): $(POLICY_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIBAGENT): $(AGENT_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/snigate: $(MAIN_OBJ) $(LIBAGENT) $(LIBPOLICY)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(AGENT_LIBS)

TEST_OBJS_DIR := $(BUILD)/tests/obj
$(TEST_OBJS_DIR)/%.o: tests/%.c | $(SKELS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(AGENT_CFLAGS) $(call pc_cflags,check) -Itests -c $< -o $@

$(BUILD)/tests/unit/%: $(TEST_OBJS_DIR)/unit/%.o $(LIBAGENT) $(LIBPOLICY)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(AGENT_LIBS) $(TEST_LIBS)

define link_test_bin
$$(BUILD)/tests/$(1)/%: $$(TEST_OBJS_DIR)/$(1)/%.o $$(LIBAGENT) $$(LIBPOLICY)
	$$(call msg,LD,$$@)
	$$(Q)mkdir -p $$(@D)
	$$(Q)$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(AGENT_LIBS)
endef
$(foreach d,sock tools bench,$(eval $(call link_test_bin,$(d))))
# tests/sock loaders and bench_redirect include the test skeletons.
$(SOCK_SRCS:tests/%.c=$(TEST_OBJS_DIR)/%.o) $(BENCH_SRCS:tests/%.c=$(TEST_OBJS_DIR)/%.o): | $(TEST_SKELS)

# libFuzzer targets: clang, ASan + UBSan, policy and parser sources only.
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -std=gnu11 -D_GNU_SOURCE \
	-Iinclude -Ipolicy -Iagent -Ibpf -I$(BUILD)/include $(call pc_cflags,$(POLICY_PKGS))
FUZZ_LIB_SRCS := $(POLICY_SRCS) agent/hello.c agent/reasons.c
$(BUILD)/fuzz/%: tests/fuzz/%.c $(FUZZ_LIB_SRCS) $(wildcard bpf/lib/*.h include/*.h policy/*.h)
	$(call msg,FUZZ-CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -o $@ $< $(filter %.c,$(FUZZ_LIB_SRCS)) $(POLICY_LIBS)

$(BUILD)/include $(BUILD)/bpf:
	$(Q)mkdir -p $@

# ---- targets ---------------------------------------------------------------
.PHONY: all bpf tests check check-unit check-priv demo deps bench bench-quick \
	fuzz soak vmtest clean help

all: $(BUILD)/snigate $(BPF_OBJS) ## build the agent binary and BPF objects

bpf: $(BPF_OBJS) $(SKELS) ## build BPF objects and skeletons only

tests: all $(UNIT_BINS) $(SOCK_BINS) $(TOOL_BINS) ## build every test binary

check: tests ## run the whole test suite (unit + privileged tiers; root)
	$(Q)BUILD=$(BUILD) tests/run-unit.sh $(UNIT_BINS)
	$(Q)BUILD=$(BUILD) tests/run-priv.sh

check-unit: $(UNIT_BINS) ## run the Check unit tests only (unprivileged)
	$(Q)BUILD=$(BUILD) tests/run-unit.sh $(UNIT_BINS)

check-priv: tests ## run the privileged tiers only (root)
	$(Q)BUILD=$(BUILD) tests/run-priv.sh $(T)

demo: all $(TOOL_BINS) ## run the seed example end to end (root)
	$(Q)BUILD=$(BUILD) examples/demo.sh

deps: ## install the Debian packages the build, tests and demo need
	$(Q)scripts/deps.sh

bench: all $(BENCH_BINS) $(TOOL_BINS) ## benchmarks against HAProxy/NGINX/sniproxy (root)
	$(Q)BUILD=$(BUILD) tests/bench/run.sh

bench-quick: all $(BENCH_BINS) $(TOOL_BINS) ## short benchmark run (< 2 min)
	$(Q)BUILD=$(BUILD) QUICK=1 tests/bench/run.sh

fuzz: $(FUZZ_BINS) ## run every fuzz target for FUZZ_SECONDS (default 60)
	$(Q)BUILD=$(BUILD) tests/fuzz/run.sh $(FUZZ_BINS)

soak: tests ## soak: 5,000 checksummed connections for SOAK_SECONDS (default 180; root)
	$(Q)BUILD=$(BUILD) tests/soak/run.sh

vmtest: tests ## run the privileged tiers in QEMU VMs (KERNELS="6.1 6.12 7")
	$(Q)BUILD=$(BUILD) vmtest/run.sh $(KERNELS)

clean: ## remove the build directories
	$(Q)rm -rf build build-san

help: ## list targets and knobs
	@printf 'snigate make targets:\n'
	@grep -hE '^[a-z-]+:.*## ' $(firstword $(MAKEFILE_LIST)) | sed -e 's/:.*## /\t/' | awk -F'\t' '{printf "  %-12s %s\n", $$1, $$2}'
	@printf '\nknobs: V=1 (full commands)  SAN=address,undefined (sanitizer build in build-san/)\n'
	@printf '       BUILD=dir  CC=  CLANG=  BPFTOOL=  PKG_CONFIG=  T=test-name  KERNELS="6.1 6.12 7"\n'

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
