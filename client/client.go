// Package client talks to a keyward agent over its Unix socket. A Client
// implements protocol.Agent; Transport plugs it into an http.Client so a
// Go bot's requests are signed without the bot ever holding a secret.
//
// This package imports only protocol and the standard library: it must
// never link the agent, memguard or any secret store. A test enforces it.
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward/protocol"
)

// ErrClosed is returned by calls on a closed Client.
var ErrClosed = errors.New("client: closed")

// Client is a connection to an agent. It is safe for concurrent use: calls
// from many goroutines are pipelined on one connection and their replies
// matched by id. If the connection breaks, calls in flight fail and the
// next call dials again.
type Client struct {
	path   string
	dialer net.Dialer

	mu     sync.Mutex // guards cur and closed
	cur    *conn
	closed bool

	nextID atomic.Uint64
}

// conn is one socket and the calls waiting on it.
type conn struct {
	nc  net.Conn
	wmu sync.Mutex // serialises frame writes

	mu      sync.Mutex // guards pending and err
	pending map[uint64]chan *protocol.Reply
	err     error // set once the reader has stopped

	done chan struct{} // closed when readLoop returns
}

// Dial connects to the agent at path; an empty path means
// protocol.SocketPath() ($KEYWARD_SOCK or the default).
func Dial(path string) (*Client, error) {
	if path == "" {
		path = protocol.SocketPath()
	}
	c := &Client{path: path, dialer: net.Dialer{Timeout: 5 * time.Second}}
	if _, err := c.conn(context.Background()); err != nil {
		return nil, err
	}
	return c, nil
}

// Path returns the socket path the client dials.
func (c *Client) Path() string { return c.path }

// Close closes the connection. Calls in flight fail with ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.cur != nil {
		c.cur.shutdown(ErrClosed)
		c.cur = nil
	}
	return nil
}

// conn returns the live connection, dialling a new one if the last broke.
func (c *Client) conn(ctx context.Context) (*conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if c.cur != nil && c.cur.alive() {
		return c.cur, nil
	}
	nc, err := c.dialer.DialContext(ctx, "unix", c.path)
	if err != nil {
		return nil, dialError(c.path, err)
	}
	cn := &conn{nc: nc, pending: make(map[uint64]chan *protocol.Reply), done: make(chan struct{})}
	go cn.readLoop()
	c.cur = cn
	return cn, nil
}

// DialError reports that no agent answered at a socket path.
type DialError struct {
	Path string
	Err  error
}

func (e *DialError) Error() string {
	return fmt.Sprintf("cannot reach the keyward agent at %s: %v", e.Path, e.Err)
}

func (e *DialError) Unwrap() error { return e.Err }

func dialError(path string, err error) error {
	var sc *os.SyscallError
	if errors.As(err, &sc) {
		err = sc.Err
	}
	return &DialError{Path: path, Err: err}
}

func (cn *conn) alive() bool {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return cn.err == nil
}

// shutdown closes the socket and fails every waiting call with err.
func (cn *conn) shutdown(err error) {
	cn.mu.Lock()
	if cn.err == nil {
		cn.err = err
	}
	pending := cn.pending
	cn.pending = nil
	cn.mu.Unlock()
	cn.nc.Close()
	for _, ch := range pending {
		close(ch)
	}
}

func (cn *conn) readLoop() {
	defer close(cn.done)
	var buf []byte
	for {
		body, err := protocol.ReadFrame(cn.nc, buf)
		if err != nil {
			cn.shutdown(fmt.Errorf("client: connection to the agent lost: %w", err))
			return
		}
		var r protocol.Reply
		if err := json.Unmarshal(body, &r); err != nil {
			cn.shutdown(fmt.Errorf("client: the agent sent a malformed reply: %w", err))
			return
		}
		if r.ID == 0 && r.Error != nil {
			// An error about the connection itself: the agent closes it.
			cn.shutdown(r.Error)
			return
		}
		cn.mu.Lock()
		ch, ok := cn.pending[r.ID]
		delete(cn.pending, r.ID)
		cn.mu.Unlock()
		if ok {
			ch <- &r
		}
	}
}

// call sends op with args and decodes the result into out.
func (c *Client) call(ctx context.Context, op string, args, out any) error {
	cn, err := c.conn(ctx)
	if err != nil {
		return err
	}
	id := c.nextID.Add(1)
	frame, err := encodeRequest(id, op, args)
	if err != nil {
		return err
	}
	ch := make(chan *protocol.Reply, 1)
	cn.mu.Lock()
	if cn.err != nil {
		err := cn.err
		cn.mu.Unlock()
		clear(frame)
		return err
	}
	cn.pending[id] = ch
	cn.mu.Unlock()

	cn.wmu.Lock()
	if dl, ok := ctx.Deadline(); ok {
		cn.nc.SetWriteDeadline(dl)
	} else {
		cn.nc.SetWriteDeadline(time.Time{})
	}
	_, werr := cn.nc.Write(frame)
	cn.wmu.Unlock()
	clear(frame) // it may have carried a passphrase or secret
	if werr != nil {
		// The agent may have closed the connection after saying why (a
		// refused peer, a bad frame): let the reader deliver that reason
		// rather than report a bare broken pipe.
		select {
		case <-cn.done:
		case <-time.After(time.Second):
		}
		cn.shutdown(fmt.Errorf("client: send to the agent: %w", werr))
	}

	select {
	case r, ok := <-ch:
		if !ok {
			cn.mu.Lock()
			err := cn.err
			cn.mu.Unlock()
			return err
		}
		if r.Error != nil {
			return r.Error
		}
		if out == nil {
			return nil
		}
		if err := json.Unmarshal(r.Result, out); err != nil {
			return fmt.Errorf("client: decode %s reply: %w", op, err)
		}
		return nil
	case <-ctx.Done():
		cn.mu.Lock()
		delete(cn.pending, id)
		cn.mu.Unlock()
		return ctx.Err()
	}
}

func encodeRequest(id uint64, op string, args any) ([]byte, error) {
	req := struct {
		ID   uint64 `json:"id"`
		Op   string `json:"op"`
		Args any    `json:"args,omitempty"`
	}{id, op, args}
	body, err := protocol.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("client: encode %s request: %w", op, err)
	}
	frame, err := protocol.AppendFrame(make([]byte, 0, 4+len(body)), body)
	clear(body)
	if err != nil {
		return nil, fmt.Errorf("client: %s request: %w", op, err)
	}
	return frame, nil
}

var _ protocol.Agent = (*Client)(nil)

// Hello asks the agent what it speaks.
func (c *Client) Hello(ctx context.Context, args protocol.HelloArgs) (*protocol.HelloResult, error) {
	if args.Version == 0 {
		args.Version = protocol.Version
	}
	var r protocol.HelloResult
	return &r, c.call(ctx, protocol.OpHello, args, &r)
}

// Status reports whether the agent is locked and what it holds.
func (c *Client) Status(ctx context.Context) (*protocol.StatusResult, error) {
	var r protocol.StatusResult
	return &r, c.call(ctx, protocol.OpStatus, nil, &r)
}

// Unlock opens the vault with a passphrase. The caller wipes args.
func (c *Client) Unlock(ctx context.Context, args protocol.UnlockArgs) (*protocol.UnlockResult, error) {
	var r protocol.UnlockResult
	return &r, c.call(ctx, protocol.OpUnlock, args, &r)
}

// Lock wipes every unlocked secret in the agent.
func (c *Client) Lock(ctx context.Context) error {
	return c.call(ctx, protocol.OpLock, nil, nil)
}

// Add stores a new credential. The caller wipes args.Secret.
func (c *Client) Add(ctx context.Context, args protocol.AddArgs) (*protocol.CredentialInfo, error) {
	var r protocol.CredentialInfo
	return &r, c.call(ctx, protocol.OpAdd, args, &r)
}

// Rotate replaces a credential's secret with a new one.
func (c *Client) Rotate(ctx context.Context, args protocol.RotateArgs) (*protocol.CredentialInfo, error) {
	var r protocol.CredentialInfo
	return &r, c.call(ctx, protocol.OpRotate, args, &r)
}

// List returns the credentials' public parts.
func (c *Client) List(ctx context.Context) (*protocol.ListResult, error) {
	var r protocol.ListResult
	return &r, c.call(ctx, protocol.OpList, nil, &r)
}

// Remove deletes a credential from the vault for good.
func (c *Client) Remove(ctx context.Context, args protocol.RemoveArgs) error {
	return c.call(ctx, protocol.OpRemove, args, nil)
}

// Sign returns the request as it must be sent, signed with a credential.
func (c *Client) Sign(ctx context.Context, args protocol.SignArgs) (*protocol.HTTPRequest, error) {
	var r protocol.HTTPRequest
	return &r, c.call(ctx, protocol.OpSign, args, &r)
}

// Forward has the agent send the request to the venue with the
// credential's authentication added, and returns the venue's response.
// A venue's own HTTP error (a 400, a 429) is a response, not an error.
func (c *Client) Forward(ctx context.Context, args protocol.ForwardArgs) (*protocol.HTTPResponse, error) {
	var r protocol.HTTPResponse
	return &r, c.call(ctx, protocol.OpForward, args, &r)
}

// ChangePassphrase re-wraps the vault's data key under a new passphrase.
func (c *Client) ChangePassphrase(ctx context.Context, args protocol.PasswdArgs) error {
	return c.call(ctx, protocol.OpPasswd, args, nil)
}
