package scheme

import (
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// This file parses the bot's JSON body for the hyperliquid scheme without
// losing what encoding/json would: the order of object keys (the action's
// msgpack follows it), the exact text of numbers (integer or float, which
// msgpack encodes differently), and the byte offsets of every value (the
// agent edits the body in place instead of re-serialising it).

// hlKind is the kind of a JSON value.
type hlKind byte

const (
	hlObject hlKind = iota + 1
	hlArray
	hlString
	hlNumber
	hlBool
	hlNull
)

// hlValue is one parsed JSON value.
type hlValue struct {
	kind       hlKind
	start, end int        // the value's bytes in the body: body[start:end]
	str        string     // hlString: the decoded string
	num        string     // hlNumber: the number's text as sent
	boolean    bool       // hlBool
	keys       []string   // hlObject: member names, in order
	vals       []*hlValue // hlObject: member values; hlArray: elements
	closeBrace int        // hlObject/hlArray: offset of the closing '}' or ']'
}

// get returns the member called name of an object, or nil.
func (v *hlValue) get(name string) *hlValue {
	if v == nil || v.kind != hlObject {
		return nil
	}
	for i, k := range v.keys {
		if k == name {
			return v.vals[i]
		}
	}
	return nil
}

// hlMaxDepth bounds nesting, so that a hostile body cannot exhaust the stack.
const hlMaxDepth = 64

// hlParser is a strict RFC 8259 parser.
type hlParser struct {
	s   string
	pos int
}

// hlParseJSON parses s, which must hold exactly one JSON value. Errors are
// *RequestError and quote at most a short piece of the body.
func hlParseJSON(s string) (*hlValue, error) {
	if !utf8.ValidString(s) {
		for i := 0; i < len(s); {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n <= 1 {
				return nil, badRequest(fmt.Sprintf("hyperliquid: the body is not valid UTF-8 at byte %d: send UTF-8 JSON", i))
			}
			i += n
		}
	}
	p := &hlParser{s: s}
	p.space()
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos != len(s) {
		return nil, p.fail("text after the JSON value")
	}
	return v, nil
}

func (p *hlParser) fail(what string) error {
	return badRequest(fmt.Sprintf("hyperliquid: the body is not valid JSON: %s at byte %d", what, p.pos))
}

func (p *hlParser) space() {
	for p.pos < len(p.s) {
		switch p.s[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *hlParser) value(depth int) (*hlValue, error) {
	if depth > hlMaxDepth {
		return nil, badRequest(fmt.Sprintf("hyperliquid: the body nests deeper than %d levels", hlMaxDepth))
	}
	if p.pos >= len(p.s) {
		return nil, p.fail("unexpected end")
	}
	start := p.pos
	switch c := p.s[p.pos]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		str, err := p.string()
		if err != nil {
			return nil, err
		}
		return &hlValue{kind: hlString, start: start, end: p.pos, str: str}, nil
	case c == '-' || '0' <= c && c <= '9':
		return p.number()
	case c == 't':
		return p.literal("true", &hlValue{kind: hlBool, boolean: true})
	case c == 'f':
		return p.literal("false", &hlValue{kind: hlBool})
	case c == 'n':
		return p.literal("null", &hlValue{kind: hlNull})
	default:
		return nil, p.fail("unexpected character")
	}
}

func (p *hlParser) literal(word string, v *hlValue) (*hlValue, error) {
	if len(p.s)-p.pos < len(word) || p.s[p.pos:p.pos+len(word)] != word {
		return nil, p.fail("unexpected character")
	}
	v.start, v.end = p.pos, p.pos+len(word)
	p.pos += len(word)
	return v, nil
}

func (p *hlParser) object(depth int) (*hlValue, error) {
	v := &hlValue{kind: hlObject, start: p.pos}
	p.pos++ // {
	p.space()
	if p.pos < len(p.s) && p.s[p.pos] == '}' {
		v.closeBrace = p.pos
		p.pos++
		v.end = p.pos
		return v, nil
	}
	for {
		p.space()
		if p.pos >= len(p.s) || p.s[p.pos] != '"' {
			return nil, p.fail("expected a member name")
		}
		key, err := p.string()
		if err != nil {
			return nil, err
		}
		for _, k := range v.keys {
			if k == key {
				return nil, badRequest(fmt.Sprintf("hyperliquid: the body has the key %q twice in one object: JSON parsers keep different copies, so send it once", truncate(key, 40)))
			}
		}
		p.space()
		if p.pos >= len(p.s) || p.s[p.pos] != ':' {
			return nil, p.fail("expected ':'")
		}
		p.pos++
		p.space()
		val, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		v.keys = append(v.keys, key)
		v.vals = append(v.vals, val)
		p.space()
		if p.pos >= len(p.s) {
			return nil, p.fail("unexpected end")
		}
		switch p.s[p.pos] {
		case ',':
			p.pos++
		case '}':
			v.closeBrace = p.pos
			p.pos++
			v.end = p.pos
			return v, nil
		default:
			return nil, p.fail("expected ',' or '}'")
		}
	}
}

func (p *hlParser) array(depth int) (*hlValue, error) {
	v := &hlValue{kind: hlArray, start: p.pos}
	p.pos++ // [
	p.space()
	if p.pos < len(p.s) && p.s[p.pos] == ']' {
		v.closeBrace = p.pos
		p.pos++
		v.end = p.pos
		return v, nil
	}
	for {
		p.space()
		val, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		v.vals = append(v.vals, val)
		p.space()
		if p.pos >= len(p.s) {
			return nil, p.fail("unexpected end")
		}
		switch p.s[p.pos] {
		case ',':
			p.pos++
		case ']':
			v.closeBrace = p.pos
			p.pos++
			v.end = p.pos
			return v, nil
		default:
			return nil, p.fail("expected ',' or ']'")
		}
	}
}

// string decodes a JSON string starting at the opening quote. A lone UTF-16
// surrogate (\ud800 without its pair) is refused: Python cannot encode it
// and JavaScript replaces it with U+FFFD, so the two reference signers
// would hash different bytes.
func (p *hlParser) string() (string, error) {
	p.pos++ // "
	start := p.pos
	// Fast path: no escapes.
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		if c == '"' {
			out := p.s[start:p.pos]
			p.pos++
			return out, nil
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return "", p.fail("a control character in a string (escape it)")
		}
		p.pos++
	}
	buf := []byte(p.s[start:p.pos])
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		switch {
		case c == '"':
			p.pos++
			return string(buf), nil
		case c < 0x20:
			return "", p.fail("a control character in a string (escape it)")
		case c != '\\':
			buf = append(buf, c)
			p.pos++
			continue
		}
		p.pos++ // backslash
		if p.pos >= len(p.s) {
			break
		}
		e := p.s[p.pos]
		p.pos++
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return "", p.fail(`a \u escape without four hex digits`)
			}
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if r < 0xdc00 && p.pos+1 < len(p.s) && p.s[p.pos] == '\\' && p.s[p.pos+1] == 'u' {
					p.pos += 2
					if r2, ok = p.hex4(); !ok {
						return "", p.fail(`a \u escape without four hex digits`)
					}
				}
				r = utf16.DecodeRune(r, r2)
				if r == utf8.RuneError {
					return "", p.fail(`a lone UTF-16 surrogate (\ud800-\udfff without its pair)`)
				}
			}
			buf = utf8.AppendRune(buf, r)
		default:
			return "", p.fail("an unknown escape in a string")
		}
	}
	return "", p.fail("an unterminated string")
}

func (p *hlParser) hex4() (rune, bool) {
	if len(p.s)-p.pos < 4 {
		return 0, false
	}
	var r rune
	for i := range 4 {
		c := p.s[p.pos+i]
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	p.pos += 4
	return r, true
}

func (p *hlParser) number() (*hlValue, error) {
	start := p.pos
	if p.s[p.pos] == '-' {
		p.pos++
	}
	digits := func() int {
		n := 0
		for p.pos < len(p.s) && '0' <= p.s[p.pos] && p.s[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	intStart := p.pos
	n := digits()
	if n == 0 {
		return nil, p.fail("a number without digits")
	}
	if n > 1 && p.s[intStart] == '0' {
		return nil, badRequest(fmt.Sprintf("hyperliquid: the body is not valid JSON: a number with a leading zero at byte %d", intStart))
	}
	if p.pos < len(p.s) && p.s[p.pos] == '.' {
		p.pos++
		if digits() == 0 {
			return nil, p.fail("a number without digits after '.'")
		}
	}
	if p.pos < len(p.s) && (p.s[p.pos] == 'e' || p.s[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.s) && (p.s[p.pos] == '+' || p.s[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			return nil, p.fail("a number without exponent digits")
		}
	}
	return &hlValue{kind: hlNumber, start: start, end: p.pos, num: p.s[start:p.pos]}, nil
}

// hlIsInteger reports whether a JSON number's text is an integer literal
// (no fraction, no exponent).
func hlIsInteger(num string) bool {
	for i := 0; i < len(num); i++ {
		switch num[i] {
		case '.', 'e', 'E':
			return false
		}
	}
	return true
}

// hlUint64 parses a JSON integer literal in [0, 2^64).
func hlUint64(v *hlValue) (uint64, bool) {
	if v == nil || v.kind != hlNumber || !hlIsInteger(v.num) || v.num[0] == '-' {
		return 0, false
	}
	n, err := strconv.ParseUint(v.num, 10, 64)
	return n, err == nil
}
