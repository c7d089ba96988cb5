# SocialOps developer entry points. `make` lists them.
#
# With no database URL set, run/test/bench start the project-local Postgres
# cluster of adapters/postgres/localpg.sh (installing Debian's postgresql
# package if needed) and point the code at it. Set SOCIALOPS_DATABASE_URL
# (run) or SOCIALOPS_TEST_DATABASE_URL (test, bench: an admin URL on the
# `postgres` database) to use another server instead.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.ONESHELL:
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

GO        ?= go
GOFMT     ?= $(shell $(GO) env GOROOT)/bin/gofmt
LOCALPG   := bash adapters/postgres/localpg.sh
BIN       := bin/socialops
# RACE=auto uses -race when cgo works, installing gcc first when it can (root
# or passwordless sudo), else warns and tests without it; RACE=1 fails instead of
# warning; RACE=0 skips it.
RACE      ?= auto
PKG       ?= ./...
BENCH     ?= .
BENCHTIME ?= 3s
# a package's benchmarks may take this long (the reports benchmark projects a year of 14,000,000 events)
BENCHTIMEOUT ?= 90m

# Shell prefixes: use the caller's URL, else start the local cluster.
use_db = if [ -z "$${SOCIALOPS_DATABASE_URL:-}" ]; then $(LOCALPG) up; SOCIALOPS_DATABASE_URL=$$($(LOCALPG) url); export SOCIALOPS_DATABASE_URL; fi
use_test_db = if [ -z "$${SOCIALOPS_TEST_DATABASE_URL:-}" ]; then $(LOCALPG) up; SOCIALOPS_TEST_DATABASE_URL=$$($(LOCALPG) url postgres); export SOCIALOPS_TEST_DATABASE_URL; fi

# The console's secret for run and console-link when none is set: made once
# under .data/ (git-ignored), so a link printed by one works with the other.
use_console_secret = if [ -z "$${SOCIALOPS_JWT_SECRET:-}" ]; then mkdir -p .data; [ -s .data/console-secret ] || head -c 36 /dev/urandom | base64 > .data/console-secret; SOCIALOPS_JWT_SECRET=$$(cat .data/console-secret); export SOCIALOPS_JWT_SECRET; fi
CONSOLE_USER ?= demo
CONSOLE_PERMISSIONS ?= service:manage

# Go sources as the go tool sees them: no hidden, _-prefixed, testdata or vendor folders.
go_files = find . \( -name '.?*' -o -name '_*' -o -name testdata -o -name vendor -o -path ./bin \) -prune -o -type f -name '*.go' -print

.PHONY: help run console-link build test vet fmt fmt-check bench soak soak-ha stop-db clean-db

help: ## list the targets
	@echo "usage: make <target>"
	awk 'BEGIN { FS = ":.*## " } /^[a-z-]+:.*## / { printf "  %-10s %s\n", $$1, $$2 }' $(firstword $(MAKEFILE_LIST))
	echo
	echo "settings: SOCIALOPS_DATABASE_URL (run), SOCIALOPS_TEST_DATABASE_URL (test, bench),"
	echo "  SOCIALOPS_HTTP_ADDR, SOCIALOPS_EVENTSTORE_URL, SOCIALOPS_LOG_LEVEL (passed to the server),"
	echo "  SOCIALOPS_LOCAL_PG_PORT (local cluster, default 54329), RACE=auto|1|0,"
	echo "  PKG=$(PKG) (test, bench), BENCH=regexp, BENCHTIME=$(BENCHTIME), BENCHTIMEOUT=$(BENCHTIMEOUT)"

run: build ## serve on SOCIALOPS_HTTP_ADDR (default 127.0.0.1:8080), with the local Postgres unless SOCIALOPS_DATABASE_URL is set; the console at /console/
	@$(use_db)
	$(use_console_secret)
	# exec: the server gets Ctrl-C itself and shuts down gracefully.
	exec $(abspath $(BIN)) serve

console-link: build ## print a one-time sign-in link to the console of `make run` (CONSOLE_USER, default demo, gets an instance `demo` when it has none)
	@$(use_db)
	$(use_console_secret)
	$(BIN) migrate >/dev/null 2>&1 || true
	if [ "$(CONSOLE_USER)" = demo ]; then $(BIN) instance create --owner demo --alias demo >/dev/null 2>&1 || true; fi
	$(BIN) console link --user "$(CONSOLE_USER)" --permissions "$(CONSOLE_PERMISSIONS)"

build: ## build ./bin/socialops
	@$(GO) build -o $(BIN) ./cmd/socialops

test: vet fmt-check ## go vet, gofmt check, then go test -race on every package (against the local Postgres unless SOCIALOPS_TEST_DATABASE_URL is set)
	@$(use_test_db)
	race=-race
	if [ "$(RACE)" = 0 ]; then
		race=
	elif [ "$$($(GO) env CGO_ENABLED)" != 1 ]; then
		# -race needs cgo, which Go turns off when no C compiler is found (a fresh Debian has none).
		if [ -z "$${CGO_ENABLED:-}" ] && command -v apt-get >/dev/null; then
			sudo=""
			if [ "$$(id -u)" -ne 0 ]; then sudo -n true 2>/dev/null && sudo="sudo -n" || sudo=none; fi
			if [ "$$sudo" != none ]; then
				echo "make: -race needs a C compiler; installing Debian's gcc" >&2
				$$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
				$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev >&2
			fi
		fi
		if [ "$$($(GO) env CGO_ENABLED)" != 1 ]; then
			if [ "$(RACE)" = 1 ]; then
				echo "make: -race needs cgo and a C compiler (apt-get install gcc)" >&2
				exit 1
			fi
			echo "make: WARNING: no C compiler, so the tests run WITHOUT the race detector (apt-get install gcc to enable it)" >&2
			race=
		fi
	fi
	# The console's browser tests drive Debian's chromium: install it when missing.
	if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null && command -v apt-get >/dev/null; then
		sudo=""
		if [ "$$(id -u)" -ne 0 ]; then sudo -n true 2>/dev/null && sudo="sudo -n" || sudo=none; fi
		if [ "$$sudo" != none ]; then
			echo "make: the console's browser tests need Chromium; installing Debian's chromium" >&2
			$$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
			$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
		fi
	fi
	if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then
		export SOCIALOPS_REQUIRE_BROWSER=1
	else
		echo "make: WARNING: no Chromium (apt-get install chromium), so the console's browser tests are skipped" >&2
	fi
	# Screenshots of the browser tests are kept under .test-output/_artifacts/.
	mkdir -p .test-output
	echo "==> go test $$race -count=1 -timeout 9m $(PKG)"
	$(GO) test $$race -count=1 -timeout 9m -artifacts -outputdir "$(CURDIR)/.test-output" $(PKG)

vet: ## go vet ./...
	@echo "==> go vet ./..."
	$(GO) vet ./...

fmt: ## gofmt -w every Go file
	@$(go_files) | xargs -r $(GOFMT) -w

fmt-check: ## fail listing the Go files gofmt would change
	@echo "==> gofmt check"
	unformatted=$$($(go_files) | xargs -r $(GOFMT) -l)
	if [ -n "$$unformatted" ]; then
		echo "gofmt: these files need formatting (run 'make fmt'):" >&2
		echo "$$unformatted" | sed 's/^/  /' >&2
		exit 1
	fi

bench: ## run the benchmarks (not part of test) and print the store-vs-pgbench ratios; output kept in .bench/latest.txt
	@$(use_test_db)
	mkdir -p .bench
	status=0
	$(GO) test -run='^$$' -bench='$(BENCH)' -benchtime=$(BENCHTIME) -timeout $(BENCHTIMEOUT) $(PKG) | tee .bench/latest.txt || status=$$?
	echo
	echo "==> Postgres event store vs pgbench (one ~500-byte jsonb INSERT per transaction, same concurrency, same cluster;"
	echo "    CPU ratio: CPU per event or webhook, Go and Postgres, over pgbench's and Postgres's per transaction)"
	awk '/^Benchmark/ && /ratio_vs_pgbench/ {
		ev = tps = ratio = cpu = ""
		for (i = 3; i <= NF; i++) {
			if ($$i == "events/s" || $$i == "accepted/s") ev = $$(i-1)
			if ($$i == "pgbench_tps") tps = $$(i-1)
			if ($$i == "ratio_vs_pgbench") ratio = $$(i-1)
			if ($$i == "cpu_vs_pgbench") cpu = $$(i-1)
		}
		if (!n++) printf "  %-40s %12s %12s %8s %10s\n", "benchmark", "events/s", "pgbench tps", "ratio", "CPU ratio"
		printf "  %-40s %12s %12s %8s %10s\n", $$1, ev, tps, ratio, cpu
	}
	END { if (!n) print "  (no ratios: see the benchmark log above for why pgbench did not run)" }' .bench/latest.txt
	exit $$status

soak: ## soak test (not part of test): 10,000+ webhooks, replies, two server SIGKILLs and a Postgres restart on its own cluster (port 54339); fails unless lost=0 and doubled=0
	@echo "==> soak: SOCIALOPS_SOAK=1 go test -run '^TestSoak$$' ./cmd/socialops/ (own cluster on 127.0.0.1:54339, .data/soak-pg)"
	mkdir -p .data
	status=0
	SOCIALOPS_SOAK=1 $(GO) test -run '^TestSoak$$' -count=1 -timeout 15m -v ./cmd/socialops/ 2>&1 | tee .data/soak.txt || status=$$?
	# Outbound webhooks: 5,000 events, two SIGKILLs, a receiver failing 20 % (test cluster: SOCIALOPS_TEST_DATABASE_URL or the local one).
	echo "==> soak: SOCIALOPS_WEBHOOK_SOAK=1 go test -run '^TestWebhooksNothingLostNothingDoubled$$' ./cmd/socialops/"
	$(use_test_db)
	SOCIALOPS_WEBHOOK_SOAK=1 $(GO) test -run '^TestWebhooksNothingLostNothingDoubled$$' -count=1 -timeout 10m -v ./cmd/socialops/ 2>&1 | tee .data/soak-webhooks.txt || status=$$?
	# The summary lines last, on their own.
	grep -ho 'soak: sent=.*' .data/soak.txt | tail -n 1
	grep -ho 'webhooks crash: .*' .data/soak-webhooks.txt | tail -n 1
	exit $$status

soak-ha: ## the soak over three serve processes on one database: SIGKILLs of the process holding the most follower roles and a Postgres restart; fails unless lost=0, doubled=0 and every role moved within 10 s
	@echo "==> soak-ha: SOCIALOPS_SOAK_HA=1 go test -run '^TestSoakHA$$' ./cmd/socialops/ (own cluster on 127.0.0.1:54339, .data/soak-pg)"
	mkdir -p .data
	status=0
	SOCIALOPS_SOAK_HA=1 $(GO) test -run '^TestSoakHA$$' -count=1 -timeout 15m -v ./cmd/socialops/ 2>&1 | tee .data/soak-ha.txt || status=$$?
	grep -ho 'soak-ha: sent=.*' .data/soak-ha.txt | tail -n 1
	exit $$status

stop-db: ## stop the local Postgres cluster
	@$(LOCALPG) stop

clean-db: ## stop the local Postgres cluster and delete its data
	@$(LOCALPG) clean
