package client

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/keyward/protocol"
)

// stubAgent answers from fixed data; release, when set, holds Sign until
// it is closed so tests can have requests in flight.
type stubAgent struct {
	protocol.Agent
	release chan struct{}
	signErr error
}

func (s *stubAgent) Status(context.Context) (*protocol.StatusResult, error) {
	return &protocol.StatusResult{Version: "stub", Locked: true}, nil
}

func (s *stubAgent) Sign(_ context.Context, a protocol.SignArgs) (*protocol.HTTPRequest, error) {
	if s.release != nil {
		<-s.release
	}
	if s.signErr != nil {
		return nil, s.signErr
	}
	return &protocol.HTTPRequest{Method: a.Method, URL: a.URL + "&signature=ab", Headers: map[string]string{"X-MBX-APIKEY": "k"}, Body: a.Body}, nil
}

// stubServer serves a on a real Unix socket with protocol.Handle, one
// goroutine per request so replies can overtake each other.
type stubServer struct {
	path string
	ln   net.Listener
	mu   sync.Mutex
	cs   []net.Conn
}

func startStub(t *testing.T, a protocol.Agent) *stubServer {
	dir, err := os.MkdirTemp("", "kw-client-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &stubServer{path: filepath.Join(dir, "agent.sock")}
	s.listen(t, a)
	return s
}

func (s *stubServer) listen(t *testing.T, a protocol.Agent) {
	ln, err := net.Listen("unix", s.path)
	require.NoError(t, err)
	s.ln = ln
	t.Cleanup(func() { s.stop() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.cs = append(s.cs, c)
			s.mu.Unlock()
			go func() {
				var wmu sync.Mutex
				for {
					body, err := protocol.ReadFrame(c, nil)
					if err != nil {
						return
					}
					req, err := protocol.DecodeRequest(body)
					if err != nil {
						return
					}
					go func() {
						out, _ := protocol.EncodeReply(protocol.Handle(context.Background(), a, req))
						wmu.Lock()
						protocol.WriteFrame(c, out)
						wmu.Unlock()
					}()
				}
			}()
		}
	}()
}

func (s *stubServer) stop() {
	s.ln.Close()
	s.mu.Lock()
	for _, c := range s.cs {
		c.Close()
	}
	s.cs = nil
	s.mu.Unlock()
}

func TestTypedErrors(t *testing.T) {
	for _, tc := range []struct {
		code protocol.Code
		is   func(error) bool
	}{
		{protocol.CodeLocked, IsLocked},
		{protocol.CodeDenied, IsDenied},
		{protocol.CodeUnknownCredential, IsUnknownCredential},
		{protocol.CodeBadRequest, IsBadRequest},
		{protocol.CodeUnsupported, IsUnsupported},
		{protocol.CodeWrongPassphrase, IsWrongPassphrase},
	} {
		stub := &stubAgent{signErr: protocol.Errorf(tc.code, "message for %s", tc.code)}
		c, err := Dial(startStub(t, stub).path)
		require.NoError(t, err)
		_, err = c.Sign(context.Background(), protocol.SignArgs{Credential: "x"})
		assert.True(t, tc.is(err), "code %s", tc.code)
		assert.EqualError(t, err, "message for "+string(tc.code))
		assert.False(t, IsUnreachable(err))
		c.Close()
	}
}

func TestDialErrorNamesThePath(t *testing.T) {
	_, err := Dial(filepath.Join(t.TempDir(), "none.sock"))
	require.Error(t, err)
	assert.True(t, IsUnreachable(err))
	assert.Contains(t, err.Error(), "cannot reach the keyward agent at ")
	assert.Contains(t, err.Error(), "none.sock: no such file or directory")
}

func TestDialUsesEnvironment(t *testing.T) {
	s := startStub(t, &stubAgent{})
	t.Setenv(protocol.SocketEnv, s.path)
	c, err := Dial("")
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, s.path, c.Path())
}

func TestRepliesOutOfOrder(t *testing.T) {
	stub := &stubAgent{release: make(chan struct{})}
	c, err := Dial(startStub(t, stub).path)
	require.NoError(t, err)
	defer c.Close()
	ctx := context.Background()

	// A sign held in the agent does not hold up a status behind it.
	signed := make(chan error, 1)
	go func() {
		_, err := c.Sign(ctx, protocol.SignArgs{Credential: "x", HTTPRequest: protocol.HTTPRequest{URL: "u?a=1"}})
		signed <- err
	}()
	st, err := c.Status(ctx)
	require.NoError(t, err)
	assert.Equal(t, "stub", st.Version)
	select {
	case <-signed:
		t.Fatal("sign returned before the agent released it")
	default:
	}
	close(stub.release)
	require.NoError(t, <-signed)
}

func TestContextCancelsAWait(t *testing.T) {
	stub := &stubAgent{release: make(chan struct{})}
	defer close(stub.release)
	c, err := Dial(startStub(t, stub).path)
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = c.Sign(ctx, protocol.SignArgs{Credential: "x"})
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	// The connection is still good for the next call.
	_, err = c.Status(context.Background())
	assert.NoError(t, err)
}

func TestRedialsAfterTheAgentRestarts(t *testing.T) {
	s := startStub(t, &stubAgent{})
	c, err := Dial(s.path)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Status(context.Background())
	require.NoError(t, err)

	s.stop()
	os.Remove(s.path)
	s.listen(t, &stubAgent{})
	require.Eventually(t, func() bool {
		_, err := c.Status(context.Background())
		return err == nil
	}, 5*time.Second, 10*time.Millisecond, "the client dials the new agent")
}

func TestCloseFailsCalls(t *testing.T) {
	stub := &stubAgent{release: make(chan struct{})}
	defer close(stub.release)
	c, err := Dial(startStub(t, stub).path)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		_, err := c.Sign(context.Background(), protocol.SignArgs{Credential: "x"})
		done <- err
	}()
	time.Sleep(20 * time.Millisecond) // let the call get in flight; the assertion holds either way
	require.NoError(t, c.Close())
	assert.ErrorIs(t, <-done, ErrClosed)
	_, err = c.Status(context.Background())
	assert.ErrorIs(t, err, ErrClosed)
}

// TestRefusalReasonBeatsBrokenPipe: an agent that refuses a peer sends an
// id-0 error and closes at once. A call racing with that close must report
// the agent's reason, not the broken pipe its write ran into.
func TestRefusalReasonBeatsBrokenPipe(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "agent.sock")
	ln, err := net.Listen("unix", path)
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			out, _ := protocol.EncodeReply(&protocol.Reply{Error: protocol.Errorf(protocol.CodeDenied, "uid 65534 may not use this agent")})
			protocol.WriteFrame(c, out)
			c.Close()
		}
	}()
	for range 20 {
		c, err := Dial(path)
		require.NoError(t, err)
		time.Sleep(5 * time.Millisecond) // the agent has closed before the call writes
		_, err = c.Status(context.Background())
		assert.True(t, IsDenied(err), "got %v", err)
		c.Close()
	}
}
