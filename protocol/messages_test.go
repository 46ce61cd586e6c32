package protocol

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSecretJSON(t *testing.T) {
	var args UnlockArgs
	require.NoError(t, json.Unmarshal([]byte(`{"passphrase":"Y29ycmVjdCBob3JzZQ=="}`), &args))
	assert.Equal(t, "correct horse", string(args.Passphrase))

	out, err := json.Marshal(UnlockArgs{Passphrase: Secret("correct horse")})
	require.NoError(t, err)
	assert.JSONEq(t, `{"passphrase":"Y29ycmVjdCBob3JzZQ=="}`, string(out))

	args.Passphrase.Wipe()
	assert.Equal(t, make([]byte, len("correct horse")), []byte(args.Passphrase))
}

func TestSecretRefusals(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"passphrase":"Y29y\/cmVjdA=="}`, "protocol: a secret must be a plain base64 string without JSON escapes"},
		{`{"passphrase":"not base64!"}`, "protocol: a secret must be standard base64 (RFC 4648, with padding)"},
		{`{"passphrase":12}`, "protocol: a secret must be a base64 string"},
	} {
		var args UnlockArgs
		err := json.Unmarshal([]byte(tc.in), &args)
		assert.EqualError(t, err, tc.want, tc.in)
		assert.NotContains(t, err.Error(), "base64!", "the input is not quoted back")
	}
}

func TestDecodeRequestAliasesBody(t *testing.T) {
	body := []byte(`{"id":7,"op":"unlock","args":{"passphrase":"c2VjcmV0"}}`)
	req, err := DecodeRequest(body)
	require.NoError(t, err)
	assert.Equal(t, uint64(7), req.ID)
	assert.Equal(t, OpUnlock, req.Op)
	clear(body)
	assert.Equal(t, make([]byte, len(req.Args)), []byte(req.Args), "wiping the frame wipes the arguments")
}

func TestDecodeRequestErrors(t *testing.T) {
	for _, tc := range []struct {
		in   string
		code Code
		msg  string
	}{
		{`not json`, CodeBadFrame, "frame is not a JSON request object: invalid JSON at byte 2"},
		{`[1,2]`, CodeBadFrame, "frame is not a JSON request object: expected a JSON object"},
		{`{"id":"x","op":"status"}`, CodeBadFrame, `frame is not a JSON request object: field "id" must be a JSON number`},
		{`{"id":3}`, CodeBadRequest, `request 3 has no "op"`},
	} {
		_, err := DecodeRequest([]byte(tc.in))
		require.Error(t, err, tc.in)
		assert.Equal(t, tc.code, CodeOf(err), tc.in)
		assert.Equal(t, tc.msg, err.Error(), tc.in)
	}
}

// recorder is an Agent that records what reached it.
type recorder struct {
	Agent
	signed  SignArgs
	pass    Secret
	signErr error
}

func (r *recorder) Sign(_ context.Context, a SignArgs) (*HTTPRequest, error) {
	r.signed = a
	if r.signErr != nil {
		return nil, r.signErr
	}
	return &HTTPRequest{Method: a.Method, URL: a.URL + "&signature=00", Headers: map[string]string{"X-Key": "k"}}, nil
}

func (r *recorder) Unlock(_ context.Context, a UnlockArgs) (*UnlockResult, error) {
	r.pass = a.Passphrase
	return &UnlockResult{Credentials: 2}, nil
}

func TestHandle(t *testing.T) {
	ctx := context.Background()
	r := &recorder{}

	reply := Handle(ctx, r, &Request{ID: 4, Op: OpSign, Args: json.RawMessage(`{"credential":"main","method":"GET","url":"https://x/?a=1"}`)})
	require.Nil(t, reply.Error)
	assert.Equal(t, uint64(4), reply.ID)
	assert.JSONEq(t, `{"method":"GET","url":"https://x/?a=1&signature=00","headers":{"X-Key":"k"}}`, string(reply.Result))
	assert.Equal(t, "main", r.signed.Credential)

	reply = Handle(ctx, r, &Request{ID: 5, Op: OpUnlock, Args: json.RawMessage(`{"passphrase":"c2VjcmV0"}`)})
	require.Nil(t, reply.Error)
	assert.Equal(t, make([]byte, 6), []byte(r.pass), "the decoded passphrase is wiped once the call returns")

	reply = Handle(ctx, r, &Request{ID: 6, Op: OpSign, Args: json.RawMessage(`{"credential":"main","metod":"GET"}`)})
	require.NotNil(t, reply.Error)
	assert.Equal(t, CodeBadRequest, reply.Error.Code)
	assert.Equal(t, `bad "sign" arguments: json: unknown field "metod"`, reply.Error.Message)

	reply = Handle(ctx, r, &Request{ID: 7, Op: "frobnicate"})
	assert.Equal(t, CodeUnsupported, reply.Error.Code)
	assert.Contains(t, reply.Error.Message, `unknown operation "frobnicate"`)

	r.signErr = Errorf(CodeLocked, "the agent is locked: run `keyward unlock`")
	reply = Handle(ctx, r, &Request{ID: 8, Op: OpSign, Args: json.RawMessage(`{}`)})
	assert.Equal(t, &Error{Code: CodeLocked, Message: "the agent is locked: run `keyward unlock`"}, reply.Error)

	r.signErr = errors.New("open /secret/path: key=hunter2")
	reply = Handle(ctx, r, &Request{ID: 9, Op: OpSign, Args: json.RawMessage(`{}`)})
	assert.Equal(t, CodeInternal, reply.Error.Code)
	assert.NotContains(t, reply.Error.Message, "hunter2", "internal errors do not reach the wire")
}

func TestSocketPath(t *testing.T) {
	assert.Equal(t, "/run/keyward/agent.sock", DefaultSocketPath(0, "/run/user/0"))
	assert.Equal(t, "/run/user/1000/keyward/agent.sock", DefaultSocketPath(1000, "/run/user/1000"))
	assert.Contains(t, DefaultSocketPath(1000, ""), "keyward-1000/agent.sock")
	t.Setenv(SocketEnv, "/tmp/x.sock")
	assert.Equal(t, "/tmp/x.sock", SocketPath())
}
