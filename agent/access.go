package agent

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/keyward/keyward/agent/audit"
	"github.com/keyward/keyward/agent/peerid"
	"github.com/keyward/keyward/agent/policy"
	"github.com/keyward/keyward/protocol"
)

// Auditor receives a record of every use of a credential and of every
// administrative change. Implementations must not block the caller for
// long (the signing path calls Record) and must never be handed a secret:
// AuditEvent has no field that could hold one.
type Auditor interface {
	Record(e AuditEvent)
	// Healthy reports whether records can be written; when it returns an
	// error in fail-closed mode, the agent refuses to sign.
	Healthy() error
}

// AuditEvent is one audited action.
type AuditEvent struct {
	Time       time.Time
	Client     peerid.Identity
	Op         string
	Credential string
	Method     string
	Host       string
	Path       string
	// Params is the hex SHA-256 of the request's query and body: enough
	// to match a record with a request, never the parameters themselves.
	Params   string
	Decision string // "allow", "deny", "error"
	Rule     string
	Reason   string
	Latency  time.Duration
	Status   int // forward mode's venue status code
}

// paramsHash hashes a request's query and body for the audit log.
func paramsHash(rawURL, body string) string {
	_, q, _ := strings.Cut(rawURL, "?")
	return audit.ParamsHash(q, body)
}

func (a *Agent) audit(e AuditEvent) {
	if a.cfg.Audit != nil {
		a.cfg.Audit.Record(e)
	}
}

// auditAdmin records an administrative change by peer.
func (a *Agent) auditAdmin(_ context.Context, peer peerid.Identity, op, credential string) {
	a.audit(AuditEvent{Time: a.now(), Client: peer, Op: op, Credential: credential, Decision: "allow", Rule: "owner"})
}

// auditSystem records a change the agent made by itself (an expiry).
func (a *Agent) auditSystem(op, credential, reason string) {
	a.audit(AuditEvent{Time: a.now(), Op: op, Credential: credential, Decision: "allow", Rule: "agent", Reason: reason})
}

// admitUse decides a use of a credential (sign, forward) by the policy and
// its rate limits, and checks that the audit log can take the record. It
// returns the wire error for a refusal; the caller audits the outcome.
// host (lower case) and path (escaped) are rawURL's, already parsed.
func (a *Agent) admitUse(id peerid.Identity, op, credential, schemeName, method, rawURL, host, path, body string, now time.Time) (policy.Decision, error) {
	if a.cfg.Audit != nil {
		if err := a.cfg.Audit.Healthy(); err != nil {
			d := policy.Decision{Rule: "audit", Reason: "the audit log cannot be written, and the agent is set to stop signing rather than run unaudited: " + err.Error()}
			return d, protocol.Errorf(protocol.CodeInternal, "%s", d.Reason)
		}
	}
	p := a.cfg.Policy.Policy()
	d, c, g := p.Decide(id, policy.Request{Op: op, Credential: credential, Scheme: schemeName, Method: method, URL: rawURL, Host: host, Path: path, Body: body})
	if d.Allow && p != nil {
		if lim := a.cfg.Policy.Limiter().Allow(p, c, g, credential, now); !lim.Allow {
			lim.Client = d.Client
			d = lim
		}
	}
	if !d.Allow {
		return d, protocol.Errorf(protocol.CodeDenied, "%s (rule: %s)", d.Reason, d.Rule)
	}
	return d, nil
}

// hostPath splits a URL for the audit log.
func hostPath(raw string) (host, path string) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", ""
	}
	return strings.ToLower(u.Hostname()), u.EscapedPath()
}

// canSee reports whether the caller may see credential name in list.
func (a *Agent) canSee(id peerid.Identity, name string) bool {
	p := a.cfg.Policy.Policy()
	if p == nil || a.isAdmin(id.Cred) {
		return true
	}
	d, _, _ := p.Decide(id, policy.Request{Op: policy.OpList, Credential: name})
	return d.Allow
}

// policyStatus fills status's policy fields.
func (a *Agent) policyStatus(res *protocol.StatusResult) {
	if al, ok := a.cfg.Audit.(*AuditLog); ok {
		res.Audit = al.Path()
		res.AuditError = al.Problem()
	}
	if a.cfg.Policy == nil {
		return
	}
	res.Policy = a.cfg.Policy.Path()
	if err := a.cfg.Policy.Err(); err != nil {
		res.PolicyError = err.Error()
	}
}
