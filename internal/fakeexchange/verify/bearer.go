package verify

import (
	"errors"
	"fmt"
)

// bearer checks keyward's generic forward-only token scheme: the header
// Account.Meta["header"] (default Authorization) must carry
// Account.Meta["prefix"] (default "Bearer "; an empty prefix given
// explicitly means the token alone) followed by the token, Account.Secret.
// The API key is a label and is not sent.
//
// The scheme has no hosts of its own, and nothing in the request names the
// account (the header it uses is per-credential), so Key returns
// "host:"+r.Host: the server maps hosts with its own table and registers a
// bearer account under AccountKeys("bearer", a), one key per host in
// a.Meta["hosts"] (comma-separated, as in keyward's credential metadata).
// Verdict.APIKey is a.APIKey.
func bearer() Venue {
	return Venue{
		Name: "bearer",
		Key:  hostKey,
		Verify: func(r *Request, a Account) (Verdict, error) {
			name := a.Meta["header"]
			if name == "" {
				name = "Authorization"
			}
			prefix, ok := a.Meta["prefix"]
			if !ok {
				prefix = "Bearer "
			}
			v, err := header(r.Header, name)
			if err != nil {
				return Verdict{}, fmt.Errorf("bearer: %w", err)
			}
			if len(a.Secret) == 0 || !equalString(v, prefix+string(a.Secret)) {
				return Verdict{}, fmt.Errorf("bearer: header %s does not carry the account's token", name)
			}
			return Verdict{APIKey: a.APIKey}, nil
		},
	}
}

// hostKey is Key for the generic venues, which have no hosts of their own.
func hostKey(r *Request) (string, error) {
	if r.Host == "" {
		return "", errors.New("request has no host")
	}
	return "host:" + r.Host, nil
}
