// Command keyward is the keyward agent and the CLI that drives it.
//
//	keyward init                 create an encrypted vault
//	keyward agent                run the agent in the foreground
//	keyward unlock | lock        open the vault into locked memory, or wipe it
//	keyward status | list        what the agent holds (never a secret)
//	keyward add | rm             store or delete a credential
//	keyward sign                 sign a request, print it as JSON
//	keyward passwd               change the vault passphrase
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/keyward/keyward/client"
)

const usage = `keyward holds trading API credentials and signs requests for bots.

Usage:
  keyward init [--vault PATH]                    create an encrypted vault
  keyward agent [--socket PATH] [--vault PATH]   run the agent in the foreground
        [--lock-after DURATION] [--lock-idle DURATION] [--log-level LEVEL] [--log-json]
        [--config FILE] [--unlock-file FILE] [--group GROUP]... [--policy FILE]
        [--audit-log FILE] [--audit-fail-closed] [--no-audit]
  keyward unlock                                  unlock the agent with the vault passphrase
  keyward lock                                    wipe every secret from the agent now
  keyward status [--json]                         is the agent locked, what does it hold
  keyward add NAME --scheme SCHEME --api-key ID [--host HOST]... [--meta KEY=VALUE]...
        [--secret-file FILE|-] [--passphrase-file FILE|-] [--json]
                                                  store a credential (secret or PEM key from
                                                  the terminal, stdin or FILE)
  keyward rotate NAME [--secret-file FILE|-] [--passphrase-file FILE|-] [--api-key ID]
                                                  replace a credential's secret; bots keep working
  keyward list [--json]                           list credentials (works while locked)
  keyward rm NAME                                 delete a credential for good
  keyward sign NAME METHOD URL [--body BODY] [--header 'Name: value']...
                                                  sign a request; prints it as JSON
  keyward passwd                                  change the vault passphrase
  keyward policy check [FILE]                     lint a policy file, with line numbers
  keyward policy explain --uid U [--unit UNIT] [--exe PATH] CRED METHOD URL [--body B]
                                                  which rule allows or denies a request
  keyward policy catalogue [--scheme S]           money-moving endpoints refused unless granted
  keyward audit verify [--log FILE] [--json]      check the audit log's hash chain
  keyward audit tail [--follow] [-n N] [--json]   show audit records
  keyward version [--json]

Environment:
  KEYWARD_SOCK    the agent's socket (default $XDG_RUNTIME_DIR/keyward/agent.sock;
                  /run/keyward/agent.sock as root)
  KEYWARD_VAULT   the vault file (default $XDG_DATA_HOME/keyward/vault;
                  /var/lib/keyward/vault as root)
  KEYWARD_POLICY  the policy file (default ~/.config/keyward/policy.toml;
                  /etc/keyward/policy.toml as root; used when it exists)
  KEYWARD_AUDIT_LOG  the audit log (default audit.log beside the vault)

Passphrases and secrets are never taken from flags: they are read from the
terminal without echo, or as one line of stdin when stdin is not a terminal.
Exit codes: 0 success, 1 failure, 2 usage.
`

func main() {
	u := &ui{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}
	os.Exit(run(u, os.Args[1:]))
}

// command is one subcommand: its flags are defined by setup, and run is
// called with the positional arguments.
type command struct {
	name  string
	args  string // positional arguments, for usage errors
	nargs int    // exact number of positional arguments (-1: any)
	setup func(fs *flag.FlagSet)
	// check validates the arguments before anything is dialled or read,
	// so a usage error is reported as one (exit 2) with or without an agent.
	check func(args []string) error
	// needsAgent: run is given a connected client; others get nil.
	needsAgent bool
	run        func(ctx context.Context, u *ui, c *client.Client, args []string) error
}

func commands() map[string]*command {
	cs := []*command{
		initCommand(), agentCommand(), unlockCommand(), lockCommand(), statusCommand(),
		addCommand(), listCommand(), rmCommand(), signCommand(), forwardCommand(), passwdCommand(), versionCommand(), auditCommand(),
		policyCommand(), rotateCommand(),
	}
	m := make(map[string]*command, len(cs))
	for _, c := range cs {
		m[c.name] = c
	}
	return m
}

func run(u *ui, argv []string) int {
	if len(argv) == 0 {
		fmt.Fprint(u.stderr, usage)
		return exitUsage
	}
	name := argv[0]
	switch name {
	case "help", "-h", "--help", "-help":
		fmt.Fprint(u.stdout, usage)
		return exitOK
	}
	cmd, ok := commands()[name]
	if !ok {
		return u.report(usageError("unknown command %q", name))
	}
	fs := flag.NewFlagSet("keyward "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.BoolVar(&u.json, "json", false, "print JSON for scripts")
	if cmd.setup != nil {
		cmd.setup(fs)
	}
	args, err := parseInterspersed(fs, argv[1:])
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(u.stdout, usage)
		return exitOK
	}
	if err != nil {
		return u.report(usageError("%s: %v", name, err))
	}
	if cmd.nargs >= 0 && len(args) != cmd.nargs {
		return u.report(usageError("usage: keyward %s %s", name, cmd.args))
	}
	if cmd.check != nil {
		if err := cmd.check(args); err != nil {
			return u.report(err)
		}
	}
	var c *client.Client
	if cmd.needsAgent {
		if c, err = dial(); err != nil {
			return u.report(err)
		}
		defer c.Close()
	}
	if err := cmd.run(context.Background(), u, c, args); err != nil {
		return u.report(err)
	}
	return exitOK
}

// parseInterspersed parses flags wherever they stand among the positional
// arguments, so `keyward add NAME --scheme binance` works; "--" ends flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// durationFlag is a time.Duration flag whose error says how to write one.
type durationFlag time.Duration

func (d *durationFlag) String() string { return time.Duration(*d).String() }
func (d *durationFlag) Set(v string) error {
	x, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("write a duration with its unit, such as 8h, 30m or 90s (0 for never)")
	}
	*d = durationFlag(x)
	return nil
}

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// vaultPath returns $KEYWARD_VAULT or the default vault location.
func vaultPath() string {
	if p := os.Getenv("KEYWARD_VAULT"); p != "" {
		return p
	}
	if os.Getuid() == 0 {
		return "/var/lib/keyward/vault"
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "keyward", "vault")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "keyward", "vault")
	}
	return "keyward.vault"
}

// dial connects to the agent named by KEYWARD_SOCK or the default.
func dial() (*client.Client, error) {
	return client.Dial("")
}
