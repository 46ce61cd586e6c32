// Command fakeexchange runs package fakeexchange as a process, for tests and
// benchmarks written in other languages or run by scripts: one TLS listener
// on 127.0.0.1 that answers for every venue's host names.
//
// Usage:
//
//	fakeexchange [--accounts FILE|-] [--map host=venue]...
//
// --accounts reads a JSON array of accounts ("-" reads stdin):
//
//	[{"venue":"binance","api_key":"...","secret":"...","passphrase":"","meta":{},
//	  "permissions":{"read":true,"trade":true,"withdraw":false,"transfer":false}}]
//
// --map routes a host to a venue (the generic hmac and bearer venues have
// no hosts of their own). A mapped host, and each host an hmac or bearer
// account lists in meta "hosts" (which is routed to that venue), is added
// to the certificate.
//
// Once it serves it prints one JSON line on stdout,
// {"addr":"127.0.0.1:PORT","ca_file":"...","hosts":[...]}, logs to stderr,
// and serves until SIGINT or SIGTERM, when it removes its CA file. It is a
// test tool: it listens on loopback only and must never hold real keys.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/keyward/keyward/internal/fakeexchange"
	"github.com/keyward/keyward/internal/fakeexchange/verify"
)

type accountJSON struct {
	Venue       string            `json:"venue"`
	APIKey      string            `json:"api_key"`
	Secret      string            `json:"secret"`
	Passphrase  string            `json:"passphrase"`
	Meta        map[string]string `json:"meta"`
	Permissions struct {
		Read     bool `json:"read"`
		Trade    bool `json:"trade"`
		Withdraw bool `json:"withdraw"`
		Transfer bool `json:"transfer"`
	} `json:"permissions"`
}

type mapping struct{ host, venue string }

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "fakeexchange: error:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fakeexchange", flag.ContinueOnError)
	fs.SetOutput(stderr)
	accountsFile := fs.String("accounts", "", `JSON array of accounts to load ("-" reads stdin)`)
	var maps []mapping
	fs.Func("map", "route `host=venue` (repeatable)", func(s string) error {
		host, venue, ok := strings.Cut(s, "=")
		if !ok || host == "" || venue == "" {
			return fmt.Errorf("want host=venue, got %q", s)
		}
		if _, known := verify.Lookup(venue); !known {
			return fmt.Errorf("unknown venue %q", venue)
		}
		maps = append(maps, mapping{strings.ToLower(host), venue})
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}

	var accounts []accountJSON
	if *accountsFile != "" {
		var err error
		if accounts, err = readAccounts(*accountsFile, stdin); err != nil {
			return err
		}
	}

	log := slog.New(slog.NewTextHandler(stderr, nil))
	// The certificate must cover every host the fake is to answer for: the
	// mapped ones and those a generic (hmac, bearer) account names.
	var extra []string
	for _, m := range maps {
		extra = append(extra, m.host)
	}
	for _, a := range accounts {
		for h := range strings.SplitSeq(a.Meta["hosts"], ",") {
			if h = strings.TrimSpace(h); h != "" && (a.Venue == "hmac" || a.Venue == "bearer") {
				extra = append(extra, h)
			}
		}
	}
	extra = slices.DeleteFunc(extra, func(h string) bool { _, ok := verify.ByHost(h); return ok })
	x, err := fakeexchange.Start(fakeexchange.Config{Log: log, ExtraHosts: extra})
	if err != nil {
		return err
	}
	defer x.Close()
	for _, m := range maps {
		x.MapHost(m.host, m.venue)
	}
	for _, a := range accounts {
		x.AddAccount(a.Venue, verify.Account{
			APIKey: a.APIKey, Secret: []byte(a.Secret), Passphrase: a.Passphrase, Meta: a.Meta,
		}, fakeexchange.Permissions{
			Read: a.Permissions.Read, Trade: a.Permissions.Trade,
			Withdraw: a.Permissions.Withdraw, Transfer: a.Permissions.Transfer,
		})
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	line, err := json.Marshal(map[string]any{"addr": x.Addr(), "ca_file": x.CAFile(), "hosts": x.Hosts()})
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(stdout, "%s\n", line); err != nil {
		return err
	}
	log.Info("fakeexchange: ready", "accounts", len(accounts), "mapped", len(maps))
	<-ctx.Done()
	log.Info("fakeexchange: stopping")
	return x.Close()
}

func readAccounts(name string, stdin io.Reader) ([]accountJSON, error) {
	var data []byte
	var err error
	if name == "-" {
		data, err = io.ReadAll(io.LimitReader(stdin, 16<<20))
	} else {
		data, err = os.ReadFile(name)
	}
	if err != nil {
		return nil, fmt.Errorf("accounts: %w", err)
	}
	var accounts []accountJSON
	if err := json.Unmarshal(data, &accounts); err != nil {
		return nil, fmt.Errorf("accounts %s: %w", name, err)
	}
	for i, a := range accounts {
		if _, ok := verify.Lookup(a.Venue); !ok {
			return nil, fmt.Errorf("accounts %s: entry %d: unknown venue %q", name, i, a.Venue)
		}
		if a.APIKey == "" {
			return nil, fmt.Errorf("accounts %s: entry %d: api_key is empty", name, i)
		}
	}
	return accounts, nil
}
