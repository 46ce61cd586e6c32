package verify

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"time"
)

// deribit checks Deribit API v2 REST requests as
// https://docs.deribit.com/#authentication documents:
//
//	Authorization: deri-hmac-sha256 id=ClientId,ts=Timestamp,sig=Signature,nonce=Nonce
//
// Signature = hex(HMAC-SHA256(client secret, Timestamp + "\n" + Nonce +
// "\n" + RequestData)), RequestData = UPPERCASE(method) + "\n" + URI + "\n"
// + body + "\n", URI being the path with '?' and the query string when
// there is one. Timestamp is in milliseconds and must be within 60 seconds
// of the server's time. The nonce is a single-use string, not an ordered
// one, so Verdict.Nonce is 0.
func deribit() Venue {
	return Venue{
		Name:  "deribit",
		Hosts: []string{"www.deribit.com", "test.deribit.com"},
		Key: func(r *Request) (string, error) {
			f, err := deribitAuth(r)
			if err != nil {
				return "", fmt.Errorf("deribit: %w", err)
			}
			return f["id"], nil
		},
		Verify: func(r *Request, a Account) (Verdict, error) {
			f, err := deribitAuth(r)
			if err != nil {
				return Verdict{}, fmt.Errorf("deribit: %w", err)
			}
			if !equalString(f["id"], a.APIKey) {
				return Verdict{}, errors.New("deribit: client id does not match the account")
			}
			ms, err := parseInt("ts", f["ts"])
			if err != nil {
				return Verdict{}, fmt.Errorf("deribit: Authorization %w", err)
			}
			data := r.Method + "\n" + pathQuery(r) + "\n" + string(r.Body) + "\n"
			msg := f["ts"] + "\n" + f["nonce"] + "\n" + data
			if !equalHex(f["sig"], mac(sha256.New, a.Secret, []byte(msg))) {
				return Verdict{}, fmt.Errorf("deribit: %w", errSignature)
			}
			ts := time.UnixMilli(ms)
			if err := checkWindow(ts, r.Now, 60*time.Second, 60*time.Second); err != nil {
				return Verdict{}, fmt.Errorf("deribit: %w", err)
			}
			return Verdict{APIKey: f["id"], Time: ts}, nil
		},
	}
}

// deribitAuth reads the fields of the deri-hmac-sha256 Authorization.
func deribitAuth(r *Request) (map[string]string, error) {
	v, err := header(r.Header, "Authorization")
	if err != nil {
		return nil, err
	}
	rest, ok := strings.CutPrefix(v, "deri-hmac-sha256 ")
	if !ok {
		return nil, errors.New("header Authorization is not deri-hmac-sha256")
	}
	f := make(map[string]string, 4)
	for p := range strings.SplitSeq(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok {
			return nil, fmt.Errorf("field %q of header Authorization is not name=value", clip(p))
		}
		if _, dup := f[k]; dup {
			return nil, fmt.Errorf("field %s of header Authorization given twice", clip(k))
		}
		f[k] = val
	}
	for _, k := range []string{"id", "ts", "sig", "nonce"} {
		if f[k] == "" {
			return nil, fmt.Errorf("header Authorization lacks %s=", k)
		}
	}
	return f, nil
}
