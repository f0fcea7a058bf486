# fieldsync — run `make help` for the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

TOOLS := $(CURDIR)/.tools/bin
export PATH := $(TOOLS):$(PATH)

# Pinned tool versions (installed with `go install` into .tools/bin).
BUF_VERSION                  := v1.75.0
PROTOC_GEN_GO_VERSION        := v1.36.12
PROTOC_GEN_CONNECT_GO_VERSION:= v1.21.1
VERSITYGW_VERSION            := v1.8.0
PROTOVALIDATE_VERSION        := v1.2.2

GO_TEST_FLAGS ?= -race -count=1 -timeout 12m
BENCH ?= .

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*##/ {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: run
run: ## Start fieldsyncd on embedded defaults with the demo organisation (data in ./data).
	go run ./cmd/fieldsyncd --demo

.PHONY: build
build: ## Build fieldsyncd and fieldsync into ./bin.
	go build -o bin/ ./cmd/...

.PHONY: test
test: check-generated lint test-go ## Run every check and test (what CI runs).

.PHONY: test-go
test-go: $(TOOLS)/versitygw ## Run the Go tests with the race detector.
	VERSITYGW=$(TOOLS)/versitygw go test $(GO_TEST_FLAGS) ./...

.PHONY: test-long
test-long: $(TOOLS)/versitygw ## Run the property tests with a larger budget.
	VERSITYGW=$(TOOLS)/versitygw go test -count=1 -timeout 60m ./syncengine/... ./server/... -rapid.checks=2000 -args -long

.PHONY: bench
bench: $(TOOLS)/versitygw ## Run the benchmarks (figures go into BENCHMARKS.md).
	VERSITYGW=$(TOOLS)/versitygw go test -run='^$$' -bench='$(BENCH)' -benchmem -timeout 30m ./...

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME (default 20s).
	scripts/fuzz.sh $${FUZZTIME:-20s}

.PHONY: generate
generate: $(TOOLS)/buf $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-connect-go third_party/protovalidate ## Regenerate the protobuf Go code.
	rm -f proto/fieldsync/v1/*.pb.go proto/fieldsync/v1/fieldsyncv1connect/*.go
	buf generate --path proto/fieldsync

.PHONY: check-generated
check-generated: generate ## Fail when the committed generated code is stale.
	@git diff --exit-code --stat -- proto/ || { echo "generated code is stale: run make generate and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- proto/)" || { git status --porcelain -- proto/; echo "untracked generated files: run make generate and commit"; exit 1; }

.PHONY: lint
lint: $(TOOLS)/buf third_party/protovalidate ## buf lint, buf format and go vet.
	buf lint
	buf format -d --exit-code proto
	go vet ./...

third_party/protovalidate:
	go mod download github.com/bufbuild/protovalidate@$(PROTOVALIDATE_VERSION)
	mkdir -p $@
	cp -r "$$(go env GOMODCACHE)/github.com/bufbuild/protovalidate@$(PROTOVALIDATE_VERSION)/proto/protovalidate/buf" $@/
	chmod -R u+w $@

.PHONY: tools
tools: $(TOOLS)/buf $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-connect-go $(TOOLS)/versitygw ## Install the pinned tools.

$(TOOLS)/buf:
	GOBIN=$(TOOLS) go install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
$(TOOLS)/protoc-gen-go:
	GOBIN=$(TOOLS) go install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
$(TOOLS)/protoc-gen-connect-go:
	GOBIN=$(TOOLS) go install connectrpc.com/connect/cmd/protoc-gen-connect-go@$(PROTOC_GEN_CONNECT_GO_VERSION)
$(TOOLS)/versitygw:
	scripts/install-versitygw.sh $(TOOLS) $(VERSITYGW_VERSION)
