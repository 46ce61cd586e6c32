package client

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/keyward/protocol"
)

// recordingSigner answers as an agent would for one credential, and
// records what it was asked.
type recordingSigner struct {
	mu          sync.Mutex
	forwardOnly bool
	signs       int
	forwards    []protocol.ForwardArgs
	answer      protocol.HTTPResponse
}

func (s *recordingSigner) Sign(_ context.Context, a protocol.SignArgs) (*protocol.HTTPRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.signs++
	if s.forwardOnly {
		return nil, protocol.Errorf(protocol.CodeForwardOnly, "credential %q is forward-only: use forward", a.Credential)
	}
	return nil, protocol.Errorf(protocol.CodeDenied, "no")
}

func (s *recordingSigner) Forward(_ context.Context, a protocol.ForwardArgs) (*protocol.HTTPResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forwards = append(s.forwards, a)
	r := s.answer
	return &r, nil
}

func TestTransportAutoModeLearnsForwardOnly(t *testing.T) {
	s := &recordingSigner{forwardOnly: true, answer: protocol.HTTPResponse{Status: 201,
		Headers: map[string]string{"Content-Type": "application/json", "Set-Cookie": "a=1\nb=2"}, Body: `{"id":"o-1"}`}}
	hc := &http.Client{Transport: &Transport{Agent: s, Credential: "alpaca"}}
	for range 3 {
		resp, err := hc.Post("https://paper-api.alpaca.markets/v2/orders", "application/json", strings.NewReader(`{"symbol":"AAPL"}`))
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, 201, resp.StatusCode)
		assert.Equal(t, `{"id":"o-1"}`, string(b))
		assert.Equal(t, []string{"a=1", "b=2"}, resp.Header.Values("Set-Cookie"))
	}
	assert.Equal(t, 1, s.signs, "after the first forward_only answer Transport forwards at once")
	require.Len(t, s.forwards, 3)
	f := s.forwards[0]
	assert.Equal(t, "alpaca", f.Credential)
	assert.Equal(t, "POST", f.Method)
	assert.Equal(t, `{"symbol":"AAPL"}`, f.Body)
	assert.Equal(t, "application/json", f.Headers["Content-Type"])
}

func TestTransportForwardModeDecodesAndPassesDeadline(t *testing.T) {
	s := &recordingSigner{answer: protocol.HTTPResponse{Status: 200, Body: base64.StdEncoding.EncodeToString([]byte{0xff, 0, 1}), BodyEncoding: "base64"}}
	hc := &http.Client{Transport: &Transport{Agent: s, Credential: "c", Mode: ModeForward}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "https://api.example.com/x", nil)
	resp, err := hc.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	assert.Equal(t, []byte{0xff, 0, 1}, b)
	assert.Zero(t, s.signs)
	require.Len(t, s.forwards, 1)
	assert.InDelta(t, 5000, s.forwards[0].TimeoutMS, 1000)
}

func TestTransportSignModeDoesNotFallBack(t *testing.T) {
	s := &recordingSigner{forwardOnly: true}
	hc := &http.Client{Transport: &Transport{Agent: s, Credential: "alpaca", Mode: ModeSign}}
	_, err := hc.Get("https://paper-api.alpaca.markets/v2/account")
	require.Error(t, err)
	assert.True(t, protocol.HasCode(err, protocol.CodeForwardOnly))
	assert.Empty(t, s.forwards)
}
