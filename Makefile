# keyward — see README.md. Every target works on a fresh clone with Go 1.26.

GO          ?= go
BIN         ?= bin/keyward
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
# runtime/secret (Go 1.26, experimental) erases what Argon2id leaves of the
# passphrase on the heap and stacks; see agent/vault/erase_secret.go.
SECRET_EXP  ?= runtimesecret
FUZZTIME    ?= 10s
# Minimising each new input can take up to a minute by default; keep short runs short.
FUZZMIN     ?= 5s

CCXT_DIR    := agent/scheme/testdata/ccxt

.PHONY: all build test check run fuzz clean ccxt test-python test-js test-bins

all: check test

## build: the one binary, bin/keyward
build:
	GOEXPERIMENT=$(SECRET_EXP) $(GO) build -trimpath -o $(BIN) ./cmd/keyward

## test: go vet, then every test with the race detector (unit, conformance,
## fuzz seed corpora, and end-to-end tests that build and run the binary)
## (the scheme tests compare every signature with ccxt's: Node.js and npm
## are required, and the pinned ccxt is installed from its lock file)
test: ccxt test-python test-js
	$(GO) vet ./...
	KEYWARD_REQUIRE_CCXT=1 KEYWARD_BIN=$(CURDIR)/$(BIN) $(GO) test -race -count=1 ./...
	GOEXPERIMENT=$(SECRET_EXP) $(GO) test -race -count=1 ./agent/vault

## ccxt: the reference signer for the scheme tests, from its lock file
ccxt: $(CCXT_DIR)/node_modules/.package-lock.json
$(CCXT_DIR)/node_modules/.package-lock.json: $(CCXT_DIR)/package-lock.json
	npm ci --prefix $(CCXT_DIR) --no-audit --no-fund --ignore-scripts

## test-bins: what the Python and JS client tests run for real: the agent
## (bin/keyward), the fake Binance venue and the Go example bot
FAKEVENUE     ?= bin/fakevenue
EXAMPLE_GO    ?= bin/example-go-bot
test-bins: build
	$(GO) build -o $(FAKEVENUE) ./internal/fakevenue
	$(GO) build -o $(EXAMPLE_GO) ./examples/go
	$(GO) build -o bin/fakeexchange ./internal/fakeexchange/cmd/fakeexchange

CLIENT_TEST_ENV = KEYWARD_VERIFY=off KEYWARD_BIN=$(CURDIR)/$(BIN) FAKEVENUE_BIN=$(CURDIR)/$(FAKEVENUE) EXAMPLE_GO_BIN=$(CURDIR)/$(EXAMPLE_GO) FAKEEXCHANGE_BIN=$(CURDIR)/bin/fakeexchange GORACE=atexit_sleep_ms=10

## test-python: the Python client's tests against the real agent and the fake
## venue; the requests adapter again under Debian's python3 with python3-requests
PYTHON        ?= python3
SYSTEM_PYTHON ?= /usr/bin/python3
test-python: test-bins
	cd client/python && $(CLIENT_TEST_ENV) $(PYTHON) -m unittest discover -s tests -t . -v
	cd client/python && $(CLIENT_TEST_ENV) KEYWARD_REQUIRE_REQUESTS=1 $(SYSTEM_PYTHON) -m unittest tests.test_requests_adapter -v

## test-js: the JS client's tests (node --test) against the real agent, the
## fake venue and the pinned ccxt, installed offline-safe from the lock file
JS_DIR := client/js
test-js: test-bins $(JS_DIR)/node_modules/.package-lock.json
	cd $(JS_DIR) && $(CLIENT_TEST_ENV) node --test test/*.test.js
$(JS_DIR)/node_modules/.package-lock.json: $(JS_DIR)/package-lock.json
	npm ci --prefix $(JS_DIR) --no-audit --no-fund --ignore-scripts

## check: formatting, vet and staticcheck
check:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

## run: the agent in the foreground with the default socket and vault
run: build
	./$(BIN) agent

## fuzz: run every fuzz target of every package for FUZZTIME each
## (make fuzz FUZZTIME=10m, or a count such as FUZZTIME=20000x, which CI
## uses to avoid Go 1.26's deadline flake, golang/go#75804); FUZZ=regexp
## picks targets
FUZZ        ?= .
fuzz:
	@set -e; for pkg in $$(grep -l --include='*_test.go' -r '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
	  for target in $$(grep -h '^func Fuzz' $$pkg/*_test.go | sed 's/^func \(Fuzz[A-Za-z0-9_]*\).*/\1/' | grep -E '$(FUZZ)' || true); do \
	    echo "== $$pkg $$target"; \
	    $(GO) test -run='^$$' -fuzz="^$$target\$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=$(FUZZMIN) $$pkg; \
	  done; \
	done

clean:
	rm -rf bin

.PHONY: deb container
DEB_OUT       ?= bin
CONTAINER     ?= $(shell command -v podman || command -v docker || echo podman)
CONTAINER_TAG ?= keyward:$(shell sed -n 's/^const Version = "\(.*\)"/\1/p' agent/agent.go)

## deb: the Debian package (dpkg-deb): binary, units, sysusers, tmpfiles,
## man page, completions; writes $(DEB_OUT)/keyward_VERSION_ARCH.deb
deb:
	GO=$(GO) packaging/build-deb.sh $(DEB_OUT)

## container: the image from packaging/Containerfile (needs podman or docker)
container:
	$(CONTAINER) build -f packaging/Containerfile -t $(CONTAINER_TAG) .

## soak: the long variants of the crash-safety and load tests (issue 8):
## 2,000 SIGKILLs, 4,000 held connections and 90 s of hostile clients
.PHONY: soak
soak: build
	KEYWARD_SOAK=1 KEYWARD_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout 60m -v -run 'Crash|Load' ./e2e

## bench: issue 9's benchmark: builds bin/keyward, then runs the agent and
## its baselines (a bare Unix-socket echo, OpenSSH's ssh-agent) as separate
## processes and prints the table (BENCHMARKS.md says how to read it); the
## same table goes to bin/bench.json. About 30 s; at most five minutes.
.PHONY: bench
bench: build
	$(GO) run ./internal/benchrun -keyward $(BIN) -json bin/bench.json
