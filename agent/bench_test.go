package agent

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyward/keyward/agent/vault"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/protocol"
	"github.com/keyward/keyward/protocol/agenttest"
)

// signArgs is a typical order request.
var signArgs = protocol.SignArgs{Credential: "main", HTTPRequest: protocol.HTTPRequest{
	Method: "POST", URL: "https://api.binance.com/api/v3/order",
	Body: "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=10000",
}}

// benchAgent serves an unlocked agent holding credential "main" and
// returns a client connected to it. The agent itself does not log: a
// debug line per signature would be measured too.
func benchAgent(b *testing.B) *client.Client {
	a := newBenchAgent(b, b.TempDir(), true)
	c, err := client.Dial(serve(b, a, ServerConfig{}))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	ctx := context.Background()
	if _, err := c.Unlock(ctx, protocol.UnlockArgs{Passphrase: protocol.Secret(agenttest.Passphrase)}); err != nil {
		b.Fatal(err)
	}
	if _, err := c.Add(ctx, benchCredential); err != nil {
		b.Fatal(err)
	}
	return c
}

// benchCredential is the Binance HMAC credential "main" the benchmarks sign
// with; its secret is made up.
var benchCredential = protocol.AddArgs{Name: "main", Scheme: "binance", APIKey: "bench-key", Secret: protocol.Secret("bench-secret-not-a-real-key-0123456789abcdef")}

// newBenchAgent makes an agent on a new vault in dir, with an audit log
// there when audited is set (the agent runs with one by default).
func newBenchAgent(b *testing.B, dir string, audited bool) *Agent {
	path := filepath.Join(dir, "vault")
	if err := vault.Create(path, []byte(agenttest.Passphrase), cheapKDF); err != nil {
		b.Fatal(err)
	}
	cfg := Config{VaultPath: path, OwnerUID: uint32(os.Getuid())}
	if audited {
		al, err := OpenAuditLog(filepath.Join(dir, "audit.log"), false, time.Now, slog.New(slog.DiscardHandler))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { al.Close() })
		cfg.Audit = al
	}
	a := New(cfg)
	b.Cleanup(a.Close)
	return a
}

// unlockWithMain unlocks a (in process) and adds benchCredential.
func unlockWithMain(b *testing.B, a *Agent) {
	ctx := selfContext()
	if _, err := a.Unlock(ctx, protocol.UnlockArgs{Passphrase: protocol.Secret(agenttest.Passphrase)}); err != nil {
		b.Fatal(err)
	}
	if _, err := a.Add(ctx, benchCredential); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkSignRoundTrip is one bot signing one request at a time over
// the socket, through the Go client: compare with BenchmarkEchoRoundTrip.
func BenchmarkSignRoundTrip(b *testing.B) {
	c := benchAgent(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Sign(ctx, signArgs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignParallel is many goroutines sharing one client connection.
func BenchmarkSignParallel(b *testing.B) {
	c := benchAgent(b)
	ctx := context.Background()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Sign(ctx, signArgs); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkEchoRoundTrip is the baseline: a bare Unix-socket echo of
// frames the size of a sign request and reply, with no JSON and no crypto.
func BenchmarkEchoRoundTrip(b *testing.B) {
	dir, _ := os.MkdirTemp("", "kw-echo-")
	b.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "echo.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	reply := make([]byte, 330) // about the size of a signed-request reply
	go func() {
		s, err := ln.Accept()
		if err != nil {
			return
		}
		defer s.Close()
		for {
			if _, err := protocol.ReadFrame(s, nil); err != nil {
				return
			}
			if err := protocol.WriteFrame(s, reply); err != nil {
				return
			}
		}
	}()
	c, err := net.Dial("unix", path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	req := make([]byte, 230) // about the size of a sign request
	for b.Loop() {
		if err := protocol.WriteFrame(c, req); err != nil {
			b.Fatal(err)
		}
		if _, err := protocol.ReadFrame(c, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAgentSign is the agent's own work on a signature, without the
// socket: the policy, the keyring, the scheme and the audit record.
func BenchmarkAgentSign(b *testing.B) {
	a := newBenchAgent(b, b.TempDir(), false)
	unlockWithMain(b, a)
	ctx := selfContext()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Sign(ctx, signArgs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignFrame is everything the server does for one sign frame
// except the system calls: decode, the agent's work (with its audit log,
// as it runs by default), and the reply encoded into a frame. Compare it
// with what a bare echo costs per request (make bench's CPU note).
func BenchmarkSignFrame(b *testing.B) {
	a := newBenchAgent(b, b.TempDir(), true)
	unlockWithMain(b, a)
	ctx := selfContext()
	// As the clients write it (protocol.Marshal: no HTML escapes).
	args, err := protocol.Marshal(signArgs)
	if err != nil {
		b.Fatal(err)
	}
	frame, err := protocol.Marshal(protocol.Request{ID: 1, Op: protocol.OpSign, Args: bytes.TrimSpace(args)})
	if err != nil {
		b.Fatal(err)
	}
	frame = bytes.TrimSpace(frame)
	c := &serverConn{s: NewServer(a, nil, slog.New(slog.DiscardHandler), ServerConfig{})}
	body := make([]byte, len(frame))
	var out []byte
	b.ReportAllocs()
	for b.Loop() {
		copy(body, frame)
		req, err := protocol.DecodeRequest(body)
		if err != nil {
			b.Fatal(err)
		}
		reply := protocol.Handle(ctx, a, req)
		if reply.Error != nil {
			b.Fatal(reply.Error)
		}
		out = c.appendReplyFrame(out[:0], req, reply)
	}
}
