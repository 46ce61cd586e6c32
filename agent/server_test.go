package agent

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
