package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/keyward/keyward/protocol"
)

// Signer is the part of protocol.Agent that Transport needs.
type Signer interface {
	Sign(ctx context.Context, args protocol.SignArgs) (*protocol.HTTPRequest, error)
}

// Transport is an http.RoundTripper that has every request signed by the
// agent with one credential before sending it through Base. A Go bot
// switches to keyward by setting its http.Client's Transport:
//
//	c, _ := client.Dial("")
//	httpClient := &http.Client{Transport: &client.Transport{Agent: c, Credential: "binance-main"}}
type Transport struct {
	Agent      Signer
	Credential string
	// Base sends the signed request; nil means http.DefaultTransport.
	Base http.RoundTripper
}

// RoundTrip signs req with the agent and sends the signed request. The
// request body is read whole (it must fit in one protocol frame).
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := readBody(req)
	if err != nil {
		return nil, err
	}
	headers := make(map[string]string, len(req.Header))
	for k, v := range req.Header {
		if len(v) > 0 {
			headers[k] = v[0]
		}
	}
	signed, err := t.Agent.Sign(req.Context(), protocol.SignArgs{
		Credential:  t.Credential,
		HTTPRequest: protocol.HTTPRequest{Method: req.Method, URL: req.URL.String(), Headers: headers, Body: body},
	})
	if err != nil {
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
