package client

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward/protocol"
)

// Signer is the part of protocol.Agent that Transport needs.
type Signer interface {
	Sign(ctx context.Context, args protocol.SignArgs) (*protocol.HTTPRequest, error)
	Forward(ctx context.Context, args protocol.ForwardArgs) (*protocol.HTTPResponse, error)
}

// Mode is how Transport has the agent take part in a request.
type Mode int

const (
	// ModeAuto signs, except for credentials whose scheme sends a secret
	// in clear (Alpaca, OANDA, bearer tokens), which it forwards: the
	// agent refuses to sign those, and Transport remembers the answer.
	ModeAuto Mode = iota
	// ModeSign has the agent sign and sends the signed request itself,
	// through Base.
	ModeSign
	// ModeForward has the agent send the request: the bot never holds a
	// signature or a secret, and nothing it sees can be replayed.
	ModeForward
)

// Transport is an http.RoundTripper that has every request signed (or
// sent) by the agent with one credential. A Go bot switches to keyward by
// setting its http.Client's Transport:
//
//	c, _ := client.Dial("")
//	httpClient := &http.Client{Transport: &client.Transport{Agent: c, Credential: "binance-main"}}
//
// In forward mode a redirect to another host fails: the agent sends a
// credential only to the credential's own hosts.
type Transport struct {
	Agent      Signer
	Credential string
	Mode       Mode
	// Base sends the signed request in sign mode; nil means
	// http.DefaultTransport. Forward mode does not use it.
	Base http.RoundTripper

	forwardOnly atomic.Bool // ModeAuto learnt that the credential is forward-only
}

// RoundTrip has the agent sign req and sends the signed request, or has
// the agent forward it, as Mode says. The request body is read whole (it
// must fit in one protocol frame).
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := readBody(req)
	if err != nil {
		return nil, err
	}
	headers := make(map[string]string, len(req.Header))
	for k, v := range req.Header {
		if len(v) > 0 {
			headers[k] = strings.Join(v, ", ")
		}
	}
	hr := protocol.HTTPRequest{Method: req.Method, URL: req.URL.String(), Headers: headers, Body: body}
	if t.Mode == ModeForward || t.Mode == ModeAuto && t.forwardOnly.Load() {
		return t.forward(req, hr)
	}
	signed, err := t.Agent.Sign(req.Context(), protocol.SignArgs{Credential: t.Credential, HTTPRequest: hr})
	if err != nil {
		if t.Mode == ModeAuto && protocol.HasCode(err, protocol.CodeForwardOnly) {
			t.forwardOnly.Store(true)
			return t.forward(req, hr)
		}
		return nil, fmt.Errorf("keyward: sign %s %s with %q: %w", req.Method, req.URL.Redacted(), t.Credential, err)
	}
	out, err := buildRequest(req, signed)
	if err != nil {
		return nil, err
	}
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(out)
}

// forward has the agent send hr and turns its answer into a response.
func (t *Transport) forward(req *http.Request, hr protocol.HTTPRequest) (*http.Response, error) {
	args := protocol.ForwardArgs{Credential: t.Credential, HTTPRequest: hr}
	if dl, ok := req.Context().Deadline(); ok {
		args.TimeoutMS = max(time.Until(dl).Milliseconds(), 1)
	}
	res, err := t.Agent.Forward(req.Context(), args)
	if err != nil {
		return nil, fmt.Errorf("keyward: forward %s %s with %q: %w", req.Method, req.URL.Redacted(), t.Credential, err)
	}
	return buildResponse(req, res)
}

// buildResponse makes an http.Response of the agent's answer.
func buildResponse(req *http.Request, res *protocol.HTTPResponse) (*http.Response, error) {
	body := []byte(res.Body)
	if res.BodyEncoding == "base64" {
		d, err := base64.StdEncoding.DecodeString(res.Body)
		if err != nil {
			return nil, fmt.Errorf("keyward: the agent sent a body that is not base64: %w", err)
		}
		body = d
	}
	h := make(http.Header, len(res.Headers))
	for k, v := range res.Headers {
		if http.CanonicalHeaderKey(k) == "Set-Cookie" {
			for c := range strings.SplitSeq(v, "\n") {
				h.Add(k, c)
			}
			continue
		}
		h.Set(k, v)
	}
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", res.Status, http.StatusText(res.Status)),
		StatusCode:    res.Status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}, nil
}

func readBody(req *http.Request) (string, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return "", nil
	}
	defer req.Body.Close()
	b, err := io.ReadAll(io.LimitReader(req.Body, protocol.MaxFrameSize+1))
	if err != nil {
		return "", fmt.Errorf("keyward: read request body: %w", err)
	}
	if len(b) > protocol.MaxFrameSize-4096 {
		return "", errors.New("keyward: request body too large to sign (the limit is just under 1 MiB)")
	}
	return string(b), nil
}

// buildRequest makes the request to send from the agent's answer, on a
// clone of the original so the caller's request is left as it was.
func buildRequest(orig *http.Request, s *protocol.HTTPRequest) (*http.Request, error) {
	u, err := url.Parse(s.URL)
	if err != nil {
		return nil, fmt.Errorf("keyward: agent returned a malformed URL: %w", err)
	}
	out := orig.Clone(orig.Context())
	out.Method = s.Method
	out.URL = u
	out.Host = ""
	for k, v := range s.Headers {
		out.Header.Set(k, v)
	}
	body := s.Body
	out.ContentLength = int64(len(body))
	if len(body) == 0 {
		out.Body = http.NoBody
		out.GetBody = func() (io.ReadCloser, error) { return http.NoBody, nil }
	} else {
		out.Body = io.NopCloser(strings.NewReader(body))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil }
	}
	return out, nil
}
