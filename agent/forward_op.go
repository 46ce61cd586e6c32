package agent

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keyward/keyward/agent/forward"
	"github.com/keyward/keyward/agent/keyring"
	"github.com/keyward/keyward/agent/scheme"
	"github.com/keyward/keyward/protocol"
)

// Forward mode's time bounds: the default for one exchange with a venue,
// and the most a bot may ask for.
const (
	forwardTimeout    = 30 * time.Second
	forwardTimeoutMax = 120 * time.Second
)

// Credential metadata that says how forward mode reaches a credential's
// venue (set with `keyward add --meta`).
const (
	// MetaConnectTo is a "host:port" dialled instead of the URL's host,
	// whose name TLS still verifies: a private endpoint, a test venue.
	MetaConnectTo = "connect_to"
	// MetaCAFile is a PEM bundle of the roots to trust instead of the
	// system's, for a private endpoint.
	MetaCAFile = "ca_file"
	// MetaProxy is an http:// proxy reached with CONNECT. The agent never
	// takes a proxy from its environment.
	MetaProxy = "proxy"
)

// botOnlyHeaders are request fields a bot may not send through forward
// mode: credentials of any kind are the agent's to add.
var botOnlyHeaders = []string{"Authorization", "Proxy-Authorization", "Cookie"}

// Forward builds, signs and sends a request to the venue with the named
// credential and returns the venue's response. The bot never holds the
// signed request: nothing in it can be replayed or read. The policy decides
// first, as for sign; the request goes only to the credential's hosts,
// over verified TLS, and a redirect comes back to the bot unfollowed.
func (a *Agent) Forward(ctx context.Context, args protocol.ForwardArgs) (res *protocol.HTTPResponse, err error) {
	start := time.Now()
	peer, err := a.authorize(ctx, protocol.OpForward)
	if err != nil {
		host, path := hostPath(args.URL)
		a.audit(AuditEvent{Time: a.now(), Client: peer, Op: protocol.OpForward, Credential: args.Credential, Method: args.Method,
			Host: host, Path: path, Params: paramsHash(args.URL, args.Body), Decision: "deny", Rule: "connection", Reason: err.Error(), Latency: time.Since(start)})
		return nil, err
	}
	if args.Credential == "" {
		return nil, protocol.Errorf(protocol.CodeBadRequest, "forward needs a credential name")
	}
	method := strings.ToUpper(args.Method)
	switch method {
	case "":
		return nil, protocol.Errorf(protocol.CodeBadRequest, "forward needs an HTTP method")
	case protocol.MethodWS:
		return nil, protocol.Errorf(protocol.CodeUnsupported, "forward sends HTTP requests; a WebSocket message is signed with sign")
	}
	u, err := url.Parse(args.URL)
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		return nil, protocol.Errorf(protocol.CodeBadRequest, "url %.200q is not an absolute URL", args.URL)
	case u.Scheme != "https":
		return nil, protocol.Errorf(protocol.CodeBadRequest, "forward sends only https URLs, not %s://", u.Scheme)
	case u.User != nil:
		return nil, protocol.Errorf(protocol.CodeBadRequest, "url has user information: the agent adds the credentials itself")
	case u.Fragment != "" || strings.Contains(args.URL, "#"):
		return nil, protocol.Errorf(protocol.CodeBadRequest, "url has a fragment (#…), which is never sent: drop it")
	}
	timeout := forwardTimeout
	switch {
	case args.TimeoutMS < 0:
		return nil, protocol.Errorf(protocol.CodeBadRequest, "timeout_ms %d is negative", args.TimeoutMS)
	case args.TimeoutMS > 0:
		timeout = min(time.Duration(args.TimeoutMS)*time.Millisecond, forwardTimeoutMax)
	}
	host := strings.ToLower(u.Hostname())
	now := a.now()

	cred, credErr := a.kr.Credential(args.Credential)
	ev := AuditEvent{Time: now, Client: peer, Op: protocol.OpForward, Credential: args.Credential, Method: method,
		Host: host, Path: u.EscapedPath(), Params: paramsHash(args.URL, args.Body)}
	defer func() {
		ev.Latency = time.Since(start)
		if err != nil && ev.Decision == "" {
			ev.Decision = "error"
			ev.Reason = err.Error()
		}
		a.audit(ev)
	}()
	d, err := a.admitUse(peer, protocol.OpForward, args.Credential, cred.Scheme, method, args.URL, host, u.EscapedPath(), args.Body, now)
	ev.Rule = d.Rule
	if err != nil {
		ev.Decision, ev.Reason = "deny", d.Reason
		a.log.Warn("forward denied", "credential", args.Credential, "host", host, "uid", peer.UID, "pid", peer.PID, "unit", peer.Unit, "rule", d.Rule, "reason", d.Reason)
		return nil, err
	}
	if credErr != nil {
		return nil, a.keyringError(args.Credential, credErr)
	}
	s, ok := scheme.Lookup(cred.Scheme)
	if !ok {
		return nil, protocol.Errorf(protocol.CodeUnsupported, "credential %q uses scheme %q, which this agent does not know", cred.Name, cred.Scheme)
	}
	if !scheme.HostAllowed(s, cred.Meta, host) {
		ev.Decision, ev.Rule = "deny", "credential hosts"
		e := protocol.Errorf(protocol.CodeDenied, "credential %q forwards only to %s hosts (%s), not %s: add other hosts with `keyward add --host`", cred.Name, cred.Scheme, strings.Join(scheme.AllowedHosts(s, cred.Meta), ", "), host)
		ev.Reason = e.Message
		return nil, e
	}
	target := targetFor(cred, u)
	headers := botHeaders(args.Headers)

	var keyType string
	build := func(to signFor) func() (*forward.Request, error) {
		return func() (*forward.Request, error) {
			// Without a clear secret, the request holds nothing sign mode
			// would not hand a bot, and need not be built under erase.Do.
			// Should the credential have been replaced, since it was
			// looked up above, by one whose scheme puts a secret in clear,
			// signWithKey refuses before signing (CodeForwardOnly) and the
			// request is built again below, under erase.Do.
			out, kt, err := a.signWithKey(args.Credential, scheme.Request{Method: method, URL: args.URL, Headers: headers, Body: args.Body}, host, a.now(), to)
			keyType = kt
			if err != nil {
				return nil, err
			}
			return wireRequest(out, host, headers)
		}
	}
	// The timeout is the connection's deadline, not a context's: a
	// context.WithTimeout per request arms a runtime timer each time,
	// which wakes the network poller or another thread.
	clearSecret := sendsSecretInClear(s)
	to := forForwardNoSecret
	if clearSecret {
		to = forForward
	}
	resp, err := a.fwd.DoWith(ctx, target, forward.Options{Timeout: timeout, NoSecret: !clearSecret}, build(to))
	if !clearSecret && protocol.HasCode(err, protocol.CodeForwardOnly) {
		resp, err = a.fwd.DoWith(ctx, target, forward.Options{Timeout: timeout}, build(forForward))
	}
	if err != nil {
		var fe *forward.Error
		if errors.As(err, &fe) {
			a.log.Warn("forward failed", "credential", args.Credential, "host", host, "kind", fe.Kind, "err", fe.Err)
			return nil, upstreamError(fe, method, timeout)
		}
		var pe *protocol.Error
		if errors.As(err, &pe) {
			if pe.Code == protocol.CodeDenied {
				ev.Decision, ev.Reason, ev.Rule = "deny", pe.Message, "credential hosts"
			}
			return nil, pe
		}
		a.log.Error("forward", "credential", args.Credential, "err", err)
		return nil, protocol.ErrorReply(0, err).Error
	}
	ev.Decision, ev.Status = "allow", resp.Status
	a.usage.touch(args.Credential, now)
	a.garbage.signed(keyType)
	a.clocks.fromDate(host, resp.Header, resp.Sent, resp.Received)
	a.maybeProbeClock(s, target, host)
	if a.log.Enabled(ctx, slog.LevelDebug) {
		a.log.Debug("forwarded", "credential", args.Credential, "method", method, "host", host, "path", u.Path, "status", resp.Status, "uid", peer.UID, "pid", peer.PID)
	}
	out := httpResponse(resp)
	if err := fitsOneFrame(out, host); err != nil {
		ev.Decision, ev.Reason = "error", err.Message
		return nil, err
	}
	return out, nil
}

// sendsSecretInClear reports whether requests signed with s carry a
// secret in clear (a token, a secret-key header, a passphrase): those are
// built and written under erase.Do. The others carry only what sign mode
// hands to bots (a signature, the API key id, a timestamp), and the
// secret stays in locked memory while they are signed, as in sign mode.
func sendsSecretInClear(s scheme.Scheme) bool {
	info := scheme.InfoOf(s)
	return info.ForwardOnly || len(info.ClearSecrets) > 0
}

// fitsOneFrame refuses a response whose reply would be over the frame
// limit once encoded: a body within MaxResponseBytes grows by a third as
// base64 (not UTF-8) or up to six times as JSON escapes. Without this the
// server would answer with a connection-level "reply too large".
func fitsOneFrame(r *protocol.HTTPResponse, host string) *protocol.Error {
	if len(r.Body) < 256<<10 {
		return nil // headers and envelope cannot fill the rest
	}
	b, err := protocol.Marshal(r)
	if err == nil && len(b) <= protocol.MaxFrameSize-1024 {
		return nil
	}
	return protocol.Errorf(protocol.CodeUpstream, "forward to %s: the response, %d bytes once encoded, does not fit the %d-byte reply frame: the request was sent and answered; ask for less (a smaller page, a filter)", host, len(b), protocol.MaxFrameSize)
}

// targetFor is where forward mode sends a credential's request to u.
func targetFor(c keyring.Credential, u *url.URL) forward.Target {
	return forward.Target{
		Host:      strings.ToLower(u.Hostname()),
		Port:      u.Port(),
		ConnectTo: c.Meta[MetaConnectTo],
		CAFile:    c.Meta[MetaCAFile],
		Proxy:     c.Meta[MetaProxy],
	}
}

// botHeaders is what of the bot's headers may go to the venue: neither
// hop-by-hop fields nor credentials of its own.
func botHeaders(h map[string]string) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		if forward.IsHopByHop(k) || slices.Contains(botOnlyHeaders, http.CanonicalHeaderKey(k)) {
			continue
		}
		out[k] = v
	}
	return out
}

// wireRequest turns a signed request into what is written to the venue.
// A header the scheme set replaces any case variant of it the bot sent,
// so a venue never sees two API keys. It runs in forward's build
// function, under erase.Do for a request with a secret in clear, where
// every allocation costs extra: so it reads the URL in place rather than
// parsing it.
func wireRequest(out scheme.Request, host string, bot map[string]string) (*forward.Request, error) {
	rest, ok := cutPrefixFold(out.URL, "https://")
	if !ok {
		return nil, protocol.Errorf(protocol.CodeInternal, "the scheme returned a URL that is not https")
	}
	// The path and query exactly as signed, not as url re-encodes them.
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	if !strings.EqualFold(hostOfAuthority(rest[:end]), host) {
		return nil, protocol.Errorf(protocol.CodeInternal, "the scheme changed the request's host")
	}
	target := rest[end:]
	if !strings.HasPrefix(target, "/") {
		target = "/" + target // https://host?query
	}
	req := &forward.Request{Method: out.Method, Target: target, Body: out.Body, Header: make([]forward.Header, 0, len(out.Headers))}
	for k, v := range out.Headers {
		if bv, ok := bot[k]; ok && bv == v && schemeSetVariant(out.Headers, bot, k) {
			continue // the bot's own variant of a field the scheme set
		}
		req.Header = append(req.Header, forward.Header{Name: k, Value: v})
	}
	slices.SortFunc(req.Header, func(x, y forward.Header) int { return strings.Compare(x.Name, y.Name) })
	return req, nil
}

// schemeSetVariant reports whether the scheme set a field named like the
// bot's field name (another case variant, or a new value).
func schemeSetVariant(out, bot map[string]string, name string) bool {
	canon := http.CanonicalHeaderKey(name)
	for k, v := range out {
		if bv, ok := bot[k]; (!ok || bv != v) && http.CanonicalHeaderKey(k) == canon {
			return true
		}
	}
	return false
}

// cutPrefixFold is strings.CutPrefix ignoring case. With an ASCII prefix
// only ASCII folds: the part of s compared has the prefix's length in
// bytes, so a multi-byte rune that folds to an ASCII letter (K, ſ)
// leaves it a rune short, and it does not match.
func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return s, false
	}
	return s[len(prefix):], true
}

// hostOfAuthority is the host of a URL's authority, without the port
// and an IPv6 literal's brackets. An authority with user information is
// returned whole, so it matches no host name.
func hostOfAuthority(a string) string {
	if strings.IndexByte(a, '@') >= 0 {
		return a
	}
	if i := strings.LastIndexByte(a, ':'); i >= 0 && strings.IndexByte(a[i:], ']') < 0 {
		a = a[:i]
	}
	return strings.TrimSuffix(strings.TrimPrefix(a, "["), "]")
}

// upstreamError says what went wrong with the venue, and whether the
// request may have been acted on.
func upstreamError(fe *forward.Error, method string, timeout time.Duration) *protocol.Error {
	msg := fe.Error()
	if fe.Kind == forward.KindTimeout {
		msg = "forward to " + fe.Target + ": no complete answer within " + timeout.String()
	}
	if fe.Sent && method != "GET" && method != "HEAD" {
		msg += ": the request was sent and the venue may have acted on it; check (e.g. the open orders) before sending it again"
	}
	return protocol.Errorf(protocol.CodeUpstream, "%s", msg)
}

// httpResponse is the wire form of a venue's response.
func httpResponse(r *forward.Response) *protocol.HTTPResponse {
	out := &protocol.HTTPResponse{Status: r.Status}
	if len(r.Header) > 0 {
		out.Headers = make(map[string]string, len(r.Header))
		for k, v := range r.Header {
			sep := ", "
			if k == "Set-Cookie" {
				sep = "\n"
			}
			out.Headers[k] = strings.Join(v, sep)
		}
	}
	if utf8.Valid(r.Body) {
		out.Body = string(r.Body)
	} else {
		out.Body, out.BodyEncoding = base64.StdEncoding.EncodeToString(r.Body), "base64"
	}
	return out
}

// maybeProbeClock asks host's time endpoint, in the background, when the
// scheme knows one and the last probe is old.
func (a *Agent) maybeProbeClock(s scheme.Scheme, t forward.Target, host string) {
	clk, ok := s.(scheme.Clock)
	if !ok || !a.clocks.startProbe(host, time.Now()) {
		return // checked first: it is cheaper than building the request
	}
	req, ok := clk.TimeRequest(host)
	if !ok {
		a.clocks.probeDone(host)
		return
	}
	a.probes.Add(1)
	go func() {
		defer a.probes.Done()
		defer a.clocks.probeDone(host)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// A time endpoint is public: nothing in the request is secret.
		resp, err := a.fwd.DoWith(ctx, t, forward.Options{NoSecret: true}, func() (*forward.Request, error) { return wireRequest(req, host, nil) })
		if err != nil {
			a.log.Debug("clock probe failed", "host", host, "err", err)
			return
		}
		if resp.Status != http.StatusOK {
			a.log.Debug("clock probe refused", "host", host, "status", resp.Status)
			return
		}
		vt, err := clk.ParseTime(host, resp.Body)
		if err != nil {
			a.log.Debug("clock probe unreadable", "host", host, "err", err)
			return
		}
		a.clocks.fromServerTime(host, vt, resp.Sent, resp.Received)
		a.log.Debug("venue clock", "host", host, "offset", vt.Sub(resp.Sent.Add(resp.Received.Sub(resp.Sent)/2)))
	}()
}
