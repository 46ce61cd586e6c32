package main

import (
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/keyward/protocol"
)

func TestFrameTemplate(t *testing.T) {
	tmpl, err := newFrameTemplate(protocol.OpSign, signArgs(credName(0)))
	require.NoError(t, err)
	require.GreaterOrEqual(t, tmpl.credOff, 0, "the credential number can be patched")

	var frames []byte
	frames = tmpl.Put(frames, idBase+42, 1234)
	frames = tmpl.Put(frames, 9_999_999_999, -1)
	require.Len(t, frames, 2*tmpl.Size(), "every frame has the same size")

	for i, want := range []struct {
		id   uint64
		cred string
	}{{idBase + 42, "c0001234"}, {9_999_999_999, "c0000000"}} {
		frame := frames[i*tmpl.Size() : (i+1)*tmpl.Size()]
		assert.Equal(t, uint32(tmpl.BodySize()), binary.BigEndian.Uint32(frame), "the length prefix")
		// The agent decodes it as any client's request.
		req, err := protocol.DecodeRequest(frame[4:])
		require.NoError(t, err)
		assert.Equal(t, want.id, req.ID)
		assert.Equal(t, protocol.OpSign, req.Op)
		var args protocol.SignArgs
		require.NoError(t, json.Unmarshal(req.Args, &args))
		assert.Equal(t, want.cred, args.Credential)
		assert.Equal(t, "https://api.binance.com/api/v3/order", args.URL)
		assert.Equal(t, signArgs("").Body, args.Body, "& is not escaped")
	}
	assert.Equal(t, frames[:tmpl.Size()], tmpl.Put(nil, idBase+42, 1234), "Put appends, it does not alter the template")
}

func TestFrameTemplateWithoutNumberedCredential(t *testing.T) {
	tmpl, err := newFrameTemplate(protocol.OpSign, signArgs(edCredential))
	require.NoError(t, err)
	assert.Equal(t, -1, tmpl.credOff)
	a := tmpl.Put(nil, idBase+1, 7)
	b := tmpl.Put(nil, idBase+1, -1)
	assert.Equal(t, a, b, "a credential number is ignored when there is nothing to patch")
}

func TestCredName(t *testing.T) {
	assert.Equal(t, "c0000000", credName(0))
	assert.Equal(t, "c0099999", credName(99_999))
	assert.Len(t, credName(9_999_999), 1+credWidth)
}

func TestPutDigits(t *testing.T) {
	b := make([]byte, 5)
	putDigits(b, 42)
	assert.Equal(t, "00042", string(b))
	putDigits(b, 1234567)
	assert.Equal(t, "34567", string(b), "digits that do not fit are dropped from the left")
}

func TestParseReply(t *testing.T) {
	cases := []struct {
		name, body string
		id         uint64
		err        string
	}{
		{"result", `{"id":1000000007,"result":{"method":"POST"}}`, 1000000007, ""},
		{"error reply", `{"id":5,"error":{"code":"locked","message":"the agent is locked"}}`, 5, "reply is not a result"},
		{"no id", `{"result":{}}`, 0, "does not start with"},
		{"id not a number", `{"id":"x","result":{}}`, 0, "no numeric id"},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			id, err := parseReply([]byte(tt.body))
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tt.id, id)
		})
	}
	_, err := parseReply([]byte(`{"id":5,"error":{"code":"locked","message":"the agent is locked"}}`))
	assert.ErrorIs(t, err, errNotResult)
	assert.ErrorContains(t, err, "the agent is locked", "the agent's message is quoted")
}

func TestEchoReply(t *testing.T) {
	body := echoReply(nil, []byte("1000000042"), 387)
	assert.Len(t, body, 387)
	assert.True(t, json.Valid(body), "%s", body)
	id, err := parseReply(body)
	require.NoError(t, err)
	assert.Equal(t, uint64(1000000042), id)

	got, err := requestID([]byte(`{"id":1000000042,"op":"sign","args":{}}`))
	require.NoError(t, err)
	assert.Equal(t, "1000000042", string(got))
	_, err = requestID([]byte(`{"op":"sign"}`))
	assert.Error(t, err)
	_, err = requestID([]byte(`{"id":,"op":"sign"}`))
	assert.Error(t, err)
}

func TestParseProcStatus(t *testing.T) {
	st := parseProcStatus([]byte("Name:\tkeyward\nVmHWM:\t   81234 kB\nVmRSS:\t   70000 kB\nVmLck:\t    6400 kB\nThreads:\t9\n"))
	assert.Equal(t, int64(70000<<10), st["VmRSS"])
	assert.Equal(t, int64(6400<<10), st["VmLck"])
	assert.Equal(t, int64(81234<<10), st["VmHWM"])
	assert.NotContains(t, st, "Threads", "only kB fields")
	assert.InDelta(t, 6.25, mib(st["VmLck"]), 1e-9)
}
