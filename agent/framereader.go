package agent

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"time"

	"github.com/keyward/keyward/protocol"
)

// frameBuf is the size of a connection's read buffer: a sign request and
// a few pipelined behind it fit, so a burst costs one read system call.
// Larger frames (an add with a PEM key) are read into a buffer of their
// own.
const frameBuf = 4 << 10

// frameReader reads a connection's frames through one buffer. A frame that
// fits is returned in place, aliasing the buffer: the caller handles it
// and wipes it (release) before asking for the next. Bytes the reader
// moves or drops are wiped too, because a frame may carry a secret.
type frameReader struct {
	nc  net.Conn
	buf []byte // allocated at the first read
	r   int    // buf[r:w] is read and not yet handed out
	w   int
	// beforeRead runs before every read that may block: the connection
	// writes the replies it has collected, so a client waiting for them
	// is never left waiting behind our own read.
	beforeRead func()
	// idle and frame are the read deadlines between frames and within one.
	idle, frame time.Duration
	deadline    lazyDeadline
}

// errFrameSize carries a bad length, read before any body.
type errFrameSize struct{ size uint32 }

func (e errFrameSize) Error() string { return (&protocol.FrameSizeError{Size: e.size}).Error() }

// buffered reports whether a whole frame is already in the buffer, so that
// handling it needs no read.
func (f *frameReader) buffered() bool {
	if f.w-f.r < 4 {
		return false
	}
	n := binary.BigEndian.Uint32(f.buf[f.r:])
	return n > 0 && n <= protocol.MaxFrameSize && f.w-f.r >= 4+int(n)
}

// fill reads at least once more into the buffer. between says no frame
// has started (the idle deadline applies).
func (f *frameReader) fill(between bool) error {
	if f.buf == nil {
		f.buf = make([]byte, frameBuf)
	}
	if f.r > 0 && (f.w == len(f.buf) || f.r == f.w) {
		// Move what is left to the front and wipe where it was.
		n := copy(f.buf, f.buf[f.r:f.w])
		clear(f.buf[n:f.w])
		f.r, f.w = 0, n
	}
	if f.beforeRead != nil {
		f.beforeRead()
	}
	d := f.frame
	if between {
		d = f.idle
	}
	if f.deadline.set == nil {
		f.deadline.set = f.nc.SetReadDeadline
	}
	f.deadline.extend(d)
	m, err := f.nc.Read(f.buf[f.w:])
	f.w += m
	if m > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// next returns the next frame's body. inPlace reports that it aliases the
// buffer and must be passed to release once handled; otherwise it is the
// caller's own, to wipe when done. where says, on error, whether a frame
// had started.
func (f *frameReader) next() (body []byte, inPlace bool, where string, err error) {
	for f.w-f.r < 4 {
		if err := f.fill(f.w == f.r); err != nil {
			if f.w == f.r {
				return nil, false, "between frames", err
			}
			return nil, false, "inside a frame", unexpected(err)
		}
	}
	n := binary.BigEndian.Uint32(f.buf[f.r:])
	if n == 0 || n > protocol.MaxFrameSize {
		return nil, false, "frame header", errFrameSize{n}
	}
	if 4+int(n) > len(f.buf) {
		body, err := f.readLarge(int(n))
		return body, false, "inside a frame", err
	}
	for f.w-f.r < 4+int(n) {
		if f.r > 0 && f.r+4+int(n) > len(f.buf) {
			// The frame does not fit behind what was consumed: compact.
			m := copy(f.buf, f.buf[f.r:f.w])
			clear(f.buf[m:f.w])
			f.r, f.w = 0, m
		}
		if err := f.fill(false); err != nil {
			return nil, false, "inside a frame", unexpected(err)
		}
	}
	body = f.buf[f.r+4 : f.r+4+int(n)]
	f.r += 4 + int(n)
	return body, true, "", nil
}

// release wipes a frame next returned in place; once nothing is left
// unread, the buffer starts over from the front.
func (f *frameReader) release(body []byte) {
	clear(body)
	if f.r == f.w {
		f.r, f.w = 0, 0
	}
}

// wipe clears the whole buffer when the connection ends: bytes of a frame
// cut off, or pipelined behind a bad one, may hold a secret.
func (f *frameReader) wipe() {
	clear(f.buf)
	f.r, f.w = 0, 0
}

// readLarge reads an n-byte body that does not fit the buffer: what is
// buffered of it, then the rest.
func (f *frameReader) readLarge(n int) ([]byte, error) {
	have := f.buf[f.r+4 : f.w]
	defer func() { clear(have); f.r, f.w = 0, 0 }()
	if f.deadline.set == nil {
		f.deadline.set = f.nc.SetReadDeadline
	}
	f.deadline.extend(f.frame)
	return readBody(f.nc, n, have)
}

// readBody reads an n-byte frame body of which have arrived already,
// growing its buffer as bytes arrive (doubling, so a large frame costs a
// few copies) and wiping every buffer it leaves behind, and the partial
// body on error: it may hold part of a secret.
func readBody(r io.Reader, n int, have []byte) ([]byte, error) {
	buf := make([]byte, max(len(have), min(n, firstChunk)))
	got := copy(buf, have)
	for got < n {
		if got == len(buf) {
			bigger := make([]byte, min(n, 2*len(buf)))
			copy(bigger, buf)
			clear(buf)
			buf = bigger
		}
		m, err := r.Read(buf[got:])
		got += m
		if err != nil && got < n {
			clear(buf[:got])
			return nil, unexpected(err)
		}
	}
	return buf, nil
}

// firstChunk is what readLarge allocates before more of a frame's body
// has arrived: a client that announces a large frame and then trickles it
// holds only what it has sent, not the size it announced.
const firstChunk = 4 << 10

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// isTimeout reports a read deadline that passed.
func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }
