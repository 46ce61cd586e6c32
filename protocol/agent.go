package protocol

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Agent is the seam of keyward: the daemon implements it over its keyring
// and vault, the client implements it over a socket, and one conformance
// suite (package protocol/agenttest) runs against both.
//
// Who is asking travels in ctx; an implementation that cannot tell refuses.
type Agent interface {
	Hello(ctx context.Context, args HelloArgs) (*HelloResult, error)
	Status(ctx context.Context) (*StatusResult, error)
	Unlock(ctx context.Context, args UnlockArgs) (*UnlockResult, error)
	Lock(ctx context.Context) error
	Add(ctx context.Context, args AddArgs) (*CredentialInfo, error)
	List(ctx context.Context) (*ListResult, error)
	Remove(ctx context.Context, args RemoveArgs) error
	Sign(ctx context.Context, args SignArgs) (*HTTPRequest, error)
	Forward(ctx context.Context, args ForwardArgs) (*HTTPResponse, error)
	ChangePassphrase(ctx context.Context, args PasswdArgs) error
	Rotate(ctx context.Context, args RotateArgs) (*CredentialInfo, error)
}

// DecodeRequest parses a request frame body. An error with CodeBadFrame
// means the body was not a JSON request object at all.
//
// req.Args aliases body rather than copying it, so that the caller, by
// wiping body once the request is handled, wipes the only copy of any
// secret the arguments carried.
func DecodeRequest(body []byte) (*Request, error) {
	if id, op, args, ok := fastRequest(body); ok && op == OpSign {
		// One allocation for the request and its arguments.
		sr := new(struct {
			req  Request
			args SignArgs
		})
		if fastSignArgs(args, &sr.args) {
			sr.req = Request{ID: id, Op: op, Args: args, sign: &sr.args}
			return &sr.req, nil
		}
	}
	return decodeRequestJSON(body)
}

// decodeRequestJSON is DecodeRequest through encoding/json.
func decodeRequestJSON(body []byte) (*Request, error) {
	var w struct {
		ID   uint64   `json:"id"`
		Op   string   `json:"op"`
		Args aliasRaw `json:"args"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, Errorf(CodeBadFrame, "frame is not a JSON request object: %s", jsonProblem(err))
	}
	req := &Request{ID: w.ID, Op: w.Op, Args: json.RawMessage(w.Args)}
	if req.Op == "" {
		return req, Errorf(CodeBadRequest, "request %d has no \"op\"", req.ID)
	}
	return req, nil
}

// aliasRaw is a json.RawMessage that keeps the decoder's slice of the input
// instead of copying it.
type aliasRaw []byte

func (a *aliasRaw) UnmarshalJSON(b []byte) error { *a = b; return nil }

// EncodeReply returns the JSON body of a reply frame.
func EncodeReply(r *Reply) ([]byte, error) { return AppendReply(nil, r) }

// AppendReply appends the JSON body of a reply frame to dst. Result is
// already JSON (Handle made it with Marshal), so it is copied, not parsed
// again; the envelope is written by hand, as encoding/json would.
func AppendReply(dst []byte, r *Reply) ([]byte, error) {
	dst = append(dst, `{"id":`...)
	dst = strconv.AppendUint(dst, r.ID, 10)
	if r.Result != nil {
		dst = append(dst, `,"result":`...)
		dst = append(dst, r.Result...)
	}
	if r.Error != nil {
		e, err := Marshal(r.Error)
		if err != nil {
			return dst, err
		}
		dst = append(dst, `,"error":`...)
		dst = append(dst, e...)
	}
	return append(dst, '}'), nil
}

// Marshal encodes v as the protocol writes JSON: like json.Marshal but
// without HTML escaping, so a URL's "&" travels as "&", not "\u0026".
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// ErrorReply builds the reply for err. Errors that are not *Error become
// CodeInternal with a fixed message, because their text may say more than
// a peer should see; the caller logs the original.
func ErrorReply(id uint64, err error) *Reply {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Code: CodeInternal, Message: "internal error in the agent: see the agent's log"}
	}
	return &Reply{ID: id, Error: e}
}

// Handle decodes req's arguments, calls the matching method of a, and
// encodes the reply. It is the whole of the server's per-request work
// between reading a frame and writing one.
func Handle(ctx context.Context, a Agent, req *Request) *Reply {
	result, err := dispatch(ctx, a, req)
	if err != nil {
		return ErrorReply(req.ID, err)
	}
	if r, ok := result.(*HTTPRequest); ok && r != nil {
		// Sized for the usual reply, so that it is built in one allocation,
		// with the Reply in the same one.
		n := 64 + len(r.Method) + len(r.URL) + len(r.Body)
		for k, v := range r.Headers {
			n += len(k) + len(v) + 8
		}
		rr := new(struct {
			reply Reply
			buf   [512]byte
		})
		dst := rr.buf[:0]
		if n > len(rr.buf) {
			dst = make([]byte, 0, n+n/8)
		}
		rr.reply = Reply{ID: req.ID, Result: appendHTTPRequest(dst, r)}
		return &rr.reply
	}
	raw, err := Marshal(result)
	if err != nil {
		return ErrorReply(req.ID, fmt.Errorf("protocol: encode %s result: %w", req.Op, err))
	}
	return &Reply{ID: req.ID, Result: raw}
}

func dispatch(ctx context.Context, a Agent, req *Request) (any, error) {
	switch req.Op {
	case OpHello:
		var args HelloArgs
		if err := decodeArgs(req, &args); err != nil {
			return nil, err
		}
		return a.Hello(ctx, args)
	case OpStatus:
		return a.Status(ctx)
	case OpUnlock:
		var args UnlockArgs
		defer func() { args.Passphrase.Wipe() }()
		if err := decodeSecretArgs(req, &args); err != nil {
			return nil, err
		}
		return a.Unlock(ctx, args)
	case OpLock:
		return Empty{}, a.Lock(ctx)
	case OpAdd:
		var args AddArgs
		defer func() { args.Secret.Wipe(); args.Passphrase.Wipe() }()
		if err := decodeSecretArgs(req, &args); err != nil {
			return nil, err
		}
		return a.Add(ctx, args)
	case OpList:
		return a.List(ctx)
	case OpRemove:
		var args RemoveArgs
		if err := decodeArgs(req, &args); err != nil {
			return nil, err
		}
		return Empty{}, a.Remove(ctx, args)
	case OpSign:
		if req.sign != nil {
			return a.Sign(ctx, *req.sign)
		}
		var args SignArgs
		if err := decodeArgs(req, &args); err != nil {
			return nil, err
		}
		return a.Sign(ctx, args)
	case OpForward:
		var args ForwardArgs
		if err := decodeArgs(req, &args); err != nil {
			return nil, err
		}
		return a.Forward(ctx, args)
	case OpRotate:
		var args RotateArgs
		defer func() { args.Secret.Wipe(); args.Passphrase.Wipe() }()
		if err := decodeSecretArgs(req, &args); err != nil {
			return nil, err
		}
		return a.Rotate(ctx, args)
	case OpPasswd:
		var args PasswdArgs
		defer func() { args.Passphrase.Wipe(); args.NewPassphrase.Wipe() }()
		if err := decodeSecretArgs(req, &args); err != nil {
			return nil, err
		}
		return Empty{}, a.ChangePassphrase(ctx, args)
	default:
		return nil, Errorf(CodeUnsupported, "unknown operation %q: this agent speaks %v", req.Op, Operations())
	}
}

// decodeArgs strictly decodes req.Args into v: unknown fields are refused
// so a misspelt field is an error rather than silently ignored.
func decodeArgs(req *Request, v any) error {
	if len(req.Args) == 0 || bytes.Equal(req.Args, []byte("null")) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(req.Args))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return Errorf(CodeBadRequest, "bad %q arguments: %s", req.Op, jsonProblem(err))
	}
	return nil
}

// decodeSecretArgs decodes arguments that carry a secret. json.Unmarshal
// reads its input in place, where a json.Decoder would buffer a copy that
// nobody could wipe; the price is that unknown fields are not refused, so
// the agent checks that required secrets are present.
func decodeSecretArgs(req *Request, v any) error {
	if len(req.Args) == 0 || bytes.Equal(req.Args, []byte("null")) {
		return nil
	}
	if err := json.Unmarshal(req.Args, v); err != nil {
		return Errorf(CodeBadRequest, "bad %q arguments: %s", req.Op, jsonProblem(err))
	}
	return nil
}

// jsonProblem describes a JSON decoding error without quoting input, which
// could be secret material.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		if strings.Contains(syn.Error(), "exceeded max depth") {
			return "JSON nested deeper than 10000 levels"
		}
		return fmt.Sprintf("invalid JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		if typ.Field != "" {
			// An embedded struct's fields are named on the wire without
			// the Go type's name (SignArgs embeds HTTPRequest).
			field := strings.TrimPrefix(typ.Field, "HTTPRequest.")
			return fmt.Sprintf("field %q must be a JSON %s", field, jsonKind(typ.Type.String()))
		}
		return fmt.Sprintf("expected a JSON %s", jsonKind(typ.Type.String()))
	case errors.Is(err, errSecretEscapes):
		return err.Error()
	}
	msg := err.Error()
	// Unknown-field errors name the field, which is safe; other messages
	// from encoding/json do not include input values.
	return msg
}

func jsonKind(goType string) string {
	switch goType {
	case "string", "protocol.Secret":
		return "string"
	case "uint64", "int", "int64", "uint32":
		return "number"
	case "bool":
		return "boolean"
	}
	if strings.HasPrefix(goType, "map") || strings.HasPrefix(goType, "struct") || strings.HasPrefix(goType, "protocol.") {
		return "object"
	}
	if strings.HasPrefix(goType, "[]") {
		return "array"
	}
	return "value of type " + goType
}
