package main

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/keyward/protocol"
)

// serve runs handle for every connection to a new Unix socket and returns
// its path.
func serve(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "kwbench-test-") // short: a socket path is ≤ 108 bytes
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "s.sock")
	ln, err := net.Listen("unix", sock)
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go handle(c)
		}
	}()
	return sock
}

func echoSocket(t *testing.T, replySize int) string {
	return serve(t, func(c net.Conn) { echoConn(c, replySize) })
}

func template(t *testing.T) *frameTemplate {
	tmpl, err := newFrameTemplate(protocol.OpSign, signArgs(credName(0)))
	require.NoError(t, err)
	return tmpl
}

// The measuring client against the real echo server code, over a real
// socket: every loop checks every reply's id.
func TestMeasureAgainstEcho(t *testing.T) {
	sock := echoSocket(t, 300)
	tmpl := template(t)
	ctx := context.Background()

	size, err := replySize(sock, tmpl)
	require.NoError(t, err)
	assert.Equal(t, 300, size)

	lat, err := measureLatency(ctx, sock, tmpl, 10, 500, func(i int) int { return i % 7 })
	require.NoError(t, err)
	require.Len(t, lat, 500)
	assert.True(t, slices.IsSorted(lat))
	assert.Positive(t, lat[0])

	w := window{warmup: 20 * time.Millisecond, measure: 100 * time.Millisecond}
	par, err := measureParallel(ctx, sock, 0, tmpl, 4, w)
	require.NoError(t, err)
	assert.Positive(t, par.perSec)
	assert.NotEmpty(t, par.lat)
	assert.True(t, slices.IsSorted(par.lat))

	pip, err := measurePipelined(ctx, sock, 0, tmpl, 16, w)
	require.NoError(t, err)
	assert.Positive(t, pip.perSec)
}

// An error reply stops a run with the agent's message; a reply with
// another id too.
func TestMeasureRefusesBadReplies(t *testing.T) {
	reply := func(body string) string {
		return serve(t, func(c net.Conn) {
			defer c.Close()
			var hdr [4]byte
			for {
				if _, err := io.ReadFull(c, hdr[:]); err != nil {
					return
				}
				if _, err := io.CopyN(io.Discard, c, int64(frameLen(hdr[:]))); err != nil {
					return
				}
				frame, _ := protocol.AppendFrame(nil, []byte(body))
				c.Write(frame)
			}
		})
	}
	tmpl := template(t)
	ctx := context.Background()

	_, err := measureLatency(ctx, reply(`{"id":1000000001,"error":{"code":"locked","message":"the agent is locked"}}`), tmpl, 0, 10, nil)
	require.ErrorIs(t, err, errNotResult)
	assert.ErrorContains(t, err, "the agent is locked")

	_, err = measureLatency(ctx, reply(`{"id":7,"result":{}}`), tmpl, 0, 10, nil)
	assert.ErrorContains(t, err, "reply id 7, want 1000000001")

	w := window{warmup: 10 * time.Millisecond, measure: 20 * time.Millisecond}
	_, err = measurePipelined(ctx, reply(`{"id":7,"result":{}}`), 0, tmpl, 8, w)
	assert.ErrorContains(t, err, "reply id 7 was never sent")
	_, err = measureParallel(ctx, reply(`{"id":7,"result":{}}`), 0, tmpl, 2, w)
	assert.ErrorContains(t, err, "want 1000000001")
}

func TestMeasureStopsWhenCancelled(t *testing.T) {
	sock := echoSocket(t, 300)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := measureParallel(ctx, sock, 0, template(t), 2, window{warmup: time.Second, measure: time.Second})
	assert.ErrorIs(t, err, context.Canceled)
	_, err = measureLatency(ctx, sock, template(t), 0, 5000, nil)
	assert.ErrorIs(t, err, context.Canceled)
}
