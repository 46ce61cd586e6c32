package verify

import (
	"errors"
	"fmt"
)

// alpaca checks Alpaca Trading and Market Data API requests as
// https://docs.alpaca.markets/docs/authentication documents: the key id in
// APCA-API-KEY-ID and the secret key itself, in clear, in
// APCA-API-SECRET-KEY. There is no signature and no timestamp.
func alpaca() Venue {
	return Venue{
		Name:  "alpaca",
		Hosts: []string{"api.alpaca.markets", "paper-api.alpaca.markets", "data.alpaca.markets"},
		Key: func(r *Request) (string, error) {
			return header(r.Header, "APCA-API-KEY-ID")
		},
		Verify: func(r *Request, a Account) (Verdict, error) {
			key, err := header(r.Header, "APCA-API-KEY-ID")
			if err != nil {
				return Verdict{}, fmt.Errorf("alpaca: %w", err)
			}
			if !equalString(key, a.APIKey) {
				return Verdict{}, errors.New("alpaca: API key does not match the account")
			}
			secret, err := header(r.Header, "APCA-API-SECRET-KEY")
			if err != nil {
				return Verdict{}, fmt.Errorf("alpaca: %w", err)
			}
			if len(a.Secret) == 0 || !equalString(secret, string(a.Secret)) {
				return Verdict{}, errors.New("alpaca: secret key mismatch")
			}
			return Verdict{APIKey: key}, nil
		},
	}
}
