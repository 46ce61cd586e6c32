package scheme

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"slices"
	"strings"

	"github.com/keyward/keyward/internal/erase"
)

// This file turns the private keys venues issue (PEM files) into the form
// the agent stores, and signs with them. Every function that touches a
// parsed key runs under erase.Do: the standard library expands keys into
// ordinary Go memory (big integers, Ed25519's expanded scalar) that nothing
// else wipes.

// isPEM reports whether secret looks like PEM text rather than a raw secret.
func isPEM(secret []byte) bool {
	return bytes.Contains(secret, []byte("-----BEGIN "))
}

// checkPEMKey parses a PEM private key for venue, accepting only the key
// types in allowed, and returns it in stored form: PKCS#8 DER for RSA and
// ECDSA, seed || public key (64 bytes) for Ed25519. pkcs8Only refuses
// PKCS#1 RSA and SEC 1 EC keys with the openssl command that converts
// them, for venues that document PKCS#8 alone.
func checkPEMKey(venue string, secret []byte, pkcs8Only bool, allowed ...string) (Checked, error) {
	var (
		out Checked
		err error
	)
	erase.Do(func() { out, err = checkPEMKeyErased(venue, secret, pkcs8Only, allowed) })
	return out, err
}

func checkPEMKeyErased(venue string, secret []byte, pkcs8Only bool, allowed []string) (Checked, error) {
	block, rest := pem.Decode(bytes.TrimSpace(secret))
	if block == nil {
		return Checked{}, badRequest(venue + ": the key is not valid PEM: give the whole file, from -----BEGIN to -----END")
	}
	defer clear(block.Bytes)
	if len(bytes.TrimSpace(rest)) > 0 {
		return Checked{}, badRequest(venue + ": the key file holds more than one PEM block: give the private key alone")
	}
	// A legacy encrypted PEM block (RFC 1423) says so in its headers.
	if strings.Contains(block.Headers["Proc-Type"], "ENCRYPTED") || block.Type == "ENCRYPTED PRIVATE KEY" {
		return Checked{}, badRequest(venue + ": the private key is encrypted: decrypt it first (openssl pkey -in key.pem -out plain.pem); the vault encrypts it at rest")
	}
	var key any
	switch block.Type {
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return Checked{}, badRequest(fmt.Sprintf("%s: the PKCS#8 private key does not parse (%s)", venue, keyParseReason(err)))
		}
		key = k
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return Checked{}, badRequest(venue + ": the PKCS#1 RSA private key does not parse")
		}
		if pkcs8Only {
			return Checked{}, badRequest(venue + ": this is a PKCS#1 RSA key (BEGIN RSA PRIVATE KEY), and the venue wants PKCS#8: convert it with `openssl pkcs8 -topk8 -nocrypt -in key.pem -out key-pkcs8.pem` and add that file")
		}
		key = k
	case "EC PRIVATE KEY":
		k, err := x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			return Checked{}, badRequest(venue + ": the EC private key does not parse (only P-256 is supported)")
		}
		if pkcs8Only {
			return Checked{}, badRequest(venue + ": this is a SEC 1 EC key (BEGIN EC PRIVATE KEY), and the venue wants PKCS#8: convert it with `openssl pkcs8 -topk8 -nocrypt -in key.pem -out key-pkcs8.pem`")
		}
		key = k
	case "PUBLIC KEY", "RSA PUBLIC KEY", "CERTIFICATE":
		return Checked{}, badRequest(fmt.Sprintf("%s: this is a %s, not a private key: give the private key file; the venue holds the public one", venue, block.Type))
	default:
		return Checked{}, badRequest(fmt.Sprintf("%s: a PEM block of type %q is not a private key keyward knows", venue, block.Type))
	}

	var typ string
	switch k := key.(type) {
	case *rsa.PrivateKey:
		typ = KeyRSA
		if k.N.BitLen() < 2048 {
			return Checked{}, badRequest(fmt.Sprintf("%s: the RSA key has %d bits; venues require at least 2048", venue, k.N.BitLen()))
		}
	case ed25519.PrivateKey:
		typ = KeyEd25519
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return Checked{}, badRequest(fmt.Sprintf("%s: the EC key is on %s; only P-256 (ES256) is supported", venue, k.Curve.Params().Name))
		}
		typ = KeyECDSAP256
	default:
		return Checked{}, badRequest(fmt.Sprintf("%s: a %T key is not one keyward signs with", venue, key))
	}
	if !slices.Contains(allowed, typ) {
		return Checked{}, badRequest(fmt.Sprintf("%s: this is an %s key; the venue's keys are %v", venue, typ, allowed))
	}
	switch k := key.(type) {
	case ed25519.PrivateKey:
		// x509 derives the public half from the seed, so the two match;
		// check anyway, since ed25519Sign trusts the stored public half
		// (a wrong one would leak the key through its signatures).
		if !ed25519KeyConsistent(k) {
			return Checked{}, badRequest(venue + ": the Ed25519 key's public half is not the public key of its seed: the key is damaged; export it again")
		}
		return Checked{KeyType: typ, Secret: bytes.Clone(k)}, nil // seed || public key
	default:
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return Checked{}, fmt.Errorf("%s: re-encoding the key: %w", venue, err)
		}
		return Checked{KeyType: typ, Secret: der}, nil
	}
}

// keyParseReason says why a PKCS#8 key failed to parse without quoting it.
func keyParseReason(err error) string {
	msg := err.Error()
	switch {
	case bytes.Contains([]byte(msg), []byte("unknown")):
		return "an unsupported algorithm"
	default:
		return "malformed DER"
	}
}

// storedKey parses a stored PKCS#8 DER key as a T; call it under
// erase.Do only.
func storedKey[T any](der []byte, what string) (T, error) {
	var zero T
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return zero, fmt.Errorf("stored %s key does not parse: %w", what, err)
	}
	tk, ok := k.(T)
	if !ok {
		return zero, fmt.Errorf("stored key is a %T, not %s", k, what)
	}
	return tk, nil
}

// signRSA signs the SHA-256 digest of msg with PKCS#1 v1.5 under the PKCS#8
// DER key der.
func signRSA(der, msg []byte) ([]byte, error) {
	var (
		sig []byte
		err error
	)
	erase.Do(func() {
		var rk *rsa.PrivateKey
		if rk, err = storedKey[*rsa.PrivateKey](der, "RSA"); err != nil {
			return
		}
		d := sha256.Sum256(msg)
		sig, err = rsa.SignPKCS1v15(nil, rk, crypto.SHA256, d[:])
	})
	return sig, err
}

// signEd25519 signs msg with a stored Ed25519 key: the 64-byte private
// key (seed, then public key) as Check stores it, or the 32-byte seed
// alone, as vaults written before stored it.
//
// It signs with ed25519Sign (ed25519sign.go), which takes the stored public
// key rather than recomputing it: one scalar base multiplication per
// signature rather than two. A bare seed costs the second one, as before.
// crypto/ed25519 is never handed the key where it lies: Sign caches the
// expanded key under a weak pointer to the key's bytes, and a weak pointer
// into the keyring's locked (non-Go) memory is a fatal error.
func signEd25519(key, msg []byte) ([]byte, error) {
	if len(key) != ed25519.PrivateKeySize && len(key) != ed25519.SeedSize {
		return nil, fmt.Errorf("stored Ed25519 key is %d bytes, want %d (or a %d-byte seed)", len(key), ed25519.PrivateKeySize, ed25519.SeedSize)
	}
	var pub []byte // nil: a bare seed, whose public key ed25519Sign computes
	if len(key) == ed25519.PrivateKeySize {
		pub = key[ed25519.SeedSize:]
	}
	sig := make([]byte, ed25519.SignatureSize)
	erase.Do(func() { ed25519Sign((*[ed25519.SignatureSize]byte)(sig), key[:ed25519.SeedSize], pub, msg) })
	return sig, nil
}

// signES256 signs the SHA-256 digest of msg with the P-256 PKCS#8 DER key
// der and returns r||s, 32 bytes each (the JWS form, RFC 7518 section 3.4).
func signES256(der, msg []byte) ([]byte, error) {
	var (
		sig []byte
		err error
	)
	erase.Do(func() {
		var ek *ecdsa.PrivateKey
		if ek, err = storedKey[*ecdsa.PrivateKey](der, "ECDSA"); err != nil {
			return
		}
		d := sha256.Sum256(msg)
		var r, s *big.Int
		r, s, err = ecdsa.Sign(rand.Reader, ek, d[:])
		if err != nil {
			return
		}
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
	})
	return sig, err
}
