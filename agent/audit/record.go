// Package audit is keyward's tamper-evident audit log: one JSON line per
// request the agent decides (and per alert), each carrying the hash of the
// one before it, written off the signing path by one goroutine, rotated by
// size without breaking the chain, and checked by Verify. FORMAT.md defines
// the record, its canonical encoding and the chain.
//
// It must never write a secret, a signature, a passphrase or a request's
// parameters: a record carries only the fields the Record type names, and
// the parameters only as a SHA-256 hash (ParamsHash). Nothing in this
// package may block or fail the agent's signing path except by returning
// an error from Append when the log is fail-closed and cannot be written.
package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// FormatVersion is the record format this package writes and reads (v).
const FormatVersion = 1

// Record types.
const (
	TypeRequest = "request" // a request the agent decided
	TypeAlert   = "alert"   // the agent noticed something unusual
	TypeStart   = "start"   // a new chain begins (after a broken one)
)

// Decisions.
const (
	Allow = "allow"
	Deny  = "deny"
	Error = "error"
)

// Genesis is the prev of the first record of a chain.
const Genesis = "0000000000000000000000000000000000000000000000000000000000000000"

// maxField bounds every string field in bytes: paths and reasons come from
// bots and must not bloat the log.
const maxField = 1024

// Client is who asked, as the kernel told the agent at accept time.
type Client struct {
	UID  uint32 `json:"uid"`
	GID  uint32 `json:"gid"`
	PID  int32  `json:"pid"`
	Unit string `json:"unit,omitempty"` // systemd unit, from /proc/PID/cgroup
	Exe  string `json:"exe,omitempty"`  // executable, from /proc/PID/exe
}

// Record is one line of the audit log. The field order here is the order
// on disk. Seq, Prev and Hash are filled by the Log's writer; V too.
type Record struct {
	V          int       `json:"v"`
	Seq        uint64    `json:"seq"`
	Time       time.Time `json:"time"`
	Type       string    `json:"type"`
	Client     Client    `json:"client,omitzero"`
	Op         string    `json:"op,omitempty"`         // sign, forward, list, …
	Credential string    `json:"credential,omitempty"` // the credential's name
	Method     string    `json:"method,omitempty"`
	Host       string    `json:"host,omitempty"`
	Path       string    `json:"path,omitempty"`
	Params     string    `json:"params,omitempty"` // ParamsHash(query, body), never the parameters
	Decision   string    `json:"decision,omitempty"`
	Rule       string    `json:"rule,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	LatencyUS  int64     `json:"latency_us,omitempty"`
	Status     int       `json:"status,omitempty"` // the venue's HTTP status (forward)
	Prev       string    `json:"prev"`
	Hash       string    `json:"hash"`
}

// ParamsHash is the params field: the hex SHA-256 of query + "\n" + body.
// It lets an investigator check a request they hold against the log
// without the log holding the parameters.
func ParamsHash(query, body string) string {
	// One buffer on the stack for the usual request, and no hash.Hash on
	// the heap: this runs on every signature.
	var buf [1024]byte
	sum := sha256.Sum256(append(append(append(buf[:0], query...), '\n'), body...))
	var text [2 * sha256.Size]byte
	hex.Encode(text[:], sum[:])
	return string(text[:])
}

// SetRequest fills Method, Host, Path and Params from a request. The host
// is the URL's host name without port or user information, the path its
// escaped path; the query and body reach the record only as ParamsHash.
func (r *Record) SetRequest(method string, u *url.URL, body string) {
	r.Method = strings.ToUpper(method)
	r.Host = strings.ToLower(u.Hostname())
	r.Path = u.EscapedPath()
	r.Params = ParamsHash(u.RawQuery, body)
}

// MarshalJSON returns the record's line as it stands in the log (without
// the newline), so encoding/json callers print exactly what was hashed.
func (r Record) MarshalJSON() ([]byte, error) {
	line, _ := appendLine(nil, &r)
	return line[:len(line)-1], nil
}

// UnmarshalJSON decodes a record without checking it (see Verify).
func (r *Record) UnmarshalJSON(b []byte) error {
	type plain Record
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*r = Record(p)
	return nil
}

// appendBody appends the canonical encoding of r without its hash: the
// bytes the hash covers. FORMAT.md is its specification.
func appendBody(b []byte, r *Record) []byte {
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, int64(r.V), 10)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, r.Seq, 10)
	b = append(b, `,"time":"`...)
	b = r.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","type":`...)
	b = appendString(b, r.Type)
	if r.Client != (Client{}) {
		b = append(b, `,"client":{"uid":`...)
		b = strconv.AppendUint(b, uint64(r.Client.UID), 10)
		b = append(b, `,"gid":`...)
		b = strconv.AppendUint(b, uint64(r.Client.GID), 10)
		b = append(b, `,"pid":`...)
		b = strconv.AppendInt(b, int64(r.Client.PID), 10)
		b = appendOptString(b, `,"unit":`, r.Client.Unit)
		b = appendOptString(b, `,"exe":`, r.Client.Exe)
		b = append(b, '}')
	}
	b = appendOptString(b, `,"op":`, r.Op)
	b = appendOptString(b, `,"credential":`, r.Credential)
	b = appendOptString(b, `,"method":`, r.Method)
	b = appendOptString(b, `,"host":`, r.Host)
	b = appendOptString(b, `,"path":`, r.Path)
	b = appendOptString(b, `,"params":`, r.Params)
	b = appendOptString(b, `,"decision":`, r.Decision)
	b = appendOptString(b, `,"rule":`, r.Rule)
	b = appendOptString(b, `,"reason":`, r.Reason)
	if r.LatencyUS != 0 {
		b = append(b, `,"latency_us":`...)
		b = strconv.AppendInt(b, r.LatencyUS, 10)
	}
	if r.Status != 0 {
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(r.Status), 10)
	}
	b = append(b, `,"prev":`...)
	b = appendString(b, r.Prev)
	return append(b, '}')
}

// appendLine appends r's full line — the canonical body with the hash as
// its last member, and a newline — and returns the hash.
func appendLine(b []byte, r *Record) ([]byte, string) {
	start := len(b)
	b = appendBody(b, r)
	sum := sha256.Sum256(b[start:])
	b = append(b[:len(b)-1], `,"hash":"`...)
	b = hex.AppendEncode(b, sum[:])
	h := string(b[len(b)-2*sha256.Size:])
	b = append(b, "\"}\n"...)
	return b, h
}

func appendOptString(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	b = append(b, key...)
	return appendString(b, s)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string: `"` and `\` escaped, \n \r \t
// as such, other bytes below 0x20 and 0x7f as \u00xx, invalid UTF-8 as
// U+FFFD, everything else as it is.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		// Copy a run of bytes that need no escape at once.
		j := i
		for j < len(s) && plainByte[s[j]] {
			j++
		}
		b = append(b, s[i:j]...)
		if i = j; i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			default: // below 0x20, or 0x7f
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, "\uFFFD"...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// plainByte marks the ASCII bytes appendString copies as they are.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// clip bounds s to maxField bytes, cut at a rune boundary, marked with "…".
func clip(s string) string {
	if len(s) <= maxField {
		return s
	}
	cut := maxField - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// normalize prepares a record for writing: strings bounded, time in UTC
// without a monotonic reading, a type, no negative latency.
func normalize(r *Record) {
	r.V = FormatVersion
	r.Time = r.Time.UTC().Round(0)
	if r.Type == "" {
		r.Type = TypeRequest
	}
	if r.LatencyUS < 0 {
		r.LatencyUS = 0
	}
	for _, p := range [...]*string{&r.Type, &r.Client.Unit, &r.Client.Exe, &r.Op, &r.Credential, &r.Method,
		&r.Host, &r.Path, &r.Params, &r.Decision, &r.Rule, &r.Reason} {
		*p = clip(*p)
	}
}

// lineError says what is wrong with one line of the log.
type lineError struct {
	kind string // edited, truncated, version
	msg  string
}

func (e *lineError) Error() string { return e.msg }

// parseLine decodes one line (without its newline) and checks it against
// itself: it must decode, be in canonical form, and its hash must be the
// SHA-256 of its body. It does not look at other records.
func parseLine(line []byte) (Record, error) {
	var r Record
	if len(bytes.TrimSpace(line)) == 0 {
		return r, &lineError{"edited", "the line is empty (edited)"}
	}
	if err := json.Unmarshal(line, &r); err != nil {
		return r, &lineError{"edited", "the line is not a valid record (edited): " + jsonProblem(err)}
	}
	if r.V != FormatVersion {
		return r, &lineError{"version", "record format version " + strconv.Itoa(r.V) + " is not one this keyward reads (1)"}
	}
	what := "record"
	if r.Seq != 0 {
		what = "record " + strconv.FormatUint(r.Seq, 10)
	}
	var buf [1024]byte
	body := appendBody(buf[:0], &r)
	sum := sha256.Sum256(body)
	if r.Hash != hex.EncodeToString(sum[:]) {
		return r, &lineError{"edited", what + ": hash does not match its contents (edited)"}
	}
	canon, _ := appendLine(body[:0], &r)
	if !bytes.Equal(canon[:len(canon)-1], line) {
		return r, &lineError{"edited", what + ": the line is not in canonical form, so it was not written by keyward (edited)"}
	}
	return r, nil
}

func jsonProblem(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return "bad JSON at byte " + strconv.FormatInt(se.Offset, 10)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "field " + te.Field + " has the wrong type"
	}
	return "cannot decode it"
}
