package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
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
const forwardURL = "https://api.binance.com/api/v3/ping"

// measureForward times the same GET two ways against the fake exchange
// (in this process, on loopback): directly, with Go's net/http on a
// kept-alive HTTP/1.1 connection, and through the agent's forward
// operation (which signs it and sends it on its own kept-alive
// connection). The extra time is compared with a bare Unix-socket echo
// round trip of the forward request's size, measured in the same run.
func (h *harness) measureForward(ctx context.Context) (Row, error) {
	const n = 3000
	ex, err := fakeexchange.Start(fakeexchange.Config{})
	if err != nil {
		return Row{}, err
	}
	defer ex.Close()
	const key, secret = "bench-forward-key", "bench-forward-secret-not-a-real-key"
	ex.AddAccount("binance", venue.Account{APIKey: key, Secret: []byte(secret)}, fakeexchange.Permissions{Read: true, Trade: true})

	a, err := h.unlockedAgent(ctx, "agent-forward")
	if err != nil {
		return Row{}, err
	}
	defer a.stop()
	caFile := filepath.Join(filepath.Dir(a.vault), "venue-ca.pem")
	if err := os.WriteFile(caFile, ex.CAPEM(), 0o644); err != nil {
		return Row{}, err
	}
	c, err := a.dial()
	if err != nil {
		return Row{}, err
	}
	defer c.Close()
	if _, err := c.Add(ctx, protocol.AddArgs{Name: "fwd", Scheme: "binance", APIKey: key, Secret: protocol.Secret(secret),
		Meta: map[string]string{"connect_to": ex.Addr(), "ca_file": caFile}}); err != nil {
		return Row{}, fmt.Errorf("add the forward credential: %w", a.explain(err))
	}

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ex.CAPEM())
	direct := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, ex.Addr())
		},
		ForceAttemptHTTP2:   false, // HTTP/1.1 keep-alive, as the agent speaks
		MaxIdleConnsPerHost: 4,
	}}
	defer direct.CloseIdleConnections()
	get := func() error {
		resp, err := direct.Get(forwardURL)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("direct: status %d", resp.StatusCode)
		}
		return nil
	}
	args := protocol.ForwardArgs{Credential: "fwd", HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: forwardURL}}
	fwd := func() error {
		res, err := c.Forward(ctx, args)
		if err != nil {
			return a.explain(err)
		}
		if res.Status != 200 {
			return fmt.Errorf("forward: status %d: %s", res.Status, res.Body)
		}
		return nil
	}

	// The echo baseline: frames the size of a forward request and reply.
	t, err := newFrameTemplate(protocol.OpForward, args)
	if err != nil {
		return Row{}, err
	}
	reply, err := protocol.Marshal(&protocol.HTTPResponse{Status: 200, Headers: map[string]string{"Content-Type": "application/json", "Date": time.Now().UTC().Format(http.TimeFormat)}, Body: "{}"})
	if err != nil {
		return Row{}, err
	}
	echoSock := filepath.Join(h.dir, "echo-forward.sock")
	echo, err := h.startEcho(echoSock, len(reply)+20)
	if err != nil {
		return Row{}, err
	}
	defer echo.stop()

	var dLat, fLat []time.Duration
	for range 200 { // warm both connections
		if err := get(); err != nil {
			return Row{}, err
		}
		if err := fwd(); err != nil {
			return Row{}, err
		}
	}
	for range n {
		start := time.Now()
		if err := get(); err != nil {
			return Row{}, err
		}
		mid := time.Now()
		if err := fwd(); err != nil {
			return Row{}, err
		}
		dLat, fLat = append(dLat, mid.Sub(start)), append(fLat, time.Since(mid))
	}
	eLat, err := measureLatency(ctx, echoSock, t, 500, n, nil)
	if err != nil {
		return Row{}, fmt.Errorf("echo latency: %w", err)
	}
	slices.Sort(dLat)
	slices.Sort(fLat)
	slices.Sort(eLat)
	d, f, e := percentile(dLat, 50), percentile(fLat, 50), percentile(eLat, 50)
	extra := micros(f - d)
	r := absRow("forward_extra_rt", "forward p50 − direct HTTPS p50, in echo round trips", "×", extra/micros(e), atMost, 1.5)
	r.Note = fmt.Sprintf("forward %s µs, direct net/http keep-alive %s µs, echo %s µs; %d each, alternating",
		formatNumber(micros(f)), formatNumber(micros(d)), formatNumber(micros(e)), n)
	return r, nil
}
