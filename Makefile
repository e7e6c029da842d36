# Sovereign's build. The two commands a newcomer needs: `make dev` and `make test`.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

TOOLS := $(CURDIR)/bin/tools
# Pinned tool versions; `make tools` installs each into bin/tools once.
BUF_VERSION                   := v1.75.0
PROTOC_GEN_GO_VERSION         := v1.36.12
PROTOC_GEN_CONNECT_GO_VERSION := v1.19.1
STATICCHECK_VERSION           := v0.8.2
# MinIO, the S3-compatible server the storage tests run against (test-services
# starts it). It is AGPL-licensed; that is fine for a separately installed test
# tool that Sovereign runs as a process and never links. The first build takes
# several minutes.
MINIO_VERSION                 := v0.0.0-20260212201848-7aac2a2c5b7c

# Every package of every module in go.work (root, proto, sdk/go).
PKGS := github.com/sovereign-backend/sovereign/...
GO_TEST_FLAGS ?= -race -count=1 -timeout 20m

.PHONY: build dev test test-go tools gen verify lint prereqs clean bench-provision

build: ## bin/sovereign (servers) and bin/sov (the CLI)
	go build -o bin/sovereign ./cmd/sovereign
	go build -o bin/sov ./cmd/sov

dev: prereqs build ## the whole platform on 127.0.0.1:7070 (control) and :7071 (data)
	exec bin/sovereign dev

test: prereqs tools build ## everything CI checks; go test's summary comes last
	$(MAKE) --no-print-directory verify lint bench-smoke
	bin/sovereign test-services --platform -- go test $(GO_TEST_FLAGS) $(PKGS)

test-go: build ## only the Go tests, under private servers
	bin/sovereign test-services --platform -- go test $(GO_TEST_FLAGS) $(PKGS)

prereqs: ## PostgreSQL and Valkey/Redis binaries (installed with apt-get when root)
	@scripts/prereqs.sh

tools: $(TOOLS)/.buf-$(BUF_VERSION) $(TOOLS)/.protoc-gen-go-$(PROTOC_GEN_GO_VERSION) \
       $(TOOLS)/.protoc-gen-connect-go-$(PROTOC_GEN_CONNECT_GO_VERSION) $(TOOLS)/.staticcheck-$(STATICCHECK_VERSION) \
       $(TOOLS)/.minio-$(MINIO_VERSION)

$(TOOLS)/.buf-%:
	GOBIN=$(TOOLS) GOWORK=off go install github.com/bufbuild/buf/cmd/buf@$*
	@touch $@
$(TOOLS)/.protoc-gen-go-%:
	GOBIN=$(TOOLS) GOWORK=off go install google.golang.org/protobuf/cmd/protoc-gen-go@$*
	@touch $@
$(TOOLS)/.protoc-gen-connect-go-%:
	GOBIN=$(TOOLS) GOWORK=off go install connectrpc.com/connect/cmd/protoc-gen-connect-go@$*
	@touch $@
$(TOOLS)/.staticcheck-%:
	GOBIN=$(TOOLS) GOWORK=off go install honnef.co/go/tools/cmd/staticcheck@$*
	@touch $@
$(TOOLS)/.minio-%:
	GOBIN=$(TOOLS) GOWORK=off go install github.com/minio/minio@$*
	@touch $@

gen: tools ## regenerate proto/gen from proto/
	$(TOOLS)/buf format -w
	$(TOOLS)/buf generate

verify: tools ## fails when proto/gen is stale or buf lint / buf format object
	$(TOOLS)/buf format -d --exit-code
	$(TOOLS)/buf lint
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(TOOLS)/buf generate -o "$$tmp"; \
	if ! diff -r "$$tmp/proto/gen" proto/gen >/dev/null; then \
		echo "proto/gen is stale: run 'make gen' and commit the result" >&2; \
		diff -r "$$tmp/proto/gen" proto/gen | head -20 >&2; exit 1; \
	fi
	@echo "verify: proto/gen is fresh; buf lint and buf format are clean"

lint: tools ## gofmt, go vet and staticcheck over every module
	@bad=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './bin/*')); \
	if [ -n "$$bad" ]; then echo "gofmt would change: $$bad" >&2; exit 1; fi
	go vet $(PKGS)
	$(TOOLS)/staticcheck $(PKGS)
	@echo "lint: gofmt, go vet and staticcheck are clean"

# Flags for bench/provision, e.g. BENCH_PROVISION_FLAGS='--n 200'.
BENCH_PROVISION_FLAGS ?=

bench-provision: prereqs build ## project provisioning benchmark (BENCHMARKS.md) on a private platform
	go build -o bin/bench-provision ./bench/provision
	bin/sovereign test-services --dir .sovereign/bench --platform -- bin/bench-provision $(BENCH_PROVISION_FLAGS)

# Flags for bench/data, e.g. BENCH_DATA_FLAGS='--duration 30s --concurrency 64'.
BENCH_DATA_FLAGS ?=

.PHONY: bench-data bench-smoke bench-realtime bench-storage

bench-data: prereqs build ## record API load benchmark against a raw-pgx baseline (BENCHMARKS.md) on a private platform
	go build -o bin/bench-data ./bench/data
	bin/sovereign test-services --dir .sovereign/bench --platform -- bin/bench-data $(BENCH_DATA_FLAGS)

# Flags for bench/realtime, e.g. BENCH_REALTIME_FLAGS='--subscribers 2000 --duration 10s'.
BENCH_REALTIME_FLAGS ?=

# 10,000 subscribers need 20,000 sockets in one process tree: the recipe
# raises the open-file limit to the hard limit first.
bench-realtime: prereqs build ## realtime fan-out: WebSocket subscribers, delivery latency, memory per connection (BENCHMARKS.md)
	go build -o bin/bench-realtime ./bench/realtime
	ulimit -n $$(ulimit -Hn); bin/sovereign test-services --dir .sovereign/bench --platform -- bin/bench-realtime $(BENCH_REALTIME_FLAGS)

# Flags for bench/storage, e.g. BENCH_STORAGE_FLAGS='--runs 5'.
BENCH_STORAGE_FLAGS ?=

bench-storage: prereqs build ## upload and download throughput beside cp, and the 1 GiB streaming proof (BENCHMARKS.md)
	go build -o bin/bench-storage ./bench/storage
	bin/sovereign test-services --dir .sovereign/bench --platform -- bin/bench-storage $(BENCH_STORAGE_FLAGS)

bench-smoke: prereqs build ## every benchmark in seconds: fails when a request or delivery fails, never on timings
	go build -o bin/bench-provision ./bench/provision
	go build -o bin/bench-data ./bench/data
	go build -o bin/bench-realtime ./bench/realtime
	go build -o bin/bench-storage ./bench/storage
	bin/sovereign test-services --dir .sovereign/bench-smoke --platform -- \
		bash -c 'bin/bench-provision --n 3 && bin/bench-data --smoke && bin/bench-realtime --quick && bin/bench-storage --quick'

clean: ## removes build output; .sovereign/ (local data) stays
	rm -rf bin/sovereign bin/sov bin/bench-provision bin/bench-data bin/bench-realtime bin/bench-storage
