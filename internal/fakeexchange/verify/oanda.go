package verify

import (
	"errors"
	"fmt"
	"strings"
)

// oanda checks OANDA v20 REST and streaming requests as
// https://developer.oanda.com/rest-live-v20/authentication/ documents:
// "Authorization: Bearer <token>" on every request, the personal access
// token itself, no signature and no timestamp.
//
// The token names no account, so Key returns an identity derived from it,
// "tok:" and the first 16 hex digits of its SHA-256 (see AccountKeys): the
// server registers an oanda account under AccountKeys("oanda", a), not
// under a.APIKey. Account.APIKey is the v20 account id
// (101-004-1234567-001); a path under /v3/accounts/{id}/ must name it,
// since the fake account owns that one account. Verdict.APIKey is the
// account id.
func oanda() Venue {
	return Venue{
		Name: "oanda",
		Hosts: []string{
			"api-fxpractice.oanda.com", "api-fxtrade.oanda.com",
			"stream-fxpractice.oanda.com", "stream-fxtrade.oanda.com",
		},
		Key: func(r *Request) (string, error) {
			tok, err := oandaToken(r)
			if err != nil {
				return "", fmt.Errorf("oanda: %w", err)
			}
			return tokenKey([]byte(tok)), nil
		},
		Verify: func(r *Request, a Account) (Verdict, error) {
			tok, err := oandaToken(r)
			if err != nil {
				return Verdict{}, fmt.Errorf("oanda: %w", err)
			}
			if len(a.Secret) == 0 || !equalString(tok, string(a.Secret)) {
				return Verdict{}, errors.New("oanda: bearer token mismatch")
			}
			segs := strings.Split(r.Path, "/")
			if len(segs) > 3 && segs[1] == "v3" && segs[2] == "accounts" && segs[3] != a.APIKey {
				return Verdict{}, fmt.Errorf("oanda: path names account %q, not this token's account %s", clip(segs[3]), a.APIKey)
			}
			return Verdict{APIKey: a.APIKey}, nil
		},
	}
}

// oandaToken reads the token from "Authorization: Bearer <token>".
func oandaToken(r *Request) (string, error) {
	v, err := header(r.Header, "Authorization")
	if err != nil {
		return "", err
	}
	tok, ok := strings.CutPrefix(v, "Bearer ")
	if !ok || tok == "" {
		return "", errors.New("header Authorization is not \"Bearer <token>\"")
	}
	return tok, nil
}
