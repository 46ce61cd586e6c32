package forward

import (
	"bufio"
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// venue is a TLS test server on loopback whose certificate (httptest's)
// is valid for example.com, and the target that reaches it.
type venue struct {
	srv    *httptest.Server
	target Target
	conns  atomic.Int32 // connections accepted
}

func newVenue(t *testing.T, h http.HandlerFunc) *venue {
	t.Helper()
	v := &venue{}
	v.srv = httptest.NewUnstartedServer(h)
	v.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			v.conns.Add(1)
		}
	}
	v.srv.StartTLS()
	t.Cleanup(v.srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: v.srv.Certificate().Raw}), 0o600))
	v.target = Target{Host: "example.com", ConnectTo: v.srv.Listener.Addr().String(), CAFile: ca}
	return v
}

func get(path string) func() (*Request, error) {
	return func() (*Request, error) { return &Request{Method: "GET", Target: path}, nil }
}

func TestPostReachesVenueAsWritten(t *testing.T) {
	var got struct {
		method, uri, host, ctype, body, sig string
		proto                               string
	}
	v := newVenue(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.method, got.uri, got.host, got.body = r.Method, r.RequestURI, r.Host, string(b)
		got.ctype, got.sig, got.proto = r.Header.Get("Content-Type"), r.Header.Get("X-Sig"), r.Proto
		w.Header().Set("X-Venue", "yes")
		w.WriteHeader(201)
		fmt.Fprint(w, `{"orderId":7}`)
	})
	c := New(Config{})
	defer c.Close()
	resp, err := c.Do(context.Background(), v.target, func() (*Request, error) {
		return &Request{Method: "POST", Target: "/api/v3/order?symbol=BTCUSDT&x=%2F", Body: "qty=1",
			Header: []Header{{"Content-Type", "application/x-www-form-urlencoded"}, {"X-Sig", "abc"}}}, nil
	})
	require.NoError(t, err)
	assert.Equal(t, 201, resp.Status)
	assert.Equal(t, `{"orderId":7}`, string(resp.Body))
	assert.Equal(t, "yes", resp.Header.Get("X-Venue"))
	assert.False(t, resp.Sent.IsZero() || resp.Received.Before(resp.Sent))
	assert.Equal(t, "POST", got.method)
	assert.Equal(t, "/api/v3/order?symbol=BTCUSDT&x=%2F", got.uri, "the target is sent byte for byte")
	assert.Equal(t, "example.com", got.host)
	assert.Equal(t, "qty=1", got.body)
	assert.Equal(t, "abc", got.sig)
	assert.Equal(t, "HTTP/1.1", got.proto)
}

func TestKeepAliveReusesOneConnection(t *testing.T) {
	v := newVenue(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	c := New(Config{})
	defer c.Close()
	for range 5 {
		resp, err := c.Do(context.Background(), v.target, get("/ping"))
		require.NoError(t, err)
		assert.Equal(t, "ok", string(resp.Body))
	}
	assert.EqualValues(t, 1, v.conns.Load(), "five requests, one TLS connection")
	assert.Equal(t, 1, c.IdleConns())
	c.CloseIdle()
	assert.Equal(t, 0, c.IdleConns())
}

func TestConnectionInUseAtCloseIdleIsNotKept(t *testing.T) {
	inside := make(chan struct{})
	release := make(chan struct{})
	v := newVenue(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			close(inside)
			<-release
		}
		fmt.Fprint(w, "ok")
	})
	c := New(Config{})
	defer c.Close()
	done := make(chan error)
	go func() {
		_, err := c.Do(context.Background(), v.target, get("/hold"))
		done <- err
	}()
	<-inside
	c.CloseIdle() // the agent locks while a request is in flight
	close(release)
	require.NoError(t, <-done)
	assert.Equal(t, 0, c.IdleConns(), "the connection of a session from before the lock is closed, not kept")
	_, err := c.Do(context.Background(), v.target, get("/after"))
	require.NoError(t, err)
	assert.Equal(t, 1, c.IdleConns())
}

func TestVenueClosingIdleConnectionIsNoticed(t *testing.T) {
	v := newVenue(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	c := New(Config{})
	defer c.Close()
	_, err := c.Do(context.Background(), v.target, get("/a"))
	require.NoError(t, err)
	v.srv.CloseClientConnections() // the venue drops idle connections
	require.Eventually(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, l := range c.idle {
			for _, cn := range l {
				if cn.alive() {
					return false
				}
			}
		}
		return true
	}, 2*time.Second, 10*time.Millisecond)
	resp, err := c.Do(context.Background(), v.target, get("/b"))
	require.NoError(t, err, "a dropped idle connection is replaced, not used")
	assert.Equal(t, "ok", string(resp.Body))
	assert.EqualValues(t, 2, v.conns.Load())
}

func TestRedirectIsReturnedNotFollowed(t *testing.T) {
	var hits atomic.Int32
	v := newVenue(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Redirect(w, r, "https://attacker.example/steal", http.StatusFound)
	})
	c := New(Config{})
	defer c.Close()
	resp, err := c.Do(context.Background(), v.target, get("/api/v3/order"))
	require.NoError(t, err)
	assert.Equal(t, http.StatusFound, resp.Status)
	assert.Equal(t, "https://attacker.example/steal", resp.Header.Get("Location"))
	assert.EqualValues(t, 1, hits.Load())
}

func TestResponseSizeLimit(t *testing.T) {
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
			v := newVenue(t, func(w http.ResponseWriter, r *http.Request) {
				if !chunked {
					w.Header().Set("Content-Length", "5000")
				}
				w.Write([]byte(strings.Repeat("x", 5000)))
			})
			c := New(Config{MaxResponseBytes: 4096})
			defer c.Close()
			_, err := c.Do(context.Background(), v.target, get("/big"))
			var fe *Error
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, KindTooLarge, fe.Kind)
			assert.Contains(t, err.Error(), "4096 bytes")
			assert.Equal(t, 0, c.IdleConns(), "a connection with an unread body is not kept")

			small := New(Config{MaxResponseBytes: 5000})
			defer small.Close()
			resp, err := small.Do(context.Background(), v.target, get("/big"))
			require.NoError(t, err, "exactly at the limit passes")
			assert.Len(t, resp.Body, 5000)
		})
	}
}

func TestSlowVenueTimesOut(t *testing.T) {
	release := make(chan struct{})
	v := newVenue(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	c := New(Config{})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Do(ctx, v.target, get("/slow"))
	var fe *Error
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, KindTimeout, fe.Kind)
	assert.True(t, fe.Sent)
	assert.Less(t, time.Since(start), 5*time.Second)
}

func TestTLSIsVerified(t *testing.T) {
	v := newVenue(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	c := New(Config{})
	defer c.Close()

	wrongName := v.target
	wrongName.Host = "attacker.example" // the certificate does not name it
	_, err := c.Do(context.Background(), wrongName, get("/"))
	var fe *Error
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, KindTLS, fe.Kind)

	system := v.target
	system.CAFile = "" // the test CA is not a system root
	_, err = c.Do(context.Background(), system, get("/"))
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, KindTLS, fe.Kind)
	assert.Contains(t, err.Error(), "certificate")

	badCA := v.target
	badCA.CAFile = filepath.Join(t.TempDir(), "empty.pem")
	require.NoError(t, os.WriteFile(badCA.CAFile, []byte("not pem"), 0o600))
	_, err = c.Do(context.Background(), badCA, get("/"))
	require.ErrorAs(t, err, &fe)
	assert.Contains(t, err.Error(), "holds no PEM certificate")
}

func TestUnreachableVenue(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	c := New(Config{})
	defer c.Close()
	_, err = c.Do(context.Background(), Target{Host: "example.com", ConnectTo: addr}, get("/"))
	var fe *Error
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, KindConnect, fe.Kind)
	assert.False(t, fe.Sent)
	assert.Contains(t, err.Error(), "cannot connect")
}

func TestHeaderInjectionRefused(t *testing.T) {
	var hits atomic.Int32
	v := newVenue(t, func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
	c := New(Config{})
	defer c.Close()
	for _, req := range []Request{
		{Method: "GET", Target: "/", Header: []Header{{"X-A", "1\r\nX-Injected: 1"}}},
		{Method: "GET", Target: "/", Header: []Header{{"X A", "1"}}},
		{Method: "GET", Target: "/", Header: []Header{{"X-A:", "1"}}},
		{Method: "GET /x HTTP/1.1\r\n", Target: "/"},
		{Method: "GET", Target: "/ HTTP/1.1\r\nX: y"},
		{Method: "GET", Target: "http://attacker.example/"},
	} {
		_, err := c.Do(context.Background(), v.target, func() (*Request, error) { r := req; return &r, nil })
		var fe *Error
		require.ErrorAs(t, err, &fe, "%+v", req)
		assert.Equal(t, KindRequest, fe.Kind)
	}
	assert.Zero(t, hits.Load(), "nothing reached the venue")
}

func TestHopByHopDropped(t *testing.T) {
	var seen http.Header
	v := newVenue(t, func(w http.ResponseWriter, r *http.Request) {
		seen = r.Header.Clone()
		w.Header().Set("Connection", "X-Private")
		w.Header().Set("X-Private", "1")
		w.Header().Set("Keep-Alive", "timeout=5")
		fmt.Fprint(w, "ok")
	})
	c := New(Config{})
	defer c.Close()
	resp, err := c.Do(context.Background(), v.target, func() (*Request, error) {
		return &Request{Method: "GET", Target: "/", Header: []Header{
			{"Connection", "close"}, {"Upgrade", "h2c"}, {"Transfer-Encoding", "chunked"},
			{"Content-Length", "99"}, {"Host", "attacker.example"}, {"X-Fine", "1"},
		}}, nil
	})
	require.NoError(t, err)
	assert.Equal(t, "1", seen.Get("X-Fine"))
	for _, h := range []string{"Upgrade", "Transfer-Encoding", "Content-Length"} {
		assert.Empty(t, seen.Get(h), h)
	}
	assert.Empty(t, resp.Header.Get("X-Private"), "a field the venue's Connection names is dropped")
	assert.Empty(t, resp.Header.Get("Keep-Alive"))
	assert.Equal(t, 1, c.IdleConns(), "the bot's Connection: close did not reach the venue")
}

func TestEnvironmentProxyIgnoredConfiguredProxyUsed(t *testing.T) {
	v := newVenue(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	var mu sync.Mutex
	var connects []string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		mu.Lock()
		connects = append(connects, r.Host)
		mu.Unlock()
		up, err := net.Dial("tcp", r.Host)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		hj, _ := w.(http.Hijacker)
		down, brw, err := hj.Hijack()
		if err != nil {
			up.Close()
			return
		}
		fmt.Fprint(down, "HTTP/1.1 200 Connection established\r\n\r\n")
		go func() { io.Copy(up, brw); up.Close() }()
		go func() { io.Copy(down, up); down.Close() }()
	}))
	defer proxy.Close()
	t.Setenv("HTTPS_PROXY", proxy.URL)
	t.Setenv("https_proxy", proxy.URL)

	c := New(Config{})
	defer c.Close()
	_, err := c.Do(context.Background(), v.target, get("/direct"))
	require.NoError(t, err)
	mu.Lock()
	assert.Empty(t, connects, "the environment's proxy is not used")
	mu.Unlock()

	via := v.target
	via.Proxy = proxy.URL
	resp, err := c.Do(context.Background(), via, get("/proxied"))
	require.NoError(t, err)
	assert.Equal(t, "ok", string(resp.Body))
	mu.Lock()
	assert.Equal(t, []string{v.target.ConnectTo}, connects)
	mu.Unlock()

	bad := v.target
	bad.Proxy = "socks5://127.0.0.1:1"
	_, err = c.Do(context.Background(), bad, get("/"))
	assert.ErrorContains(t, err, "not http://HOST:PORT")
}

// TestRequestBytesAreExactlyHTTP11 reads the raw request off a plain
// socket: the message is what the caller built and nothing more.
func TestRequestBytesAreExactlyHTTP11(t *testing.T) {
	got, err := appendRequest(nil, Target{Host: "api.example.com"}, &Request{
		Method: "POST", Target: "/v2/orders", Body: `{"a":1}`,
		Header: []Header{{"APCA-API-KEY-ID", "k"}, {"Content-Type", "application/json"}},
	})
	require.NoError(t, err)
	assert.Equal(t, "POST /v2/orders HTTP/1.1\r\nHost: api.example.com\r\nAPCA-API-KEY-ID: k\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}", string(got))
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(string(got))))
	require.NoError(t, err)
	assert.Equal(t, "k", req.Header.Get("Apca-Api-Key-Id"))

	got, err = appendRequest(nil, Target{Host: "api.example.com", Port: "8443"}, &Request{Method: "GET", Target: "/t"})
	require.NoError(t, err)
	assert.Equal(t, "GET /t HTTP/1.1\r\nHost: api.example.com:8443\r\n\r\n", string(got))
}

func TestBuildErrorSendsNothing(t *testing.T) {
	var hits atomic.Int32
	v := newVenue(t, func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
	c := New(Config{})
	defer c.Close()
	_, err := c.Do(context.Background(), v.target, get("/warm"))
	require.NoError(t, err)
	_, err = c.Do(context.Background(), v.target, func() (*Request, error) { return nil, fmt.Errorf("policy says no") })
	assert.EqualError(t, err, "policy says no")
	assert.EqualValues(t, 1, hits.Load())
	assert.Equal(t, 1, c.IdleConns(), "the connection is kept for the next request")
}

func TestTimeoutOptionBoundsTheExchange(t *testing.T) {
	release := make(chan struct{})
	v := newVenue(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		fmt.Fprint(w, "ok")
	})
	defer close(release)
	c := New(Config{})
	defer c.Close()
	o := Options{Timeout: 300 * time.Millisecond, NoSecret: true}
	// A kept-alive connection whose deadline was armed by earlier requests.
	for range 3 {
		_, err := c.DoWith(context.Background(), v.target, o, get("/fast"))
		require.NoError(t, err)
	}
	start := time.Now()
	_, err := c.DoWith(context.Background(), v.target, o, get("/slow"))
	took := time.Since(start)
	var fe *Error
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, KindTimeout, fe.Kind)
	assert.True(t, fe.Sent)
	assert.Less(t, took, 2*time.Second, "cut off, not left waiting for the venue")
	assert.GreaterOrEqual(t, took, 300*time.Millisecond-300*time.Millisecond/16-10*time.Millisecond, "at most a sixteenth sooner")
	assert.Equal(t, 0, c.IdleConns(), "a timed-out connection is not kept")
}

func TestIdleConnectionPastItsDeadlineIsReused(t *testing.T) {
	v := newVenue(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	c := New(Config{})
	defer c.Close()
	o := Options{Timeout: 50 * time.Millisecond}
	_, err := c.DoWith(context.Background(), v.target, o, get("/a"))
	require.NoError(t, err)
	time.Sleep(100 * time.Millisecond) // the armed deadline passes while idle
	resp, err := c.DoWith(context.Background(), v.target, o, get("/b"))
	require.NoError(t, err, "the deadline is re-armed for the next exchange")
	assert.Equal(t, "ok", string(resp.Body))
	assert.EqualValues(t, 1, v.conns.Load(), "an expired deadline does not make an idle connection dead")
}

func TestCancelledExchangeDoesNotKeepItsConnection(t *testing.T) {
	inside := make(chan struct{})
	v := newVenue(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			close(inside)
			<-r.Context().Done()
			return
		}
		fmt.Fprint(w, "ok")
	})
	c := New(Config{})
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-inside; cancel() }()
	_, err := c.DoWith(ctx, v.target, Options{Timeout: 10 * time.Second}, get("/hold"))
	var fe *Error
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, KindTimeout, fe.Kind)
	assert.Equal(t, 0, c.IdleConns())
	resp, err := c.DoWith(context.Background(), v.target, Options{Timeout: 10 * time.Second}, get("/after"))
	require.NoError(t, err)
	assert.Equal(t, "ok", string(resp.Body))
}

func TestWriteBufferIsWipedAfterEveryWrite(t *testing.T) {
	v := newVenue(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	c := New(Config{})
	defer c.Close()
	const token = "Bearer secret-token-0123456789"
	for _, o := range []Options{{}, {NoSecret: true}} {
		_, err := c.DoWith(context.Background(), v.target, o, func() (*Request, error) {
			return &Request{Method: "POST", Target: "/order", Header: []Header{{Name: "Authorization", Value: token}},
				Body: strings.Repeat("x", 3000)}, nil // larger than the first buffer
		})
		require.NoError(t, err)
		c.mu.Lock()
		require.Len(t, c.idle[v.target], 1)
		buf := c.idle[v.target][0].wbuf
		c.mu.Unlock()
		assert.GreaterOrEqual(t, cap(buf), 3000, "the larger buffer is kept")
		assert.Equal(t, make([]byte, cap(buf)), buf[:cap(buf)], "nothing of the request is left in it")
	}
}

func TestRefusedRequestWritesNothing(t *testing.T) {
	buf := make([]byte, 0, 256)
	_, err := appendRequest(buf, Target{Host: "example.com"}, &Request{Method: "GET", Target: "/a",
		Header: []Header{{Name: "X-Key", Value: "secret"}, {Name: "Bad Name", Value: "v"}}})
	require.Error(t, err)
	assert.Equal(t, make([]byte, 256), buf[:256], "checked before a byte is written")
	for _, target := range []string{"/a\tb", "/a\x7f", "/a b", "/a#frag"} {
		_, err := appendRequest(nil, Target{Host: "example.com"}, &Request{Method: "GET", Target: target})
		assert.Error(t, err, "%q", target)
	}
}

func TestIsHopByHopFoldsASCIIOnly(t *testing.T) {
	for _, n := range []string{"connection", "CONNECTION", "Keep-Alive", "keep-alive", "transfer-encoding", "host", "content-length", "Expect", "te"} {
		assert.True(t, IsHopByHop(n), n)
	}
	for _, n := range []string{"X-Mbx-Apikey", "Connection ", "\u212Aeep-Alive", "Keep_Alive", "Hosts"} {
		assert.False(t, IsHopByHop(n), "%q", n)
	}
}
