# finx-operator Makefile. Needs only Go, make and git: every other tool is built into ./bin.

# Kubernetes version of the control plane built for tests and the demo.
KUBE_VERSION ?= 1.37.2
CONTROLLER_TOOLS_VERSION ?= v0.23.0
KUSTOMIZE_VERSION ?= v5.8.3

IMG ?= finx-operator:latest
GOBIN_DIR := $(CURDIR)/bin
CONTROLLER_GEN ?= $(GOBIN_DIR)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
KUSTOMIZE ?= $(GOBIN_DIR)/kustomize-$(KUSTOMIZE_VERSION)
KUBECTL ?= kubectl
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/finx-operator/finx-operator/internal/version.Version=$(VERSION)

# Go test flags; override e.g. `make test TEST_FLAGS=-v`.
TEST_FLAGS ?=
TEST_PKGS ?= ./...

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate CRDs and RBAC from the API types and markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./api/...;./controllers/..." output:crd:artifacts:config=config/crd/bases

.PHONY: generate
generate: controller-gen ## Generate DeepCopy methods.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: docs
docs: manifests ## Regenerate docs/api.md from the CRDs.
	go run ./hack/apidocs .

.PHONY: fmt
fmt: ## Run go fmt.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: control-plane
control-plane: ## Build kube-apiserver and etcd from source into bin/k8s (once per version).
	KUBE_VERSION=$(KUBE_VERSION) hack/build-control-plane.sh kube-apiserver etcd

.PHONY: control-plane-full
control-plane-full: ## Also build kube-controller-manager (used by the demo and end-to-end tests).
	KUBE_VERSION=$(KUBE_VERSION) hack/build-control-plane.sh kube-apiserver etcd kube-controller-manager

.PHONY: test
test: manifests generate docs fmt vet control-plane-full ## Run every test: unit, envtest (real API server) and end-to-end (real binaries).
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || command -v google-chrome >/dev/null 2>&1 || \
		echo "NOTE: Chromium not found: the end-to-end browser scenario will be SKIPPED (install it with: sudo apt-get install chromium)"
	KUBEBUILDER_ASSETS="$$(KUBE_VERSION=$(KUBE_VERSION) hack/build-control-plane.sh kube-apiserver etcd kube-controller-manager)" \
		go test $(TEST_FLAGS) -count=1 -timeout 30m $(TEST_PKGS)

# Kills in the crash soak of `make bench` (make test runs 20 and 5).
BENCH_CRASH_KILLS ?= 60
BENCH_FAULT_KILLS ?= 15

.PHONY: bench
bench: control-plane-full ## Run the benchmarks (sandbox throughput; operator connect, refresh and memory figures; crash soak; scale vs a minimal controller).
	go test -run '^$$' -bench . -benchmem ./internal/...
	KUBEBUILDER_ASSETS="$$(KUBE_VERSION=$(KUBE_VERSION) hack/build-control-plane.sh kube-apiserver etcd)" \
		go test -run '^$$' -bench . -benchtime 10x ./test/bench/
	KUBEBUILDER_ASSETS="$$(KUBE_VERSION=$(KUBE_VERSION) hack/build-control-plane.sh kube-apiserver etcd kube-controller-manager)" \
		E2E_CRASH_KILLS=$(BENCH_CRASH_KILLS) E2E_FAULT_KILLS=$(BENCH_FAULT_KILLS) \
		go test -count=1 -timeout 40m -v -run TestE2E ./test/e2e/ -args -ginkgo.focus='reuse grace|strict reuse' \
		| grep -E 'kills|grace=|Ran |Passed|FAIL'
	@# Scale (issue 10): N connections (BENCH_SCALE_N, default 2000) on real processes, the operator
	@# against a minimal controller in the same run; knobs at the top of test/bench/scale_test.go.
	BENCH_SCALE=1 KUBEBUILDER_ASSETS="$$(KUBE_VERSION=$(KUBE_VERSION) hack/build-control-plane.sh kube-apiserver etcd kube-controller-manager)" \
		go test -count=1 -timeout 90m -v -run '^TestScale$$' ./test/bench/


##@ Build

.PHONY: build
build: manifests generate fmt vet ## Build the manager and the sandbox binaries into bin/.
	go build -ldflags "$(LDFLAGS)" -o bin/manager ./cmd
	go build -ldflags "$(LDFLAGS)" -o bin/finx-sandbox ./cmd/finx-sandbox

.PHONY: run
run: manifests generate fmt vet ## Run the manager from your host against the current kubeconfig.
	go run -ldflags "$(LDFLAGS)" ./cmd

##@ Deployment

ifndef ignore-not-found
  ignore-not-found = false
endif

.PHONY: install
install: manifests kustomize ## Install the CRDs into the cluster of the current kubeconfig.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) apply --server-side -f -

.PHONY: uninstall
uninstall: manifests kustomize ## Remove the CRDs (and with them every BankConnection) from the cluster.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) delete --ignore-not-found=$(ignore-not-found) -f -

.PHONY: deploy
deploy: manifests kustomize ## Deploy the operator (image $(IMG)) to the cluster of the current kubeconfig.
	cd config/manager && $(KUSTOMIZE) edit set image controller=$(IMG)
	$(KUSTOMIZE) build config/default | $(KUBECTL) apply --server-side -f -

.PHONY: undeploy
undeploy: kustomize ## Remove the operator from the cluster.
	$(KUSTOMIZE) build config/default | $(KUBECTL) delete --ignore-not-found=$(ignore-not-found) -f -

##@ Tools

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN) ## Build controller-gen into bin/.
$(CONTROLLER_GEN):
	@mkdir -p $(GOBIN_DIR)
	GOBIN=$(GOBIN_DIR) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
	mv $(GOBIN_DIR)/controller-gen $(CONTROLLER_GEN)

.PHONY: kustomize
kustomize: $(KUSTOMIZE) ## Build kustomize into bin/.
$(KUSTOMIZE):
	@mkdir -p $(GOBIN_DIR)
	GOBIN=$(GOBIN_DIR) go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)
	mv $(GOBIN_DIR)/kustomize $(KUSTOMIZE)

##@ Image

.PHONY: docker-build
docker-build: ## Build the manager image $(IMG) (needs a container engine).
	docker build -t $(IMG) .

##@ Demo

.PHONY: demo
demo: control-plane-full ## Run the whole product locally: control plane, finX sandbox, operator, samples (DEMO_KEEP=1 keeps it running).
	go run ./hack/demo --control-plane "$$(KUBE_VERSION=$(KUBE_VERSION) hack/build-control-plane.sh kube-apiserver etcd kube-controller-manager)"
