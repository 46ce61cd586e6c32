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
	"math/bits"
	"net/url"
	"slices"
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
// bytes the hash covers. FORMAT.md is its specification; the encoder as it
// was first written is kept in encode_test.go, and this one must match it
// byte for byte.
func appendBody(b []byte, r *Record) []byte {
	b = appendMembers(b, r)
	b = appendString(b, r.Prev)
	return append(b, '}')
}

// appendLine appends r's full line — the canonical body with the hash as
// its last member, and a newline — and returns the hash.
func appendLine(b []byte, r *Record) ([]byte, string) {
	start := len(b)
	b = sealLine(appendBody(b, r), start)
	return b, string(lineHash(b))
}

// sealLine turns b[start:], a record's canonical body, into its line: the
// body's hash as the last member, then a newline.
func sealLine(b []byte, start int) []byte {
	sum := sha256.Sum256(b[start:])
	b = append(b[:len(b)-1], `,"hash":"`...)
	b = appendHex(b, &sum)
	return append(b, "\"}\n"...)
}

// appendHex appends sum in lower-case hex, as hex.AppendEncode does, a
// byte's two digits at a time.
func appendHex(b []byte, sum *[sha256.Size]byte) []byte {
	const pairs = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f" +
		"202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f" +
		"404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f" +
		"606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f" +
		"808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f" +
		"a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf" +
		"c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf" +
		"e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"
	n := len(b)
	b = slices.Grow(b, 2*sha256.Size)[:n+2*sha256.Size]
	out := b[n:]
	for i, c := range sum {
		out[2*i], out[2*i+1] = pairs[2*int(c)], pairs[2*int(c)+1]
	}
	return b
}

// lineHash is the hash's hex digits in b, which ends with a line that
// sealLine made.
func lineHash(b []byte) []byte {
	const end = len(`"}` + "\n")
	return b[len(b)-end-2*sha256.Size : len(b)-end]
}

// appendMembers appends the canonical body up to prev's value: every
// member in order, the last one `,"prev":` without its value. Each constant
// fragment carries the quotes of the string values on either side of it
// (`","type":"`), so that a member costs as few appends as may be.
func appendMembers(b []byte, r *Record) []byte {
	// Every string at its longest (\u00xx for every byte), so that the
	// appends below never grow b.
	b = slices.Grow(b, 400+6*(len(r.Type)+len(r.Client.Unit)+len(r.Client.Exe)+len(r.Op)+len(r.Credential)+
		len(r.Method)+len(r.Host)+len(r.Path)+len(r.Params)+len(r.Decision)+len(r.Rule)+len(r.Reason)))
	if r.V == 1 {
		b = append(b, `{"v":1,"seq":`...)
	} else {
		b = append(b, `{"v":`...)
		b = strconv.AppendInt(b, int64(r.V), 10)
		b = append(b, `,"seq":`...)
	}
	b = strconv.AppendUint(b, r.Seq, 10)
	b = append(b, `,"time":"`...)
	b = appendTime(b, r.Time)
	b = append(b, `","type":"`...)
	b = appendStringBody(b, r.Type)
	if r.Client != (Client{}) {
		b = append(b, `","client":{"uid":`...)
		b = strconv.AppendUint(b, uint64(r.Client.UID), 10)
		b = append(b, `,"gid":`...)
		b = strconv.AppendUint(b, uint64(r.Client.GID), 10)
		b = append(b, `,"pid":`...)
		b = strconv.AppendInt(b, int64(r.Client.PID), 10)
		if r.Client.Unit != "" {
			b = append(b, `,"unit":"`...)
			b = appendStringBody(b, r.Client.Unit)
			b = append(b, '"')
		}
		if r.Client.Exe != "" {
			b = append(b, `,"exe":"`...)
			b = appendStringBody(b, r.Client.Exe)
			b = append(b, '"')
		}
		b = append(b, '}')
	} else {
		b = append(b, '"')
	}
	b = appendOptString(b, `,"op":"`, r.Op)
	b = appendOptString(b, `,"credential":"`, r.Credential)
	b = appendOptString(b, `,"method":"`, r.Method)
	b = appendOptString(b, `,"host":"`, r.Host)
	b = appendOptString(b, `,"path":"`, r.Path)
	b = appendOptString(b, `,"params":"`, r.Params)
	b = appendOptString(b, `,"decision":"`, r.Decision)
	b = appendOptString(b, `,"rule":"`, r.Rule)
	b = appendOptString(b, `,"reason":"`, r.Reason)
	if r.LatencyUS != 0 {
		b = append(b, `,"latency_us":`...)
		b = strconv.AppendInt(b, r.LatencyUS, 10)
	}
	if r.Status != 0 {
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(r.Status), 10)
	}
	return append(b, `,"prev":`...)
}

// appendOptString appends key, which ends in the value's opening quote,
// then s and its closing quote; nothing when s is empty.
func appendOptString(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	b = append(b, key...)
	b = appendStringBody(b, s)
	return append(b, '"')
}

// The seconds of 0000-01-01T00:00:00Z and 10000-01-01T00:00:00Z since the
// Unix epoch: appendTime's own formatter covers the four-digit years.
const (
	minFastUnix = -62167219200
	maxFastUnix = 253402300800
)

// appendTime appends t in UTC exactly as t.UTC().AppendFormat(b,
// time.RFC3339Nano) does: YYYY-MM-DDTHH:MM:SS, then a dot and the
// nanoseconds without trailing zeros unless they are 0, then Z. Years
// outside 0…9999 are left to the time package.
func appendTime(b []byte, t time.Time) []byte {
	unix := t.Unix()
	if unix < minFastUnix || unix >= maxFastUnix {
		return t.UTC().AppendFormat(b, time.RFC3339Nano)
	}
	// Seconds since -0400-03-01 (0000-03-01 less one 400-year era), so
	// that every division is of a non-negative number and a year runs from
	// March, leap day last (H. Hinnant's civil-from-days method).
	const shift = (719468 + 146097) * 86400
	s := uint64(unix + shift)
	days, sod := s/86400, s%86400
	era := days / 146097
	doe := days - era*146097                               // [0, 146096]
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365 // [0, 399]
	doy := doe - (365*yoe + yoe/4 - yoe/100)               // [0, 365]
	mp := (5*doy + 2) / 153                                // [0, 11], from March
	day := doy - (153*mp+2)/5 + 1
	month, year := mp+3, yoe+era*400 // year: plus 400, from the shift
	if month > 12 {
		month -= 12
		year++
	}
	year -= 400
	hh, mm, ss := sod/3600, sod/60%60, sod%60

	var out [30]byte // YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ
	put2(out[0:], year/100)
	put2(out[2:], year%100)
	out[4] = '-'
	put2(out[5:], month)
	out[7] = '-'
	put2(out[8:], day)
	out[10] = 'T'
	put2(out[11:], hh)
	out[13] = ':'
	put2(out[14:], mm)
	out[16] = ':'
	put2(out[17:], ss)
	n := 19
	if ns := uint64(t.Nanosecond()); ns != 0 {
		out[19] = '.'
		out[20] = byte('0' + ns/1e8)
		put2(out[21:], ns/1e6%100)
		put2(out[23:], ns/1e4%100)
		put2(out[25:], ns/100%100)
		put2(out[27:], ns%100)
		for n = 29; out[n-1] == '0'; n-- { // ns > 0: a digit is not 0
		}
	}
	out[n] = 'Z'
	return append(b, out[:n+1]...)
}

// put2 writes v, below 100, as two decimal digits.
func put2(b []byte, v uint64) {
	const pairs = "00010203040506070809101112131415161718192021222324252627282930313233343536373839" +
		"40414243444546474849505152535455565758596061626364656667686970717273747576777879" +
		"8081828384858687888990919293949596979899"
	b[0], b[1] = pairs[2*v], pairs[2*v+1]
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string: `"` and `\` escaped, \n \r \t
// as such, other bytes below 0x20 and 0x7f as \u00xx, invalid UTF-8 as
// U+FFFD, everything else as it is.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	b = appendStringBody(b, s)
	return append(b, '"')
}

// appendStringBody is appendString without the quotes.
func appendStringBody(b []byte, s string) []byte {
	for {
		// Copy a run of bytes that need no escape at once.
		i := plainPrefix(s)
		b = append(b, s[:i]...)
		if i == len(s) {
			return b
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
			s = s[i+1:]
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, "\uFFFD"...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		s = s[i+size:]
	}
}

// plainPrefix is the length of the longest prefix of s whose bytes
// appendString copies as they are (plainByte), found eight bytes at a time.
func plainPrefix(s string) int {
	i := 0
	for ; len(s)-i >= 8; i += 8 {
		if m := specialBytes(load64(s[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	switch {
	case i == len(s):
		return i
	case i > 0:
		// The last eight bytes, overlapping ones already found plain.
		if m := specialBytes(load64(s[len(s)-8:])); m != 0 {
			return len(s) - 8 + bits.TrailingZeros64(m)/8
		}
		return len(s)
	}
	for ; i < len(s); i++ {
		if !plainByte[s[i]] {
			break
		}
	}
	return i
}

// load64 is s's first eight bytes as a little-endian number.
func load64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// specialBytes sets the high bit of each byte of w, eight bytes of a
// string, that plainByte does not mark: below 0x20, at least 0x7f, '"' or
// '\\'. The sums that test a byte never carry out of it, so each bit is
// exact.
func specialBytes(w uint64) uint64 {
	const (
		ones = 0x0101010101010101
		high = 0x8080808080808080
		low7 = 0x7f7f7f7f7f7f7f7f
	)
	x := w & low7
	ctl := ^(x + ones*(0x80-0x20) | w)
	del := x + ones | w
	quote := ^((x ^ ones*'"') + low7 | w)
	bslash := ^((x ^ ones*'\\') + low7 | w)
	return (ctl | del | quote | bslash) & high
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
