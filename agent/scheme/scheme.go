// Package scheme holds the exchanges' request-signing schemes as pure
// functions: a scheme maps (request, secret, clock, nonce) to the signed
// request exactly as it must be sent, and nothing else.
//
// A scheme must never import the agent server, the keyring, the network or a
// logger, never read the clock itself (the agent passes Now), and never keep,
// log, return or convert to a string any part of the secret it is lent, or any
// value derived from it other than the finished signature. Errors the bot
// caused are *RequestError, whose text is safe to show the bot.
package scheme

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/fasturl"
)

// Request is an HTTP request in the shape of ccxt's sign() output.
type Request struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body,omitempty"`
}

// Input is everything a scheme may use to sign one request.
type Input struct {
	Request Request
	APIKey  string // the public key id
	// KeyType is the credential's key type, as Check returned it when the
	// credential was added (KeyHMAC, KeyRSA, …).
	KeyType string
	// Secret is locked memory lent for this call only: never retain it,
	// never convert it to a string. It holds the secret in the form Check
	// returned (e.g. a PKCS#8 DER key, not its PEM text).
	Secret []byte
	// Passphrase is the passphrase the venue issued with the key, for
	// schemes whose Info says so; locked memory, lent like Secret.
	Passphrase []byte
	// Scratch is at least ScratchSize bytes of zeroed locked memory for key
	// blocks; the caller wipes it after the call.
	Scratch []byte
	Meta    map[string]string // the credential's metadata
	Now     time.Time         // the agent's clock; schemes never read the clock themselves
	// Nonce returns the credential's next nonce, counted in unit since the
	// Unix epoch: Now in that unit, or one more than the last nonce issued
	// for the credential if that is larger, across restarts. Nil means no
	// history (a test): NextNonce then returns Now in unit.
	Nonce func(unit time.Duration) uint64
}

// NextNonce returns the credential's next strictly increasing nonce in
// unit (time.Millisecond, time.Microsecond, …).
func (in Input) NextNonce(unit time.Duration) uint64 {
	if in.Nonce != nil {
		return in.Nonce(unit)
	}
	return uint64(in.Now.UnixNano() / int64(unit))
}

// MethodWS is the method of a WebSocket message to sign: the URL is the
// wss:// endpoint the message goes to and the body is the message (JSON).
// The signed message comes back in the body.
const MethodWS = "WS"

// Key types a scheme's Check may return.
const (
	KeyHMAC      = "hmac"       // a shared secret for an HMAC
	KeyRSA       = "rsa"        // an RSA private key (stored as PKCS#8 DER)
	KeyEd25519   = "ed25519"    // an Ed25519 private key (stored as seed || public key, 64 bytes; older vaults hold the 32-byte seed)
	KeyECDSAP256 = "ecdsa-p256" // an ECDSA P-256 private key (stored as PKCS#8 DER)
	KeySecp256k1 = "secp256k1"  // a secp256k1 private key (stored as the 32-byte scalar)
)

// MetaKeyType is the metadata key under which the agent records the key
// type Check returned. A bot or owner cannot set it.
const MetaKeyType = "key_type"

// Passphrase says whether a scheme's keys come with a passphrase.
type Passphrase int

const (
	PassphraseNone     Passphrase = iota // the venue issues no passphrase
	PassphraseOptional                   // some of the venue's key types have one
	PassphraseRequired                   // every key has one
)

// Info describes what a scheme needs and does, for `hello`, `add` and the
// README.
type Info struct {
	// KeyTypes are the key types Check accepts.
	KeyTypes []string
	// Passphrase says whether keys come with a passphrase. When it is not
	// PassphraseNone, the agent stores the secret packed with the
	// passphrase (PackSecret) and lends both to Sign.
	Passphrase Passphrase
	// ClearSecrets names the parts of a credential the venue receives in
	// clear on every request (a passphrase is a static credential): a
	// signing agent cannot hide them from the bot; forward mode can.
	ClearSecrets []string
	// WebSocket reports that Sign also signs WebSocket messages (MethodWS).
	WebSocket bool
	// ForwardOnly reports that the venue receives the secret itself in
	// clear on every request (a bearer token, a secret-key header): the
	// agent never hands such a request to a bot, and only forwards it.
	ForwardOnly bool
	// Meta names the metadata keys the scheme reads, beyond "hosts", with
	// what each means.
	Meta map[string]string
}

// Key is a credential's key material as the owner gave it to `keyward add`.
type Key struct {
	APIKey     string
	Secret     []byte // as issued: a secret string, a PEM file, base64 text…
	Passphrase []byte
	Meta       map[string]string
}

// Checked is what Check makes of a Key.
type Checked struct {
	KeyType string
	// Secret is the secret in the form Sign wants it, in a fresh buffer
	// the caller wipes; nil means Key.Secret as given.
	Secret []byte
}

// ScratchSize is the least scratch a scheme needs: two key blocks of the
// widest hash a scheme uses (SHA-512's 128-byte block).
const ScratchSize = 256

// Scheme signs requests for one venue.
type Scheme interface {
	Name() string
	// Hosts lists the venue's hosts (mainnet and testnet); a request to any
	// other host is refused.
	Hosts() []string
	// Info says what the scheme needs and does.
	Info() Info
	// Check validates key material when a credential is added, so that a
	// wrong key is refused at once with a message that says how to fix it
	// ("this is a PKCS#1 key: Binance wants PKCS#8; convert it with …"),
	// and returns the key type and the secret in the form Sign uses.
	// Errors are *RequestError and never quote the secret.
	Check(k Key) (Checked, error)
	// Sign returns the request exactly as it must be sent.
	Sign(in Input) (Request, error)
}

// Clock is implemented by schemes whose venue publishes its time. The
// agent asks for it when it first forwards to a host and now and then
// after, and corrects the timestamps it signs with by the offset.
type Clock interface {
	// TimeRequest returns the public, unsigned request that asks host for
	// the venue's time; false when host has no such endpoint.
	TimeRequest(host string) (Request, bool)
	// ParseTime reads the venue's time from the body of a 200 answer to
	// TimeRequest.
	ParseTime(host string, body []byte) (time.Time, error)
}

// Permissions is what a venue says an API key may do.
type Permissions struct {
	// Known is false when the venue confirmed the key works but does not
	// say what it may do; the other fields are then false.
	Known                           bool
	Read, Trade, Withdraw, Transfer bool
	// Detail is the venue's own words, short and secret-free, recorded in
	// the credential's metadata (e.g. "enableWithdrawals=false,enableSpotAndMarginTrading=true").
	Detail string
}

// KeyChecker is implemented by schemes whose venue can tell, for a key,
// whether it works and what it may do: `keyward add --verify`.
type KeyChecker interface {
	// KeyRequest returns the request that asks the venue about the key,
	// to host (one of the credential's hosts); the agent signs it with the
	// credential (Sign) and sends it.
	KeyRequest(host string, apiKey string, meta map[string]string) (Request, error)
	// ParseKey reads the venue's answer. A refusal of the key (bad key,
	// bad signature, expired) is a *RequestError that says so in the
	// venue's words; it never quotes a secret.
	ParseKey(status int, body []byte) (Permissions, error)
}

// RequestError says the bot's request is wrong. Msg is safe to show the bot:
// it never carries secret material.
type RequestError struct{ Msg string }

func (e *RequestError) Error() string { return e.Msg }

// badRequest builds a *RequestError; the message is the bot's to read.
func badRequest(msg string) error { return &RequestError{Msg: msg} }

// all is the fixed table of schemes. It is a function, not a variable, so
// that nothing can register or replace a scheme at run time.
func all() []Scheme {
	return []Scheme{
		binance{}, binanceWS{}, bybit{}, okx{}, coinbase{}, kraken{},
		kucoin{}, gate{}, bitget{}, bitfinex{}, deribit{}, hyperliquid{},
		genericHMAC{}, alpaca{}, oanda{}, bearer{},
	}
}

// entry is a scheme of all() with what it says of itself, read once: Hosts
// and Info build their slices on every call, and the signing path asks
// for both on every signature.
type entry struct {
	scheme Scheme
	hosts  map[string]bool
	info   Info
}

// byName indexes all() once.
var byName = sync.OnceValue(func() map[string]entry {
	m := make(map[string]entry)
	for _, s := range all() {
		e := entry{scheme: s, hosts: make(map[string]bool), info: s.Info()}
		for _, h := range s.Hosts() {
			e.hosts[h] = true
		}
		m[s.Name()] = e
	}
	return m
})

// InfoOf returns s.Info(), without building it again for a scheme of
// this package. The result is shared: the caller must not modify its
// slices or its Meta map.
func InfoOf(s Scheme) Info {
	if e, ok := byName()[s.Name()]; ok {
		return e.info
	}
	return s.Info()
}

// Lookup returns the scheme called name.
func Lookup(name string) (Scheme, bool) {
	e, ok := byName()[name]
	return e.scheme, ok
}

// Names returns the names of all schemes, sorted.
func Names() []string {
	s := all()
	names := make([]string, 0, len(s))
	for _, sc := range s {
		names = append(names, sc.Name())
	}
	slices.Sort(names)
	return names
}

// PackSecret joins a secret and the passphrase issued with it into the one
// buffer the vault and keyring hold for a credential whose scheme takes a
// passphrase: a 2-byte big-endian length of the secret, the secret, then
// the passphrase. The result is a fresh buffer the caller wipes.
func PackSecret(secret, passphrase []byte) ([]byte, error) {
	if len(secret) > 0xffff {
		return nil, badRequest(fmt.Sprintf("the secret is %d bytes; at most 65535", len(secret)))
	}
	b := make([]byte, 2+len(secret)+len(passphrase))
	b[0], b[1] = byte(len(secret)>>8), byte(len(secret))
	copy(b[2:], secret)
	copy(b[2+len(secret):], passphrase)
	return b, nil
}

// UnpackSecret splits a PackSecret buffer without copying: the results
// alias blob.
func UnpackSecret(blob []byte) (secret, passphrase []byte, err error) {
	if len(blob) < 2 {
		return nil, nil, errors.New("scheme: packed secret shorter than its header")
	}
	n := int(blob[0])<<8 | int(blob[1])
	if 2+n > len(blob) {
		return nil, nil, errors.New("scheme: packed secret shorter than its length says")
	}
	return blob[2 : 2+n : 2+n], blob[2+n:], nil
}

// AllowedHosts returns the hosts a credential of scheme s may sign for: the
// venue's own, then the extra ones granted in meta["hosts"], a
// comma-separated list of host names (`keyward add --host`).
func AllowedHosts(s Scheme, meta map[string]string) []string {
	hosts := slices.Clone(s.Hosts())
	for h := range strings.SplitSeq(meta["hosts"], ",") {
		if h = strings.ToLower(strings.TrimSpace(h)); h != "" {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

// HostAllowed reports whether host, a URL's host name without its port,
// is one AllowedHosts names. The port is not restricted: TLS, not the port,
// tells a venue's server from another.
func HostAllowed(s Scheme, meta map[string]string, host string) bool {
	host = strings.ToLower(host)
	if e, ok := byName()[s.Name()]; ok {
		if e.hosts[host] {
			return true
		}
	} else if slices.Contains(s.Hosts(), host) {
		return true
	}
	for h := range strings.SplitSeq(meta["hosts"], ",") {
		if strings.EqualFold(strings.TrimSpace(h), host) && host != "" {
			return true
		}
	}
	return false
}

// splitURL checks that raw is an https URL to one of s's allowed hosts, with
// a path, no user info, no fragment, and only printable ASCII (anything else
// must be percent-encoded, since the bytes sent are the bytes signed). It
// splits raw at the first '?'; base is returned exactly as given, so the
// request goes where the bot asked.
func splitURL(s Scheme, raw string, meta map[string]string) (base, query string, err error) {
	return splitURLScheme(s, raw, meta, "https")
}

// splitURLScheme is splitURL for a given URL scheme ("https" or "wss").
func splitURLScheme(s Scheme, raw string, meta map[string]string, want string) (base, query string, err error) {
	name := s.Name()
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c <= ' ' || c >= 0x7f {
			return "", "", badRequest(fmt.Sprintf("%s: the URL has %s at byte %d: percent-encode it (%s)", name, describeByte(raw, i), i, encodingHint(raw, i)))
		}
	}
	if strings.Contains(raw, "#") {
		return "", "", badRequest(name + ": the URL has a fragment ('#'); remove it")
	}
	base, query, _ = strings.Cut(raw, "?")
	u, perr := fasturl.Parse(base)
	if perr != nil {
		return "", "", badRequest(name + ": the URL does not parse")
	}
	if u.Scheme != want {
		return "", "", badRequest(fmt.Sprintf("%s: the URL must use %s", name, want))
	}
	if u.HasUser || u.Opaque != "" {
		return "", "", badRequest(fmt.Sprintf("%s: the URL must be %s://HOST/PATH with no user info", name, want))
	}
	if !HostAllowed(s, meta, u.Hostname) {
		return "", "", badRequest(fmt.Sprintf("%s: host %q is not one of the credential's hosts (%s)", name, truncate(u.Hostname, 64), strings.Join(AllowedHosts(s, meta), ", ")))
	}
	if !strings.HasPrefix(u.EscapedPath, "/") {
		return "", "", badRequest(name + ": the URL has no path")
	}
	return base, query, nil
}

// checkHMACSecret accepts a shared secret as a venue shows it: printable
// ASCII without spaces, 8 to 512 bytes. The message never quotes it.
func checkHMACSecret(venue string, secret []byte) (Checked, error) {
	if isPEM(secret) {
		return Checked{}, badRequest(venue + ": this is a PEM key file, but the credential's key type is an HMAC secret: give the secret string the venue showed")
	}
	if len(secret) < 8 || len(secret) > 512 {
		return Checked{}, badRequest(fmt.Sprintf("%s: the secret is %d bytes; a venue's API secret is 8 to 512 printable characters", venue, len(secret)))
	}
	for i, c := range secret {
		if c <= ' ' || c >= 0x7f {
			return Checked{}, badRequest(fmt.Sprintf("%s: the secret has a space, control or non-ASCII byte at byte %d: copy it again without surrounding text", venue, i))
		}
	}
	return Checked{KeyType: KeyHMAC}, nil
}

// caseTwin reports whether name differs from one of known only in letter
// case. A member the agent sets ("nonce") beside a bot's "Nonce" would be
// read as the same member by case-insensitive JSON decoders (Go's, and
// maybe a venue's) but not by the agent, so schemes refuse such twins.
func caseTwin(name string, known ...string) (string, bool) {
	for _, k := range known {
		if name != k && strings.EqualFold(name, k) {
			return k, true
		}
	}
	return "", false
}

// agentFaults reports what is wrong with the agent's side of the
// call (not the bot's): plain errors that carry no secret.
func agentFaults(name string, in Input) error {
	if len(in.Secret) == 0 {
		return fmt.Errorf("%s: credential has an empty secret", name)
	}
	if len(in.Scratch) < ScratchSize {
		return fmt.Errorf("%s: scratch is %d bytes, need %d", name, len(in.Scratch), ScratchSize)
	}
	if in.APIKey == "" || !headerSafe(in.APIKey) {
		return fmt.Errorf("%s: credential has no usable API key", name)
	}
	return nil
}

// copyHeaders copies the bot's headers without those named in drop
// (compared case-insensitively), leaving room for extra more.
func copyHeaders(h map[string]string, extra int, drop ...string) map[string]string {
	out := make(map[string]string, len(h)+extra)
next:
	for k, v := range h {
		for _, d := range drop {
			if d != "" && strings.EqualFold(k, d) {
				continue next
			}
		}
		out[k] = v
	}
	return out
}
