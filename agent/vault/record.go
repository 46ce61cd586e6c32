package vault

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
	"unicode/utf8"
)

// Record is a credential's metadata: everything about it except the secret.
// It is stored in clear in the vault file and authenticated by Unlock.
type Record struct {
	Name   string            // 1–64 of [A-Za-z0-9._-], starting with a letter or digit
	Scheme string            // the signing scheme, e.g. "binance-hmac"
	APIKey string            // the public half the exchange sees, may be empty
	Meta   map[string]string // free-form, e.g. {"exchange": "binance"}
	// Created and Rotated are UTC with second precision.
	Created, Rotated time.Time
	Version          uint32 // starts at 1
}

// Limits on what a record may hold, so one line stays under maxLine.
const (
	MaxNameLen      = 64
	MaxSchemeLen    = 64
	MaxAPIKeyLen    = 16 << 10
	MaxMetaEntries  = 64
	MaxMetaKeyLen   = 128
	MaxMetaValueLen = 1024
	MaxSecretSize   = 64 << 10
)

const timeLayout = "2006-01-02T15:04:05Z" // RFC 3339, UTC, seconds

func (r Record) clone() Record {
	r.Meta = maps.Clone(r.Meta)
	if r.Meta == nil {
		r.Meta = map[string]string{}
	}
	return r
}

// ValidName reports whether name can name a credential, and if not, says why
// in words a person can act on.
func ValidName(name string) error {
	const rule = "use 1–64 letters, digits, '.', '_' or '-', starting with a letter or digit"
	if name == "" {
		return fmt.Errorf("credential name is empty: %s", rule)
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("credential name is %d characters long: %s", len(name), rule)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if i == 0 && !alnum {
			return fmt.Errorf("credential name %s: %s", describeChar(name, i, "starts with"), rule)
		}
		if !alnum && c != '.' && c != '_' && c != '-' {
			return fmt.Errorf("credential name %s: %s", describeChar(name, i, "has"), rule)
		}
	}
	return nil
}

// describeChar names the offending character without echoing the whole
// string, in case someone pasted a secret where a name belongs.
func describeChar(s string, i int, verb string) string {
	if c := s[i]; c > ' ' && c < 0x7f {
		return fmt.Sprintf("%s %q at position %d", verb, c, i+1)
	}
	return fmt.Sprintf("%s a space, control or non-ASCII character at position %d", verb, i+1)
}

// validText accepts valid UTF-8 without control characters, so the record's
// JSON needs no escapes beyond \" and \\ and round-trips byte for byte.
func validText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

func (r *Record) validate() error {
	if err := ValidName(r.Name); err != nil {
		return err
	}
	if r.Scheme == "" || len(r.Scheme) > MaxSchemeLen {
		return fmt.Errorf("credential %s: scheme must be 1–%d characters", r.Name, MaxSchemeLen)
	}
	for i := 0; i < len(r.Scheme); i++ {
		if r.Scheme[i] <= ' ' || r.Scheme[i] >= 0x7f {
			return fmt.Errorf("credential %s: scheme %s: use printable ASCII without spaces", r.Name, describeChar(r.Scheme, i, "has"))
		}
	}
	if len(r.APIKey) > MaxAPIKeyLen || !validText(r.APIKey) {
		return fmt.Errorf("credential %s: api key must be at most %d bytes of UTF-8 text without control characters", r.Name, MaxAPIKeyLen)
	}
	if len(r.Meta) > MaxMetaEntries {
		return fmt.Errorf("credential %s: %d metadata entries, the limit is %d", r.Name, len(r.Meta), MaxMetaEntries)
	}
	for _, k := range slices.Sorted(maps.Keys(r.Meta)) {
		if k == "" || len(k) > MaxMetaKeyLen || !validText(k) {
			return fmt.Errorf("credential %s: metadata keys must be 1–%d bytes of UTF-8 text without control characters", r.Name, MaxMetaKeyLen)
		}
		if v := r.Meta[k]; len(v) > MaxMetaValueLen || !validText(v) {
			return fmt.Errorf("credential %s: metadata %q: values must be at most %d bytes of UTF-8 text without control characters", r.Name, k, MaxMetaValueLen)
		}
	}
	if r.Version < 1 {
		return fmt.Errorf("credential %s: version must be at least 1", r.Name)
	}
	for _, t := range []time.Time{r.Created, r.Rotated} {
		if t.Year() < 1 || t.Year() > 9999 {
			return errors.New("credential " + r.Name + ": created and rotated times must be set, between years 1 and 9999")
		}
	}
	return nil
}
