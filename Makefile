# ventapp build, test and demo targets. `make help` lists them.

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
GO      ?= go
EXAMPLE := examples/plugins/pcap-summary

.PHONY: help build example test test-short vet fmt bench demo clean deb rpm test-packaging

help:
	@echo "make build     build bin/ventapp"
	@echo "make example   build the example plugin's static binary into $(EXAMPLE)/"
	@echo "make test      vet, check formatting and run every test (containerd tests need root)"
	@echo "make demo      install containerd if needed, run the appliance on sample captures, search"
	@echo "make bench     run the benchmarks behind BENCHMARKS.md"
	@echo "make deb rpm   build .deb and .rpm packages into dist/"

# cgo links libpcap (tcpdump filter syntax for taps) and lets go-nvml load
# the NVIDIA driver at run time; CGO_ENABLED=0 builds work too, without those.
export CGO_CFLAGS ?= -O2 -Wno-deprecated-declarations

build:
	CGO_ENABLED=1 $(GO) build -trimpath -buildmode=pie -ldflags '$(LDFLAGS)' -o bin/ventapp ./cmd/ventapp

example:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o $(EXAMPLE)/pcap-summary ./$(EXAMPLE)

vet:
	$(GO) vet ./...

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

test: vet fmt
	$(GO) test -count=1 -timeout 20m ./...

test-short:
	$(GO) test -short -count=1 ./...

bench:
	bash bench/run.sh

demo:
	bash scripts/demo.sh

deb: build
	cd packaging && $(GO) run ./cmd/mkpkg -bin ../bin/ventapp -version $(VERSION) -commit $(COMMIT) -defaults ../config/default.cfg -formats deb -out ../dist

rpm: build
	cd packaging && $(GO) run ./cmd/mkpkg -bin ../bin/ventapp -version $(VERSION) -commit $(COMMIT) -defaults ../config/default.cfg -formats rpm -out ../dist

test-packaging:
	sh packaging/test.sh

clean:
	rm -rf bin dist $(EXAMPLE)/pcap-summary .demo
