package protocol

import (
	"math"
	"unicode/utf8"
)

// The signing path's decoder. A sign request is decoded on every order,
// and encoding/json's reflection costs more than the rest of the agent's
// work together, so the two shapes on that path (the request envelope
// and SignArgs) have a hand-written decoder for the JSON that clients
// actually send: lower-case field names, each once, strings without \u
// escapes. Anything else — another spelling, a duplicate, an escape it
// does not take, an error of any kind — makes it give up, and
// encoding/json decodes the frame as before, with its own messages. So
// the fast path never changes what a frame means; FuzzFastDecode holds it
// to that against encoding/json.

// fastScanner walks one JSON text. src, when set, is b as a string: the
// strings str returns are then slices of it, and a whole sign request
// costs one copy instead of one per field. It is never set for a text that
// may hold a secret (the envelope, whose args may be an unlock's): a
// string cannot be wiped.
type fastScanner struct {
	b      []byte
	src    string
	i      int
	nameAt int // where the last name read begins in b
}

func (s *fastScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// consume skips whitespace and then c.
func (s *fastScanner) consume(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// peek skips whitespace and returns the next byte (0 at the end).
func (s *fastScanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// str reads a string with the simple escapes; false for anything else.
func (s *fastScanner) str() (string, bool) {
	if !s.consume('"') {
		return "", false
	}
	start := s.i
	ascii := true
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			raw := s.b[start:s.i]
			s.i++
			if !ascii && !utf8.Valid(raw) {
				return "", false // encoding/json would replace bytes: let it
			}
			if s.src != "" {
				return s.src[start : s.i-1], true
			}
			return string(raw), true
		case c == '\\':
			return s.escaped(start, ascii)
		case c < 0x20:
			return "", false
		case c >= 0x80:
			ascii = false
		}
		s.i++
	}
	return "", false
}

// name reads an object member's name in place, without copying it; a name
// with an escape or a byte outside ASCII gives up (no field of ours has
// one, and encoding/json then decides what it means).
func (s *fastScanner) name() ([]byte, bool) {
	if !s.consume('"') {
		return nil, false
	}
	start := s.i
	s.nameAt = start
	for s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			return s.b[start : s.i-1], true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, false
		}
		s.i++
	}
	return nil, false
}

// escaped finishes a string that has an escape at s.i.
func (s *fastScanner) escaped(start int, ascii bool) (string, bool) {
	out := make([]byte, 0, s.i-start+32)
	out = append(out, s.b[start:s.i]...)
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			if !ascii && !utf8.Valid(out) {
				return "", false
			}
			return string(out), true
		case c < 0x20:
			return "", false
		case c == '\\':
			if s.i+1 >= len(s.b) {
				return "", false
			}
			var r byte
			switch s.b[s.i+1] {
			case '"':
				r = '"'
			case '\\':
				r = '\\'
			case '/':
				r = '/'
			case 'n':
				r = '\n'
			case 't':
				r = '\t'
			case 'r':
				r = '\r'
			case 'b':
				r = '\b'
			case 'f':
				r = '\f'
			default:
				return "", false // \u and anything else: encoding/json decides
			}
			out = append(out, r)
			s.i += 2
			continue
		case c >= 0x80:
			ascii = false
		}
		out = append(out, c)
		s.i++
	}
	return "", false
}

// skipStr steps over a string as str would read it, without copying it:
// args may carry a secret (add, unlock), which must stay only in the
// frame, where it is wiped.
func (s *fastScanner) skipStr() bool {
	if !s.consume('"') {
		return false
	}
	for s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if s.i+1 >= len(s.b) || !isSimpleEscape(s.b[s.i+1]) {
				return false
			}
			s.i += 2
			continue
		}
		s.i++
	}
	return false
}

func isSimpleEscape(c byte) bool {
	switch c {
	case '"', '\\', '/', 'n', 't', 'r', 'b', 'f':
		return true
	}
	return false
}

// uint reads a non-negative integer as encoding/json reads it into uint64.
func (s *fastScanner) uint() (uint64, bool) {
	s.ws()
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	digits := s.b[start:s.i]
	if len(digits) == 0 || len(digits) > 1 && digits[0] == '0' {
		return 0, false
	}
	if s.i < len(s.b) {
		switch s.b[s.i] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	var n uint64
	for _, c := range digits {
		d := uint64(c - '0')
		if n > (math.MaxUint64-d)/10 {
			return 0, false // out of range: encoding/json says so
		}
		n = 10*n + d
	}
	return n, true
}

// object reads an object, calling field for each member with the scanner
// at the member's value; field returns false to give up.
func (s *fastScanner) object(field func(name []byte) bool) bool {
	if !s.consume('{') {
		return false
	}
	if s.consume('}') {
		return true
	}
	for {
		name, ok := s.name()
		if !ok || !s.consume(':') || !field(name) {
			return false
		}
		if s.consume(',') {
			continue
		}
		return s.consume('}')
	}
}

// rawObject steps over an object, the only kind of value args may be. It
// checks strings but not the object's structure: fastRequest's caller
// must parse what it returns strictly (fastSignArgs does).
func (s *fastScanner) rawObject() ([]byte, bool) {
	s.ws()
	start := s.i
	if s.i >= len(s.b) || s.b[s.i] != '{' {
		return nil, false
	}
	depth := 0
	for s.i < len(s.b) {
		switch c := s.b[s.i]; c {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				s.i++
				return s.b[start:s.i], true
			}
		case '"':
			if !s.skipStr() {
				return nil, false
			}
			continue
		}
		s.i++
	}
	return nil, false
}

// fastRequest decodes a request envelope. args aliases body. ok is false
// when the frame must go to encoding/json.
func fastRequest(body []byte) (id uint64, op string, args []byte, ok bool) {
	s := fastScanner{b: body}
	var seenID, seenOp, seenArgs bool
	ok = s.object(func(name []byte) bool {
		var ok bool
		switch string(name) {
		case "id":
			if seenID {
				return false
			}
			seenID = true
			id, ok = s.uint()
		case "op":
			if seenOp {
				return false
			}
			seenOp = true
			var raw []byte
			if raw, ok = s.name(); ok {
				op, ok = opNames[string(raw)]
			}
		case "args":
			if seenArgs {
				return false
			}
			seenArgs = true
			args, ok = s.rawObject()
		}
		return ok
	})
	s.ws()
	if !ok || s.i != len(s.b) || op == "" {
		return 0, "", nil, false
	}
	return id, op, args, true
}

// fastSignArgs decodes sign's arguments; false sends them to
// encoding/json.
func fastSignArgs(raw []byte, a *SignArgs) bool {
	s := fastScanner{b: raw, src: string(raw)}
	var seen [5]bool
	once := func(i int) bool {
		if seen[i] {
			return false
		}
		seen[i] = true
		return true
	}
	ok := s.object(func(name []byte) bool {
		var ok bool
		switch string(name) {
		case "credential":
			if !once(0) {
				return false
			}
			a.Credential, ok = s.str()
		case "method":
			if !once(1) {
				return false
			}
			a.Method, ok = s.str()
		case "url":
			if !once(2) {
				return false
			}
			a.URL, ok = s.str()
		case "body":
			if !once(3) {
				return false
			}
			a.Body, ok = s.str()
		case "headers":
			if !once(4) || s.peek() != '{' {
				return false
			}
			h := make(map[string]string)
			ok = s.object(func(name []byte) bool {
				k := s.src[s.nameAt : s.nameAt+len(name)] // no copy
				if _, dup := h[k]; dup {
					return false
				}
				v, ok := s.str()
				h[k] = v
				return ok
			})
			a.Headers = h
		}
		return ok
	})
	s.ws()
	return ok && s.i == len(s.b)
}

// opNames maps each operation's name to itself, so that the decoder reads
// an op without copying it. An op it does not know goes to encoding/json.
var opNames = func() map[string]string {
	m := make(map[string]string)
	for _, op := range Operations() {
		m[op] = op
	}
	return m
}()
