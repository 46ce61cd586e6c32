// Package forward sends requests to venues on the agent's behalf: an
// HTTP/1.1 client with keep-alive connection pools per venue endpoint, TLS
// verified against the system roots or a credential's own CA bundle,
// bounded time and response size.
//
// It must never send a request anywhere but the Target it is given (the
// agent chooses the target from the credential's hosts), never follow a
// redirect (a 3xx goes back to the caller as it came), never read proxy
// settings from the environment (a proxy is used only when the Target
// names one), and never keep the request it wrote. A forwarded request can
// carry a secret in clear (a bearer token, Alpaca's secret key header), so
// the caller builds it in Do's build function, which runs under erase.Do
// together with the write: the request's bytes are written into the
// connection's write buffer, which is wiped right after the write, and
// crypto/tls seals records in place, so no plaintext copy is left on the
// heap, and what build allocated is erased when it is freed. A caller
// whose request holds no secret in clear (a signature and an API key id,
// what sign mode hands to a bot) says so with Options.NoSecret and skips
// erase.Do, whose cost grows with every allocation made under it; the
// write buffer is wiped all the same.
//
// It speaks HTTP/1.1 only, on purpose: Go's HTTP/2 client keeps header
// values in HPACK tables and frame buffers for a connection's life, out of
// reach of both wiping and runtime/secret. Concurrency comes from the pool
// instead (several keep-alive connections per endpoint).
package forward

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/keyward/keyward/internal/erase"
)

// Target is where a request goes.
type Target struct {
	// Host is the venue's host name: the TLS server name checked against
	// the certificate and the Host header sent. Lower case.
	Host string
	// Port is the port in the URL; "" means 443.
	Port string
	// ConnectTo, when set, is the "host:port" dialled instead of
	// Host:Port; TLS still verifies Host (like curl --connect-to): for a
	// private endpoint or a test venue.
	ConnectTo string
	// CAFile names a PEM bundle of the roots to trust instead of the
	// system's.
	CAFile string
	// Proxy, when set, is an http:// proxy reached with CONNECT.
	Proxy string
}

func (t Target) port() string {
	if t.Port == "" {
		return "443"
	}
	return t.Port
}

func (t Target) dialAddr() string {
	if t.ConnectTo != "" {
		return t.ConnectTo
	}
	return net.JoinHostPort(t.Host, t.port())
}

// String names the target for messages.
func (t Target) String() string {
	s := t.Host
	if t.Port != "" && t.Port != "443" {
		s = net.JoinHostPort(t.Host, t.Port)
	}
	if t.ConnectTo != "" {
		s += " (via " + t.ConnectTo + ")"
	}
	return s
}

// Header is one header field.
type Header struct{ Name, Value string }

// Request is what is written to the venue.
type Request struct {
	Method string
	// Target is the request-target exactly as sent: the escaped path,
	// then '?' and the raw query if any.
	Target string
	Header []Header
	Body   string
}

// Response is the venue's answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	// Sent is when the request was written, Received when the response
	// head had been read: the window the venue's clock was read in.
	Sent, Received time.Time
}

// Config bounds the client. Zero values take the defaults in parentheses.
type Config struct {
	DialTimeout      time.Duration // TCP connect (10s)
	HandshakeTimeout time.Duration // TLS handshake (10s)
	MaxResponseBytes int           // response body (960 KiB: a reply must fit in one protocol frame)
	MaxIdlePerTarget int           // keep-alive connections kept per target (16)
	IdleTimeout      time.Duration // an idle connection is closed after (50s)
}

func (c Config) withDefaults() Config {
	if c.DialTimeout <= 0 {
		c.DialTimeout = 10 * time.Second
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
	if c.MaxResponseBytes <= 0 {
		c.MaxResponseBytes = 960 << 10
	}
	if c.MaxIdlePerTarget <= 0 {
		c.MaxIdlePerTarget = 16
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 50 * time.Second
	}
	return c
}

// Error kinds, for the caller's message and tests.
const (
	KindConnect  = "connect"   // the venue (or proxy) could not be reached
	KindTLS      = "tls"       // the TLS handshake or certificate check failed
	KindTimeout  = "timeout"   // the deadline passed
	KindTooLarge = "too_large" // the response is over MaxResponseBytes
	KindRequest  = "request"   // the request cannot be written (a bad header)
	KindProtocol = "protocol"  // the venue's answer is not HTTP/1.1, or the connection broke
)

// Error is a failed exchange with a venue. Its text names the target and
// what went wrong; it never carries request headers or bodies.
type Error struct {
	Kind   string
	Target string
	// Sent reports that the request had been written (the venue may have
	// acted on it).
	Sent bool
	Err  error
}

func (e *Error) Error() string {
	return fmt.Sprintf("forward to %s: %v", e.Target, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Client sends requests. Its methods are safe for concurrent use.
type Client struct {
	cfg Config

	mu     sync.Mutex
	idle   map[Target][]*conn
	roots  map[string]*x509.CertPool // CA bundles by path
	closed bool
	gen    uint64 // bumped by CloseIdle: older connections are not kept
}

// New returns a client.
func New(cfg Config) *Client {
	return &Client{cfg: cfg.withDefaults(), idle: make(map[Target][]*conn), roots: make(map[string]*x509.CertPool)}
}

// conn is one keep-alive TLS connection.
type conn struct {
	tc       *tls.Conn
	raw      net.Conn
	br       *bufio.Reader
	idleFrom time.Time
	reused   bool
	gen      uint64 // the client's gen when dialled
	// wbuf is where each request is written before the write: reused,
	// and wiped after every write.
	wbuf []byte
	// deadline is the one armed on tc (see setDeadline).
	deadline time.Time
	// For alive: the raw connection and the poll callback, made once.
	rc    syscall.RawConn
	poll  func(fd uintptr)
	pfd   [1]unix.PollFd
	quiet bool
}

func (c *conn) close() { c.tc.Close() }

// setDeadline arms the connection's deadline for an exchange that must
// end by d (zero: no deadline). The armed deadline is left alone while it
// falls within [d-slack, d], slack being a sixteenth of the time left (a
// second at most): so an exchange never runs past d, and on a busy
// connection the runtime's timers are touched about once per slack
// rather than on every request.
func (c *conn) setDeadline(d time.Time) {
	if d.IsZero() {
		if !c.deadline.IsZero() {
			c.deadline = time.Time{}
			c.tc.SetDeadline(c.deadline)
		}
		return
	}
	slack := min(time.Until(d)/16, time.Second)
	if !c.deadline.IsZero() && !c.deadline.After(d) && !c.deadline.Before(d.Add(-slack)) {
		return
	}
	c.deadline = d
	c.tc.SetDeadline(d)
}

// Do writes the request build returns to t and reads the answer. build
// runs under erase.Do with the write, once per attempt: a request written
// on a kept-alive connection the venue had closed is built and written
// again on a new one (only when nothing of it can have reached the venue).
// The exchange ends by ctx's deadline.
func (c *Client) Do(ctx context.Context, t Target, build func() (*Request, error)) (*Response, error) {
	return c.DoWith(ctx, t, Options{}, build)
}

// Options shape one exchange.
type Options struct {
	// Timeout bounds the exchange from the call, as well as ctx's
	// deadline; 0 leaves only ctx's. It is enforced with the connection's
	// deadline, which is moved only when it must (each move costs a
	// runtime timer update and a wake-up of the network poller): the
	// exchange is cut off no later than Timeout after the call, and at
	// most Timeout/16 (a second at most) sooner.
	Timeout time.Duration
	// NoSecret declares that build returns a request that holds no secret
	// in clear: a signature, a key's public id, a timestamp, what a bot
	// sent, as sign mode hands to a bot. build and the write then run as
	// ordinary code rather than under erase.Do, where every allocation is
	// recorded and erased one by one (on a busy agent that costs more than
	// the rest of the exchange). The bytes written are still wiped after
	// the write, and crypto/tls seals them in place.
	NoSecret bool
}

// DoWith is Do with options.
func (c *Client) DoWith(ctx context.Context, t Target, o Options, build func() (*Request, error)) (*Response, error) {
	deadline, _ := ctx.Deadline()
	if o.Timeout > 0 {
		if d := time.Now().Add(o.Timeout); deadline.IsZero() || d.Before(deadline) {
			deadline = d
		}
	}
	for attempt := 0; ; attempt++ {
		cn, err := c.get(ctx, t, deadline)
		if err != nil {
			return nil, err
		}
		resp, err, retry := c.roundTrip(ctx, t, cn, deadline, !o.NoSecret, build)
		if err == nil {
			return resp, nil
		}
		if retry && attempt == 0 {
			continue
		}
		return nil, err
	}
}

// roundTrip runs one attempt on cn, to end by deadline (zero: none);
// secret runs build and the write under erase.Do. retry reports that the
// attempt failed on a reused connection before any of the request was
// accepted.
func (c *Client) roundTrip(ctx context.Context, t Target, cn *conn, deadline time.Time, secret bool, build func() (*Request, error)) (resp *Response, err error, retry bool) {
	cn.setDeadline(deadline)
	var stop func() bool
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, func() { cn.tc.SetDeadline(time.Unix(1, 0)) })
		defer stop()
	}
	// keep puts cn back for reuse, unless ctx ended meanwhile: then its
	// deadline is in the past, whatever cn.deadline says.
	keep := func() {
		if stop != nil && !stop() {
			cn.close()
			return
		}
		c.put(t, cn)
	}
	if cn.wbuf == nil {
		cn.wbuf = make([]byte, 0, 1<<10)
	}

	var (
		method   string
		buildErr error
		writeErr error
		sent     time.Time
		wire     []byte
	)
	write := func() {
		req, err := build()
		if err != nil {
			buildErr = err
			return
		}
		method = req.Method
		if wire, err = appendRequest(cn.wbuf[:0], t, req); err != nil {
			buildErr = &Error{Kind: KindRequest, Target: t.String(), Err: err}
			return
		}
		sent = time.Now()
		_, writeErr = cn.tc.Write(wire)
		clear(wire)
	}
	if secret {
		erase.Do(write)
	} else {
		write()
	}
	if n := cap(wire); n > cap(cn.wbuf) && n <= maxKeptWriteBuf {
		cn.wbuf = wire[:0] // a larger request: keep its (wiped) buffer
	}
	if buildErr != nil {
		keep() // nothing was written
		return nil, buildErr, false
	}
	if writeErr != nil {
		cn.close()
		return nil, c.ioError(ctx, t, writeErr, false), cn.reused && ctx.Err() == nil
	}

	hr, err := http.ReadResponse(cn.br, &http.Request{Method: method})
	if err != nil {
		cn.close()
		// A kept-alive connection closed before a byte came back: the
		// venue dropped it idle. The request may still have arrived, so
		// it is not sent again.
		return nil, c.ioError(ctx, t, err, true), false
	}
	received := time.Now()
	body, err := c.readBody(ctx, t, hr)
	if err != nil {
		cn.close()
		return nil, err, false
	}
	hr.Body.Close()
	if hr.Close || hr.ProtoMajor != 1 || hr.ProtoMinor != 1 {
		cn.close()
	} else {
		keep()
	}
	stripHopByHop(hr.Header)
	return &Response{Status: hr.StatusCode, Header: hr.Header, Body: body, Sent: sent, Received: received}, nil, false
}

// maxKeptWriteBuf bounds the write buffer a connection keeps between
// requests; a larger request's buffer is dropped (wiped) after its write.
const maxKeptWriteBuf = 64 << 10

// readBody reads a response's body, at most MaxResponseBytes of it. A
// body of known length is read into a buffer of its size at once. Its
// error is the exchange's.
func (c *Client) readBody(ctx context.Context, t Target, hr *http.Response) ([]byte, error) {
	limit := int64(c.cfg.MaxResponseBytes)
	tooLarge := func() error {
		return &Error{Kind: KindTooLarge, Target: t.String(), Sent: true,
			Err: fmt.Errorf("the response is larger than the %d bytes the agent passes on", c.cfg.MaxResponseBytes)}
	}
	switch n := hr.ContentLength; {
	case hr.Body == http.NoBody:
		return nil, nil
	case n > limit:
		return nil, tooLarge()
	case n >= 0:
		body := make([]byte, n)
		if _, err := io.ReadFull(hr.Body, body); err != nil {
			return nil, c.ioError(ctx, t, err, true)
		}
		return body, nil
	}
	body, err := io.ReadAll(io.LimitReader(hr.Body, limit+1))
	switch {
	case err != nil:
		return nil, c.ioError(ctx, t, err, true)
	case int64(len(body)) > limit:
		return nil, tooLarge()
	}
	return body, nil
}

// ioError describes a failed read or write.
func (c *Client) ioError(ctx context.Context, t Target, err error, sent bool) error {
	kind := KindProtocol
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) ||
		errors.As(err, &ne) && ne.Timeout():
		kind = KindTimeout
		err = errors.New("the venue did not answer in time")
	case ctx.Err() != nil:
		kind = KindTimeout
		err = fmt.Errorf("cancelled: %w", ctx.Err())
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		err = errors.New("the venue closed the connection before answering in full")
	}
	return &Error{Kind: kind, Target: t.String(), Sent: sent, Err: err}
}

// get returns a live idle connection to t, or a new one dialled by
// deadline (zero: ctx's).
func (c *Client) get(ctx context.Context, t Target, deadline time.Time) (*conn, error) {
	now := time.Now()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, &Error{Kind: KindConnect, Target: t.String(), Err: errors.New("the forwarding client is closed")}
	}
	for list := c.idle[t]; len(list) > 0; list = c.idle[t] {
		cn := list[len(list)-1]
		c.idle[t] = list[:len(list)-1]
		if now.Sub(cn.idleFrom) < c.cfg.IdleTimeout && cn.alive() {
			c.mu.Unlock()
			cn.reused = true
			return cn, nil
		}
		cn.close()
	}
	c.mu.Unlock()
	if dl, ok := ctx.Deadline(); !deadline.IsZero() && (!ok || deadline.Before(dl)) {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	return c.dial(ctx, t)
}

// put keeps cn for reuse.
func (c *Client) put(t Target, cn *conn) {
	cn.idleFrom = time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || cn.gen != c.gen || len(c.idle[t]) >= c.cfg.MaxIdlePerTarget || cn.br.Buffered() > 0 {
		cn.close()
		return
	}
	c.idle[t] = append(c.idle[t], cn)
}

// CloseIdle closes every kept-alive connection, and every connection in
// use as soon as its exchange ends: the agent calls it on lock, so that
// nothing of a venue session outlives the secrets.
func (c *Client) CloseIdle() {
	c.mu.Lock()
	c.gen++
	idle := c.idle
	c.idle = make(map[Target][]*conn)
	c.mu.Unlock()
	for _, list := range idle {
		for _, cn := range list {
			cn.close()
		}
	}
}

// Close closes the client and its connections.
func (c *Client) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.CloseIdle()
}

// IdleConns reports how many connections are kept alive, for tests and
// status.
func (c *Client) IdleConns() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, list := range c.idle {
		n += len(list)
	}
	return n
}

// dial opens a TLS connection to t.
func (c *Client) dial(ctx context.Context, t Target) (*conn, error) {
	roots, err := c.rootsFor(t.CAFile)
	if err != nil {
		return nil, &Error{Kind: KindTLS, Target: t.String(), Err: err}
	}
	d := net.Dialer{Timeout: c.cfg.DialTimeout, KeepAlive: 30 * time.Second}
	var raw net.Conn
	if t.Proxy != "" {
		raw, err = dialProxy(ctx, &d, t)
	} else {
		raw, err = d.DialContext(ctx, "tcp", t.dialAddr())
	}
	if err != nil {
		var fe *Error
		if errors.As(err, &fe) {
			return nil, fe
		}
		kind := KindConnect
		if ctx.Err() != nil {
			kind = KindTimeout
		}
		return nil, &Error{Kind: kind, Target: t.String(), Err: fmt.Errorf("cannot connect: %w", unwrapOp(err))}
	}
	tc := tls.Client(raw, &tls.Config{
		ServerName: t.Host,
		RootCAs:    roots,
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
	})
	hctx, cancel := context.WithTimeout(ctx, c.cfg.HandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		raw.Close()
		kind := KindTLS
		if hctx.Err() != nil {
			kind = KindTimeout
		}
		return nil, &Error{Kind: kind, Target: t.String(), Err: fmt.Errorf("TLS handshake: %w", err)}
	}
	if p := tc.ConnectionState().NegotiatedProtocol; p != "" && p != "http/1.1" {
		tc.Close()
		return nil, &Error{Kind: KindProtocol, Target: t.String(), Err: fmt.Errorf("the venue chose protocol %q over http/1.1", p)}
	}
	c.mu.Lock()
	gen := c.gen
	c.mu.Unlock()
	return &conn{tc: tc, raw: raw, br: bufio.NewReaderSize(tc, 16<<10), gen: gen}, nil
}

// unwrapOp drops net.OpError's address prefix when it repeats the target.
func unwrapOp(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		if oe.Addr != nil {
			return fmt.Errorf("%s: %w", oe.Addr, oe.Err)
		}
		return oe.Err
	}
	return err
}

// rootsFor returns the trust roots for a CA bundle path; nil (the system
// roots) for "".
func (c *Client) rootsFor(path string) (*x509.CertPool, error) {
	if path == "" {
		return nil, nil
	}
	c.mu.Lock()
	pool, ok := c.roots[path]
	c.mu.Unlock()
	if ok {
		return pool, nil
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the credential's CA bundle: %w", err)
	}
	pool = x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("the credential's CA bundle %s holds no PEM certificate", path)
	}
	c.mu.Lock()
	c.roots[path] = pool
	c.mu.Unlock()
	return pool, nil
}

// dialProxy opens a tunnel to t through its HTTP proxy.
func dialProxy(ctx context.Context, d *net.Dialer, t Target) (net.Conn, error) {
	host, ok := strings.CutPrefix(t.Proxy, "http://")
	host = strings.TrimSuffix(host, "/")
	if !ok || host == "" || strings.ContainsAny(host, "/@?#") {
		return nil, &Error{Kind: KindConnect, Target: t.String(), Err: fmt.Errorf("proxy %q is not http://HOST:PORT", t.Proxy)}
	}
	raw, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, fmt.Errorf("proxy %s: %w", host, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		raw.SetDeadline(dl)
	} else {
		raw.SetDeadline(time.Now().Add(d.Timeout))
	}
	dest := t.dialAddr()
	fmt.Fprintf(raw, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", dest, dest)
	br := bufio.NewReader(raw)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		raw.Close()
		return nil, fmt.Errorf("proxy %s: %w", host, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw.Close()
		return nil, fmt.Errorf("proxy %s refused CONNECT %s: %s", host, dest, resp.Status)
	}
	if br.Buffered() > 0 {
		raw.Close()
		return nil, fmt.Errorf("proxy %s sent data before the tunnel opened", host)
	}
	raw.SetDeadline(time.Time{})
	return raw, nil
}

// hopByHop are the fields that describe one connection, not the message:
// neither the bot's nor the venue's pass through (RFC 9110 §7.6.1).
var hopByHop = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// IsHopByHop reports whether name is a hop-by-hop field, or one the
// client writes itself (Host, Content-Length, Expect). It is called for
// every header of every request, so it compares in place (ASCII case
// folding, as CanonicalHeaderKey does for a token) rather than
// canonicalising a copy.
func IsHopByHop(name string) bool {
	if asciiEqualFold(name, "Host") || asciiEqualFold(name, "Content-Length") || asciiEqualFold(name, "Expect") {
		return true
	}
	for _, h := range hopByHop {
		if asciiEqualFold(name, h) {
			return true
		}
	}
	return false
}

// asciiEqualFold reports whether s and t are equal under ASCII case
// folding only (strings.EqualFold also folds Unicode: K and the Kelvin
// sign).
func asciiEqualFold(s, t string) bool {
	if len(s) != len(t) {
		return false
	}
	for i := 0; i < len(s); i++ {
		a, b := s[i], t[i]
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}

func stripHopByHop(h http.Header) {
	for _, f := range h.Values("Connection") {
		for name := range strings.SplitSeq(f, ",") {
			if name = strings.TrimSpace(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, name := range hopByHop {
		h.Del(name)
	}
}

// appendRequest writes req as HTTP/1.1 to buf. It refuses what would
// change the message's framing: a method or header that is not a token,
// a value with a line break. Everything is checked before a byte is
// written, and buf grows at most once, to the size the request needs
// (the Content-Length digits counted at their longest): a refused
// request leaves nothing in buf, and no partial copy of one is left
// behind in a smaller array (buf is reused, and wiped after each write).
func appendRequest(buf []byte, t Target, req *Request) ([]byte, error) {
	if !isToken(req.Method) {
		return nil, fmt.Errorf("method %q is not an HTTP token", req.Method)
	}
	if req.Target == "" || req.Target[0] != '/' || !validTarget(req.Target) {
		return nil, fmt.Errorf("request target %.100q is not a path", req.Target)
	}
	port := ""
	if t.Port != "" && t.Port != "443" {
		port = t.Port
	}
	n := len(req.Method) + 1 + len(req.Target) + len(" HTTP/1.1\r\nHost: ") + len(t.Host) + 2
	if port != "" {
		n += len(port) + 1
		if strings.IndexByte(t.Host, ':') >= 0 {
			n += 2 // [IPv6]
		}
	}
	for _, h := range req.Header {
		if !isToken(h.Name) {
			return nil, fmt.Errorf("header name %.60q is not an HTTP token", h.Name)
		}
		if !validValue(h.Value) {
			return nil, fmt.Errorf("header %s has a line break or control character in its value", h.Name)
		}
		if !IsHopByHop(h.Name) {
			n += len(h.Name) + 2 + len(h.Value) + 2
		}
	}
	withLength := len(req.Body) > 0 || req.Method == "POST" || req.Method == "PUT" || req.Method == "PATCH"
	if withLength {
		n += len("Content-Length: ") + 20 + 2
	}
	n += 2 + len(req.Body)
	if cap(buf)-len(buf) < n {
		buf = append(make([]byte, 0, len(buf)+n), buf...)
	}

	buf = append(buf, req.Method...)
	buf = append(buf, ' ')
	buf = append(buf, req.Target...)
	buf = append(buf, " HTTP/1.1\r\nHost: "...)
	if port != "" {
		buf = append(buf, net.JoinHostPort(t.Host, port)...)
	} else {
		buf = append(buf, t.Host...)
	}
	buf = append(buf, "\r\n"...)
	for _, h := range req.Header {
		if IsHopByHop(h.Name) {
			continue
		}
		buf = append(buf, h.Name...)
		buf = append(buf, ": "...)
		buf = append(buf, h.Value...)
		buf = append(buf, "\r\n"...)
	}
	if withLength {
		buf = append(buf, "Content-Length: "...)
		buf = strconv.AppendInt(buf, int64(len(req.Body)), 10)
		buf = append(buf, "\r\n"...)
	}
	buf = append(buf, "\r\n"...)
	return append(buf, req.Body...), nil
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// validTarget reports that a request target holds no space, control
// character or fragment.
func validTarget(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f || c == '#' {
			return false
		}
	}
	return true
}

func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
