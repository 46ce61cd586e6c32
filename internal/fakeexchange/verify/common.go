package verify

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// header returns the one value of header name, or an error naming it when
// it is missing, empty or sent more than once.
func header(h http.Header, name string) (string, error) {
	vs := h.Values(name)
	switch {
	case len(vs) == 0 || (len(vs) == 1 && vs[0] == ""):
		return "", fmt.Errorf("missing header %s", name)
	case len(vs) > 1:
		return "", fmt.Errorf("header %s sent %d times", name, len(vs))
	}
	return vs[0], nil
}

// mac returns the HMAC of the parts under key.
func mac(h func() hash.Hash, key []byte, parts ...[]byte) []byte {
	m := hmac.New(h, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// equalHex compares a hex signature as sent with the expected digest.
// Hex digits of either case are accepted, as a hex decoder would.
func equalHex(sent string, want []byte) bool {
	got, err := hex.DecodeString(sent)
	if err != nil {
		return false
	}
	return hmac.Equal(got, want)
}

// equalString compares two strings in constant time.
func equalString(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

var errSignature = errors.New("signature mismatch")

// parseInt reads a decimal integer field, naming it in the error.
func parseInt(name, s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || (len(s) > 1 && s[0] == '0') || s[0] == '+' {
		return 0, fmt.Errorf("%s %q is not a decimal integer", name, clip(s))
	}
	return n, nil
}

// clip shortens a value quoted in an error: request values are the bot's,
// never a secret, but they can be long.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// checkWindow refuses a timestamp more than behind before now or more than
// ahead after it. A zero ahead allows no clock lead.
func checkWindow(ts, now time.Time, behind, ahead time.Duration) error {
	d := now.Sub(ts)
	switch {
	case d > behind:
		return fmt.Errorf("timestamp %s behind the exchange's clock, outside the %s window", fmtDur(d), fmtDur(behind))
	case -d > ahead:
		return fmt.Errorf("timestamp %s ahead of the exchange's clock, outside the %s window (in the future)", fmtDur(-d), fmtDur(ahead))
	}
	return nil
}

// fmtDur writes d in seconds or milliseconds.
func fmtDur(d time.Duration) string {
	if d%time.Second == 0 || d >= 10*time.Second {
		return strconv.FormatFloat(math.Round(d.Seconds()*10)/10, 'f', -1, 64) + " s"
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + " ms"
}

// isPEM reports whether secret looks like a PEM block.
func isPEM(secret []byte) bool {
	return strings.HasPrefix(strings.TrimSpace(string(secret)), "-----BEGIN ")
}

// publicKey reads a PEM private key (PKCS#8, PKCS#1 RSA or SEC 1 EC) and
// returns its public half: *rsa.PublicKey, ed25519.PublicKey or
// *ecdsa.PublicKey. Errors never quote the key.
func publicKey(secret []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode([]byte(strings.TrimSpace(string(secret))))
	if block == nil {
		return nil, errors.New("account secret is not a PEM key")
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		switch k := k.(type) {
		case *rsa.PrivateKey:
			return &k.PublicKey, nil
		case ed25519.PrivateKey:
			return k.Public(), nil
		case *ecdsa.PrivateKey:
			return &k.PublicKey, nil
		}
		return nil, fmt.Errorf("account secret is a %T, not an RSA, Ed25519 or EC key", k)
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return &k.PublicKey, nil
	}
	if k, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
		return &k.PublicKey, nil
	}
	if k, err := x509.ParsePKIXPublicKey(block.Bytes); err == nil {
		return k, nil
	}
	return nil, fmt.Errorf("account secret: PEM block %q does not parse as a private key", block.Type)
}

// verifyRSAorEd25519 checks sig over msg with pub: RSASSA-PKCS1-v1_5 with
// SHA-256 for RSA, plain Ed25519 for Ed25519.
func verifyRSAorEd25519(pub crypto.PublicKey, msg, sig []byte) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		d := sha256.Sum256(msg)
		if rsa.VerifyPKCS1v15(k, crypto.SHA256, d[:], sig) != nil {
			return errSignature
		}
		return nil
	case ed25519.PublicKey:
		if !ed25519.Verify(k, msg, sig) {
			return errSignature
		}
		return nil
	}
	return fmt.Errorf("key type %T is not RSA or Ed25519", pub)
}

// tokenKey is the account key of a token venue: "tok:" and the first 16
// hex digits of the token's SHA-256, an identity that does not reveal it.
func tokenKey(token []byte) string {
	d := sha256.Sum256(token)
	return "tok:" + hex.EncodeToString(d[:8])
}

// equalBytes compares two byte strings in constant time.
func equalBytes(a, b []byte) bool {
	return subtle.ConstantTimeCompare(a, b) == 1
}
