package vault

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Format constants; FORMAT.md is the specification.
const (
	magic         = "keyward-vault "
	formatVersion = 1
	versionLine   = "keyward-vault v1"

	maxFileSize = 256 << 20
	maxLine     = 1 << 20
	maxRecords  = 1_000_000

	recordInfo = "keyward record v1"
	macInfo    = "keyward vault mac v1"
	aadDomain  = "keyward record aad v1"
)

// b64 is standard base64 without padding; Strict rejects non-zero trailing
// bits, so every value has exactly one encoding.
var b64 = base64.RawStdEncoding.Strict()

// sealedRecord is a record as stored: metadata, the HKDF salt, the GCM nonce
// and the ciphertext with its tag. It holds no plaintext.
type sealedRecord struct {
	rec    Record
	salt   []byte
	nonce  []byte
	sealed []byte
	line   []byte // the exact "record ...\n" line
}

// parsed is a vault file taken apart. All slices point into raw.
type parsed struct {
	raw      []byte
	params   Params
	salt     []byte // argon2id salt
	header   []byte // lines 1–2, the key line's additional data
	keyNonce []byte
	wrapped  []byte // data key sealed under the KEK, with tag
	keyEnd   int    // raw[:keyEnd] is lines 1–3
	records  []sealedRecord
	macEnd   int    // raw[:macEnd] is what the MAC covers
	mac      []byte // 32 bytes
}

func corrupt(line int, format string, args ...any) error {
	if line > 0 {
		return fmt.Errorf("%w: line %d: %s", ErrCorrupt, line, fmt.Sprintf(format, args...))
	}
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// parse checks, in this order, the magic, the line structure and bounds, the
// sum, the version, then every line. The sum comes before the version so a
// damaged version line is reported as damage, not as a newer format: every
// format version keeps "sum <hex>" as its last line (FORMAT.md).
func parse(raw []byte) (*parsed, error) {
	if len(raw) == 0 {
		return nil, corrupt(0, "the file is empty")
	}
	if len(raw) > maxFileSize {
		return nil, corrupt(0, "the file is larger than %d MiB", maxFileSize>>20)
	}
	if !bytes.HasPrefix(raw, []byte(magic)) {
		return nil, corrupt(1, "not a keyward vault (it does not start with %q)", magic)
	}
	if raw[len(raw)-1] != '\n' {
		return nil, corrupt(0, "the file is truncated (it does not end with a newline)")
	}
	var lines [][]byte // each without its newline
	var starts []int
	for off := 0; off < len(raw); {
		if len(lines) >= maxRecords+5 {
			return nil, corrupt(0, "more than %d records", maxRecords)
		}
		n := bytes.IndexByte(raw[off:], '\n')
		if n > maxLine {
			return nil, corrupt(len(lines)+1, "longer than %d bytes", maxLine)
		}
		lines = append(lines, raw[off:off+n])
		starts = append(starts, off)
		off += n + 1
	}
	last := len(lines)
	sumLine := lines[last-1]
	want, ok := bytes.CutPrefix(sumLine, []byte("sum "))
	if !ok || len(want) != 2*sha256.Size {
		return nil, corrupt(last, "expected the sum line (the file is truncated or damaged)")
	}
	got := sha256.Sum256(raw[:starts[last-1]])
	if !bytes.Equal(want, []byte(hex.EncodeToString(got[:]))) {
		return nil, corrupt(last, "checksum mismatch: the file was damaged (a changed byte or a truncation)")
	}

	if v := string(lines[0]); v != versionLine {
		n, err := strconv.ParseUint(strings.TrimPrefix(v, "keyward-vault v"), 10, 32)
		if err == nil && n > formatVersion && strings.HasPrefix(v, "keyward-vault v") {
			return nil, fmt.Errorf("%w: vault format v%d is newer than this keyward (v%d): upgrade keyward", ErrUnsupportedVersion, n, formatVersion)
		}
		return nil, corrupt(1, "expected %q", versionLine)
	}
	if last < 5 {
		return nil, corrupt(0, "the file has %d lines, a vault has at least 5", last)
	}
	p := &parsed{raw: raw}
	var err error
	if p.params, p.salt, err = parseKDF(lines[1]); err != nil {
		return nil, err
	}
	p.header = raw[:starts[2]]
	if p.keyNonce, p.wrapped, err = parseKey(lines[2]); err != nil {
		return nil, err
	}
	p.keyEnd = starts[3]
	macLine := last - 1 // 1-based number of the mac line
	m, ok := bytes.CutPrefix(lines[macLine-1], []byte("mac "))
	if !ok {
		return nil, corrupt(macLine, "expected the mac line")
	}
	if p.mac, err = decodeB64(m, keySize); err != nil {
		return nil, corrupt(macLine, "mac: %v", err)
	}
	p.macEnd = starts[macLine-1]

	p.records = make([]sealedRecord, 0, macLine-4)
	var in interner
	for i := 4; i < macLine; i++ {
		line := lines[i-1]
		body, ok := bytes.CutPrefix(line, []byte("record "))
		if !ok {
			return nil, corrupt(i, "expected a record line")
		}
		sr, err := parseRecord(body, &in)
		if err != nil {
			return nil, corrupt(i, "record: %v", err)
		}
		sr.line = raw[starts[i-1] : starts[i-1]+len(line)+1]
		if n := len(p.records); n > 0 && p.records[n-1].rec.Name >= sr.rec.Name {
			// Intact (the sum matched) but not as keyward writes it.
			return nil, fmt.Errorf("%w: line %d: record %q is out of order or duplicated (keyward keeps records sorted by name)", ErrTampered, i, sr.rec.Name)
		}
		p.records = append(p.records, sr)
	}
	return p, nil
}

func parseKDF(line []byte) (Params, []byte, error) {
	f := strings.Split(string(line), " ")
	if len(f) < 2 || f[0] != "kdf" {
		return Params{}, nil, corrupt(2, "expected the kdf line")
	}
	if f[1] != "argon2id" {
		return Params{}, nil, fmt.Errorf("%w: key derivation %q is not supported by this keyward: upgrade keyward", ErrUnsupportedVersion, f[1])
	}
	if len(f) != 6 {
		return Params{}, nil, corrupt(2, "kdf: expected \"kdf argon2id t=N m=N p=N salt=B64\"")
	}
	num := func(field, name string, bits int) (uint64, error) {
		s, ok := strings.CutPrefix(field, name+"=")
		n, err := strconv.ParseUint(s, 10, bits)
		if !ok || err != nil || strconv.FormatUint(n, 10) != s {
			return 0, corrupt(2, "kdf: %s= must be a decimal number", name)
		}
		return n, nil
	}
	t, err := num(f[2], "t", 32)
	if err != nil {
		return Params{}, nil, err
	}
	m, err := num(f[3], "m", 32)
	if err != nil {
		return Params{}, nil, err
	}
	th, err := num(f[4], "p", 8)
	if err != nil {
		return Params{}, nil, err
	}
	p := Params{Time: uint32(t), MemoryKiB: uint32(m), Threads: uint8(th)}
	if err := p.validate(); err != nil {
		return Params{}, nil, corrupt(2, "kdf: %v", err)
	}
	s, ok := strings.CutPrefix(f[5], "salt=")
	if !ok {
		return Params{}, nil, corrupt(2, "kdf: expected salt=")
	}
	salt, err := decodeB64([]byte(s), saltSize)
	if err != nil {
		return Params{}, nil, corrupt(2, "kdf: salt: %v", err)
	}
	return p, salt, nil
}

func parseKey(line []byte) (nonce, wrapped []byte, err error) {
	f := bytes.Split(line, []byte(" "))
	if len(f) != 3 || string(f[0]) != "key" {
		return nil, nil, corrupt(3, "expected \"key NONCE WRAPPED\"")
	}
	if nonce, err = decodeB64(f[1], nonceSize); err != nil {
		return nil, nil, corrupt(3, "key nonce: %v", err)
	}
	if wrapped, err = decodeB64(f[2], keySize+tagSize); err != nil {
		return nil, nil, corrupt(3, "wrapped key: %v", err)
	}
	return nonce, wrapped, nil
}

// decodeB64 decodes unpadded standard base64 of exactly size bytes
// (size < 0: any size). Go's decoder skips '\r' and '\n', so other bytes
// than the alphabet are refused first: every value has one encoding.
func decodeB64(s []byte, size int) ([]byte, error) {
	if size >= 0 && len(s) != b64.EncodedLen(size) {
		return nil, fmt.Errorf("expected %d bytes of unpadded base64", size)
	}
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/') {
			return nil, fmt.Errorf("invalid base64")
		}
	}
	out := make([]byte, b64.DecodedLen(len(s)))
	n, err := b64.Decode(out, s)
	if err != nil || (size >= 0 && n != size) {
		return nil, fmt.Errorf("invalid base64")
	}
	return out[:n], nil
}

// recordJSON is how a record line decodes. Decoding is lenient; parseRecord
// then re-encodes and demands the same bytes, so only the canonical form
// (FORMAT.md) is accepted.
type recordJSON struct {
	Name    string            `json:"name"`
	Scheme  string            `json:"scheme"`
	APIKey  string            `json:"api_key"`
	Meta    map[string]string `json:"meta"`
	Created string            `json:"created"`
	Rotated string            `json:"rotated"`
	Version uint32            `json:"version"`
	Salt    string            `json:"salt"`
	Nonce   string            `json:"nonce"`
	Sealed  string            `json:"sealed"`
}

// parseRecord parses a record line's JSON. Its scheme and metadata come
// from in, shared with every other record of the file that has the same.
func parseRecord(body []byte, in *interner) (sealedRecord, error) {
	var j recordJSON
	if err := json.Unmarshal(body, &j); err != nil {
		return sealedRecord{}, fmt.Errorf("malformed JSON")
	}
	var sr sealedRecord
	var err error
	sr.rec = Record{Name: j.Name, Scheme: j.Scheme, APIKey: j.APIKey, Meta: j.Meta, Version: j.Version}
	if sr.rec.Created, err = time.Parse(timeLayout, j.Created); err != nil {
		return sealedRecord{}, fmt.Errorf("created: expected a UTC time like 2006-01-02T15:04:05Z")
	}
	if sr.rec.Rotated, err = time.Parse(timeLayout, j.Rotated); err != nil {
		return sealedRecord{}, fmt.Errorf("rotated: expected a UTC time like 2006-01-02T15:04:05Z")
	}
	if err := sr.rec.validate(); err != nil {
		return sealedRecord{}, err
	}
	if sr.salt, err = decodeB64([]byte(j.Salt), recSaltSize); err != nil {
		return sealedRecord{}, fmt.Errorf("salt: %v", err)
	}
	if sr.nonce, err = decodeB64([]byte(j.Nonce), nonceSize); err != nil {
		return sealedRecord{}, fmt.Errorf("nonce: %v", err)
	}
	if len(j.Sealed) > b64.EncodedLen(MaxSecretSize+tagSize) {
		return sealedRecord{}, fmt.Errorf("sealed: longer than a %d-byte secret", MaxSecretSize)
	}
	if sr.sealed, err = decodeB64([]byte(j.Sealed), -1); err != nil {
		return sealedRecord{}, fmt.Errorf("sealed: %v", err)
	}
	if len(sr.sealed) <= tagSize {
		return sealedRecord{}, fmt.Errorf("sealed: too short to hold a secret")
	}
	in.enc = appendRecordJSON(in.enc[:0], sr)
	if !bytes.Equal(in.enc, body) {
		return sealedRecord{}, fmt.Errorf("not in canonical form (field order, spacing, escapes or a duplicate or unknown field)")
	}
	sr.rec.Scheme = in.scheme(sr.rec.Scheme)
	sr.rec.Meta = in.meta(sr.rec.Meta)
	return sr, nil
}

// interner shares equal schemes and metadata between the records of a
// file. A platform's 100,000 credentials have a handful of distinct
// metadata maps, and a map per record would be a third of the vault's
// memory. A shared map is never modified: every Record handed out is a
// clone (Record.clone), and records made by Add, Rotate and AddBatch have
// maps of their own.
type interner struct {
	schemes map[string]string
	metas   map[string]map[string]string // canonical encoding -> the shared map
	keys    []string
	buf     []byte
	enc     []byte // scratch for parseRecord's canonical encoding
}

func (in *interner) scheme(s string) string {
	if t, ok := in.schemes[s]; ok {
		return t
	}
	if in.schemes == nil {
		in.schemes = make(map[string]string)
	}
	in.schemes[s] = s
	return s
}

// meta returns the shared map equal to m, which it keeps if there is none
// yet; never nil.
func (in *interner) meta(m map[string]string) map[string]string {
	in.keys = in.keys[:0]
	for k := range m {
		in.keys = append(in.keys, k)
	}
	slices.Sort(in.keys)
	b := in.buf[:0]
	for _, k := range in.keys {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, uint64(len(m[k])))
		b = append(b, m[k]...)
	}
	in.buf = b
	if shared, ok := in.metas[string(b)]; ok {
		return shared
	}
	if in.metas == nil {
		in.metas = make(map[string]map[string]string)
	}
	if m == nil {
		m = map[string]string{}
	}
	in.metas[string(b)] = m
	return m
}

// appendRecordJSON appends the canonical JSON of a record to b. Strings are
// validated to hold no control characters, so only '"' and '\' are escaped.
func appendRecordJSON(b []byte, sr sealedRecord) []byte {
	str := func(s string) {
		b = append(b, '"')
		for {
			i := strings.IndexAny(s, `"\`)
			if i < 0 {
				break
			}
			b = append(append(b, s[:i]...), '\\', s[i])
			s = s[i+1:]
		}
		b = append(append(b, s...), '"')
	}
	field := func(name string, first bool) {
		if !first {
			b = append(b, ',')
		}
		b = append(append(append(b, '"'), name...), '"', ':')
	}
	b64str := func(v []byte) {
		b = append(b64.AppendEncode(append(b, '"'), v), '"')
	}
	b = append(b, '{')
	field("name", true)
	str(sr.rec.Name)
	field("scheme", false)
	str(sr.rec.Scheme)
	field("api_key", false)
	str(sr.rec.APIKey)
	field("meta", false)
	b = append(b, '{')
	keys := make([]string, 0, len(sr.rec.Meta))
	for k := range sr.rec.Meta {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		str(k)
		b = append(b, ':')
		str(sr.rec.Meta[k])
	}
	b = append(b, '}')
	field("created", false)
	b = append(sr.rec.Created.UTC().AppendFormat(append(b, '"'), timeLayout), '"')
	field("rotated", false)
	b = append(sr.rec.Rotated.UTC().AppendFormat(append(b, '"'), timeLayout), '"')
	field("version", false)
	b = strconv.AppendUint(b, uint64(sr.rec.Version), 10)
	field("salt", false)
	b64str(sr.salt)
	field("nonce", false)
	b64str(sr.nonce)
	field("sealed", false)
	b64str(sr.sealed)
	return append(b, '}')
}

func recordLine(sr sealedRecord) []byte { return appendRecordLine(nil, sr) }

// appendRecordLine appends sr's "record ...\n" line to b.
func appendRecordLine(b []byte, sr sealedRecord) []byte {
	return append(appendRecordJSON(append(b, "record "...), sr), '\n')
}

// recordAAD is the additional data that binds a record's metadata to its
// ciphertext: a domain string, then each field length-prefixed (uint32
// big-endian), meta as a count and sorted key/value pairs, version last.
func recordAAD(r Record) []byte {
	var b []byte
	put := func(s string) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	put(aadDomain)
	put(r.Name)
	put(r.Scheme)
	put(r.APIKey)
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.Meta)))
	for _, k := range slices.Sorted(maps.Keys(r.Meta)) {
		put(k)
		put(r.Meta[k])
	}
	put(r.Created.UTC().Format(timeLayout))
	put(r.Rotated.UTC().Format(timeLayout))
	b = binary.BigEndian.AppendUint32(b, r.Version)
	return b
}

func kdfLine(p Params, salt []byte) string {
	return fmt.Sprintf("kdf argon2id t=%d m=%d p=%d salt=%s\n", p.Time, p.MemoryKiB, p.Threads, b64.EncodeToString(salt))
}

func keyLine(nonce, wrapped []byte) string {
	return "key " + b64.EncodeToString(nonce) + " " + b64.EncodeToString(wrapped) + "\n"
}

// appendTrailer appends the mac and sum lines to body (header and records).
func appendTrailer(body, mac []byte) []byte {
	body = append(body, "mac "+b64.EncodeToString(mac)+"\n"...)
	sum := sha256.Sum256(body)
	return append(body, "sum "+hex.EncodeToString(sum[:])+"\n"...)
}
