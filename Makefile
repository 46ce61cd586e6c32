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

.PHONY: all build test check run fuzz clean ccxt

all: check test

## build: the one binary, bin/keyward
build:
	GOEXPERIMENT=$(SECRET_EXP) $(GO) build -trimpath -o $(BIN) ./cmd/keyward

## test: go vet, then every test with the race detector (unit, conformance,
## fuzz seed corpora, and end-to-end tests that build and run the binary)
## (the scheme tests compare every signature with ccxt's: Node.js and npm
## are required, and the pinned ccxt is installed from its lock file)
test: ccxt
	$(GO) vet ./...
	KEYWARD_REQUIRE_CCXT=1 $(GO) test -race -count=1 ./...
	GOEXPERIMENT=$(SECRET_EXP) $(GO) test -race -count=1 ./agent/vault

## ccxt: the reference signer for the scheme tests, from its lock file
ccxt: $(CCXT_DIR)/node_modules/.package-lock.json
$(CCXT_DIR)/node_modules/.package-lock.json: $(CCXT_DIR)/package-lock.json
	npm ci --prefix $(CCXT_DIR) --no-audit --no-fund --ignore-scripts

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
## (make fuzz FUZZTIME=10m); FUZZ=regexp picks targets
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
