package agent

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/keyward/keyward/agent/peercred"
	"github.com/keyward/keyward/agent/peerid"
	"github.com/keyward/keyward/protocol"
)

// ServerConfig bounds what clients may hold of the server. Zero values
// take the defaults in parentheses.
type ServerConfig struct {
	MaxConns      int           // open connections (4096)
	MaxInFlight   int           // requests being handled per connection (128)
	MaxTotal      int           // requests being handled in all (1024)
	FrameTimeout  time.Duration // to finish a frame once its header came (10s)
	IdleTimeout   time.Duration // a connection with nothing in flight and no frame is closed after (5m)
	WriteTimeout  time.Duration // to write a reply to a client that does not read (10s)
	AcceptBackoff time.Duration // pause after a failed accept (50ms)
}

func (c ServerConfig) withDefaults() ServerConfig {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.MaxConns, 4096)
	def(&c.MaxInFlight, 128)
	def(&c.MaxTotal, 1024)
	defd(&c.FrameTimeout, 10*time.Second)
	defd(&c.IdleTimeout, 5*time.Minute)
	defd(&c.WriteTimeout, 10*time.Second)
	defd(&c.AcceptBackoff, 50*time.Millisecond)
	return c
}

// Server accepts connections on a Unix socket, reads each peer's identity
// once, and runs every request through protocol.Handle against an Agent:
// decode, call, encode, nothing more.
type Server struct {
	agent     protocol.Agent
	authorize func(peerid.Identity) error
	log       *slog.Logger
	cfg       ServerConfig

	total chan struct{} // semaphore over all in-flight requests
	conns chan struct{} // semaphore over open connections
	wg    sync.WaitGroup
}

// NewServer returns a server for a. authorize decides, at accept, whether
// a peer may talk to the agent at all; nil refuses everyone.
func NewServer(a protocol.Agent, authorize func(peerid.Identity) error, log *slog.Logger, cfg ServerConfig) *Server {
	cfg = cfg.withDefaults()
	if authorize == nil {
		authorize = func(peerid.Identity) error { return errors.New("no peer is authorised") }
	}
	return &Server{
		agent:     a,
		authorize: authorize,
		log:       log,
		cfg:       cfg,
		total:     make(chan struct{}, cfg.MaxTotal),
		conns:     make(chan struct{}, cfg.MaxConns),
	}
}

// Serve accepts connections on ln until ctx is done, then closes ln and
// every connection and waits for their handlers to return.
func (s *Server) Serve(ctx context.Context, ln *net.UnixListener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	defer s.wg.Wait()
	for {
		nc, err := ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) || isTemporary(err) {
				s.log.Warn("accept failed; retrying", "err", err)
				time.Sleep(s.cfg.AcceptBackoff)
				continue
			}
			return fmt.Errorf("agent: accept: %w", err)
		}
		select {
		case s.conns <- struct{}{}:
		default:
			s.log.Warn("connection refused: at the connection limit", "max_conns", s.cfg.MaxConns)
			s.refuse(nc, protocol.Errorf(protocol.CodeBusy, "the agent is at its limit of %d connections: try again later", s.cfg.MaxConns))
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-s.conns }()
			s.serveConn(ctx, nc)
		}()
	}
}

// isTemporary reports accept errors that pass (too many open files, …).
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// refuse sends a connection-level error (id 0) and closes the connection.
func (s *Server) refuse(nc net.Conn, e *protocol.Error) {
	nc.SetWriteDeadline(time.Now().Add(time.Second))
	if body, err := protocol.EncodeReply(&protocol.Reply{ID: 0, Error: e}); err == nil {
		protocol.WriteFrame(nc, body)
	}
	nc.Close()
}

// serverConn is one accepted connection.
type serverConn struct {
	s      *Server
	nc     *net.UnixConn
	peer   peercred.Cred
	log    *slog.Logger
	wmu    sync.Mutex   // serialises reply writes
	dead   bool         // a write failed; guarded by wmu
	wdl    lazyDeadline // guarded by wmu
	sem    chan struct{}
	cancel context.CancelFunc
	// pending holds inline replies not yet written; only the read loop
	// touches it.
	pending []byte
}

func (s *Server) serveConn(ctx context.Context, nc *net.UnixConn) {
	cred, err := peercred.Get(nc)
	if err != nil {
		s.log.Warn("connection refused: cannot read peer credentials", "err", err)
		s.refuse(nc, protocol.Errorf(protocol.CodeDenied, "the agent could not identify this process"))
		return
	}
	id := readIdentity(nc, cred)
	if err := s.authorize(id); err != nil {
		s.log.Warn("connection refused", "uid", cred.UID, "gid", cred.GID, "pid", cred.PID, "unit", id.Unit, "exe", id.Exe, "reason", err.Error())
		s.refuse(nc, protocol.Errorf(protocol.CodeDenied, "uid %d may not use this agent: %v", cred.UID, err))
		return
	}
	ctx, cancel := context.WithCancel(peerid.NewContext(peercred.NewContext(ctx, cred), id))
	c := &serverConn{
		s: s, nc: nc, peer: cred, cancel: cancel,
		log: s.log.With("uid", cred.UID, "pid", cred.PID),
		sem: make(chan struct{}, s.cfg.MaxInFlight),
	}
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	c.log.Debug("connection accepted")
	c.readLoop(ctx)
	// Let the handlers in flight write their replies (a client may have
	// half-closed after its last request), then close.
	for range cap(c.sem) {
		c.sem <- struct{}{}
	}
	cancel()
	nc.Close()
	c.log.Debug("connection closed")
}

// readIdentity reads the peer's unit and executable at accept, pinned by
// its pidfd (see peerid), so the connection carries who connected rather
// than whoever holds the PID later.
func readIdentity(nc *net.UnixConn, cred peercred.Cred) peerid.Identity {
	pidfd := -1
	if raw, err := nc.SyscallConn(); err == nil {
		raw.Control(func(fd uintptr) { pidfd = peerid.PeerPidfd(int(fd)) })
	}
	if pidfd >= 0 {
		defer unix.Close(pidfd)
	}
	return peerid.Read(cred, pidfd, "/proc")
}

// inline reports whether an operation is answered in the connection's
// own goroutine, between reads: the quick ones, which then cost no
// goroutine, no stack growth and, when pipelined, one write for many
// replies. The others (a KDF, a vault write, a venue round trip, and
// status and list, which wait for the vault's lock while an unlock or a
// write holds it) each run in a goroutine of their own, so they never hold
// up the connection.
func inline(op string) bool {
	switch op {
	case protocol.OpSign, protocol.OpHello:
		return true
	}
	return false
}

// maxPending bounds the replies collected before a write.
const maxPending = 64 << 10

func (c *serverConn) readLoop(ctx context.Context) {
	cfg := c.s.cfg
	fr := &frameReader{nc: c.nc, idle: cfg.IdleTimeout, frame: cfg.FrameTimeout, beforeRead: c.flush}
	defer c.flush()
	defer fr.wipe() // what is left of a frame cut off may hold a secret
	for {
		body, inPlace, where, err := fr.next()
		if err != nil {
			var fe errFrameSize
			if errors.As(err, &fe) {
				e := &protocol.FrameSizeError{Size: fe.size}
				c.log.Warn("closing connection: bad frame size", "size", fe.size)
				c.fatal(protocol.Errorf(protocol.CodeBadFrame, "%s; closing the connection", e.Error()))
				return
			}
			c.readFailed(err, where)
			return
		}
		req, err := protocol.DecodeRequest(body)
		if err != nil && protocol.CodeOf(err) == protocol.CodeBadFrame {
			clear(body)
			c.log.Warn("closing connection: undecodable frame", "err", err.Error())
			c.fatal(err.(*protocol.Error))
			return
		}
		if err == nil && inline(req.Op) {
			reply := protocol.Handle(ctx, c.s.agent, req)
			fr.release(body)
			c.collect(req, reply)
			if len(c.pending) >= maxPending || !fr.buffered() {
				c.flush()
			}
			continue
		}
		if inPlace {
			// The frame goes to a goroutine of its own: copy it out of
			// the buffer, which the next frame reuses.
			own := make([]byte, len(body))
			copy(own, body)
			fr.release(body)
			body = own
			if req, err = protocol.DecodeRequest(body); err != nil && protocol.CodeOf(err) == protocol.CodeBadFrame {
				clear(body)
				return
			}
		}
		// Back-pressure: stop reading when this connection, or the agent
		// as a whole, has as much in flight as it allows.
		select {
		case c.sem <- struct{}{}:
		case <-ctx.Done():
			clear(body)
			return
		}
		select {
		case c.s.total <- struct{}{}:
		case <-ctx.Done():
			<-c.sem
			clear(body)
			return
		}
		go c.handle(ctx, req, err, body)
	}
}

func (c *serverConn) readFailed(err error, where string) {
	switch {
	case errors.Is(err, io.EOF) && where == "between frames":
		return
	case isTimeout(err):
		c.log.Info("closing connection: client silent too long", "where", where)
	case errors.Is(err, net.ErrClosed):
	default:
		c.log.Debug("connection read ended", "where", where, "err", err)
	}
}

// collect appends an inline request's reply to the pending writes.
func (c *serverConn) collect(req *protocol.Request, reply *protocol.Reply) {
	c.pending = c.appendReplyFrame(c.pending, req, reply)
	clear(reply.Result) // copied into pending, which is wiped once written
}

// appendReplyFrame appends reply to dst as one whole frame; a reply that
// cannot be encoded or is over the frame limit becomes an internal error.
func (c *serverConn) appendReplyFrame(dst []byte, req *protocol.Request, reply *protocol.Reply) []byte {
	start := len(dst)
	out, err := protocol.AppendReply(append(dst, 0, 0, 0, 0), reply)
	if err != nil || len(out)-start-4 > protocol.MaxFrameSize {
		c.log.Error("encode reply", "op", req.Op, "err", err, "size", len(out)-start-4)
		out = append(out[:start+4], `{"id":0,"error":{"code":"internal","message":"reply too large"}}`...)
	}
	binary.BigEndian.PutUint32(out[start:], uint32(len(out)-start-4))
	return out
}

// flush writes the collected replies with one write.
func (c *serverConn) flush() {
	if len(c.pending) == 0 {
		return
	}
	c.writeFrames(c.pending)
	// A signed reply can carry a passphrase the venue takes in clear.
	clear(c.pending)
	if cap(c.pending) > maxPending {
		c.pending = nil
	} else {
		c.pending = c.pending[:0]
	}
}

// handle runs one request in its own goroutine and writes its reply. body
// is wiped afterwards: the request's arguments alias it and may have
// carried a secret.
func (c *serverConn) handle(ctx context.Context, req *protocol.Request, decodeErr error, body []byte) {
	defer func() { <-c.sem; <-c.s.total }()
	var reply *protocol.Reply
	if decodeErr != nil {
		reply = protocol.ErrorReply(req.ID, decodeErr)
	} else {
		reply = protocol.Handle(ctx, c.s.agent, req)
	}
	clear(body)
	frame := c.appendReplyFrame(make([]byte, 0, 512), req, reply)
	clear(reply.Result)
	c.writeFrames(frame)
	clear(frame)
}

// writeFrames writes whole frames with one Write.
func (c *serverConn) writeFrames(frames []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.dead {
		return
	}
	if c.wdl.set == nil {
		c.wdl.set = c.nc.SetWriteDeadline
	}
	c.wdl.extend(c.s.cfg.WriteTimeout)
	if _, err := c.nc.Write(frames); err != nil {
		// Once is enough: the other replies in flight would only fail too.
		c.dead = true
		c.log.Info("closing connection: cannot write reply", "err", err)
		c.cancel()
	}
}

// fatal sends a connection-level error and ends the connection.
func (c *serverConn) fatal(e *protocol.Error) {
	c.writeFrames(c.appendReplyFrame(nil, &protocol.Request{Op: "(connection)"}, &protocol.Reply{ID: 0, Error: e}))
}
