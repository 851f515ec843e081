# callmeter — top-level Makefile.  Plain and explicit: pkg-config for every library, out-of-tree objects under
# build/ (build/san/ for the sanitizer variant), -MMD dependency files.
#
#   make                 build everything (build/callmeter-worker, build/callmeter-gateway)
#   make check [SAN=1]   unit + integration tests (SAN=1: AddressSanitizer + UndefinedBehaviorSanitizer)
#   make bench           benchmarks under tests/bench/ (final lines "BENCH <name> <value> <unit> ...")
#   make demo            the main job on the embedded default plan
#   make install [PREFIX=/usr/local] [DESTDIR=]
#   make clean

VERSION  := 0.1.0
PREFIX   ?= /usr/local
DESTDIR  ?=
SAN      ?= 0

# Libraries, all from Debian 12 packages (appliance/deps.sh installs them).
PKGS := libdpdk openssl opus libsrtp2 msgpack libmicrohttpd inih spandsp jansson speexdsp sqlite3 libcares
TEST_PKGS := check

# A fresh machine: install what is missing before anything asks pkg-config (skipped for 'make clean').
ifeq ($(filter clean,$(MAKECMDGOALS)),)
TEST_TOOLS := kamailio sipp tshark dpdk-testpmd clang
ifneq ($(shell pkg-config --exists $(PKGS) $(TEST_PKGS) 2>/dev/null && command -v $(TEST_TOOLS) >/dev/null && echo ok),ok)
$(info callmeter: build dependencies missing, running appliance/deps.sh)
DEPS_RC := $(shell sh appliance/deps.sh >&2; echo $$?)
ifneq ($(DEPS_RC),0)
$(error appliance/deps.sh failed (exit $(DEPS_RC)); see the messages above)
endif
endif
endif

CC       ?= cc
V        ?= 0
ifeq ($(V),1)
Q :=
else
Q := @
endif
FUZZ     ?= 0
ifeq ($(FUZZ),1)
# libFuzzer build: everything compiled by clang with coverage instrumentation (make fuzz).
CC       := clang
BUILD    := build/fuzz
SANFLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
else ifeq ($(SAN),1)
BUILD    := build/san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD    := build
SANFLAGS :=
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS))
CHECK_CFLAGS := $(shell pkg-config --cflags $(TEST_PKGS))
CHECK_LIBS   := $(shell pkg-config --libs $(TEST_PKGS))

CFLAGS   ?= -O2 -g
# -Wno-format-truncation (gcc): messages are built with snprintf into fixed buffers on purpose; a cut message is
# fine.  clang (the fuzz build) has no such warning.
WARN_CC  := $(if $(filter clang,$(CC)),,-Wno-format-truncation)
CFLAGS   += -D_GNU_SOURCE -std=gnu11 -Wall -Wextra -Werror $(WARN_CC) -MMD -MP -I. $(PKG_CFLAGS) $(SANFLAGS) \
            -DCM_VERSION='"$(VERSION)"'
LDFLAGS  += $(SANFLAGS)
LDLIBS   += $(PKG_LIBS) -lssl -lcrypto -lm -lpthread

# Every folder's *.c goes into one static library; main() lives only in the programs' own files.
LIB_DIRS  := common config sip codecs dataplane controlplane gateway
LIB_SRCS  := $(filter-out controlplane/main.c gateway/main.c,$(foreach d,$(LIB_DIRS),$(wildcard $(d)/*.c)))
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
LIB       := $(BUILD)/libcallmeter.a

WORKER    := $(BUILD)/callmeter-worker
GATEWAY   := $(BUILD)/callmeter-gateway

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
BENCH_SRCS := $(wildcard tests/bench/bench_*.c)
BENCH_BINS := $(BENCH_SRCS:tests/bench/%.c=$(BUILD)/bench/%)
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/%)
FUZZ_SECONDS ?= 10

.PHONY: all check unit integration bench demo install clean fuzz fuzz-bins fuzz-short
all: $(WORKER) $(GATEWAY)

# The dataplane (its packet paths) is built -O3, as DPDK builds itself: +4 % TX packets per CPU-second in
# bench_dp_tx (docs/dataplane.md).  DP_OPT= builds it with CFLAGS alone.
DP_OPT ?= -O3
$(BUILD)/obj/dataplane/%.o: CFLAGS += $(DP_OPT)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(Q)rm -f $@
	$(Q)ar rcs $@ $^

$(WORKER): $(BUILD)/obj/controlplane/main.o $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(GATEWAY): $(BUILD)/obj/gateway/main.o $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC+LD   $@")
	$(Q)$(CC) $(CFLAGS) $(CHECK_CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS) $(CHECK_LIBS)

# One libFuzzer target per parser: tests/fuzz/fuzz_NAME.c with a seed corpus in tests/fuzz/NAME/.
$(BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(LIB)
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)$(CC) $(CFLAGS) -fsanitize=fuzzer $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

$(BUILD)/bench/%: tests/bench/%.c $(wildcard tests/bench/*.h tests/unit/testutil.h) $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC+LD   $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

# Unit tests run one binary per suite; each prints Check's summary line.  The test environment points them at
# the programs under test.  Sanitizer runs keep DPDK's one-time EAL allocations out of the leak report.
export CALLMETER_WORKER_BIN  = $(abspath $(WORKER))
export CALLMETER_GATEWAY_BIN = $(abspath $(GATEWAY))
export CALLMETER_SRC         = $(abspath .)
export ASAN_OPTIONS  = detect_leaks=1:abort_on_error=0:suppressions=$(abspath tests/asan.supp)
export LSAN_OPTIONS  = suppressions=$(abspath tests/lsan.supp):print_suppressions=0
export UBSAN_OPTIONS = print_stacktrace=1:halt_on_error=1

check: unit integration fuzz-short

unit: $(UNIT_BINS) $(WORKER) $(GATEWAY)
	@sh tests/run_unit.sh $(UNIT_BINS)

integration: $(WORKER) $(GATEWAY)
	@sh tests/integration/run.sh

bench: $(BENCH_BINS) $(WORKER)
	@sh tests/bench/run.sh $(BENCH_BINS) $(wildcard tests/bench/bench_*.sh)

fuzz-bins: $(FUZZ_BINS)

# make fuzz: each fuzzer for FUZZ_SECONDS (default 10) on a copy of its seed corpus.  In 'make check' a short
# run (fuzz-short) replays the seeds and a few thousand mutations, so a parser crash fails the tests.
fuzz:
	$(Q)$(MAKE) --no-print-directory FUZZ=1 fuzz-bins
	@sh tests/fuzz/run.sh build/fuzz $(FUZZ_SECONDS) $(FUZZ_SRCS)

fuzz-short:
ifeq ($(SAN)$(FUZZ),00)
	$(Q)$(MAKE) --no-print-directory FUZZ=1 fuzz-bins
	@sh tests/fuzz/run.sh build/fuzz 3 $(FUZZ_SRCS)
else
	@echo "fuzz-short: runs in the plain 'make check' only"
endif

demo: $(WORKER)
	@sh config/examples/demo.sh $(WORKER)

# make install: binaries, host helpers, systemd units, config samples (an existing config is never overwritten),
# Kubernetes/compose examples and docs.  Units go where systemd looks for administrator-installed units
# ($(PREFIX)/lib/systemd/system: /usr/local/lib/... or /usr/lib/...); set SYSTEMDUNITDIR for other prefixes.
BINDIR         ?= $(PREFIX)/bin
SBINDIR        ?= $(PREFIX)/sbin
LIBEXECDIR     ?= $(PREFIX)/lib/callmeter
DATADIR        ?= $(PREFIX)/share/callmeter
DOCDIR         ?= $(PREFIX)/share/doc/callmeter
SYSCONFDIR     ?= /etc
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR    ?= $(if $(filter /usr,$(PREFIX)),/usr/lib/sysusers.d,$(SYSCONFDIR)/sysusers.d)
UNIT_SUBST     := sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
                      -e 's|@DOCDIR@|$(DOCDIR)|g'
HOST_TOOLS     := appliance/callmeter-host-check appliance/callmeter-hugepages appliance/callmeter-bind-nic
APPLIANCE_DOCS := $(wildcard docs/appliance*.md docs/sizing.md docs/tuning.md docs/troubleshooting.md)
ETC            := $(DESTDIR)$(SYSCONFDIR)/callmeter

install: $(WORKER) $(GATEWAY)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(SYSTEMDUNITDIR) \
		$(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(DATADIR)/examples $(DESTDIR)$(DATADIR)/k8s $(DESTDIR)$(DOCDIR)
	install -d -m 0755 $(ETC)
	install -d -m 0700 $(ETC)/gateway
	install -m 0755 $(WORKER) $(GATEWAY) $(DESTDIR)$(BINDIR)/
	install -m 0755 $(HOST_TOOLS) $(DESTDIR)$(SBINDIR)/
	install -m 0644 appliance/hostlib.sh $(DESTDIR)$(LIBEXECDIR)/
	install -m 0755 appliance/entrypoint.sh appliance/healthcheck.sh $(DESTDIR)$(LIBEXECDIR)/
	$(UNIT_SUBST) appliance/systemd/callmeter-worker.service.in >$(DESTDIR)$(SYSTEMDUNITDIR)/callmeter-worker.service
	$(UNIT_SUBST) appliance/systemd/callmeter-gateway.service.in >$(DESTDIR)$(SYSTEMDUNITDIR)/callmeter-gateway.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/callmeter-worker.service $(DESTDIR)$(SYSTEMDUNITDIR)/callmeter-gateway.service
	install -m 0644 appliance/systemd/callmeter.sysusers $(DESTDIR)$(SYSUSERSDIR)/callmeter.conf
	install -m 0644 config/worker.conf.sample appliance/worker.env.sample appliance/gateway.env.sample $(ETC)/
	$(Q)[ -e $(ETC)/worker.conf ] || install -m 0640 config/worker.conf.sample $(ETC)/worker.conf
	$(Q)[ -e $(ETC)/worker.env ] || install -m 0600 appliance/worker.env.sample $(ETC)/worker.env
	$(Q)[ -e $(ETC)/gateway.env ] || install -m 0644 appliance/gateway.env.sample $(ETC)/gateway.env
	install -m 0644 appliance/k8s/*.yaml $(DESTDIR)$(DATADIR)/k8s/
	install -m 0644 appliance/docker-compose.yml $(DESTDIR)$(DATADIR)/
	$(Q)$(foreach f,$(wildcard config/examples/*.ini),install -m 0644 $(f) $(DESTDIR)$(DATADIR)/examples/ &&) true
	$(Q)$(foreach f,$(APPLIANCE_DOCS),install -m 0644 $(f) $(DESTDIR)$(DOCDIR)/ &&) true
	$(Q)if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v systemd-sysusers >/dev/null; then \
		systemd-sysusers $(SYSUSERSDIR)/callmeter.conf; fi
	@echo "installed; next: edit $(SYSCONFDIR)/callmeter/worker.env (token) and worker.conf, then"
	@echo "  systemctl daemon-reload && systemctl enable --now callmeter-worker   (docs/appliance.md)"

clean:
	rm -rf build

-include $(LIB_OBJS:.o=.d) $(BUILD)/obj/controlplane/main.d $(BUILD)/obj/gateway/main.d
