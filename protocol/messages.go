package protocol

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"
)

// Version is the protocol version this package speaks. A hello names it.
const Version = 1

// Operation names, as they appear in a request's "op" field.
const (
	OpHello   = "hello"
	OpStatus  = "status"
	OpUnlock  = "unlock"
	OpLock    = "lock"
	OpAdd     = "add"
	OpList    = "list"
	OpRemove  = "remove"
	OpSign    = "sign"
	OpPasswd  = "passwd"
	OpRotate  = "rotate"
	OpForward = "forward"
)

// MethodWS is the method of a WebSocket message in an HTTPRequest.
const MethodWS = "WS"

// Operations lists every operation of this protocol version, in SPEC order.
func Operations() []string {
	return []string{OpHello, OpStatus, OpUnlock, OpLock, OpAdd, OpList, OpRemove, OpSign, OpForward, OpPasswd, OpRotate}
}

// Request is the envelope of every request frame. Args holds the
// operation's own message (HelloArgs, SignArgs, …) and may be absent for
// operations that take none.
type Request struct {
	ID   uint64          `json:"id"`
	Op   string          `json:"op"`
	Args json.RawMessage `json:"args,omitempty"`

	// sign holds a sign request's arguments when DecodeRequest's fast
	// path has decoded them already.
	sign *SignArgs
}

// Reply is the envelope of every reply frame: exactly one of Result and
// Error is set. ID repeats the request's id; id 0 is reserved for errors
// about the connection itself (a refused peer, a bad frame).
type Reply struct {
	ID     uint64          `json:"id"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  *Error          `json:"error,omitempty"`
}

// HelloArgs opens a conversation. Client is free text for the agent's log.
type HelloArgs struct {
	Version int    `json:"version"`
	Client  string `json:"client,omitempty"`
}

// HelloResult names what the agent speaks.
type HelloResult struct {
	Version    int          `json:"version"`
	Agent      string       `json:"agent"`
	Operations []string     `json:"operations"`
	Schemes    []SchemeInfo `json:"schemes"`
}

// SchemeInfo describes a signing scheme the agent knows.
type SchemeInfo struct {
	Name       string   `json:"name"`
	Hosts      []string `json:"hosts"`
	Operations []string `json:"operations"`
	// KeyTypes are the key forms the venue issues that the agent accepts:
	// "hmac", "rsa", "ed25519", "ecdsa-p256", "secp256k1".
	KeyTypes []string `json:"key_types"`
	// Passphrase is "none", "optional" or "required": whether `add` takes
	// the passphrase the venue issues with a key.
	Passphrase string `json:"passphrase"`
	// ClearSecrets names the parts of a credential the venue receives in
	// clear on every request (e.g. "passphrase"): a signed request handed
	// to the bot carries them, so a bot that must not see them needs
	// forward mode.
	ClearSecrets []string `json:"clear_secrets,omitempty"`
	// WebSocket reports that sign also signs WebSocket messages (method
	// "WS", a wss:// URL and the message as the body).
	WebSocket bool `json:"websocket,omitempty"`
	// ForwardOnly reports that the venue receives the secret itself on
	// every request: the agent refuses sign (code forward_only) and only
	// forwards with such a credential.
	ForwardOnly bool `json:"forward_only,omitempty"`
	// Meta names the credential metadata the scheme reads, with meanings.
	Meta map[string]string `json:"meta,omitempty"`
}

// StatusResult describes the agent's state. It never carries a secret.
type StatusResult struct {
	Version       string    `json:"version"`
	Locked        bool      `json:"locked"`
	VaultPresent  bool      `json:"vault_present"`
	Credentials   int       `json:"credentials"`
	UptimeSeconds int64     `json:"uptime_seconds"`
	UnlockedAt    time.Time `json:"unlocked_at,omitzero"`
	LockAfter     string    `json:"lock_after,omitempty"`
	LockIdle      string    `json:"lock_idle,omitempty"`
	MemlockBytes  int64     `json:"memlock_bytes"`
	MemlockLimit  int64     `json:"memlock_limit"`
	// Policy is the policy file in force ("" without one); PolicyError is
	// why its current content was refused (the previous policy stays).
	Policy      string `json:"policy,omitempty"`
	PolicyError string `json:"policy_error,omitempty"`
	// RotationDue counts the keys older than their rotation period.
	RotationDue int `json:"rotation_due,omitempty"`
	// Audit is the audit log's path and AuditError why it cannot be
	// written, when it cannot.
	Audit      string `json:"audit,omitempty"`
	AuditError string `json:"audit_error,omitempty"`
	// Clocks are the venues' clock offsets the agent has measured from
	// forwarded responses, by host, sorted; the agent corrects the
	// timestamps it signs with by them.
	Clocks []ClockOffset `json:"clocks,omitempty"`
}

// ClockOffset is a venue's clock measured against the agent's.
type ClockOffset struct {
	Host string `json:"host"`
	// OffsetMS is the venue's clock minus the agent's, in milliseconds:
	// positive when the venue is ahead.
	OffsetMS int64 `json:"offset_ms"`
	// UncertaintyMS bounds the error of OffsetMS (half the round trip, or
	// the resolution of the source, whichever is larger).
	UncertaintyMS int64 `json:"uncertainty_ms"`
	// Source says what the offset was read from: "server_time" (a
	// venue's time endpoint or a timestamp in its reply) or "date" (the
	// HTTP Date header, one-second resolution).
	Source     string    `json:"source"`
	MeasuredAt time.Time `json:"measured_at"`
}

// UnlockArgs carries the vault passphrase.
type UnlockArgs struct {
	Passphrase Secret `json:"passphrase"`
}

// UnlockResult reports how many credentials were unlocked.
type UnlockResult struct {
	Credentials int `json:"credentials"`
}

// PasswdArgs changes the vault passphrase; the agent must be unlocked and
// the current passphrase must be given again.
type PasswdArgs struct {
	Passphrase    Secret `json:"passphrase"`
	NewPassphrase Secret `json:"new_passphrase"`
}

// AddArgs adds a credential. Secret is the API secret as the venue issued
// it (a secret string, base64 text, or a PEM private key); APIKey is the
// public key id the venue sees; Passphrase is the passphrase some venues
// issue with a key (OKX, KuCoin, Bitget, Coinbase Exchange). Meta holds
// scheme-specific public settings.
type AddArgs struct {
	Name       string            `json:"name"`
	Scheme     string            `json:"scheme"`
	APIKey     string            `json:"api_key"`
	Secret     Secret            `json:"secret"`
	Passphrase Secret            `json:"passphrase,omitempty"`
	Meta       map[string]string `json:"meta,omitempty"`
	// Verify asks the agent to ask the venue what the key may do before
	// keeping it: "auto" does so when the venue can be reached (and keeps
	// the key unverified, saying so, when it cannot), "on" refuses the key
	// unless the venue answers, "off" or "" skips the check. The CLI asks
	// for "auto" unless told otherwise.
	Verify string `json:"verify,omitempty"`
	// AllowWithdrawPermission keeps a key the venue says can withdraw or
	// transfer funds; without it such a key is refused.
	AllowWithdrawPermission bool `json:"allow_withdraw_permission,omitempty"`
}

// Verify modes of AddArgs.
const (
	VerifyAuto = "auto"
	VerifyOn   = "on"
	VerifyOff  = "off"
)

// CredentialInfo is a credential's public part.
type CredentialInfo struct {
	Name    string            `json:"name"`
	Scheme  string            `json:"scheme"`
	APIKey  string            `json:"api_key"`
	Meta    map[string]string `json:"meta,omitempty"`
	Created time.Time         `json:"created"`
	Rotated time.Time         `json:"rotated"`
	Version uint32            `json:"version"`
	// RotationDue is set when the key is older (since Rotated) than its
	// rotation period (90 days unless the policy says otherwise).
	RotationDue bool `json:"rotation_due,omitempty"`
	// LastUsed is when the agent last signed with the key, when known.
	LastUsed time.Time `json:"last_used,omitzero"`
	// ExpiresAt is when an unused key will be removed, when the policy
	// sets expire_unused for it.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// RotateArgs replaces a credential's secret (and passphrase) with a new
// one the venue issued; the name, scheme and API key stay unless APIKey is
// given (some venues issue a new key id with the new secret).
type RotateArgs struct {
	Name       string `json:"name"`
	APIKey     string `json:"api_key,omitempty"`
	Secret     Secret `json:"secret"`
	Passphrase Secret `json:"passphrase,omitempty"`
}

// ListResult lists credentials, sorted by name.
type ListResult struct {
	Credentials []CredentialInfo `json:"credentials"`
}

// RemoveArgs names the credential to delete.
type RemoveArgs struct {
	Name string `json:"name"`
}

// HTTPRequest is a request in the shape of ccxt's sign() result. Body is
// UTF-8 text (form-encoded or JSON), signed exactly as sent. A WebSocket
// message to sign has Method "WS", a wss:// URL and the message as Body.
type HTTPRequest struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body,omitempty"`
}

// SignArgs asks the agent to sign Request with the named credential.
type SignArgs struct {
	Credential string `json:"credential"`
	HTTPRequest
}

// ForwardArgs asks the agent to send Request to the venue itself with the
// named credential's authentication added, and to return the venue's
// response. The bot's URL must be https to one of the credential's hosts.
type ForwardArgs struct {
	Credential string `json:"credential"`
	HTTPRequest
	// TimeoutMS bounds the whole exchange with the venue; 0 takes the
	// agent's default (30 s), and the agent caps it at 120 s.
	TimeoutMS int64 `json:"timeout_ms,omitempty"`
}

// HTTPResponse is the venue's answer to a forwarded request. Headers
// joins repeated fields with ", " (Set-Cookie with "\n"); hop-by-hop
// fields are dropped. Body is the body as UTF-8 text, or base64 when
// BodyEncoding is "base64" (a body that is not valid UTF-8).
type HTTPResponse struct {
	Status       int               `json:"status"`
	Headers      map[string]string `json:"headers,omitempty"`
	Body         string            `json:"body,omitempty"`
	BodyEncoding string            `json:"body_encoding,omitempty"`
}

// Empty is the result of operations that return nothing.
type Empty struct{}

// Secret is secret material on the wire: a base64 string in JSON. It is
// decoded into a buffer of its own so the holder can Wipe it; JSON escapes
// inside it are refused, because unescaping would leave a copy behind.
type Secret []byte

// errSecretEscapes is returned for a secret string with a backslash in it.
var errSecretEscapes = errors.New("protocol: a secret must be a plain base64 string without JSON escapes")

// UnmarshalJSON decodes the base64 string straight from the frame buffer
// into a fresh slice, leaving no other copy.
func (s *Secret) UnmarshalJSON(data []byte) error {
	if bytes.Equal(data, []byte("null")) {
		*s = nil
		return nil
	}
	if len(data) < 2 || data[0] != '"' || data[len(data)-1] != '"' {
		return errors.New("protocol: a secret must be a base64 string")
	}
	in := data[1 : len(data)-1]
	if bytes.IndexByte(in, '\\') >= 0 {
		return errSecretEscapes
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(in)))
	n, err := base64.StdEncoding.Decode(out, in)
	if err != nil {
		clear(out)
		return errors.New("protocol: a secret must be standard base64 (RFC 4648, with padding)")
	}
	*s = out[:n]
	return nil
}

// MarshalJSON encodes the secret as standard base64.
func (s Secret) MarshalJSON() ([]byte, error) {
	out := make([]byte, 0, base64.StdEncoding.EncodedLen(len(s))+2)
	out = append(out, '"')
	out = base64.StdEncoding.AppendEncode(out, s)
	return append(out, '"'), nil
}

// Wipe overwrites the secret with zeros.
func (s Secret) Wipe() { clear(s) }
