package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/keyward/keyward/agent/audit"
	"github.com/keyward/keyward/client"
)

// auditLogPath returns $KEYWARD_AUDIT_LOG, or audit.log beside the vault.
// The agent writes its audit log there too.
func auditLogPath() string { return auditLogPathFor(vaultPath()) }

// auditLogPathFor is auditLogPath for an agent whose vault is at vault.
func auditLogPathFor(vault string) string {
	if p := os.Getenv("KEYWARD_AUDIT_LOG"); p != "" {
		return p
	}
	return filepath.Join(filepath.Dir(vault), "audit.log")
}

// auditCommand is `keyward audit verify|tail`: both read the files and
// need no agent.
func auditCommand() *command {
	var logPath string
	var follow bool
	var last int
	var flags *flag.FlagSet
	return &command{
		name: "audit", args: "verify [--json] [--log PATH] | tail [--follow] [--json] [--log PATH] [-n N]", nargs: 1,
		setup: func(fs *flag.FlagSet) {
			flags = fs
			fs.StringVar(&logPath, "log", "", "the audit log (default $KEYWARD_AUDIT_LOG, or audit.log beside the vault)")
			fs.BoolVar(&follow, "follow", false, "tail: keep printing records as they are written")
			fs.BoolVar(&follow, "f", false, "tail: same as --follow")
			fs.IntVar(&last, "n", 10, "tail: print the last N records first (negative: all)")
		},
		check: func(args []string) error {
			switch args[0] {
			case "verify":
				var bad []string
				flags.Visit(func(f *flag.Flag) {
					if f.Name == "follow" || f.Name == "f" || f.Name == "n" {
						bad = append(bad, "-"+f.Name)
					}
				})
				if len(bad) > 0 {
					return usageError("keyward audit verify does not take %s (tail does)", strings.Join(bad, ", "))
				}
			case "tail":
			default:
				return usageError("unknown audit command %q: use `keyward audit verify` or `keyward audit tail`", args[0])
			}
			return nil
		},
		run: func(ctx context.Context, u *ui, _ *client.Client, args []string) error {
			if logPath == "" {
				logPath = auditLogPath()
			}
			if args[0] == "verify" {
				return auditVerify(u, logPath)
			}
			ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
			defer stop()
			return auditTail(ctx, u, logPath, follow, last)
		},
	}
}

func noAuditLog(path string) error {
	return failure("no audit log at "+path,
		"the agent writes it while it runs with auditing on; give another file with --log PATH or KEYWARD_AUDIT_LOG")
}

func auditVerify(u *ui, path string) error {
	rep, err := audit.Verify(path)
	if errors.Is(err, fs.ErrNotExist) {
		return noAuditLog(path)
	}
	if err != nil {
		return err
	}
	if u.json {
		if err := u.printJSON(rep); err != nil {
			return err
		}
	}
	if !rep.OK {
		return failure("audit log is not intact: "+rep.Problem.Error(), verifyHints(rep.Problem)...)
	}
	if !u.json {
		u.println("intact: %d record%s (seq %d to %d) in %d file%s; head %s",
			rep.Records, plural(rep.Records), rep.FirstSeq, rep.LastSeq, len(rep.Files), plural(len(rep.Files)), rep.Head)
		for _, n := range rep.Notes {
			u.note("note: %s", n)
		}
	}
	return nil
}

func verifyHints(p *audit.Problem) []string {
	hints := []string{"keep a copy of the log files (and the .head file) as they are: they are the evidence"}
	switch p.Kind {
	case audit.KindTruncated:
		hints = append(hints, "a crash cannot leave a partial line (writes are cut back on failure): the file was cut, or the disk lost data")
	case audit.KindDeleted:
		hints = append(hints, "records or files are missing: compare with your backups or a remote copy of the log")
	case audit.KindEdited, audit.KindReordered:
		hints = append(hints, "the log was changed after it was written: compare with your backups or a remote copy of the log")
	}
	return append(hints, "to start a new log, move these files aside; the agent refuses to append to a broken chain unless told to begin a new one")
}

func auditTail(ctx context.Context, u *ui, path string, follow bool, last int) error {
	print := func(r audit.Record) error {
		if u.json {
			b, _ := r.MarshalJSON()
			_, err := u.stdout.Write(append(b, '\n'))
			return err
		}
		_, err := fmt.Fprintln(u.stdout, formatRecord(r))
		return err
	}
	err := audit.TailWith(ctx, path, audit.TailOptions{Follow: follow, Last: last}, print)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return noAuditLog(path)
	case errors.Is(err, context.Canceled):
		return nil
	}
	return err
}

// formatRecord is one aligned line for a person: time, decision, client,
// op, credential, method host path, rule: reason.
func formatRecord(r audit.Record) string {
	decision := r.Decision
	switch r.Type {
	case audit.TypeAlert:
		decision = "ALERT"
	case audit.TypeStart:
		decision = "start"
	}
	client := "-"
	if r.Client != (audit.Client{}) {
		who := r.Client.Unit
		if who == "" {
			who = filepath.Base(r.Client.Exe)
		}
		client = fmt.Sprintf("uid=%d pid=%d %s", r.Client.UID, r.Client.PID, who)
	}
	target := strings.TrimSpace(r.Method + " " + r.Host + r.Path)
	why := r.Rule
	if r.Reason != "" {
		if why != "" {
			why += ": "
		}
		why += r.Reason
	}
	if r.Status != 0 {
		why = strings.TrimSpace(fmt.Sprintf("%s (status %d)", why, r.Status))
	}
	line := fmt.Sprintf("%-24s  %-5s  %-34s  %-7s  %-16s  %-40s  %s",
		r.Time.UTC().Format("2006-01-02T15:04:05.000Z"), decision, client, dash(r.Op), dash(r.Credential), dash(target), why)
	return strings.Map(printable, strings.TrimRight(line, " "))
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// printable keeps a bot-chosen path or reason from driving the terminal.
func printable(r rune) rune {
	if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
		return '?'
	}
	return r
}
