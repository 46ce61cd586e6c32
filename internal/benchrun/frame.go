package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"github.com/keyward/keyward/protocol"
)

// Request ids are fixed-width so that every request frame of a run has
// the same size and a new id is patched into a pre-encoded frame in place,
// without re-encoding JSON: ids start at idBase and stay below 10^idWidth.
const (
	idBase  = 1_000_000_000
	idWidth = 10
)

// credWidth is the width of the number in credential names ("c0000042"):
// fixed, so a frame can name any of a vault's credentials at the same size.
const credWidth = 7

// credName is the name of credential i in the benchmark's vaults.
func credName(i int) string { return fmt.Sprintf("c%0*d", credWidth, i) }

// frameTemplate is a request frame, length prefix included, encoded once.
// Put copies it with a new id (and credential number) patched in, so the
// agent and the echo baseline receive byte-identical frames of one size.
type frameTemplate struct {
	frame   []byte
	idOff   int // offset of the idWidth id digits in frame
	credOff int // offset of the credWidth credential digits, or -1
}

// newFrameTemplate encodes {"id":<id>,"op":op,"args":args} as a frame.
// When args names a credential made by credName, its number can be
// patched too.
func newFrameTemplate(op string, args any) (*frameTemplate, error) {
	argsJSON, err := protocol.Marshal(args)
	if err != nil {
		return nil, fmt.Errorf("encode %s args: %w", op, err)
	}
	argsJSON = bytes.TrimSuffix(argsJSON, []byte("\n"))
	opJSON, err := protocol.Marshal(op)
	if err != nil {
		return nil, fmt.Errorf("encode op %q: %w", op, err)
	}
	opJSON = bytes.TrimSuffix(opJSON, []byte("\n"))
	body := []byte(`{"id":`)
	idOff := 4 + len(body)
	body = strconv.AppendUint(body, idBase, 10)
	body = append(body, `,"op":`...)
	body = append(body, opJSON...)
	body = append(body, `,"args":`...)
	argsOff := 4 + len(body)
	body = append(body, argsJSON...)
	body = append(body, '}')
	frame, err := protocol.AppendFrame(nil, body)
	if err != nil {
		return nil, fmt.Errorf("frame %s request: %w", op, err)
	}
	t := &frameTemplate{frame: frame, idOff: idOff, credOff: -1}
	if i := bytes.Index(argsJSON, []byte(`"credential":"c`)); i >= 0 {
		off := argsOff + i + len(`"credential":"c`)
		if off+credWidth < len(frame) && frame[off+credWidth] == '"' && allDigits(frame[off:off+credWidth]) {
			t.credOff = off
		}
	}
	return t, nil
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

// Size is the frame's size on the wire, length prefix included.
func (t *frameTemplate) Size() int { return len(t.frame) }

// BodySize is the size of the frame's body.
func (t *frameTemplate) BodySize() int { return len(t.frame) - 4 }

// Put appends the frame with request id id (idBase ≤ id < 10^idWidth) and,
// if the template names a numbered credential and cred ≥ 0, credential
// number cred.
func (t *frameTemplate) Put(dst []byte, id uint64, cred int) []byte {
	start := len(dst)
	dst = append(dst, t.frame...)
	putDigits(dst[start+t.idOff:start+t.idOff+idWidth], id)
	if cred >= 0 && t.credOff >= 0 {
		putDigits(dst[start+t.credOff:start+t.credOff+credWidth], uint64(cred))
	}
	return dst
}

// putDigits writes v in decimal into b, zero-padded to len(b); digits
// that do not fit are dropped from the left.
func putDigits(b []byte, v uint64) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
}

// replyPrefix is how every successful reply body starts; the agent
// encodes protocol.Reply with the id first, and the echo server copies it.
const (
	replyIDPrefix  = `{"id":`
	replyResultTag = `,"result":`
)

// errNotResult is a reply that is not a success (an error reply).
var errNotResult = errors.New("reply is not a result")

// parseReply returns a reply body's id and checks that it carries a
// result. It reads only the first few bytes: the client stays as lean for
// the agent as for the echo baseline.
func parseReply(body []byte) (uint64, error) {
	if !bytes.HasPrefix(body, []byte(replyIDPrefix)) {
		return 0, fmt.Errorf("reply %.200q does not start with %s", body, replyIDPrefix)
	}
	rest := body[len(replyIDPrefix):]
	var id uint64
	n := 0
	for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
		id = id*10 + uint64(rest[n]-'0')
		n++
	}
	if n == 0 {
		return 0, fmt.Errorf("reply %.200q has no numeric id", body)
	}
	if !bytes.HasPrefix(rest[n:], []byte(replyResultTag)) {
		return id, fmt.Errorf("%w: %.300s", errNotResult, body)
	}
	return id, nil
}

// echoReply appends to dst a reply body of exactly size bytes for the
// request id digits in id: {"id":<id>,"result":{"pad":"xxx…"}}. It is
// what the echo server sends, shaped like the agent's reply so the same
// client code reads both.
func echoReply(dst []byte, id []byte, size int) []byte {
	start := len(dst)
	dst = append(dst, replyIDPrefix...)
	dst = append(dst, id...)
	dst = append(dst, replyResultTag...)
	dst = append(dst, `{"pad":"`...)
	pad := size - (len(dst) - start) - len(`"}}`)
	for range max(pad, 0) {
		dst = append(dst, 'x')
	}
	return append(dst, `"}}`...)
}

// requestID returns the digits of a request body's id: what follows
// {"id": up to the first non-digit.
func requestID(body []byte) ([]byte, error) {
	if !bytes.HasPrefix(body, []byte(replyIDPrefix)) {
		return nil, fmt.Errorf("request %.100q does not start with %s", body, replyIDPrefix)
	}
	rest := body[len(replyIDPrefix):]
	n := 0
	for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("request %.100q has no numeric id", body)
	}
	return rest[:n], nil
}

// frameLen reads a frame header.
func frameLen(hdr []byte) int { return int(binary.BigEndian.Uint32(hdr)) }
