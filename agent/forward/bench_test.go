package forward

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// benchVenue is a TLS venue on loopback that answers at once, like the
// fake exchange's ping.
func benchVenue(b *testing.B) *httptest.Server {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, "{}")
	}))
	srv.StartTLS()
	b.Cleanup(srv.Close)
	return srv
}

// benchRequest is the shape of a signed Binance GET: the API key header
// and a signed query.
func benchRequest() (*Request, error) {
	return &Request{Method: "GET",
		Target: "/api/v3/ping?timestamp=1700000000000&signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		Header: []Header{{Name: "X-MBX-APIKEY", Value: "bench-forward-key-0123456789abcdef"}}}, nil
}

// BenchmarkDo is one request at a time through the forwarding client on
// a kept-alive connection, built and written under erase.Do (erase) or
// not (NoSecret): compare with BenchmarkNetHTTP, the same request through
// Go's own HTTP/1.1 client. Build with GOEXPERIMENT=runtimesecret (as
// `make build` does) for erase.Do to cost what it costs in the agent.
func BenchmarkDo(b *testing.B) {
	for _, o := range []struct {
		name string
		opts Options
	}{{"erase", Options{Timeout: 30 * time.Second}}, {"NoSecret", Options{Timeout: 30 * time.Second, NoSecret: true}}} {
		b.Run(o.name, func(b *testing.B) {
			srv := benchVenue(b)
			c := New(Config{})
			b.Cleanup(c.Close)
			pool := x509.NewCertPool()
			pool.AddCert(srv.Certificate())
			c.roots["bench"] = pool
			t := Target{Host: "example.com", ConnectTo: srv.Listener.Addr().String(), CAFile: "bench"}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				resp, err := c.DoWith(ctx, t, o.opts, benchRequest)
				if err != nil {
					b.Fatal(err)
				}
				if resp.Status != 200 {
					b.Fatalf("status %d", resp.Status)
				}
			}
		})
	}
}

// BenchmarkNetHTTP is the baseline for BenchmarkDo.
func BenchmarkNetHTTP(b *testing.B) {
	srv := benchVenue(b)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	addr := srv.Listener.Addr().String()
	hc := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "example.com"},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
	b.Cleanup(hc.CloseIdleConnections)
	r, _ := benchRequest()
	url := "https://example.com" + r.Target
	b.ReportAllocs()
	for b.Loop() {
		req, err := http.NewRequest("GET", url, nil)
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set(r.Header[0].Name, r.Header[0].Value)
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}
