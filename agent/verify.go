package agent

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keyward/keyward/agent/forward"
	"github.com/keyward/keyward/agent/keyring"
	"github.com/keyward/keyward/agent/scheme"
	"github.com/keyward/keyward/protocol"
)

// Metadata the agent records when it asks a venue about a key (`keyward
// add --verify`). Like key_type, an owner cannot set them.
const (
	MetaVerified    = "verified"    // "yes", or why not ("venue unreachable: …")
	MetaVerifiedAt  = "verified_at" // RFC 3339
	MetaPermissions = "permissions" // the venue's words, e.g. "enableWithdrawals=false,…"
	MetaCanWithdraw = "can_withdraw"
	// MetaVerifyHost names the host the agent asks about the key; the
	// scheme's first host when unset (a testnet key needs the testnet).
	MetaVerifyHost = "verify_host"
)

// agentMeta are the metadata keys only the agent writes.
var agentMeta = []string{scheme.MetaKeyType, MetaVerified, MetaVerifiedAt, MetaPermissions, MetaCanWithdraw}

// verifyTimeout bounds the whole check with the venue.
const verifyTimeout = 15 * time.Second

// verifyPrefix names the keyring entry a key is held under while the
// venue is asked about it: no credential name can start with a NUL, so a
// bot cannot use the key before it has been accepted.
const verifyPrefix = "\x00verify:"

// verifyKey asks the venue what the key in stored may do, and records the
// answer in meta. It refuses a key the venue rejects, and one that can
// withdraw unless the owner allowed it. A venue it cannot reach is an
// error only in VerifyOn mode; otherwise meta says the key is unverified.
func (a *Agent) verifyKey(ctx context.Context, sch scheme.Scheme, args protocol.AddArgs, meta map[string]string, stored []byte) error {
	mode := args.Verify
	switch mode {
	case "":
		mode = protocol.VerifyOff
	case protocol.VerifyAuto, protocol.VerifyOn, protocol.VerifyOff:
	default:
		return protocol.Errorf(protocol.CodeBadRequest, "verify %q: use auto, on or off", mode)
	}
	if mode == protocol.VerifyOff {
		return nil
	}
	kc, ok := sch.(scheme.KeyChecker)
	if !ok {
		if mode == protocol.VerifyOn {
			return protocol.Errorf(protocol.CodeUnsupported, "scheme %s has no way to ask the venue what a key may do: add the key without --verify", sch.Name())
		}
		return nil
	}
	host := meta[MetaVerifyHost]
	if host == "" {
		if hosts := scheme.AllowedHosts(sch, meta); len(hosts) > 0 {
			host = hosts[0]
		}
	}
	if host == "" || !scheme.HostAllowed(sch, meta, host) {
		return protocol.Errorf(protocol.CodeBadRequest, "verify_host %q is not one of the credential's hosts", host)
	}
	req, err := kc.KeyRequest(host, args.APIKey, meta)
	if err != nil {
		return protocol.Errorf(protocol.CodeBadRequest, "cannot ask %s about the key: %v", host, err)
	}
	u, err := url.Parse(req.URL)
	if err != nil {
		return protocol.Errorf(protocol.CodeInternal, "scheme %s built a bad key request", sch.Name())
	}
	// The scheme may ask another of the venue's hosts (Alpaca's paper
	// host for a paper key): still one of the credential's.
	if h := strings.ToLower(u.Hostname()); h != host {
		if !scheme.HostAllowed(sch, meta, h) {
			return protocol.Errorf(protocol.CodeInternal, "scheme %s asks about the key on %s, which is not one of the credential's hosts", sch.Name(), h)
		}
		host = h
	}

	tmp := verifyPrefix + args.Name
	if err := a.kr.Add(keyring.Credential{Name: tmp, Scheme: args.Scheme, APIKey: args.APIKey, Meta: meta}, stored); err != nil {
		return a.keyringError(args.Name, err)
	}
	defer a.kr.Remove(tmp)
	ctx, cancel := context.WithTimeout(ctx, verifyTimeout)
	defer cancel()
	target := targetFor(keyring.Credential{Meta: meta}, u)
	resp, err := a.fwd.Do(ctx, target, func() (*forward.Request, error) {
		out, _, err := a.signWithKey(tmp, req, host, a.now(), forForward)
		if err != nil {
			return nil, err
		}
		return wireRequest(out, host, req.Headers)
	})
	now := a.now().UTC()
	if err != nil {
		var fe *forward.Error
		if errors.As(err, &fe) && mode == protocol.VerifyAuto && (fe.Kind == forward.KindConnect || fe.Kind == forward.KindTimeout) {
			meta[MetaVerified] = "no: venue unreachable (" + fe.Kind + ")"
			a.log.Warn("key not verified: venue unreachable", "credential", args.Name, "host", host, "err", fe.Err)
			return nil
		}
		if fe != nil {
			return protocol.Errorf(protocol.CodeUpstream, "cannot ask the venue about the key: %v (add it with --verify=off to skip the check)", fe)
		}
		return err
	}
	a.clocks.fromDate(host, resp.Header, resp.Sent, resp.Received)
	perms, err := kc.ParseKey(resp.Status, resp.Body)
	if err != nil {
		var re *scheme.RequestError
		if errors.As(err, &re) {
			return protocol.Errorf(protocol.CodeBadRequest, "%s refused the key: %s (a testnet or demo key is checked on its own host: --meta verify_host=HOST; --verify=off skips the check)", host, re.Msg)
		}
		return protocol.Errorf(protocol.CodeUpstream, "%s answered %d, which the agent cannot read: %v", host, resp.Status, err)
	}
	meta[MetaVerified] = "yes"
	meta[MetaVerifiedAt] = now.Format(time.RFC3339)
	if perms.Detail != "" {
		meta[MetaPermissions] = truncate(perms.Detail, 1024)
	}
	if perms.Known {
		meta[MetaCanWithdraw] = strconv.FormatBool(perms.Withdraw)
	}
	if perms.Known && perms.Withdraw && !args.AllowWithdrawPermission {
		return protocol.Errorf(protocol.CodeDenied, "%s says this key can withdraw funds (%s): create a key without the withdrawal permission, or add this one with --allow-withdraw-permission", host, perms.Detail)
	}
	a.log.Info("key verified", "credential", args.Name, "host", host, "permissions", perms.Detail)
	return nil
}

// truncate cuts s to at most n bytes, at a rune boundary: it is stored in
// metadata and printed.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// checkAgentMeta refuses metadata only the agent writes.
func checkAgentMeta(m map[string]string) error {
	for _, k := range agentMeta {
		if _, set := m[k]; set {
			what := "what the venue says of the key (add --verify)"
			if k == scheme.MetaKeyType {
				what = "the key type it finds in the secret"
			}
			return protocol.Errorf(protocol.CodeBadRequest, "metadata %q is the agent's: it records %s", k, what)
		}
	}
	return nil
}
