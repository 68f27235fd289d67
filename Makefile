# Build, test and code generation for the scaler multicall binary.
#
#   make build          static bin/scaler plus one symlink per command
#   make check-static   bin/scaler is static; a static build of the zmq backend passes its tests
#   make test           go vet, go test, short fuzz runs
#   make bench          every benchmark
#   make generate       regenerate committed generated code (Cap'n Proto, templ)
#   make check-generate fail when generated code is stale
#   make lint           gofmt and go vet
#   make clean

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

# Go lives in /usr/local/go on fresh machines, not always on PATH.
export PATH := $(PATH):/usr/local/go/bin
GO ?= go
BIN := bin
BINARY := $(BIN)/scaler

# Every command name of the multicall binary; `make build` makes each a symlink to scaler,
# and install.sh installs whatever symlinks bin/ has.
COMMANDS := scaler_scheduler scaler_worker_manager scaler_object_storage_server scaler_top \
	scaler_gui scaler_worker scaler_bench

# The static link recipe of spec/go-deps.md §1 ("Workaround A"). Debian's libzmq.a is linked
# with a GSSAPI stub (internal/gssstub, tag zmqstatic) because Debian has no static GSSAPI
# library. libzmq's own dependencies go in -extldflags, which lands after -lzmq on the gcc
# command line: a static link resolves archives left to right. netgo and osusergo keep name
# and user lookups in pure Go.
STATIC_TAGS := zmqstatic,netgo,osusergo
STATIC_LIBS := -lsodium -lpgm -lnorm -lprotokit -lbsd -lmd -lstdc++ -lm -lrt
STATIC_LDFLAGS := -s -w -linkmode external -extldflags "-static $(STATIC_LIBS)"

# The static link makes glibc warn that getaddrinfo, getpwuid & co. need glibc's shared NSS
# modules at run time. They are harmless here (Go resolves names itself; libzmq's tcp:// name
# resolution still works with files+dns, see spec/go-deps.md), so each warning and the
# "in function" line that introduces it are filtered out; everything else is shown.
define STATIC_BUILD
	echo "CGO_ENABLED=1 $(GO) $(1) -trimpath -tags $(STATIC_TAGS) -ldflags '$(subst ",\",$(STATIC_LDFLAGS))' $(2)"; \
	if out=$$(CGO_ENABLED=1 $(GO) $(1) -trimpath -tags $(STATIC_TAGS) -ldflags '$(STATIC_LDFLAGS)' $(2) 2>&1); \
		then status=0; else status=$$?; fi; \
	out=$$(printf '%s\n' "$$out" | awk ' \
		/in statically linked applications requires at runtime the shared libraries/ { held = ""; next } \
		/: in function `/ { if (held != "") print held; held = $$0; next } \
		{ if (held != "") print held; held = ""; print } \
		END { if (held != "") print held }'); \
	if grep -qv -e '^# ' -e '^$$' <<<"$$out"; then printf '%s\n' "$$out" >&2; fi; \
	exit $$status
endef

TEST_TIMEOUT ?= 10m
FUZZ_TIME ?= 8s
# Fuzz targets run by `make test`, as package:FuzzName; add one line per new target.
FUZZ_TARGETS := \
	./core/protocol:FuzzDecode \
	./core/protocol:FuzzFastDecode \
	./core/protocol:FuzzDecodeOSSHeader \
	./core/config/address:FuzzParse \
	./core/config:FuzzLoad \
	./core/config:FuzzLogFileConfig \
	./core/transport/ymq:FuzzFrameReader \
	./core/transport/ymq:FuzzPreamble \
	./core/transport/ymq:FuzzWebSocketReader \
	./core/objstore:FuzzServerRequests \
	./core/gocodec:FuzzUnmarshal \
	./core/topview:FuzzDraw \
	./core/worker:FuzzReadFrame \
	./adapters/symphony:FuzzDecodeWrappedOutput

# Cap'n Proto code generation (spec/go-deps.md §2). The schemas' $Go.package/$Go.import
# annotations name the package; CAPNP_OUT must be that package's directory.
CAPNP_SCHEMA_DIR := core/protocol/schema
CAPNP_OUT := core/protocol/wire
# templ components of the web GUI (spec/go-deps.md §3): the generator is pinned here, not a
# tool line in go.mod, so the module graph stays free of its build dependencies.
TEMPL_VERSION := v0.3.1118
TEMPL_DIR := web
GENERATED := $(CAPNP_OUT) ':(glob)$(TEMPL_DIR)/**/*_templ.go'

.PHONY: build check-static test deps-test bench bench-e2e run generate check-generate lint clean

build:
	@mkdir -p $(BIN)
	@$(call STATIC_BUILD,build,-o $(BINARY) .)
	@for c in $(COMMANDS); do ln -sfn scaler $(BIN)/$$c; done
	@echo "built $(BINARY) (static) and symlinks: $(COMMANDS)"

# bin/scaler must be static; then a static test binary of the zmq backend (same recipe, and
# it checks its own ELF headers) must pass the backend's tests, which proves that the static
# libzmq really works, pyzmq interop included.
check-static:
	@test -x $(BINARY) || { echo "check-static: $(BINARY) is missing, run 'make build' first" >&2; exit 1; }
	@file -L $(BINARY) | grep -q 'statically linked' || { echo "check-static: not static: $$(file -L $(BINARY))" >&2; exit 1; }
	@# ldd exits 1 for a static executable, so only its words count.
	@out=$$(ldd $(BINARY) 2>&1 || true); \
		case "$$out" in *'not a dynamic executable'*) ;; \
		*) echo "check-static: ldd $(BINARY) lists shared libraries:" >&2; echo "$$out" >&2; exit 1;; esac
	@echo "$(BINARY): statically linked, no shared libraries"
	@$(call STATIC_BUILD,test -c,-o $(BIN)/zmq-static.test ./core/transport/zmq)
	@file $(BIN)/zmq-static.test | grep -q 'statically linked' || { echo "check-static: zmq test binary is not static" >&2; exit 1; }
	@cd core/transport/zmq && $(CURDIR)/$(BIN)/zmq-static.test -test.timeout 2m -test.count 1
	@rm -f $(BIN)/zmq-static.test
	@echo "static zmq backend: tests passed"

test: deps-test
	$(GO) vet ./...
	$(GO) vet -tags zmqstatic ./internal/gssstub .
	$(GO) test -timeout $(TEST_TIMEOUT) ./...
	@# Go's fuzzing engine can fail a run with a bare "context deadline exceeded" when
	@# -fuzztime ends while a worker is busy on a loaded machine; that writes no failing
	@# input and is not a finding, so such a run is repeated once. Any other failure stops.
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		for attempt in 1 2; do \
			echo "fuzz $$pkg $$fn for $(FUZZ_TIME)"; \
			out=$$($(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZ_TIME) $$pkg 2>&1) && { echo "$$out"; break; }; \
			echo "$$out"; \
			if [ $$attempt = 1 ] && grep -q 'context deadline exceeded' <<<"$$out" && ! grep -q 'Failing input' <<<"$$out"; then \
				echo "fuzz $$fn: the engine timed out at its deadline without a failing input; once more"; \
			else exit 1; fi; \
		done; \
	done

# Debian packages the tests use (installed only when missing).
deps-test:
	@scripts/deps.sh test

bench:
	$(GO) test -run '^$$' -bench . ./...

# End-to-end load: the benchmark's own scheduler and two worker processes, 100,000 no-op
# tasks; its last line is the figures (tasks/s, latency, scheduler memory).
bench-e2e: build
	$(BIN)/scaler_bench -n 100000 -w 2

# A whole local cluster from the embedded default config (scheduler, object storage, a
# dynamic worker manager); push work with: bin/scaler_bench --scheduler tcp://127.0.0.1:6378
run: build
	$(BINARY) --local

generate:
	capnp compile -I"$$($(GO) list -m -f '{{.Dir}}' capnproto.org/go/capnp/v3)/std" \
		--src-prefix=$(CAPNP_SCHEMA_DIR) -o"$$($(GO) tool -n capnpc-go)":$(CAPNP_OUT) \
		$(CAPNP_SCHEMA_DIR)/*.capnp
	$(GO) run github.com/a-h/templ/cmd/templ@$(TEMPL_VERSION) generate -log-level warn -path $(TEMPL_DIR)

# Generated code is committed; this fails when it differs from what the generators produce
# (including new generated files git does not know yet).
check-generate: generate
	git diff --exit-code -- $(GENERATED)
	@untracked=$$(git ls-files --others --exclude-standard -- $(GENERATED)); \
		if [ -n "$$untracked" ]; then echo "untracked generated files:" >&2; echo "$$untracked" >&2; exit 1; fi

lint:
	@unformatted=$$(gofmt -l .); \
		if [ -n "$$unformatted" ]; then echo "gofmt -l reports:" >&2; echo "$$unformatted" >&2; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags zmqstatic ./internal/gssstub .

clean:
	rm -rf $(BIN) dist
