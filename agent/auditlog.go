package agent

import (
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/agent/audit"
)

// AuditLog is the agent's Auditor over an audit.Log: records go to a
// queue and are written, hash-chained and fsynced in batches by the log's
// own goroutine, off the signing path; a Detector writes alert records
// when a client's rate jumps or denials burst.
type AuditLog struct {
	l    *audit.Log
	path string
}

// OpenAuditLog opens (or creates) the audit log at path. failClosed makes
// the agent refuse to sign while the log cannot be written.
func OpenAuditLog(path string, failClosed bool, now func() time.Time, log *slog.Logger) (*AuditLog, error) {
	l, err := audit.Open(audit.Options{
		Path:       path,
		FailClosed: failClosed,
		Now:        now,
		Log:        log,
		Detector:   audit.NewDetector(audit.DetectorOptions{}),
	})
	if err != nil {
		return nil, err
	}
	return &AuditLog{l: l, path: path}, nil
}

// Path is the log file.
func (a *AuditLog) Path() string { return a.path }

// Record queues an event.
func (a *AuditLog) Record(e AuditEvent) {
	r := audit.Record{
		Time: e.Time, Type: audit.TypeRequest,
		Client:     audit.Client{UID: e.Client.UID, GID: e.Client.GID, PID: e.Client.PID, Unit: e.Client.Unit, Exe: e.Client.Exe},
		Op:         e.Op,
		Credential: e.Credential,
		Method:     e.Method,
		Host:       e.Host,
		Path:       e.Path,
		Params:     e.Params,
		Decision:   e.Decision,
		Rule:       e.Rule,
		Reason:     e.Reason,
		LatencyUS:  e.Latency.Microseconds(),
		Status:     e.Status,
	}
	a.l.Append(r) // a refusal shows in Healthy, which the agent checks before signing
}

// Healthy reports whether records can be written (fail-closed mode).
func (a *AuditLog) Healthy() error { return a.l.Healthy() }

// Close flushes, syncs and closes the log.
func (a *AuditLog) Close() error { return a.l.Close() }

// Problem is the last write error, for status; "" when healthy.
func (a *AuditLog) Problem() string {
	if err := a.l.Healthy(); err != nil {
		return err.Error()
	}
	if s := a.l.Stats(); s.Dropped > 0 || s.Errors > 0 {
		return strings.TrimSpace(statsText(s))
	}
	return ""
}

func statsText(s audit.Stats) string {
	var parts []string
	if s.Dropped > 0 {
		parts = append(parts, strconv.FormatUint(s.Dropped, 10)+" records dropped")
	}
	if s.Errors > 0 {
		parts = append(parts, strconv.FormatUint(s.Errors, 10)+" write errors")
	}
	return strings.Join(parts, ", ")
}
