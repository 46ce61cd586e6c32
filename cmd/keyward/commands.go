package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keyward/keyward/agent"
	"github.com/keyward/keyward/agent/vault"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/protocol"
)

func initCommand() *command {
	var path string
	var memMiB, timeCost uint
	return &command{
		name: "init", nargs: 0,
		setup: func(fs *flag.FlagSet) {
			fs.StringVar(&path, "vault", "", "vault file (default $KEYWARD_VAULT or the standard location)")
			def := vault.DefaultParams()
			fs.UintVar(&memMiB, "argon2-memory", uint(def.MemoryKiB/1024), "Argon2id memory in MiB")
			fs.UintVar(&timeCost, "argon2-time", uint(def.Time), "Argon2id passes")
		},
		run: func(ctx context.Context, u *ui, _ *client.Client, _ []string) error {
			if path == "" {
				path = vaultPath()
			}
			params := vault.DefaultParams()
			params.MemoryKiB = uint32(memMiB) * 1024
			params.Time = uint32(timeCost)
			if _, err := os.Stat(path); err == nil {
				return failure(fmt.Sprintf("a vault exists already at %s; nothing was changed", path),
					"to start over, move that file away first; to change its passphrase, run `keyward passwd`")
			}
			pass, err := u.readSecret("New vault passphrase", true)
			if err != nil {
				return err
			}
			defer clear(pass)
			if err := vault.Create(path, pass, params); err != nil {
				return err
			}
			if u.json {
				return u.printJSON(map[string]string{"vault": path})
			}
			u.println("Created an empty vault at %s.", path)
			u.note("next: start the agent (`keyward agent`), then `keyward unlock` and `keyward add`")
			return nil
		},
	}
}

func agentCommand() *command {
	var socket, vaultFile, level, configFile, unlockFile, policyFile, auditFile string
	var lockAfter, lockIdle time.Duration
	var logJSON, noAudit, auditFailClosed bool
	var groups multiFlag
	var flags *flag.FlagSet
	return &command{
		name: "agent", nargs: 0,
		setup: func(fs *flag.FlagSet) {
			flags = fs
			fs.StringVar(&socket, "socket", "", "socket path (default $KEYWARD_SOCK or the standard location)")
			fs.StringVar(&vaultFile, "vault", "", "vault file (default $KEYWARD_VAULT or the standard location)")
			fs.Var((*durationFlag)(&lockAfter), "lock-after", "lock this long after unlocking, e.g. 8h (0: never)")
			fs.Var((*durationFlag)(&lockIdle), "lock-idle", "lock after this long without a signature, e.g. 30m (0: never)")
			fs.StringVar(&level, "log-level", "info", "debug, info, warn or error")
			fs.BoolVar(&logJSON, "log-json", false, "log JSON lines instead of text")
			fs.StringVar(&configFile, "config", "", "settings file (lock_after, lock_idle, log_level), re-read on SIGHUP")
			fs.StringVar(&unlockFile, "unlock-file", "", "unlock at start with the passphrase in this file")
			fs.Var(&groups, "group", "members of this group may use credentials (repeatable)")
			fs.Var(&groups, "use-group", "the same as --group")
			fs.StringVar(&auditFile, "audit-log", "", "the audit log (default $KEYWARD_AUDIT_LOG, else audit.log beside the vault)")
			fs.BoolVar(&noAudit, "no-audit", false, "run without an audit log (not recommended)")
			fs.BoolVar(&auditFailClosed, "audit-fail-closed", false, "refuse to sign while the audit log cannot be written")
			fs.StringVar(&policyFile, "policy", "", "per-bot policy file (default: $KEYWARD_POLICY or the standard location when that file exists); watched and hot-reloaded")
		},
		run: func(ctx context.Context, u *ui, _ *client.Client, _ []string) error {
			if socket == "" {
				socket = protocol.SocketPath()
			}
			if vaultFile == "" {
				vaultFile = vaultPath()
			}
			var lv slog.Level
			if err := lv.UnmarshalText([]byte(level)); err != nil {
				return usageError("--log-level %q: use debug, info, warn or error", level)
			}
			if lockAfter < 0 || lockIdle < 0 {
				return usageError("--lock-after and --lock-idle take a positive duration such as 8h or 30m")
			}
			gids, err := lookupGroups(groups)
			if err != nil {
				return err
			}
			levelVar := new(slog.LevelVar)
			levelVar.Set(lv)
			opts := &slog.HandlerOptions{Level: levelVar}
			var h slog.Handler = slog.NewTextHandler(u.stderr, opts)
			if logJSON {
				h = slog.NewJSONHandler(u.stderr, opts)
			}
			logger := slog.New(h)
			pol, err := loadAgentPolicy(policyFile, logger)
			if err != nil {
				return err
			}
			var auditor agent.Auditor
			if !noAudit {
				if auditFile == "" {
					auditFile = auditLogPathFor(vaultFile)
				}
				al, err := agent.OpenAuditLog(auditFile, auditFailClosed, nil, logger)
				if err != nil {
					return failure(fmt.Sprintf("audit log: %v", err), "check it with `keyward audit verify --log "+auditFile+"`; --no-audit runs without one")
				}
				defer al.Close()
				auditor = al
			}
			err = agent.Run(ctx, agent.RunConfig{
				Config: agent.Config{
					VaultPath: vaultFile, LockAfter: lockAfter, LockIdle: lockIdle,
					Log: logger, OwnerUID: uint32(os.Getuid()), UseGroups: gids,
					Policy: pol, Audit: auditor,
				},
				SocketPath:     socket,
				ConfigFile:     configFile,
				Pinned:         pinnedSettings(flags),
				LogLevel:       levelVar,
				UnlockFile:     unlockFile,
				CredentialsDir: os.Getenv("CREDENTIALS_DIRECTORY"),
			})
			if errors.Is(err, agent.ErrAlreadyRunning) {
				return failure(err.Error(), "`keyward status` talks to the running agent")
			}
			return err
		},
	}
}

func unlockCommand() *command {
	return &command{
		needsAgent: true, name: "unlock", nargs: 0,
		run: func(ctx context.Context, u *ui, c *client.Client, _ []string) error {
			pass, err := u.readSecret("Vault passphrase", false)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			res, err := c.Unlock(ctx, protocol.UnlockArgs{Passphrase: pass})
			clear(pass)
			if protocol.HasCode(err, protocol.CodeAlreadyUnlocked) {
				u.note("the agent is already unlocked")
				return nil
			}
			if err != nil {
				return err
			}
			if u.json {
				return u.printJSON(res)
			}
			u.println("Unlocked %d credential%s.", res.Credentials, plural(res.Credentials))
			return nil
		},
	}
}

func lockCommand() *command {
	return &command{
		needsAgent: true, name: "lock", nargs: 0,
		run: func(ctx context.Context, u *ui, c *client.Client, _ []string) error {
			if err := c.Lock(ctx); err != nil {
				return err
			}
			if u.json {
				return u.printJSON(map[string]bool{"locked": true})
			}
			u.println("Locked: every secret is wiped from the agent's memory.")
			return nil
		},
	}
}

func statusCommand() *command {
	return &command{
		needsAgent: true, name: "status", nargs: 0,
		run: func(ctx context.Context, u *ui, c *client.Client, _ []string) error {
			st, err := c.Status(ctx)
			if err != nil {
				return err
			}
			if u.json {
				return u.printJSON(st)
			}
			state := "unlocked"
			if st.Locked {
				state = "locked"
			}
			w := tabwriter.NewWriter(u.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintf(w, "agent:\tkeyward %s on %s\n", st.Version, c.Path())
			fmt.Fprintf(w, "state:\t%s\n", state)
			if st.VaultPresent {
				fmt.Fprintf(w, "credentials:\t%d\n", st.Credentials)
			} else {
				fmt.Fprintf(w, "vault:\tnone yet (run `keyward init`)\n")
			}
			fmt.Fprintf(w, "uptime:\t%s\n", (time.Duration(st.UptimeSeconds) * time.Second).String())
			if !st.UnlockedAt.IsZero() {
				fmt.Fprintf(w, "unlocked at:\t%s\n", st.UnlockedAt.UTC().Format(time.RFC3339))
			}
			if st.LockAfter != "" {
				fmt.Fprintf(w, "lock after:\t%s\n", st.LockAfter)
			}
			if st.LockIdle != "" {
				fmt.Fprintf(w, "lock when idle:\t%s\n", st.LockIdle)
			}
			limit := "unlimited"
			if st.MemlockLimit >= 0 {
				limit = byteSize(st.MemlockLimit)
			}
			fmt.Fprintf(w, "locked memory:\t%s of %s\n", byteSize(st.MemlockBytes), limit)
			if st.Policy != "" {
				fmt.Fprintf(w, "policy:\t%s\n", st.Policy)
			}
			if st.PolicyError != "" {
				fmt.Fprintf(w, "policy error:\t%s (the previous policy stays in force)\n", st.PolicyError)
			}
			if st.Audit != "" {
				fmt.Fprintf(w, "audit log:\t%s\n", st.Audit)
			}
			if st.AuditError != "" {
				fmt.Fprintf(w, "audit error:\t%s\n", st.AuditError)
			}
			for _, c := range st.Clocks {
				fmt.Fprintf(w, "clock %s:\t%+d ms ±%d (%s, %s ago)\n", c.Host, c.OffsetMS, c.UncertaintyMS, c.Source, time.Since(c.MeasuredAt).Round(time.Second))
			}
			if st.RotationDue > 0 {
				fmt.Fprintf(w, "keys to rotate:\t%d (older than their rotation period; see `keyward list`)\n", st.RotationDue)
			}
			return w.Flush()
		},
	}
}

func addCommand() *command {
	var schemeName, apiKey, secretFile, passphraseFile string
	var hosts, metas multiFlag
	verify := verifyFlag(protocol.VerifyAuto)
	if env := os.Getenv("KEYWARD_VERIFY"); env != "" {
		verify.Set(env) // an unknown value leaves auto; --verify can still say
	}
	var allowWithdraw bool
	return &command{
		needsAgent: true, name: "add", args: "NAME --scheme SCHEME --api-key ID", nargs: 1,
		setup: func(fs *flag.FlagSet) {
			fs.StringVar(&schemeName, "scheme", "", "signing scheme, e.g. binance (an unknown one is refused with the list of known ones)")
			fs.StringVar(&apiKey, "api-key", "", "the public API key id the venue shows (Coinbase: the key name; Hyperliquid: the account address)")
			fs.StringVar(&secretFile, "secret-file", "", "read the secret or private key (PEM) from this file, or - for stdin, instead of asking")
			fs.StringVar(&passphraseFile, "passphrase-file", "", "read the key's passphrase (OKX, KuCoin, Bitget, Coinbase Exchange) from this file, or - for stdin")
			fs.Var(&hosts, "host", "another host this credential may sign for (repeatable)")
			fs.Var(&metas, "meta", "KEY=VALUE scheme setting, e.g. key_version=3 for KuCoin or the hmac scheme's template (repeatable)")
			fs.Var(&verify, "verify", "ask the venue what the key may do before keeping it: auto (default: when the venue can be reached; $KEYWARD_VERIFY changes the default), on (--verify), off")
			fs.BoolFunc("no-verify", "the same as --verify=off", func(string) error { verify = protocol.VerifyOff; return nil })
			fs.BoolVar(&allowWithdraw, "allow-withdraw-permission", false, "keep a key the venue says can withdraw funds (refused otherwise)")
		},
		check: func(args []string) error {
			if schemeName == "" || apiKey == "" {
				return usageError("usage: keyward add NAME --scheme SCHEME --api-key ID (both flags are required)")
			}
			if err := vault.ValidName(args[0]); err != nil {
				return usageError("%v", err)
			}
			if secretFile == "-" && passphraseFile == "-" {
				return usageError("--secret-file - and --passphrase-file - cannot both read stdin: put one in a file, or give the secret then the passphrase on stdin without either flag")
			}
			for _, m := range metas {
				if k, _, ok := strings.Cut(m, "="); !ok || k == "" {
					return usageError("--meta %q: write KEY=VALUE", m)
				}
			}
			return nil
		},
		run: func(ctx context.Context, u *ui, c *client.Client, args []string) error {
			name := args[0]
			// Ask the agent what the scheme takes before reading any secret,
			// so that an unknown scheme costs nobody a paste.
			hello, err := c.Hello(ctx, protocol.HelloArgs{Version: protocol.Version, Client: "keyward-cli"})
			if err != nil {
				return err
			}
			var info *protocol.SchemeInfo
			var known []string
			for i := range hello.Schemes {
				known = append(known, hello.Schemes[i].Name)
				if hello.Schemes[i].Name == schemeName {
					info = &hello.Schemes[i]
				}
			}
			if info == nil {
				return failure(fmt.Sprintf("unknown scheme %q", schemeName), "this agent knows "+strings.Join(known, ", "))
			}
			if info.Passphrase == "none" && passphraseFile != "" {
				return failure(fmt.Sprintf("%s keys have no passphrase: leave out --passphrase-file", schemeName))
			}
			secret, passphrase, err := readKeyMaterial(u, secretFile, passphraseFile, info.Passphrase, "API secret or private key", "Passphrase of the API key")
			if err != nil {
				return err
			}
			defer clear(secret)
			defer clear(passphrase)
			meta := map[string]string{}
			for _, m := range metas {
				k, v, _ := strings.Cut(m, "=")
				meta[k] = v
			}
			if len(hosts) > 0 {
				meta["hosts"] = strings.Join(hosts, ",")
			}
			if len(meta) == 0 {
				meta = nil
			}
			added, err := c.Add(ctx, protocol.AddArgs{Name: name, Scheme: schemeName, APIKey: apiKey, Secret: secret, Passphrase: passphrase, Meta: meta,
				Verify: string(verify), AllowWithdrawPermission: allowWithdraw})
			if err != nil {
				return err
			}
			if u.json {
				return u.printJSON(added)
			}
			kind := added.Meta["key_type"]
			if kind == "" {
				kind = "key"
			}
			u.println("Added %s (%s, %s key, API key %s).", added.Name, added.Scheme, kind, added.APIKey)
			switch v := added.Meta[agent.MetaVerified]; {
			case v == "yes":
				u.println("The venue says it may: %s.", added.Meta[agent.MetaPermissions])
			case v != "":
				u.note("the key was not verified with the venue (%s): check it with `keyward forward` once the venue can be reached", strings.TrimPrefix(v, "no: "))
			}
			if info.ForwardOnly {
				u.note("%s sends the secret itself with every request: the agent only forwards with this key (client transports do so by default; `keyward forward %s METHOD URL`)", schemeName, added.Name)
			} else if len(info.ClearSecrets) > 0 {
				u.note("%s sends the %s in clear with every request: a bot that signs through the agent sees it", schemeName, strings.Join(info.ClearSecrets, " and "))
			}
			return nil
		},
	}
}

// parseHeaders reads repeated --header 'Name: value' flags into h.
func parseHeaders(flags multiFlag, h map[string]string) error {
	for _, kv := range flags {
		k, v, ok := strings.Cut(kv, ":")
		if !ok || strings.TrimSpace(k) == "" {
			return usageError("--header %q: write it as 'Name: value'", kv)
		}
		h[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return nil
}

// verifyFlag is --verify: auto, on or off; the bare flag means on.
type verifyFlag string

func (v *verifyFlag) String() string { return string(*v) }
func (v *verifyFlag) Set(s string) error {
	switch s {
	case "true", protocol.VerifyOn:
		*v = protocol.VerifyOn
	case "false", protocol.VerifyOff:
		*v = protocol.VerifyOff
	case protocol.VerifyAuto:
		*v = protocol.VerifyAuto
	default:
		return fmt.Errorf("%q: use auto, on or off", s)
	}
	return nil
}
func (v *verifyFlag) IsBoolFlag() bool { return true }

// readKeyMaterial reads a key's secret, then its passphrase when the
// scheme takes one (passMode is hello's "none", "optional" or "required"):
// from the files named, else at the terminal, else from stdin, the secret
// first. The caller wipes both.
func readKeyMaterial(u *ui, secretFile, passphraseFile, passMode, secretPrompt, passPrompt string) (secret, passphrase []byte, err error) {
	secret, err = readSecretFrom(u, secretFile, secretPrompt)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case passphraseFile != "":
		passphrase, err = readSecretFrom(u, passphraseFile, passPrompt)
	case passMode == "required":
		passphrase, err = u.readSecretOrNextLine(passPrompt, secretFile == "-")
	case passMode == "optional":
		passphrase, err = u.readOptionalSecret(passPrompt+" (Enter if it has none)", secretFile == "-")
	}
	if err != nil {
		clear(secret)
		return nil, nil, err
	}
	return secret, passphrase, nil
}

// readSecretFrom reads a credential secret from a file ("-" is stdin), or
// else from the terminal (no echo) or stdin. A secret is one line, or a
// whole PEM block when the first line begins one.
func readSecretFrom(u *ui, path, prompt string) ([]byte, error) {
	switch path {
	case "":
		return u.readSecretOrNextLine(prompt, false)
	case "-":
		return u.readSecretOrNextLine(prompt, true)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, failure(fmt.Sprintf("%s file: %v", strings.ToLower(prompt), err))
	}
	defer f.Close()
	b, err := readSecretText(f)
	if err != nil {
		return nil, failure(fmt.Sprintf("%s file: %v", strings.ToLower(prompt), err))
	}
	if len(b) == 0 {
		return nil, failure(fmt.Sprintf("%s file %s is empty", strings.ToLower(prompt), path))
	}
	return b, nil
}

func listCommand() *command {
	return &command{
		name: "list", nargs: 0,
		run: func(ctx context.Context, u *ui, _ *client.Client, _ []string) error {
			res, err := listCredentials(ctx, u)
			if err != nil {
				return err
			}
			if u.json {
				return u.printJSON(res)
			}
			if len(res.Credentials) == 0 {
				u.note("no credentials yet: add one with `keyward add NAME --scheme binance --api-key ID`")
				return nil
			}
			w := tabwriter.NewWriter(u.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tSCHEME\tKEY\tAPI KEY\tCREATED\tROTATED\tAGE\tLAST USED")
			due := 0
			for _, c := range res.Credentials {
				age := fmt.Sprintf("%dd", int(time.Since(c.Rotated).Hours()/24))
				if c.RotationDue {
					age += " (rotate!)"
					due++
				}
				used := "-"
				if !c.LastUsed.IsZero() {
					used = c.LastUsed.UTC().Format(time.DateOnly)
				}
				kind := c.Meta["key_type"]
				if kind == "" {
					kind = "-"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, c.Scheme, kind, c.APIKey,
					c.Created.UTC().Format(time.DateOnly), c.Rotated.UTC().Format(time.DateOnly), age, used)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if due > 0 {
				u.note("%d key(s) are older than their rotation period: make a new key at the venue, then `keyward rotate NAME`", due)
			}
			for _, c := range res.Credentials {
				if !c.ExpiresAt.IsZero() && time.Until(c.ExpiresAt) < 7*24*time.Hour {
					u.note("%s will be removed on %s unless it is used (expire_unused)", c.Name, c.ExpiresAt.UTC().Format(time.DateOnly))
				}
			}
			return nil
		},
	}
}

// listCredentials asks the agent, or, when no agent runs, reads the
// vault's metadata directly: it is readable without the passphrase.
func listCredentials(ctx context.Context, u *ui) (*protocol.ListResult, error) {
	c, err := dial()
	if err == nil {
		defer c.Close()
		return c.List(ctx)
	}
	if !client.IsUnreachable(err) {
		return nil, err
	}
	f, ferr := vault.Open(vaultPath())
	if ferr != nil {
		if errors.Is(ferr, vault.ErrNotExist) {
			return nil, failure(fmt.Sprintf("no agent is running and there is no vault at %s", vaultPath()),
				"create a vault with `keyward init`, then start the agent with `keyward agent`")
		}
		return nil, ferr
	}
	u.note("no agent is running; read the vault file %s directly", f.Path())
	res := &protocol.ListResult{Credentials: []protocol.CredentialInfo{}}
	for _, r := range f.Records() {
		res.Credentials = append(res.Credentials, protocol.CredentialInfo{
			Name: r.Name, Scheme: r.Scheme, APIKey: r.APIKey, Meta: r.Meta,
			Created: r.Created, Rotated: r.Rotated, Version: r.Version,
		})
	}
	return res, nil
}

func rmCommand() *command {
	return &command{
		needsAgent: true, name: "rm", args: "NAME", nargs: 1,
		run: func(ctx context.Context, u *ui, c *client.Client, args []string) error {
			if err := c.Remove(ctx, protocol.RemoveArgs{Name: args[0]}); err != nil {
				return err
			}
			if u.json {
				return u.printJSON(map[string]string{"removed": args[0]})
			}
			u.println("Removed %s: its sealed record is deleted from the vault.", args[0])
			return nil
		},
	}
}

func signCommand() *command {
	var body string
	var headers multiFlag
	h := map[string]string{}
	return &command{
		needsAgent: true, name: "sign", args: "NAME METHOD URL [--body BODY] [--header 'Name: value']", nargs: 3,
		setup: func(fs *flag.FlagSet) {
			fs.StringVar(&body, "body", "", "request body, exactly as it will be sent")
			fs.Var(&headers, "header", "a request header 'Name: value' (repeatable)")
		},
		check: func([]string) error {
			return parseHeaders(headers, h)
		},
		run: func(ctx context.Context, u *ui, c *client.Client, args []string) error {
			signed, err := c.Sign(ctx, protocol.SignArgs{
				Credential:  args[0],
				HTTPRequest: protocol.HTTPRequest{Method: args[1], URL: args[2], Headers: h, Body: body},
			})
			if err != nil {
				return err
			}
			return u.printJSON(signed)
		},
	}
}

func passwdCommand() *command {
	return &command{
		needsAgent: true, name: "passwd", nargs: 0,
		run: func(ctx context.Context, u *ui, c *client.Client, _ []string) error {
			old, err := u.readSecret("Current vault passphrase", false)
			if err != nil {
				return err
			}
			defer clear(old)
			pass, err := u.readSecret("New vault passphrase", true)
			if err != nil {
				return err
			}
			defer clear(pass)
			ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			if err := c.ChangePassphrase(ctx, protocol.PasswdArgs{Passphrase: old, NewPassphrase: pass}); err != nil {
				return err
			}
			if u.json {
				return u.printJSON(map[string]bool{"changed": true})
			}
			u.println("Changed the vault passphrase.")
			return nil
		},
	}
}

func versionCommand() *command {
	return &command{
		name: "version", nargs: 0,
		run: func(ctx context.Context, u *ui, _ *client.Client, _ []string) error {
			if u.json {
				return u.printJSON(map[string]any{"version": agent.Version, "protocol": protocol.Version})
			}
			u.println("keyward %s (protocol %d)", agent.Version, protocol.Version)
			return nil
		},
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
