package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
)

// The echo baseline: a bare Unix-socket server in its own process (this
// harness re-executed with -echo-server) that reads request frames and
// answers each with a frame of the agent's reply size, carrying the
// request's id so the measuring client checks it as it checks the
// agent's. No JSON is decoded, nothing is computed: it is what the socket
// alone costs a server that reads requests through a buffer and answers
// each with one write, as the agent does. It does not coalesce the
// replies to pipelined requests into fewer writes: that would measure a
// batching strategy, not the socket (it runs ~3× faster pipelined).

// runEchoServer serves on sock until killed. It prints "ready" on stdout
// once listening.
func runEchoServer(sock string, replySize int) error {
	if replySize < len(echoReply(nil, []byte("1"), 0)) {
		return fmt.Errorf("echo server: reply size %d is too small", replySize)
	}
	os.Remove(sock)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return fmt.Errorf("echo server: %w", err)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		ln.Close()
	}()
	fmt.Println("ready")
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				os.Remove(sock)
				return nil
			}
			return fmt.Errorf("echo server: accept: %w", err)
		}
		go echoConn(c, replySize)
	}
}

// echoConn answers one connection's frames until it closes.
func echoConn(c net.Conn, replySize int) {
	defer c.Close()
	r := bufio.NewReaderSize(c, 64<<10)
	var hdr [4]byte
	body := make([]byte, 4<<10)
	frame := make([]byte, 4, 4+replySize)
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		n := frameLen(hdr[:])
		if n == 0 || n > 1<<20 {
			return
		}
		if n > cap(body) {
			body = make([]byte, n)
		}
		if _, err := io.ReadFull(r, body[:n]); err != nil {
			return
		}
		id, err := requestID(body[:n])
		if err != nil {
			return
		}
		frame = echoReply(frame[:4], id, replySize)
		binary.BigEndian.PutUint32(frame, uint32(len(frame)-4))
		if _, err := c.Write(frame); err != nil {
			return
		}
	}
}

// startEcho runs the echo server as a child process of this harness with
// replies of replySize bytes and waits until it listens.
func (h *harness) startEcho(sock string, replySize int) (*child, error) {
	c, err := h.startChild("echo server", "", h.self, []string{"-echo-server", sock, "-reply-size", strconv.Itoa(replySize)}, nil, nil)
	if err != nil {
		return nil, err
	}
	if err := waitListening(sock, c); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}
