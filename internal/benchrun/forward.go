package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/keyward/keyward/internal/fakeexchange"
	venue "github.com/keyward/keyward/internal/fakeexchange/verify"
	"github.com/keyward/keyward/protocol"
)

// Target 4 of issue 9: forward mode adds at most 1.5 bare socket round
// trips to a direct keep-alive HTTPS request to the local fake exchange.

func (h *harness) forwardRows(ctx context.Context) ([]Row, error) {
	r, err := h.measureForward(ctx)
	if err != nil {
		return nil, err
	}
	return []Row{r}, nil
}

// forwardURL is a Binance endpoint the fake exchange answers at once, so
// the figure is the path to it, not the venue's work.
const (
	forwardHost = "api.binance.com"
	forwardPath = "/api/v3/ping"
	forwardURL  = "https://" + forwardHost + forwardPath
)

// The account the fake exchange and the agent share.
const forwardKey, forwardSecret = "bench-forward-key", "bench-forward-secret-not-a-real-key"

// measureForward times the same GET two ways against the fake exchange,
// alternating: directly, on a kept-alive HTTP/1.1 TLS connection, and
// through the agent's forward operation (which signs it and sends it on
// its own kept-alive connection). The extra time is compared with a bare
// Unix-socket echo round trip of the forward request's size, measured in
// the same run.
//
// What is compared, and why:
//
//   - The fake exchange runs in a process of its own, as a venue is
//     always somewhere else: in the harness's own process a direct request
//     would reach it without crossing a process boundary at all (the
//     client's goroutine hands over to the server's on the same thread),
//     while the agent's request to it always crosses one each way. That
//     cost (50–70 µs on two cores) has nothing to do with forwarding.
//   - Both clients are lean and do the same kind of work, so the
//     difference is the agent and its socket, not a client library: the
//     direct client writes pre-encoded request bytes and parses the
//     response with http.ReadResponse (what the agent itself does); the
//     forward client writes a pre-encoded frame (as the sign rows and the
//     echo do) and decodes the reply into a protocol.HTTPResponse (what a
//     bot must do to use the answer). Go's net/http client is slower than
//     either by a few tens of µs (its connection goroutines), and the Go
//     client library (client.Client) adds a reader goroutine of its own:
//     either would move the figure by a client's cost, in the agent's
//     favour or against it. The note gives net/http's figure for scale.
//     The direct request is the same GET, unsigned: signing is part of
//     what the agent adds.
//   - The echo is measured in the same rotation (see below).
func (h *harness) measureForward(ctx context.Context) (Row, error) {
	const n = 3000
	v, err := h.startVenue()
	if err != nil {
		return Row{}, err
	}
	defer v.child.stop()

	a, err := h.unlockedAgent(ctx, "agent-forward")
	if err != nil {
		return Row{}, err
	}
	defer a.stop()
	caFile := filepath.Join(filepath.Dir(a.vault), "venue-ca.pem")
	if err := os.WriteFile(caFile, v.caPEM, 0o644); err != nil {
		return Row{}, err
	}
	c, err := a.dial()
	if err != nil {
		return Row{}, err
	}
	defer c.Close()
	if _, err := c.Add(ctx, protocol.AddArgs{Name: "fwd", Scheme: "binance", APIKey: forwardKey, Secret: protocol.Secret(forwardSecret),
		Meta: map[string]string{"connect_to": v.addr, "ca_file": caFile}}); err != nil {
		return Row{}, fmt.Errorf("add the forward credential: %w", a.explain(err))
	}

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(v.caPEM)
	direct, err := dialDirect(v.addr, roots)
	if err != nil {
		return Row{}, err
	}
	defer direct.Close()
	stdlib := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, v.addr)
		},
		ForceAttemptHTTP2:   false, // HTTP/1.1 keep-alive, as the agent speaks
		MaxIdleConnsPerHost: 4,
	}}
	defer stdlib.CloseIdleConnections()
	netHTTP := func() error {
		resp, err := stdlib.Get(forwardURL)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("net/http: status %d", resp.StatusCode)
		}
		return nil
	}

	args := protocol.ForwardArgs{Credential: "fwd", HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: forwardURL}}
	t, err := newFrameTemplate(protocol.OpForward, args)
	if err != nil {
		return Row{}, err
	}
	fc, err := dialRaw(a.sock)
	if err != nil {
		return Row{}, err
	}
	defer fc.Close()
	id := uint64(idBase)
	fwd := func() error {
		id++
		if err := forwardRoundTrip(fc, t, id); err != nil {
			return a.explain(err)
		}
		return nil
	}

	// The echo baseline: frames the size of a forward request and reply.
	if err := fwd(); err != nil {
		return Row{}, err
	}
	echoSock := filepath.Join(h.dir, "echo-forward.sock")
	echo, err := h.startEcho(echoSock, frameLen(fc.hdr[:]))
	if err != nil {
		return Row{}, err
	}
	defer echo.stop()
	ec, err := dialRaw(echoSock)
	if err != nil {
		return Row{}, err
	}
	defer ec.Close()
	eid := uint64(idBase)
	echoRT := func() error {
		eid++
		return ec.roundTrip(t, eid, -1)
	}

	// One round of each, n times over. Each server is reached in the same
	// state, idle while the others were measured: the agent's socket hop
	// is compared with an echo that, like the agent, has to be woken for
	// it. (An echo asked back to back, never idle, answers about twice as
	// fast here; the note gives that figure too.)
	steps := []struct {
		run func() error
		lat []time.Duration
	}{{run: direct.get}, {run: fwd}, {run: echoRT}, {run: netHTTP}}
	for i := range 200 + n { // 200 to warm every connection
		if i%256 == 0 && ctx.Err() != nil {
			return Row{}, ctx.Err()
		}
		for j := range steps {
			start := time.Now()
			if err := steps[j].run(); err != nil {
				return Row{}, err
			}
			if i >= 200 {
				steps[j].lat = append(steps[j].lat, time.Since(start))
			}
		}
	}
	hot, err := measureLatency(ctx, echoSock, t, 500, n, nil)
	if err != nil {
		return Row{}, fmt.Errorf("echo latency: %w", err)
	}
	p50 := func(l []time.Duration) time.Duration {
		slices.Sort(l)
		return percentile(l, 50)
	}
	d, f, e, s := p50(steps[0].lat), p50(steps[1].lat), p50(steps[2].lat), p50(steps[3].lat)
	r := absRow("forward_extra_rt", "forward p50 − direct HTTPS p50, in echo round trips", "×", micros(f-d)/micros(e), atMost, 1.5)
	r.Note = fmt.Sprintf("forward %s µs, direct %s µs (Go net/http: %s µs), echo %s µs (back to back: %s µs); the venue in its own process, lean clients; %d rounds of each",
		formatNumber(micros(f)), formatNumber(micros(d)), formatNumber(micros(s)), formatNumber(micros(e)), formatNumber(micros(percentile(hot, 50))), n)
	return r, nil
}

// forwardRoundTrip sends the forward request with id and decodes the
// reply as a bot would, into the venue's response.
func forwardRoundTrip(rc *rawConn, t *frameTemplate, id uint64) error {
	rc.wbuf = t.Put(rc.wbuf[:0], id, -1)
	if err := rc.write(rc.wbuf); err != nil {
		return err
	}
	body, err := rc.readFrame()
	if err != nil {
		return err
	}
	var reply struct {
		ID     uint64                 `json:"id"`
		Result *protocol.HTTPResponse `json:"result"`
		Error  *protocol.Error        `json:"error"`
	}
	if err := json.Unmarshal(body, &reply); err != nil {
		return fmt.Errorf("decode the forward reply: %w", err)
	}
	switch {
	case reply.Error != nil:
		return reply.Error
	case reply.ID != id:
		return fmt.Errorf("reply id %d, want %d", reply.ID, id)
	case reply.Result == nil || reply.Result.Status != 200:
		return fmt.Errorf("forward: not a 200 response: %.300s", body)
	}
	return nil
}

// directConn is the direct client: one kept-alive HTTP/1.1 connection
// over TLS, written the way the agent writes to a venue.
type directConn struct {
	tc  *tls.Conn
	br  *bufio.Reader
	req []byte
}

func dialDirect(addr string, roots *x509.CertPool) (*directConn, error) {
	tc, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: forwardHost, NextProtos: []string{"http/1.1"}})
	if err != nil {
		return nil, fmt.Errorf("direct: dial the fake exchange: %w", err)
	}
	return &directConn{tc: tc, br: bufio.NewReaderSize(tc, 16<<10),
		req: []byte("GET " + forwardPath + " HTTP/1.1\r\nHost: " + forwardHost + "\r\n\r\n")}, nil
}

func (d *directConn) Close() error { return d.tc.Close() }

// get sends the request and reads the whole response.
func (d *directConn) get() error {
	d.tc.SetDeadline(time.Now().Add(ioTimeout))
	if _, err := d.tc.Write(d.req); err != nil {
		return fmt.Errorf("direct: %w", err)
	}
	resp, err := http.ReadResponse(d.br, nil)
	if err != nil {
		return fmt.Errorf("direct: %w", err)
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	switch {
	case err != nil:
		return fmt.Errorf("direct: %w", err)
	case resp.StatusCode != 200:
		return fmt.Errorf("direct: status %d", resp.StatusCode)
	case resp.Close:
		return errors.New("direct: the fake exchange closed the connection")
	}
	return nil
}

// The fake exchange runs as this harness re-executed with venueEnv set to
// a directory: it serves on loopback and writes its address and CA
// certificate to venueFile there.
const (
	venueEnv  = "KEYWARD_BENCH_VENUE"
	venueFile = "venue.json"
)

// venueInfo is what the fake exchange's process tells the harness.
type venueInfo struct {
	Addr  string `json:"addr"`
	CAPEM []byte `json:"ca_pem"`
}

func init() {
	// An internal mode like -echo-server, chosen by the environment so that
	// it needs no flag of its own.
	if dir := os.Getenv(venueEnv); dir != "" {
		if err := runVenue(dir); err != nil {
			fmt.Fprintf(os.Stderr, "benchrun: venue: %v\n", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
}

// runVenue serves the fake exchange, with the forward row's account, until
// SIGINT or SIGTERM.
func runVenue(dir string) error {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	ex, err := fakeexchange.Start(fakeexchange.Config{})
	if err != nil {
		return err
	}
	defer ex.Close()
	ex.AddAccount("binance", venue.Account{APIKey: forwardKey, Secret: []byte(forwardSecret)}, fakeexchange.Permissions{Read: true, Trade: true})
	b, err := json.Marshal(venueInfo{Addr: ex.Addr(), CAPEM: ex.CAPEM()})
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, venueFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, venueFile)); err != nil {
		return err
	}
	<-sig
	return nil
}

// runningVenue is the fake exchange's process.
type runningVenue struct {
	child *child
	addr  string
	caPEM []byte
}

// startVenue starts the fake exchange in a process of its own and waits up
// to 20 s for its address.
func (h *harness) startVenue() (*runningVenue, error) {
	dir, err := os.MkdirTemp(h.dir, "venue-")
	if err != nil {
		return nil, err
	}
	c, err := h.startChild("fake exchange", "", h.self, nil, append(os.Environ(), venueEnv+"="+dir), nil)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(dir, venueFile))
		if err == nil {
			var vi venueInfo
			if err := json.Unmarshal(b, &vi); err != nil {
				c.stop()
				return nil, fmt.Errorf("fake exchange: %w", err)
			}
			return &runningVenue{child: c, addr: vi.Addr, caPEM: vi.CAPEM}, nil
		}
		if !c.alive() {
			return nil, c.exitError()
		}
		if time.Now().After(deadline) {
			c.stop()
			return nil, fmt.Errorf("the fake exchange did not start in 20 s: %s", c.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
