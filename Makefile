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

.PHONY: all build test check run fuzz clean

all: check test

## build: the one binary, bin/keyward
build:
	GOEXPERIMENT=$(SECRET_EXP) $(GO) build -trimpath -o $(BIN) ./cmd/keyward

## test: go vet, then every test with the race detector (unit, conformance,
## fuzz seed corpora, and end-to-end tests that build and run the binary)
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...
	GOEXPERIMENT=$(SECRET_EXP) $(GO) test -race -count=1 ./agent/vault

## check: formatting, vet and staticcheck
check:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

## run: the agent in the foreground with the default socket and vault
run: build
	./$(BIN) agent

## fuzz: run each fuzz target for FUZZTIME (make fuzz FUZZTIME=10m)
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzReadFrame$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=$(FUZZMIN) ./protocol
	$(GO) test -run='^$$' -fuzz='^FuzzOpen$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=$(FUZZMIN) ./agent/vault
	$(GO) test -run='^$$' -fuzz='^FuzzBinanceSign$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=$(FUZZMIN) ./agent/scheme

clean:
	rm -rf bin
