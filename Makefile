# fieldsync — run `make help` for the targets.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
.DEFAULT_GOAL := help

TOOLS := $(CURDIR)/.tools/bin
export PATH := $(TOOLS):$(PATH)

# Pinned tool versions (installed with `go install` into .tools/bin).
BUF_VERSION                  := v1.75.0
PROTOC_GEN_GO_VERSION        := v1.36.12
PROTOC_GEN_CONNECT_GO_VERSION:= v1.21.1
VERSITYGW_VERSION            := v1.8.0
PROTOVALIDATE_VERSION        := v1.2.2
STATICCHECK_VERSION          := v0.8.2

# -timeout guards against a hung test only: clients/go's race-built tests
# took over 12 minutes on a 2-core machine shared at a load of 40.
GO_TEST_FLAGS ?= -race -count=1 -timeout 30m
BENCH ?= .

# The version --version prints: the git tag or commit (set VERSION to override).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)
LDFLAGS := -X github.com/fieldsync/fieldsync/internal/version.Version=$(VERSION)

# PROGRESS turns a `go … -v` run's package list into one progress line.
PROGRESS := scripts/progress.sh

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*##/ {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: run
run: web ## Start fieldsyncd on embedded defaults with the demo organisation (data in ./data), serving the web app.
	@echo ">> building fieldsyncd into bin/ (the first build compiles every dependency: a few minutes)"
	@go build -v -ldflags '$(LDFLAGS)' -o bin/fieldsyncd ./cmd/fieldsyncd 2>&1 | $(PROGRESS) fieldsyncd
	bin/fieldsyncd --demo

.PHONY: cluster
cluster: ## Start PostgreSQL, a 3-node NATS cluster, versitygw and 3 fieldsyncd nodes behind a round-robin proxy on loopback (scripts/cluster.sh).
	scripts/cluster.sh

.PHONY: build
build: ## Build fieldsyncd and fieldsync into ./bin.
	@echo ">> building fieldsyncd and fieldsync $(VERSION) into bin/"
	@go build -v -ldflags '$(LDFLAGS)' -o bin/ ./cmd/... 2>&1 | $(PROGRESS) build

.PHONY: test
test: check-generated lint test-ts test-web test-go ## Run every check and test (what CI runs).

# The TypeScript SDK (clients/ts): its dependencies come from the committed
# package-lock.json (npm ci), its tests are vitest's (npm test).
TS_DIR := clients/ts

$(TS_DIR)/node_modules: $(TS_DIR)/package-lock.json
	@echo ">> npm ci $(TS_DIR)"
	cd $(TS_DIR) && npm ci --no-audit --no-fund
	@touch $@

.PHONY: test-ts
test-ts: $(TS_DIR)/node_modules ## Type-check and run the TypeScript SDK's tests (vitest; the browser test needs Debian's Chromium).
	@command -v chromium >/dev/null || { echo ">> installing chromium (apt-get)"; apt-get update -qq && apt-get install -y -qq chromium || echo ">> could not install chromium: the browser test will be skipped"; }
	cd $(TS_DIR) && npm test

# The web app (clients/web): built with vite into clients/web/dist, which
# fieldsyncd embeds; it links the SDK (file:../ts), built first.
WEB_DIR := clients/web

$(WEB_DIR)/node_modules: $(WEB_DIR)/package-lock.json $(TS_DIR)/node_modules
	@echo ">> npm ci $(WEB_DIR)"
	cd $(WEB_DIR) && npm ci --no-audit --no-fund
	@touch $@

.PHONY: web
web: $(WEB_DIR)/node_modules ## Build the web app into clients/web/dist (the SDK first).
	cd $(TS_DIR) && npm run build
	cd $(WEB_DIR) && npm run build

# A CJK font for the journeys' zh-CN screenshots (Chinese drawn as boxes without one): Debian's
# WenQuanYi Micro Hei, the smallest that renders zh-CN well (1.6 MB download, 5 MB installed;
# fonts-noto-cjk is 57 MB). The app itself downloads no font: system stacks with CJK fallbacks.
CJK_FONT := fonts-wqy-microhei=0.2.0-beta-3.1

.PHONY: test-web
test-web: $(WEB_DIR)/node_modules ## Type-check, build and test the web app (vitest; the browser journeys need Debian's Chromium).
	@command -v chromium >/dev/null || { echo ">> installing chromium (apt-get)"; apt-get update -qq && apt-get install -y -qq chromium || echo ">> could not install chromium: the browser test will be skipped"; }
	@fc-list :lang=zh-cn family 2>/dev/null | grep -q . || { echo ">> installing $(CJK_FONT) (apt-get): a CJK font for the zh-CN screenshots"; apt-get update -qq && apt-get install -y -qq --no-install-recommends $(CJK_FONT) || echo ">> could not install $(CJK_FONT): Chinese in the screenshots will show as boxes"; }
	cd $(TS_DIR) && npm run build
	cd $(WEB_DIR) && npm test

.PHONY: test-go
test-go: $(TOOLS)/versitygw readme-tools ## Run the Go tests with the race detector.
	@echo ">> compiling with the race detector (first run: several minutes; later runs use the build cache)"
	@go build -race -v ./... 2>&1 | $(PROGRESS) race build
	@echo ">> running the tests (each package prints ok or FAIL when done; e2e and syncengine take longest)"
	VERSITYGW=$(TOOLS)/versitygw FIELDSYNC_REQUIRE_POSTGRES=1 go test $(GO_TEST_FLAGS) ./...
	@echo ">> the sync engine's, the photo service's and the end-to-end tests again, on PostgreSQL (storage/postgres)"
	VERSITYGW=$(TOOLS)/versitygw FIELDSYNC_REQUIRE_POSTGRES=1 FIELDSYNC_TEST_STORE=postgres go test $(GO_TEST_FLAGS) ./syncengine/ ./photos/ ./e2e/

# The README test (e2e/readme_test.go) runs the README's commands, which use jq and curl;
# install them when missing so a fresh machine runs it instead of skipping it.
.PHONY: readme-tools
readme-tools:
	@command -v jq >/dev/null || { echo ">> installing jq (apt-get)"; apt-get update -qq && apt-get install -y -qq jq; }
	@command -v curl >/dev/null || { echo ">> installing curl (apt-get)"; apt-get update -qq && apt-get install -y -qq curl; }

.PHONY: test-long
.PHONY: test-cluster
test-cluster: $(TOOLS)/versitygw ## Run only the cluster fault test, verbosely (3 nodes, NATS cluster, PostgreSQL; `make test` runs it too).
	VERSITYGW=$(TOOLS)/versitygw FIELDSYNC_REQUIRE_POSTGRES=1 go test -race -count=1 -timeout 15m -v -run TestClusterKeepsTheSyncContractThroughFaults ./e2e/cluster/

test-long: $(TOOLS)/versitygw ## Run the property tests with a larger budget.
	VERSITYGW=$(TOOLS)/versitygw go test -count=1 -timeout 60m ./syncengine/... ./server/... -rapid.checks=2000 -args -long

.PHONY: bench
bench: $(TOOLS)/versitygw ## Run the benchmarks (figures go into BENCHMARKS.md).
	VERSITYGW=$(TOOLS)/versitygw go test -run='^$$' -bench='$(BENCH)' -benchmem -timeout 30m ./...

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME (default 20s).
	scripts/fuzz.sh $${FUZZTIME:-20s}

.PHONY: generate
generate: $(TOOLS)/buf $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-connect-go third_party/protovalidate $(TS_DIR)/node_modules ## Regenerate the protobuf Go and TypeScript code.
	rm -f proto/fieldsync/v1/*.pb.go proto/fieldsync/v1/fieldsyncv1connect/*.go
	buf generate --path proto/fieldsync
	rm -rf $(TS_DIR)/src/gen
	buf generate --template buf.gen.ts.yaml --path proto/fieldsync

.PHONY: check-generated
check-generated: generate ## Fail when the committed generated code is stale.
	@git diff --exit-code --stat -- proto/ $(TS_DIR)/src/gen || { echo "generated code is stale: run make generate and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- proto/ $(TS_DIR)/src/gen)" || { git status --porcelain -- proto/ $(TS_DIR)/src/gen; echo "untracked generated files: run make generate and commit"; exit 1; }

.PHONY: lint
lint: $(TOOLS)/buf $(TOOLS)/staticcheck third_party/protovalidate ## gofmt, buf lint, buf format, go mod tidy, go vet, staticcheck, import rules.
	@echo ">> gofmt -l (every Go file must be gofmt'ed: run gofmt -w)"
	@out=$$(git ls-files '*.go' | xargs gofmt -l); if [ -n "$$out" ]; then echo "$$out"; exit 1; fi
	buf lint
	buf format -d --exit-code proto
	@echo ">> go mod tidy -diff (go.mod and go.sum must be tidy: run go mod tidy)"
	go mod tidy -diff
	@echo ">> go vet ./... (first run compiles the dependencies: a minute or two)"
	go vet ./...
	@echo ">> staticcheck ./... (first run: a few minutes)"
	staticcheck ./...
	@echo ">> import rules (docs/architecture.md)"
	go test -count=1 ./internal/importrules/

third_party/protovalidate:
	@echo ">> copying protovalidate $(PROTOVALIDATE_VERSION)'s proto files into $@"
	go mod download github.com/bufbuild/protovalidate@$(PROTOVALIDATE_VERSION)
	mkdir -p $@
	cp -r "$$(go env GOMODCACHE)/github.com/bufbuild/protovalidate@$(PROTOVALIDATE_VERSION)/proto/protovalidate/buf" $@/
	chmod -R u+w $@

.PHONY: tools
tools: $(TOOLS)/buf $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-connect-go $(TOOLS)/staticcheck $(TOOLS)/versitygw ## Install the pinned tools.

# install-tool NAME, PACKAGE, VERSION: go install with a progress line.
define install-tool
	@echo ">> installing $(1) $(3) into .tools/bin (first time: may take a minute or two)"
	@GOBIN=$(TOOLS) go install -v $(2)@$(3) 2>&1 | $(PROGRESS) $(1)
endef

$(TOOLS)/buf:
	$(call install-tool,buf,github.com/bufbuild/buf/cmd/buf,$(BUF_VERSION))
$(TOOLS)/protoc-gen-go:
	$(call install-tool,protoc-gen-go,google.golang.org/protobuf/cmd/protoc-gen-go,$(PROTOC_GEN_GO_VERSION))
$(TOOLS)/protoc-gen-connect-go:
	$(call install-tool,protoc-gen-connect-go,connectrpc.com/connect/cmd/protoc-gen-connect-go,$(PROTOC_GEN_CONNECT_GO_VERSION))
$(TOOLS)/staticcheck:
	$(call install-tool,staticcheck,honnef.co/go/tools/cmd/staticcheck,$(STATICCHECK_VERSION))
$(TOOLS)/versitygw:
	scripts/install-versitygw.sh $(TOOLS) $(VERSITYGW_VERSION)
