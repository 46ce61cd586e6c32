package protocol

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"testing"
)

// FuzzReadFrame feeds arbitrary bytes to the frame reader and the request
// decoder, as a hostile client would. Neither may panic, a frame may never
// exceed the limit, and every decoded request must survive Handle.
func FuzzReadFrame(f *testing.F) {
	f.Add(frame(`{"id":1,"op":"hello","args":{"version":1}}`))
	f.Add(frame(`{"id":2,"op":"sign","args":{"credential":"main","method":"GET","url":"https://api.binance.com/api/v3/account"}}`))
	f.Add(frame(`{"id":3,"op":"unlock","args":{"passphrase":"c2VjcmV0"}}`))
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		for {
			body, err := ReadFrame(r, nil)
			if err != nil {
				var fse *FrameSizeError
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.As(err, &fse) {
					t.Fatalf("unexpected error type %T: %v", err, err)
				}
				return
			}
			if len(body) == 0 || len(body) > MaxFrameSize {
				t.Fatalf("frame of %d bytes returned", len(body))
			}
			req, err := DecodeRequest(body)
			if err != nil {
				if CodeOf(err) == CodeInternal {
					t.Fatalf("decode error without a code: %v", err)
				}
				continue
			}
			reply := Handle(context.Background(), nopAgent{}, req)
			if _, err := json.Marshal(reply); err != nil {
				t.Fatalf("reply does not encode: %v", err)
			}
		}
	})
}

// nopAgent answers every operation with an error, so Handle's argument
// decoding is exercised without an agent behind it.
type nopAgent struct{ recorder }

func (nopAgent) Hello(context.Context, HelloArgs) (*HelloResult, error) { return &HelloResult{}, nil }
func (nopAgent) Status(context.Context) (*StatusResult, error)          { return &StatusResult{}, nil }
func (nopAgent) Unlock(context.Context, UnlockArgs) (*UnlockResult, error) {
	return nil, Errorf(CodeWrongPassphrase, "no")
}
func (nopAgent) Lock(context.Context) error { return nil }
func (nopAgent) Add(context.Context, AddArgs) (*CredentialInfo, error) {
	return nil, Errorf(CodeLocked, "locked")
}
func (nopAgent) List(context.Context) (*ListResult, error)          { return &ListResult{}, nil }
func (nopAgent) Remove(context.Context, RemoveArgs) error           { return nil }
func (nopAgent) ChangePassphrase(context.Context, PasswdArgs) error { return nil }
func (nopAgent) Sign(context.Context, SignArgs) (*HTTPRequest, error) {
	return nil, Errorf(CodeLocked, "locked")
}
