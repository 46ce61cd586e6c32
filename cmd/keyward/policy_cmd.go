package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/keyward/keyward/agent/peercred"
	"github.com/keyward/keyward/agent/peerid"
	"github.com/keyward/keyward/agent/policy"
	"github.com/keyward/keyward/agent/vault"
	"github.com/keyward/keyward/client"
)

// defaultPolicyPath is $KEYWARD_POLICY, else /etc/keyward/policy.toml for
// root, else $XDG_CONFIG_HOME/keyward/policy.toml (~/.config/…).
func defaultPolicyPath() string {
	if p := os.Getenv("KEYWARD_POLICY"); p != "" {
		return p
	}
	if os.Getuid() == 0 {
		return "/etc/keyward/policy.toml"
	}
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "keyward", "policy.toml")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".config", "keyward", "policy.toml")
}

// policyCommand is `keyward policy check|explain|catalogue`: they read
// the policy file and need no agent.
func policyCommand() *command {
	var (
		file, unit, exe, body, schemeName, group string
		uid, gid                                 int64
	)
	return &command{
		name: "policy", args: "check [FILE] | explain --uid U [--unit UNIT] CRED METHOD URL | catalogue", nargs: -1,
		setup: func(fs *flag.FlagSet) {
			fs.StringVar(&file, "policy", "", "the policy file (default $KEYWARD_POLICY, /etc/keyward/policy.toml for root, else ~/.config/keyward/policy.toml)")
			fs.Int64Var(&uid, "uid", -1, "explain: the client's uid")
			fs.Int64Var(&gid, "gid", -1, "explain: the client's primary gid (default: its uid)")
			fs.StringVar(&group, "groups", "", "explain: the client's supplementary gids, comma-separated")
			fs.StringVar(&unit, "unit", "", "explain: the systemd unit the client runs in, e.g. grid-bot.service")
			fs.StringVar(&exe, "exe", "", "explain: the client's executable, e.g. /usr/bin/python3.11")
			fs.StringVar(&body, "body", "", "explain: the request body")
			fs.StringVar(&schemeName, "scheme", "", "explain: the credential's scheme (default: read from the vault)")
		},
		check: func(args []string) error {
			if len(args) == 0 {
				return usageError("usage: keyward policy check [FILE] | explain --uid U [--unit UNIT] CRED METHOD URL | catalogue")
			}
			switch args[0] {
			case "check":
				if len(args) > 2 {
					return usageError("usage: keyward policy check [FILE]")
				}
			case "explain":
				if len(args) != 4 || uid < 0 {
					return usageError("usage: keyward policy explain --uid U [--unit UNIT] [--exe PATH] CRED METHOD URL")
				}
			case "catalogue", "catalog":
			default:
				return usageError("unknown policy command %q: use check, explain or catalogue", args[0])
			}
			return nil
		},
		run: func(ctx context.Context, u *ui, _ *client.Client, args []string) error {
			path := file
			if path == "" {
				path = defaultPolicyPath()
			}
			switch args[0] {
			case "check":
				if len(args) == 2 {
					path = args[1]
				}
				return policyCheck(u, path)
			case "catalogue", "catalog":
				return policyCatalogue(u, schemeName)
			}
			id := peerid.Identity{Cred: peercred.Cred{UID: uint32(uid), GID: uint32(uid)}, Unit: unit, Exe: exe}
			if gid >= 0 {
				id.GID = uint32(gid)
			}
			for g := range strings.SplitSeq(group, ",") {
				if g = strings.TrimSpace(g); g != "" {
					n, err := strconv.ParseUint(g, 10, 32)
					if err != nil {
						return usageError("--groups %q: give numeric gids", group)
					}
					id.Groups = append(id.Groups, uint32(n))
				}
			}
			return policyExplain(u, path, id, args[1], args[2], args[3], body, schemeName)
		},
	}
}

func policyCheck(u *ui, path string) error {
	p, err := policy.Load(path)
	var pe *policy.Error
	if errors.As(err, &pe) {
		if u.json {
			u.printJSON(map[string]any{"file": path, "ok": false, "problems": pe.Problems})
		} else {
			for _, pr := range pe.Problems {
				if pr.Line > 0 {
					fmt.Fprintf(u.stdout, "%s:%d: %s\n", path, pr.Line, pr.Msg)
				} else {
					fmt.Fprintf(u.stdout, "%s: %s\n", path, pr.Msg)
				}
			}
		}
		return failure(fmt.Sprintf("%s has %d problem(s); the agent would refuse it and keep the policy in force", path, len(pe.Problems)))
	}
	if err != nil {
		return failure(err.Error())
	}
	grants := 0
	for _, c := range p.Clients() {
		grants += len(c.Grants())
	}
	if u.json {
		return u.printJSON(map[string]any{"file": path, "ok": true, "clients": len(p.Clients()), "grants": grants})
	}
	u.println("%s: ok (%d clients, %d grants)", path, len(p.Clients()), grants)
	return nil
}

func policyExplain(u *ui, path string, id peerid.Identity, cred, method, rawURL, body, schemeName string) error {
	p, err := policy.Load(path)
	if err != nil {
		return failure(err.Error(), "fix the file first: keyward policy check "+path)
	}
	if schemeName == "" {
		if f, err := vault.Open(vaultPath()); err == nil {
			for _, r := range f.Records() {
				if r.Name == cred {
					schemeName = r.Scheme
				}
			}
		}
	}
	op := policy.OpSign
	if strings.EqualFold(method, "list") {
		op = policy.OpList
	}
	d, _, _ := p.Decide(id, policy.Request{Op: op, Credential: cred, Scheme: schemeName, Method: strings.ToUpper(method), URL: rawURL, Body: body})
	if u.json {
		return u.printJSON(map[string]any{"allow": d.Allow, "client": d.Client, "rule": d.Rule, "reason": d.Reason, "scheme": schemeName})
	}
	verdict := "DENY"
	if d.Allow {
		verdict = "ALLOW"
	}
	w := tabwriter.NewWriter(u.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "decision:\t%s\n", verdict)
	if d.Client != "" {
		fmt.Fprintf(w, "client:\t%s\n", d.Client)
	}
	fmt.Fprintf(w, "rule:\t%s\n", d.Rule)
	if d.Reason != "" {
		fmt.Fprintf(w, "reason:\t%s\n", d.Reason)
	}
	if schemeName == "" {
		fmt.Fprintf(w, "note:\tthe credential's scheme is unknown (not in the vault): the money-moving catalogue was not applied; give --scheme\n")
	}
	w.Flush()
	if !d.Allow {
		return failure("the policy denies this request")
	}
	return nil
}

func policyCatalogue(u *ui, schemeName string) error {
	var rows []policy.MoneyEntry
	for _, e := range policy.Catalogue() {
		if schemeName == "" || e.Scheme == schemeName {
			rows = append(rows, e)
		}
	}
	if u.json {
		out := make([]map[string]string, 0, len(rows))
		for _, e := range rows {
			out = append(out, map[string]string{"scheme": e.Scheme, "id": e.ID, "what": e.What})
		}
		return u.printJSON(out)
	}
	w := tabwriter.NewWriter(u.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "SCHEME\tKIND\tENDPOINT OR ACTION (name it in allow_money_movement)")
	for _, e := range rows {
		fmt.Fprintf(w, "%s\t%s\t%s\n", e.Scheme, e.What, e.ID)
	}
	return w.Flush()
}

// loadAgentPolicy loads the agent's policy: the file --policy names (which
// must load), else the default path when a file is there (one that cannot
// even be looked at is an error), else none. A
// policy that does not load stops the agent, with every problem listed.
func loadAgentPolicy(flagPath string, log *slog.Logger) (*policy.Holder, error) {
	path := flagPath
	if path == "" {
		path = defaultPolicyPath()
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil, nil
		} else if err != nil {
			// A policy that is there but cannot be read must not leave
			// the agent running without one.
			return nil, failure(fmt.Sprintf("policy %s: %v", path, err), "fix its permissions, or name another file with --policy")
		}
	}
	h, err := policy.NewHolder(path, log)
	if err != nil {
		return nil, failure(err.Error(), "check it with `keyward policy check "+path+"`")
	}
	return h, nil
}
