package agent

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/keyward/agent/peerid"
	"github.com/keyward/keyward/protocol"
)

// rawConn is a client that speaks frames by hand, to misbehave.
type rawConn struct {
	t *testing.T
	net.Conn
}

func dialRaw(t *testing.T, path string) *rawConn {
	c, err := net.Dial("unix", path)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return &rawConn{t, c}
}

func (c *rawConn) send(body string) {
	require.NoError(c.t, protocol.WriteFrame(c, []byte(body)))
}

func (c *rawConn) recv() protocol.Reply {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	body, err := protocol.ReadFrame(c, nil)
	require.NoError(c.t, err)
	var r protocol.Reply
	require.NoError(c.t, json.Unmarshal(body, &r))
	return r
}

// expectClosed checks that the agent closed the connection.
func (c *rawConn) expectClosed() {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := c.Read(make([]byte, 1))
	assert.ErrorIs(c.t, err, io.EOF)
}

func TestPipelinedRequestsOnOneConnection(t *testing.T) {
	c := dialRaw(t, serve(t, newTestAgent(t), ServerConfig{}))
	// Many requests written before any reply is read.
	for id := 1; id <= 50; id++ {
		c.send(fmt.Sprintf(`{"id":%d,"op":"status"}`, id))
	}
	seen := map[uint64]bool{}
	for range 50 {
		r := c.recv()
		require.Nil(t, r.Error)
		seen[r.ID] = true
	}
	assert.Len(t, seen, 50, "every id answered once")
}

func TestOversizedFrameGetsErrorAndClose(t *testing.T) {
	c := dialRaw(t, serve(t, newTestAgent(t), ServerConfig{}))
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], protocol.MaxFrameSize+1)
	_, err := c.Write(hdr[:])
	require.NoError(t, err)
	r := c.recv()
	require.NotNil(t, r.Error)
	assert.Equal(t, uint64(0), r.ID)
	assert.Equal(t, protocol.CodeBadFrame, r.Error.Code)
	assert.Equal(t, "protocol: frame of 1048577 bytes is over the 1048576-byte limit; closing the connection", r.Error.Message)
	c.expectClosed()
}

func TestZeroLengthAndGarbageFrames(t *testing.T) {
	path := serve(t, newTestAgent(t), ServerConfig{})

	c := dialRaw(t, path)
	_, err := c.Write([]byte{0, 0, 0, 0})
	require.NoError(t, err)
	r := c.recv()
	assert.Equal(t, protocol.CodeBadFrame, r.Error.Code)
	c.expectClosed()

	c = dialRaw(t, path)
	c.send(`{"id":1,"op":`)
	r = c.recv()
	assert.Equal(t, protocol.CodeBadFrame, r.Error.Code)
	assert.Contains(t, r.Error.Message, "frame is not a JSON request object")
	c.expectClosed()

	// A well-formed frame with a bad request is answered, and the
	// connection stays usable.
	c = dialRaw(t, path)
	c.send(`{"id":5}`)
	r = c.recv()
	assert.Equal(t, uint64(5), r.ID)
	assert.Equal(t, protocol.CodeBadRequest, r.Error.Code)
	c.send(`{"id":6,"op":"nosuch"}`)
	r = c.recv()
	assert.Equal(t, protocol.CodeUnsupported, r.Error.Code)
	c.send(`{"id":7,"op":"status"}`)
	r = c.recv()
	assert.Nil(t, r.Error)
}

func TestSlowClientTimesOutWithoutHoldingOthers(t *testing.T) {
	path := serve(t, newTestAgent(t), ServerConfig{FrameTimeout: 200 * time.Millisecond})
	slow := dialRaw(t, path)
	// Announce a frame and send only part of it.
	_, err := slow.Write([]byte{0, 0, 0, 100, '{'})
	require.NoError(t, err)

	// Others are served meanwhile.
	fast := dialRaw(t, path)
	fast.send(`{"id":1,"op":"status"}`)
	assert.Nil(t, fast.recv().Error)

	slow.expectClosed()
}

func TestSilentClientIsClosedAfterIdleTimeout(t *testing.T) {
	c := dialRaw(t, serve(t, newTestAgent(t), ServerConfig{IdleTimeout: 200 * time.Millisecond}))
	c.expectClosed()
}

func TestHalfClosedClientStillGetsReplies(t *testing.T) {
	c := dialRaw(t, serve(t, newTestAgent(t), ServerConfig{}))
	c.send(`{"id":1,"op":"status"}`)
	require.NoError(t, c.Conn.(*net.UnixConn).CloseWrite())
	r := c.recv()
	assert.Equal(t, uint64(1), r.ID)
	assert.Nil(t, r.Error)
}

func TestConnectionLimit(t *testing.T) {
	path := serve(t, newTestAgent(t), ServerConfig{MaxConns: 2})
	a, b := dialRaw(t, path), dialRaw(t, path)
	a.send(`{"id":1,"op":"status"}`)
	b.send(`{"id":1,"op":"status"}`)
	a.recv()
	b.recv()
	c := dialRaw(t, path)
	r := c.recv()
	assert.Equal(t, protocol.CodeBusy, r.Error.Code)
	assert.Equal(t, "the agent is at its limit of 2 connections: try again later", r.Error.Message)
	c.expectClosed()

	a.Close()
	require.Eventually(t, func() bool {
		d, err := net.Dial("unix", path)
		if err != nil {
			return false
		}
		defer d.Close()
		protocol.WriteFrame(d, []byte(`{"id":1,"op":"status"}`))
		d.SetReadDeadline(time.Now().Add(time.Second))
		body, err := protocol.ReadFrame(d, nil)
		return err == nil && len(body) > 0 && !containsCode(body, protocol.CodeBusy)
	}, 5*time.Second, 20*time.Millisecond, "a freed slot is usable again")
}

func containsCode(body []byte, code protocol.Code) bool {
	var r protocol.Reply
	return json.Unmarshal(body, &r) == nil && r.Error != nil && r.Error.Code == code
}

// blockingAgent holds every Sign and Forward until release is closed, and
// records how many were inside at once.
type blockingAgent struct {
	protocol.Agent
	release       chan struct{}
	mu            sync.Mutex
	inside, maxIn int
}

func (b *blockingAgent) Sign(_ context.Context, a protocol.SignArgs) (*protocol.HTTPRequest, error) {
	b.mu.Lock()
	b.inside++
	b.maxIn = max(b.maxIn, b.inside)
	b.mu.Unlock()
	<-b.release
	b.mu.Lock()
	b.inside--
	b.mu.Unlock()
	return &protocol.HTTPRequest{Method: a.Method, URL: a.URL}, nil
}

func (b *blockingAgent) Forward(_ context.Context, a protocol.ForwardArgs) (*protocol.HTTPResponse, error) {
	b.mu.Lock()
	b.inside++
	b.maxIn = max(b.maxIn, b.inside)
	b.mu.Unlock()
	<-b.release
	b.mu.Lock()
	b.inside--
	b.mu.Unlock()
	return &protocol.HTTPResponse{Status: 200}, nil
}

func (b *blockingAgent) Status(context.Context) (*protocol.StatusResult, error) {
	return &protocol.StatusResult{Version: "blocking"}, nil
}

func (b *blockingAgent) entered() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.inside
}

// serveStub serves any protocol.Agent to every peer, on a fresh socket.
func serveStub(t *testing.T, a protocol.Agent, cfg ServerConfig) string {
	dir := t.TempDir()
	ln, err := Listen(filepath.Join(dir, "agent.sock"))
	require.NoError(t, err)
	srv := NewServer(a, func(peerid.Identity) error { return nil }, testLog(t), cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	return filepath.Join(dir, "agent.sock")
}

// TestBackPressure: a connection with MaxInFlight requests being handled
// is not read further, so a flooding client holds at most that many, and
// another connection is served meanwhile. (Forward runs in goroutines of
// its own; sign is answered in the connection's goroutine, one at a time.)
func TestBackPressure(t *testing.T) {
	stub := &blockingAgent{release: make(chan struct{})}
	path := serveStub(t, stub, ServerConfig{MaxInFlight: 2})
	flood := dialRaw(t, path)
	for id := 1; id <= 6; id++ {
		flood.send(fmt.Sprintf(`{"id":%d,"op":"forward","args":{"credential":"c","method":"GET","url":"https://x/%d"}}`, id, id))
	}
	require.Eventually(t, func() bool { return stub.entered() == 2 }, 10*time.Second, time.Millisecond)
	// Give a server without back-pressure every chance to take more.
	time.Sleep(100 * time.Millisecond)

	other := dialRaw(t, path)
	other.send(`{"id":1,"op":"status"}`)
	r := other.recv()
	assert.Nil(t, r.Error, "another connection is served while the first is full")

	close(stub.release)
	for range 6 {
		assert.Nil(t, flood.recv().Error)
	}
	assert.Equal(t, 2, stub.maxIn, "no more than MaxInFlight requests of one connection at once")
}

// TestInlineSignsOneAtATimePerConnection: a connection's signs are
// answered in order by its own goroutine, so a flood of them on one
// connection holds one at a time, and other connections are served.
func TestInlineSignsOneAtATimePerConnection(t *testing.T) {
	stub := &blockingAgent{release: make(chan struct{})}
	path := serveStub(t, stub, ServerConfig{})
	flood := dialRaw(t, path)
	for id := 1; id <= 4; id++ {
		flood.send(fmt.Sprintf(`{"id":%d,"op":"sign","args":{"credential":"c","method":"GET","url":"https://x/%d"}}`, id, id))
	}
	require.Eventually(t, func() bool { return stub.entered() == 1 }, 10*time.Second, time.Millisecond)
	time.Sleep(50 * time.Millisecond)
	assert.Equal(t, 1, stub.entered())
	other := dialRaw(t, path)
	other.send(`{"id":1,"op":"status"}`)
	assert.Nil(t, other.recv().Error)
	close(stub.release)
	for id := 1; id <= 4; id++ {
		assert.EqualValues(t, id, flood.recv().ID, "replies in order")
	}
}

// TestPipelinedBurstIsReadAndAnsweredInBulk: many frames written at once
// are all answered, however they straddle the read buffer.
func TestPipelinedBurstIsReadAndAnsweredInBulk(t *testing.T) {
	path := serve(t, newTestAgent(t), ServerConfig{})
	c := dialRaw(t, path)
	var burst []byte
	for id := 1; id <= 500; id++ {
		// Sizes vary so frames cross the 4 KiB buffer's end at every offset.
		body := fmt.Sprintf(`{"id":%d,"op":"hello","args":{"version":1,"client":"%s"}}`, id, strings.Repeat("x", id%97))
		burst, _ = protocol.AppendFrame(burst, []byte(body))
	}
	big := fmt.Sprintf(`{"id":501,"op":"hello","args":{"version":1,"client":"%s"}}`, strings.Repeat("y", 20000))
	burst, _ = protocol.AppendFrame(burst, []byte(big))
	_, err := c.Write(burst)
	require.NoError(t, err)
	for id := 1; id <= 501; id++ {
		r := c.recv()
		require.Nil(t, r.Error)
		assert.EqualValues(t, id, r.ID)
	}
}

// TestClientThatDoesNotReadIsDisconnected: replies to a client that stops
// reading fill the socket; after WriteTimeout the agent gives up on it.
func TestClientThatDoesNotReadIsDisconnected(t *testing.T) {
	path := serve(t, newTestAgent(t), ServerConfig{WriteTimeout: 200 * time.Millisecond})
	c := dialRaw(t, path)
	go func() {
		// Far more replies than socket buffers hold; stops when closed.
		frame, _ := protocol.AppendFrame(nil, []byte(`{"id":1,"op":"status"}`))
		for range 50000 {
			if _, err := c.Write(frame); err != nil {
				return
			}
		}
	}()
	time.Sleep(time.Second) // the client is not reading
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err := io.Copy(io.Discard, c)
	// EOF, or a reset because our unread requests were still queued when
	// the agent closed; what it must not be is our own read deadline.
	assert.False(t, errors.Is(err, os.ErrDeadlineExceeded), "the agent never closed the connection")
	if err != nil {
		assert.ErrorIs(t, err, syscall.ECONNRESET)
	}
}

func TestDocumentedDefaults(t *testing.T) {
	// README.md and protocol/SPEC.md state these numbers.
	assert.Equal(t, ServerConfig{
		MaxConns: 4096, MaxInFlight: 128, MaxTotal: 1024,
		FrameTimeout: 10 * time.Second, IdleTimeout: 5 * time.Minute, WriteTimeout: 10 * time.Second,
		AcceptBackoff: 50 * time.Millisecond,
	}, ServerConfig{}.withDefaults())
}

// TestReadBodyGrowsAsBytesArrive: a frame announced large but sent slowly
// costs only what was sent, and a cut-off body is wiped.
func TestReadBodyGrowsAsBytesArrive(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 300000)
	got, err := readBody(iotest.OneByteReader(bytes.NewReader(body)), len(body), nil)
	require.NoError(t, err)
	assert.Equal(t, body, got)

	// Only 10 bytes of an announced megabyte arrive: the buffer stays small.
	r := &countingReader{r: bytes.NewReader([]byte("0123456789"))}
	_, err = readBody(r, 1<<20, nil)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.LessOrEqual(t, r.maxBuf, firstChunk, "the buffer grew beyond what was sent")
	require.NotNil(t, r.last)
	assert.Equal(t, make([]byte, len(r.last)), r.last, "the cut-off body is wiped")
}

// countingReader records the largest buffer it was asked to fill.
type countingReader struct {
	r      io.Reader
	maxBuf int
	last   []byte // the buffer of the last read, as the reader filled it
}

func (c *countingReader) Read(p []byte) (int, error) {
	c.maxBuf = max(c.maxBuf, len(p))
	n, err := c.r.Read(p)
	if n > 0 {
		c.last = p[:n]
	}
	return n, err
}

// TestFrameReaderWipesWhatIsLeft: a frame cut off mid-way (an unlock whose
// client died) leaves nothing in the read buffer once the connection ends.
func TestFrameReaderWipesWhatIsLeft(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	fr := &frameReader{nc: a, idle: time.Second, frame: time.Second}
	go func() {
		frame, _ := protocol.AppendFrame(nil, []byte(`{"id":1,"op":"unlock","args":{"passphrase":"c2VjcmV0LXBhc3NwaHJhc2U="}}`))
		a2 := frame[:len(frame)-10] // the client dies before the end
		b.Write(a2)
		b.Close()
	}()
	_, _, where, err := fr.next()
	require.Error(t, err)
	assert.Equal(t, "inside a frame", where)
	require.NotZero(t, fr.w, "part of the frame was read")
	fr.wipe()
	assert.Equal(t, make([]byte, len(fr.buf)), fr.buf)
}
