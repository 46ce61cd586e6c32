package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The encoder as it was before it was made faster, kept verbatim (only
// renamed) as the reference the current one must match byte for byte: the
// hash chain, FORMAT.md's vectors and every log already written depend on
// it.

func refAppendBody(b []byte, r *Record) []byte {
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, int64(r.V), 10)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, r.Seq, 10)
	b = append(b, `,"time":"`...)
	b = r.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","type":`...)
	b = refAppendString(b, r.Type)
	if r.Client != (Client{}) {
		b = append(b, `,"client":{"uid":`...)
		b = strconv.AppendUint(b, uint64(r.Client.UID), 10)
		b = append(b, `,"gid":`...)
		b = strconv.AppendUint(b, uint64(r.Client.GID), 10)
		b = append(b, `,"pid":`...)
		b = strconv.AppendInt(b, int64(r.Client.PID), 10)
		b = refAppendOptString(b, `,"unit":`, r.Client.Unit)
		b = refAppendOptString(b, `,"exe":`, r.Client.Exe)
		b = append(b, '}')
	}
	b = refAppendOptString(b, `,"op":`, r.Op)
	b = refAppendOptString(b, `,"credential":`, r.Credential)
	b = refAppendOptString(b, `,"method":`, r.Method)
	b = refAppendOptString(b, `,"host":`, r.Host)
	b = refAppendOptString(b, `,"path":`, r.Path)
	b = refAppendOptString(b, `,"params":`, r.Params)
	b = refAppendOptString(b, `,"decision":`, r.Decision)
	b = refAppendOptString(b, `,"rule":`, r.Rule)
	b = refAppendOptString(b, `,"reason":`, r.Reason)
	if r.LatencyUS != 0 {
		b = append(b, `,"latency_us":`...)
		b = strconv.AppendInt(b, r.LatencyUS, 10)
	}
	if r.Status != 0 {
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(r.Status), 10)
	}
	b = append(b, `,"prev":`...)
	b = refAppendString(b, r.Prev)
	return append(b, '}')
}

func refAppendLine(b []byte, r *Record) ([]byte, string) {
	start := len(b)
	b = refAppendBody(b, r)
	sum := sha256.Sum256(b[start:])
	b = append(b[:len(b)-1], `,"hash":"`...)
	b = hex.AppendEncode(b, sum[:])
	h := string(b[len(b)-2*sha256.Size:])
	b = append(b, "\"}\n"...)
	return b, h
}

func refAppendOptString(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	b = append(b, key...)
	return refAppendString(b, s)
}

func refAppendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		// Copy a run of bytes that need no escape at once.
		j := i
		for j < len(s) && refPlainByte[s[j]] {
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

var refPlainByte = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// pieces are the awkward parts random strings are made of: every kind of
// escape, multi-byte characters, invalid and cut-off UTF-8, and the
// characters other JSON encoders escape but this one does not.
var pieces = []string{
	"a", "plain text ", "/api/v3/order", "\"", "\\", "\n", "\r", "\t", "\x00", "\x01", "\x08", "\x0c", "\x1f",
	"\x7f", " ", "~", "é", "€", "😀", "\u2028", "\u2029", "\uFFFD", "/", "<", ">", "&", "\xff", "\xfe", "\x80",
	"\xc3", "\xe2\x82", "\xf0\x9f\x98", "\xed\xa0\x80", "\xc0\xaf", "\xf4\x90\x80\x80",
}

func randString(rng *rand.Rand) string {
	var b []byte
	switch rng.IntN(6) {
	case 0:
		return ""
	case 1: // printable ASCII, the usual field
		for range rng.IntN(80) {
			b = append(b, byte(0x20+rng.IntN(0x5f)))
		}
	case 2: // any bytes at all
		for range rng.IntN(40) {
			b = append(b, byte(rng.IntN(256)))
		}
	case 3: // long runs, past maxField (the encoder does not clip: normalize does)
		for range rng.IntN(2100) {
			b = append(b, byte(0x20+rng.IntN(0x5f)))
		}
		if rng.IntN(2) == 0 {
			b = append(b, pieces[rng.IntN(len(pieces))]...)
		}
	case 4: // a hash
		b = hex.AppendEncode(b, binary.LittleEndian.AppendUint64(nil, rng.Uint64()))
	default:
		for range rng.IntN(20) {
			b = append(b, pieces[rng.IntN(len(pieces))]...)
		}
	}
	return string(b)
}

// timeEdges are instants where a hand-written date formatter goes wrong:
// the ends of the four-digit years, leap days of the years that are and
// are not leap years by the 4/100/400 rules, the epoch, era boundaries.
var timeEdges = func() []time.Time {
	var ts []time.Time
	for _, y := range []int{0, 1, 3, 4, 99, 100, 399, 400, 401, 1600, 1700, 1899, 1900, 1969, 1970, 1971, 1999, 2000,
		2001, 2024, 2025, 2026, 2038, 2099, 2100, 2400, 9600, 9998, 9999} {
		for _, md := range [][2]int{{1, 1}, {2, 28}, {2, 29}, {3, 1}, {12, 31}} {
			d := time.Date(y, time.Month(md[0]), md[1], 0, 0, 0, 0, time.UTC)
			ts = append(ts, d, d.Add(-time.Nanosecond), d.Add(time.Nanosecond), d.Add(-time.Second),
				d.Add(24*time.Hour-time.Nanosecond), d.Add(12*time.Hour+34*time.Minute+56*time.Second))
		}
	}
	return append(ts, time.Time{}, time.Unix(0, 0), time.Unix(-1, 0), time.Unix(-1, 999999999),
		time.Unix(minFastUnix, 0), time.Unix(minFastUnix-1, 999999999), time.Unix(maxFastUnix, 0),
		time.Unix(maxFastUnix-1, 999999999), time.Unix(1<<40, 5), time.Unix(-1<<40, 5),
		time.Unix(1<<62, 123), time.Unix(-1<<62, 0), time.Date(-1, 12, 31, 23, 59, 59, 1e8, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(292277026596, 12, 4, 15, 30, 7, 0, time.UTC))
}()

func randTime(rng *rand.Rand) time.Time {
	var t time.Time
	switch rng.IntN(5) {
	case 0: // anywhere in the four-digit years, and a little past them
		t = time.Unix(minFastUnix-1e9+rng.Int64N(maxFastUnix-minFastUnix+2e9), 0)
	case 1: // near an edge
		t = timeEdges[rng.IntN(len(timeEdges))].Add(time.Duration(rng.Int64N(4e14) - 2e14))
	case 2: // an edge itself
		return timeEdges[rng.IntN(len(timeEdges))]
	case 3: // now, with a monotonic reading
		return time.Now().Add(time.Duration(rng.Int64N(2e18) - 1e18))
	default: // this century
		t = time.Unix(946684800+rng.Int64N(100*365*86400), 0)
	}
	// Nanoseconds with every number of trailing zeros, and none at all.
	var ns int64
	switch rng.IntN(4) {
	case 0:
	case 1:
		ns = rng.Int64N(1e9)
	case 2:
		ns = rng.Int64N(1e9) / pow10[rng.IntN(10)] * pow10[rng.IntN(10)] % 1e9
	default:
		ns = []int64{1, 9, 10, 100, 120000000, 999999999, 500000000, 100000000, 1000}[rng.IntN(9)]
	}
	t = time.Unix(t.Unix(), ns)
	switch rng.IntN(4) { // the encoder writes UTC whatever the zone
	case 0:
		t = t.In(time.FixedZone("", (rng.IntN(49)-24)*1800))
	case 1:
		t = t.Local()
	}
	return t
}

var pow10 = []int64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9}

func randRecord(rng *rand.Rand) Record {
	r := Record{
		V: []int{1, 1, 1, 0, 2, -1, 1 << 40}[rng.IntN(7)], Seq: []uint64{rng.Uint64(), rng.Uint64N(1e7), 0, 1<<64 - 1}[rng.IntN(4)],
		Time: randTime(rng), Type: randString(rng), Op: randString(rng), Credential: randString(rng),
		Method: randString(rng), Host: randString(rng), Path: randString(rng), Params: randString(rng),
		Decision: randString(rng), Rule: randString(rng), Reason: randString(rng), Prev: randString(rng),
		Hash: randString(rng),
	}
	if rng.IntN(4) != 0 {
		r.Client = Client{UID: rng.Uint32() >> rng.IntN(32), GID: rng.Uint32() >> rng.IntN(32),
			PID: int32(rng.Uint32()) >> rng.IntN(32), Unit: randString(rng), Exe: randString(rng)}
	}
	if rng.IntN(3) != 0 {
		r.LatencyUS = int64(rng.Uint64()) >> rng.IntN(64)
	}
	if rng.IntN(3) != 0 {
		r.Status = int(int64(rng.Uint64()) >> rng.IntN(64))
	}
	if rng.IntN(2) == 0 {
		normalize(&r)
		r.Prev = Genesis
	}
	return r
}

func newRand(t testing.TB) *rand.Rand {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	return rand.New(rand.NewPCG(seed, seed>>32))
}

// TestEncoderMatchesReference: the encoder writes, byte for byte, what the
// reference encoder wrote, for any record at all, and appends to what b
// already holds without touching it.
func TestEncoderMatchesReference(t *testing.T) {
	rng := newRand(t)
	n := 30000
	if testing.Short() {
		n = 3000
	}
	for i := range n {
		r := randRecord(rng)
		prefix := []byte(randString(rng))
		if i%3 == 0 {
			prefix = slices.Grow(prefix, rng.IntN(5000)) // appends in place, and past cap
		}
		keep := string(prefix)
		want := refAppendBody([]byte(keep), &r)
		got := appendBody(prefix, &r)
		require.Equal(t, string(want), string(got), "body of %#v", r)

		wantLine, wantHash := refAppendLine([]byte(keep), &r)
		gotLine, gotHash := appendLine(prefix[:len(keep):len(keep)], &r)
		require.Equal(t, string(wantLine), string(gotLine), "line of %#v", r)
		require.Equal(t, wantHash, gotHash)
		require.Equal(t, keep, string(got[:len(keep)]))

		if r.V == FormatVersion && r.Seq > 0 {
			j, err := r.MarshalJSON()
			require.NoError(t, err)
			require.Equal(t, string(wantLine[len(keep):len(wantLine)-1]), string(j))
		}
	}
}

// TestAppendTimeMatchesTimeFormat: appendTime is t.UTC().AppendFormat(b,
// time.RFC3339Nano), byte for byte, over random instants, every edge of
// the calendar, and every number of nanosecond digits.
func TestAppendTimeMatchesTimeFormat(t *testing.T) {
	check := func(tm time.Time) {
		t.Helper()
		want := tm.UTC().AppendFormat([]byte("x"), time.RFC3339Nano)
		got := appendTime([]byte("x"), tm)
		if string(got) != string(want) {
			t.Fatalf("appendTime(%s) (unix %d, ns %d) = %q, want %q", tm, tm.Unix(), tm.Nanosecond(), got, want)
		}
	}
	for _, tm := range timeEdges {
		for _, ns := range []int64{0, 1, 10, 999999999, 100000000, 123456789, 120000000} {
			check(time.Unix(tm.Unix(), ns))
		}
		check(tm)
	}
	// Every day of a 400-year cycle and a few around it, at a second
	// that changes with the day.
	for d := time.Date(1599, 12, 1, 0, 0, 0, 0, time.UTC); d.Year() < 2001; d = d.AddDate(0, 0, 1) {
		check(d.Add(time.Duration(d.YearDay()) * 237 * time.Second))
	}
	rng := newRand(t)
	for range 500000 {
		check(randTime(rng))
	}
}

// TestPlainPrefix: plainPrefix finds the first byte plainByte does not
// mark, for every byte value at every position, in every lane of the
// eight-byte words and in the tail after them.
func TestPlainPrefix(t *testing.T) {
	slow := func(s string) int {
		i := 0
		for i < len(s) && plainByte[s[i]] {
			i++
		}
		return i
	}
	base := []byte(" ~!#$%&'()*+,-./0123456789:;<=>?@AZ[]^_`az{|}")
	for n := 0; n <= 25; n++ {
		s := make([]byte, n)
		for i := range s {
			s[i] = base[i%len(base)]
		}
		require.Equal(t, n, plainPrefix(string(s)))
		for pos := range n {
			for c := range 256 {
				s[pos] = byte(c)
				require.Equal(t, slow(string(s)), plainPrefix(string(s)), "%q", s)
			}
			s[pos] = base[pos%len(base)]
		}
	}
	rng := newRand(t)
	for range 100000 {
		s := randString(rng)
		require.Equal(t, slow(s), plainPrefix(s), "%q", s)
	}
}

// TestAppendHex: appendHex is hex.AppendEncode, for every byte value in
// every position.
func TestAppendHex(t *testing.T) {
	rng := newRand(t)
	for i := range 1000 {
		var sum [sha256.Size]byte
		for j := range sum {
			sum[j] = byte(i + j*37)
			if i >= 256 {
				sum[j] = byte(rng.IntN(256))
			}
		}
		prefix := []byte(randString(rng))
		want := hex.AppendEncode(slices.Clone(prefix), sum[:])
		require.Equal(t, string(want), string(appendHex(prefix, &sum)))
	}
}

// TestWriterMatchesReference: what the writer puts in the files — with its
// own way of chaining prev, and across rotations — is the reference
// encoding of the chain, byte for byte.
func TestWriterMatchesReference(t *testing.T) {
	rng := newRand(t)
	path := filepath.Join(t.TempDir(), "audit.log")
	l := openLog(t, Options{Path: path, MaxBytes: 64 << 10, Keep: 1000, QueueLen: 64})
	var want []byte
	prev := Genesis
	for i := range 3000 {
		r := randRecord(rng)
		r.Time = time.Unix(946684800+rng.Int64N(100*365*86400), rng.Int64N(1e9)) // one Verify can read
		require.NoError(t, l.Append(r))
		normalize(&r)
		r.Seq, r.Prev = uint64(i+1), prev
		want, prev = refAppendLine(want, &r)
	}
	require.NoError(t, l.Close())

	rep, err := Verify(path)
	require.NoError(t, err)
	require.True(t, rep.OK, "%+v", rep.Problem)
	require.Greater(t, len(rep.Files), 3, "rotated")
	var got []byte
	for _, name := range rep.Files {
		b, err := os.ReadFile(name)
		require.NoError(t, err)
		got = append(got, b...)
	}
	require.Equal(t, string(want), string(got))
	assert.Equal(t, prev, rep.Head)
}

// FuzzEncoder: the encoder and the reference agree on any record.
func FuzzEncoder(f *testing.F) {
	f.Add("request", "bot.service", "/usr/bin/python3", "/api/v3/order", "", Genesis, uint64(7), int64(1772366400), uint32(120000000), int32(42), int64(40), 0)
	f.Add("a\"b\\c\n\x01\x7f\xffé", "", "\u2028", "\xc3", "x\ty", "\xf0\x9f\x98", uint64(1<<64-1), int64(-62167219201), uint32(999999999), int32(-1), int64(-5), -200)
	f.Fuzz(func(t *testing.T, typ, unit, exe, path, reason, prev string, seq uint64, unix int64, nanos uint32, pid int32, latency int64, status int) {
		r := Record{V: 1, Seq: seq, Time: time.Unix(unix, int64(nanos%1e9)), Type: typ,
			Client: Client{UID: uint32(seq), PID: pid, Unit: unit, Exe: exe}, Op: typ, Credential: exe, Method: unit,
			Host: reason, Path: path, Params: prev, Decision: typ, Rule: path, Reason: reason,
			LatencyUS: latency, Status: status, Prev: prev}
		want, wantHash := refAppendLine([]byte(path), &r)
		got, gotHash := appendLine([]byte(path), &r)
		if string(got) != string(want) || gotHash != wantHash {
			t.Fatalf("record %#v:\n got %q\nwant %q", r, got, want)
		}
	})
}
