// Package protocol is keyward's wire format: length-prefixed JSON frames,
// one Go type per message, stable error codes, and the Agent interface that
// both the daemon and the client implement.
//
// SPEC.md beside this file describes the same protocol for people writing a
// client in another language. This package must never import anything else
// of keyward's, never log, and never put secret material into an error.
package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// MaxFrameSize is the largest frame body either side accepts (1 MiB). A
// frame announcing more is not read: the receiver answers with a bad_frame
// error and closes the connection.
const MaxFrameSize = 1 << 20

// FrameSizeError reports a frame header announcing a length that is zero or
// over MaxFrameSize. The body was not read.
type FrameSizeError struct{ Size uint32 }

func (e *FrameSizeError) Error() string {
	if e.Size == 0 {
		return "protocol: empty frame (length 0)"
	}
	return fmt.Sprintf("protocol: frame of %d bytes is over the %d-byte limit", e.Size, MaxFrameSize)
}

// ReadFrame reads one frame and returns its body. The body is read into buf
// when it fits, so a caller can reuse one buffer; the returned slice aliases
// buf in that case. The length is checked before anything is allocated.
func ReadFrame(r io.Reader, buf []byte) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 || n > MaxFrameSize {
		return nil, &FrameSizeError{Size: n}
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}

// AppendFrame appends body, prefixed by its length, to dst. Writing the
// result with one Write keeps a frame from interleaving with another.
func AppendFrame(dst, body []byte) ([]byte, error) {
	if len(body) == 0 || len(body) > MaxFrameSize {
		return dst, &FrameSizeError{Size: uint32(min(len(body), 1<<32-1))}
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(body)))
	return append(dst, body...), nil
}

// WriteFrame writes body as one frame with a single Write.
func WriteFrame(w io.Writer, body []byte) error {
	b, err := AppendFrame(make([]byte, 0, 4+len(body)), body)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
