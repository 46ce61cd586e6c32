// Package fakeexchange is a local fake of every exchange keyward speaks to,
// for end-to-end tests of forward mode and for the benchmark harness. One
// TLS listener on the loopback address serves all the venues' host names
// (the client dials every host to Addr() and trusts CAPEM()); each request
// is routed by its Host to a venue, whose signed endpoints check the key,
// the signature and the nonce with package verify and answer, right or
// wrong, with bodies shaped like the venue's own. Every signed request is
// recorded with the verdict, so a test can see exactly what the agent sent.
//
// It is a test tool and must never be linked into the agent or the keyward
// binary, never listen beyond loopback, never trust a certificate it made
// outside a test, and never log a secret, a signature or a token (it logs
// the API key id, which the client harnesses read back). Its
// certificate authority is made in memory at Start and only the CA
// certificate (no key) is written, to a temporary directory Close removes.
package fakeexchange

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward/internal/fakeexchange/verify"
)

// maxBody bounds a request body the fake reads; a larger one is refused.
const maxBody = 1 << 20

// Config configures Start; the zero value is ready to use.
type Config struct {
	Log *slog.Logger     // nil discards
	Now func() time.Time // nil is time.Now; the exchange's clock is Now()+offset
	// ExtraHosts are more host names to put in the certificate and to route;
	// each serves nothing until MapHost names its venue.
	ExtraHosts []string
}

// Permissions is what an API key may do. The fake reports it on the
// venue's permission endpoint (Binance apiRestrictions, Bybit query-api,
// OKX account config, Coinbase key_permissions, KuCoin api-key, Alpaca
// account); it does not refuse requests because of it.
type Permissions struct {
	Read, Trade, Withdraw, Transfer bool
}

// Seen is one request to an authenticated endpoint and the fake's verdict
// on it, in the order they arrived.
type Seen struct {
	Venue    string      // the venue that answered, e.g. "binance"
	Method   string      // as received
	Host     string      // without the port
	Path     string      // escaped, as received
	Query    string      // raw query, as received
	Header   http.Header // as received, credentials included (they are test values)
	Body     string
	APIKey   string // what the venue's Key found, or ""
	Verified bool   // the key was known, the signature right and the nonce fresh
	Reason   string // why not, when !Verified
	Status   int    // the HTTP status answered
	Proto    string // "HTTP/1.1" or "HTTP/2.0"
}

type account struct {
	verify.Account
	perms   Permissions
	created time.Time
}

// Exchange is a running fake exchange. Its methods are safe for concurrent
// use.
type Exchange struct {
	log   *slog.Logger
	now   func() time.Time
	ln    net.Listener
	srv   *http.Server
	dir   string
	caPEM []byte
	hosts []string
	muxes map[string]http.Handler // by venue name; fixed at Start
	ids   atomic.Uint64           // order ids
	close sync.Once

	mu        sync.Mutex // guards the fields below
	offset    time.Duration
	mapped    map[string]string              // host → venue, from MapHost
	accounts  map[string]map[string]*account // venue → API key → account
	lastNonce map[string]uint64              // venue+"\x00"+API key → highest nonce accepted
	seen      []Seen
}

// Start makes a CA and a server certificate for every venue host, each
// extra host, "localhost" and the loopback addresses, writes the CA
// certificate to a temporary directory, and serves HTTP/1.1 and HTTP/2 over
// TLS on 127.0.0.1 at a free port until Close.
func Start(cfg Config) (*Exchange, error) {
	x := &Exchange{
		log:       cfg.Log,
		now:       cfg.Now,
		muxes:     make(map[string]http.Handler),
		mapped:    make(map[string]string),
		accounts:  make(map[string]map[string]*account),
		lastNonce: make(map[string]uint64),
	}
	if x.log == nil {
		x.log = slog.New(slog.DiscardHandler)
	}
	if x.now == nil {
		x.now = time.Now
	}
	x.ids.Store(uint64(x.now().UnixMilli()) % 1e9 * 1000)

	hosts := slices.Clone(cfg.ExtraHosts)
	for _, v := range verify.Venues() {
		hosts = append(hosts, v.Hosts...)
		x.muxes[v.Name] = x.venueMux(v.Name)
	}
	for i, h := range hosts {
		hosts[i] = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(h), "."))
	}
	hosts = slices.DeleteFunc(hosts, func(h string) bool { return h == "" })
	slices.Sort(hosts)
	x.hosts = slices.Compact(hosts)

	ca, err := newAuthority(x.hosts, time.Now())
	if err != nil {
		return nil, err
	}
	x.caPEM = ca.caPEM
	x.dir, err = os.MkdirTemp("", "fakeexchange-")
	if err != nil {
		return nil, fmt.Errorf("fakeexchange: %w", err)
	}
	if err := os.WriteFile(x.CAFile(), x.caPEM, 0o644); err != nil {
		os.RemoveAll(x.dir)
		return nil, fmt.Errorf("fakeexchange: write CA: %w", err)
	}
	x.ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.RemoveAll(x.dir)
		return nil, fmt.Errorf("fakeexchange: listen: %w", err)
	}
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(true)
	x.srv = &http.Server{
		Handler:           x,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{ca.cert}, MinVersion: tls.VersionTLS12},
		Protocols:         protocols,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(x.log.Handler(), slog.LevelDebug),
	}
	go func() {
		if err := x.srv.ServeTLS(x.ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			x.log.Error("fakeexchange: serve", "err", err)
		}
	}()
	x.log.Info("fakeexchange: serving", "addr", x.Addr(), "hosts", len(x.hosts))
	return x, nil
}

// Addr is the address the exchange listens on, "127.0.0.1:PORT".
func (x *Exchange) Addr() string { return x.ln.Addr().String() }

// CAFile is the path of the PEM CA certificate that signed the server's.
func (x *Exchange) CAFile() string { return filepath.Join(x.dir, "ca.pem") }

// CAPEM is the PEM CA certificate that signed the server's.
func (x *Exchange) CAPEM() []byte { return slices.Clone(x.caPEM) }

// Hosts are the host names the certificate covers besides "localhost" and
// the loopback addresses: every venue's and Config.ExtraHosts, sorted.
func (x *Exchange) Hosts() []string { return slices.Clone(x.hosts) }

// MapHost routes host to venue: a generic venue (hmac, bearer) has no host
// of its own, and an extra host has no venue until mapped. It may also
// re-route a venue host. It panics on a venue verify does not know, a
// mistake in the test that calls it.
func (x *Exchange) MapHost(host, venue string) {
	if _, ok := verify.Lookup(venue); !ok {
		panic(fmt.Sprintf("fakeexchange: MapHost(%q): unknown venue %q", host, venue))
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.mapped[strings.ToLower(host)] = venue
}

// AddAccount makes account a known to venue with the permissions p,
// replacing an account with the same key. It registers a under
// verify.AccountKeys: a.APIKey for most venues, the token's hash for oanda,
// and for hmac and bearer each host in a.Meta["hosts"], which it also
// routes to venue unless the host is a venue's or already mapped (the
// certificate covers such a host only if it is in Config.ExtraHosts). It
// panics on a venue verify does not know.
func (x *Exchange) AddAccount(venue string, a verify.Account, p Permissions) {
	if _, ok := verify.Lookup(venue); !ok {
		panic(fmt.Sprintf("fakeexchange: AddAccount: unknown venue %q", venue))
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.accounts[venue] == nil {
		x.accounts[venue] = make(map[string]*account)
	}
	acct := &account{Account: a, perms: p, created: x.clockLocked()}
	for _, key := range verify.AccountKeys(venue, a) {
		x.accounts[venue][key] = acct
		if host, ok := strings.CutPrefix(key, "host:"); ok {
			if _, owned := verify.ByHost(host); !owned && x.mapped[host] == "" {
				x.mapped[host] = venue
			}
		}
	}
}

// SetClockOffset sets the exchange's clock to Config.Now()+d: the time
// endpoints, the Date header and the signature windows all use it.
func (x *Exchange) SetClockOffset(d time.Duration) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.offset = d
}

// Requests returns every request to an authenticated endpoint since Start or
// Reset, in the order they arrived.
func (x *Exchange) Requests() []Seen {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make([]Seen, len(x.seen))
	for i, s := range x.seen {
		s.Header = s.Header.Clone()
		out[i] = s
	}
	return out
}

// Reset forgets the recorded requests (not the accounts or the nonces).
func (x *Exchange) Reset() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.seen = nil
}

// Close stops serving, drops every connection and removes the CA file.
func (x *Exchange) Close() error {
	var err error
	x.close.Do(func() {
		err = x.srv.Close()
		if rerr := os.RemoveAll(x.dir); err == nil {
			err = rerr
		}
	})
	return err
}

// clock is the exchange's time.
func (x *Exchange) clock() time.Time {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.clockLocked()
}

// clockLocked is clock with x.mu held.
func (x *Exchange) clockLocked() time.Time { return x.now().Add(x.offset) }

func (x *Exchange) venueFor(host string) (string, bool) {
	x.mu.Lock()
	name, ok := x.mapped[host]
	x.mu.Unlock()
	if ok {
		return name, true
	}
	v, ok := verify.ByHost(host)
	return v.Name, ok
}

// ServeHTTP routes by Host: the test knobs on any host, else the venue's
// own endpoints.
func (x *Exchange) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// A real venue's Date is its own clock; net/http keeps one already set.
	w.Header().Set("Date", x.clock().UTC().Format(http.TimeFormat))
	if strings.HasPrefix(r.URL.Path, "/__fake/") {
		x.knob(w, r)
		return
	}
	host := hostOnly(r.Host)
	name, ok := x.venueFor(host)
	mux := x.muxes[name]
	if !ok || mux == nil {
		x.log.Warn("fakeexchange: no venue for host", "host", host, "path", r.URL.Path)
		writeJSON(w, http.StatusMisdirectedRequest, map[string]string{"error": "fakeexchange: no venue serves host " + host})
		return
	}
	mux.ServeHTTP(w, r)
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		hostport = h
	}
	return strings.ToLower(strings.TrimSuffix(hostport, "."))
}

// failure is a class of refusal; each venue words it its own way.
type failure int

const (
	failNoKey      failure = iota // the request names no API key
	failBadKey                    // the key is unknown
	failSignature                 // the signature does not verify
	failTimestamp                 // the signed timestamp is outside the venue's window
	failPassphrase                // the passphrase is wrong
	failNonce                     // the nonce is not above the last one accepted
	failForbidden                 // the key may not act on this resource
	failBadInput                  // the body is too large or malformed
	failNotFound                  // no such endpoint
)

// fault is a refusal and what a venue may quote in its answer.
type fault struct {
	kind   failure
	detail string // verify's reason, or a message for the client
	key    string // the API key, when one was found
	r      *http.Request
	now    time.Time // the exchange's clock
}

// reply is an answer: a status and a body, JSON unless it is a string.
type reply struct {
	status int
	body   any
}

// errorer words a refusal as a venue does.
type errorer func(f fault) reply

// call is one verified request to a signed endpoint, handed to its handler.
type call struct {
	x       *Exchange
	r       *http.Request
	venue   string
	acct    *account
	verdict verify.Verdict
	body    []byte
	now     time.Time // the exchange's clock when the request arrived
	fail    errorer
}

// refuse answers the call with a refusal in the venue's words.
func (c *call) refuse(kind failure, detail string) reply {
	return c.fail(fault{kind: kind, detail: detail, key: c.acct.APIKey, r: c.r, now: c.now})
}

// public wraps an endpoint that needs no key.
func (x *Exchange) public(h func(now time.Time, r *http.Request) reply) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		write(w, h(x.clock(), r))
	}
}

// signed wraps an authenticated endpoint: it reads the body, finds the key
// and its account, verifies the signature and the nonce, records the
// request and the verdict, and answers a refusal in the venue's own words.
func (x *Exchange) signed(venue string, fail errorer, h func(c *call) reply) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		// Looked up per request: the fake serves whatever verify knows now.
		v, ok := verify.Lookup(venue)
		if !ok {
			v = verify.Venue{Name: venue}
		}
		x.serveSigned(v, fail, h, w, r)
	}
}

// serveSigned answers one request to a signed endpoint of v.
func (x *Exchange) serveSigned(v verify.Venue, fail errorer, h func(c *call) reply, w http.ResponseWriter, r *http.Request) {
	venue := v.Name
	now := x.clock()
	seen := Seen{
		Venue: venue, Method: r.Method, Host: hostOnly(r.Host), Path: r.URL.EscapedPath(),
		Query: r.URL.RawQuery, Header: r.Header.Clone(), Proto: r.Proto,
	}
	rep := x.check(v, fail, r, now, &seen, h)
	seen.Status = rep.status
	x.mu.Lock()
	x.seen = append(x.seen, seen)
	x.mu.Unlock()
	x.log.Info("fakeexchange: signed request", "venue", venue, "method", r.Method, "host", seen.Host,
		"path", seen.Path, "api_key", seen.APIKey, "verified", seen.Verified, "reason", seen.Reason, "status", rep.status)
	write(w, rep)
}

func (x *Exchange) check(v verify.Venue, fail errorer, r *http.Request, now time.Time, seen *Seen, h func(c *call) reply) reply {
	refuse := func(kind failure, reason, detail string) reply {
		seen.Reason = reason
		return fail(fault{kind: kind, detail: detail, key: seen.APIKey, r: r, now: now})
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	seen.Body = string(body)
	switch {
	case err != nil:
		return refuse(failBadInput, "read body: "+err.Error(), "cannot read the request body")
	case len(body) > maxBody:
		return refuse(failBadInput, "body over 1 MiB", "request body too large")
	}
	venue := v.Name
	if v.Key == nil || v.Verify == nil {
		return refuse(failNotFound, "verify knows no venue "+venue, "")
	}
	req := &verify.Request{
		Method: r.Method, Host: seen.Host, Path: seen.Path, RawQuery: r.URL.RawQuery,
		Header: r.Header.Clone(), Body: body, Now: now,
	}
	key, err := v.Key(req)
	if err != nil || key == "" {
		reason := "no API key"
		if err != nil {
			reason += ": " + err.Error()
		}
		return refuse(failNoKey, reason, "")
	}
	seen.APIKey = key
	x.mu.Lock()
	acct := x.accounts[venue][key]
	x.mu.Unlock()
	if acct == nil {
		return refuse(failBadKey, "unknown API key", "")
	}
	verdict, err := v.Verify(req, acct.Account)
	if err != nil {
		return refuse(classify(err), "verify: "+err.Error(), err.Error())
	}
	if verdict.APIKey != "" {
		seen.APIKey = verdict.APIKey // oanda and bearer find the account by a token hash or the host
	}
	if verdict.Nonce != 0 {
		id := venue + "\x00" + acct.APIKey
		x.mu.Lock()
		last := x.lastNonce[id]
		fresh := verdict.Nonce > last
		if fresh {
			x.lastNonce[id] = verdict.Nonce
		}
		x.mu.Unlock()
		if !fresh {
			return refuse(failNonce, fmt.Sprintf("nonce %d is not above the last accepted, %d", verdict.Nonce, last), "")
		}
	}
	seen.Verified = true
	return h(&call{x: x, r: r, venue: venue, acct: acct, verdict: verdict, body: body, now: now, fail: fail})
}

func write(w http.ResponseWriter, rep reply) {
	if s, ok := rep.body.(string); ok {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(rep.status)
		io.WriteString(w, s)
		return
	}
	writeJSON(w, rep.status, rep.body)
}

// knob serves the unauthenticated test endpoints under /__fake/.
func (x *Exchange) knob(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch r.URL.Path {
	case "/__fake/redirect":
		to := q.Get("to")
		status := http.StatusFound
		if s := q.Get("status"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 300 || n > 399 {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "status must be 3xx"})
				return
			}
			status = n
		}
		if to == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "to is required"})
			return
		}
		http.Redirect(w, r, to, status)
	case "/__fake/slow":
		ms, err := strconv.ParseInt(q.Get("ms"), 10, 64)
		if err != nil || ms < 0 || ms > time.Hour.Milliseconds() {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "ms must be a count of milliseconds up to an hour"})
			return
		}
		t := time.NewTimer(time.Duration(ms) * time.Millisecond)
		defer t.Stop()
		select {
		case <-t.C:
			writeJSON(w, http.StatusOK, map[string]int64{"slept_ms": ms})
		case <-r.Context().Done():
			x.log.Debug("fakeexchange: slow request abandoned", "ms", ms, "err", context.Cause(r.Context()))
		}
	case "/__fake/big":
		n, err := strconv.ParseInt(q.Get("bytes"), 10, 64)
		if err != nil || n < 0 || n > 1<<32 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bytes must be between 0 and 4 GiB"})
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		w.WriteHeader(http.StatusOK)
		chunk := []byte(strings.Repeat("x", 32<<10))
		for n > 0 {
			m := min(n, int64(len(chunk)))
			if _, err := w.Write(chunk[:m]); err != nil {
				return
			}
			n -= m
		}
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no knob " + r.URL.Path + "; there are /__fake/redirect, /__fake/slow and /__fake/big"})
	}
}
