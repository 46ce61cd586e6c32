package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward/protocol"
)

// The measuring client. The agent and the echo baseline are driven by the
// same code below, over the same frames, so only the server differs.

// ioTimeout bounds every read and write: a stuck server fails the row
// instead of hanging the run.
const ioTimeout = 30 * time.Second

// rawConn is a lean frame client: one Write per request (or per batch of
// pipelined requests) and a buffered reader for replies, nothing decoded
// beyond the reply's id.
type rawConn struct {
	c    net.Conn
	r    *bufio.Reader
	wbuf []byte
	body []byte
	hdr  [4]byte
}

func dialRaw(sock string) (*rawConn, error) {
	c, err := net.Dial("unix", sock)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", sock, err)
	}
	return &rawConn{c: c, r: bufio.NewReaderSize(c, 64<<10), body: make([]byte, 4<<10)}, nil
}

func (rc *rawConn) Close() error { return rc.c.Close() }

// write sends frames (one or more, already framed) in one call.
func (rc *rawConn) write(frames []byte) error {
	rc.c.SetWriteDeadline(time.Now().Add(ioTimeout))
	if _, err := rc.c.Write(frames); err != nil {
		return fmt.Errorf("write request: %w", err)
	}
	return nil
}

// readReply reads one reply frame and returns its id; a reply that is not
// a result is an error that quotes it (replies never carry secrets).
func (rc *rawConn) readReply() (uint64, error) {
	body, err := rc.readFrame()
	if err != nil {
		return 0, err
	}
	return parseReply(body)
}

// readFrame reads one reply frame's body into rc's buffer, valid until
// the next read.
func (rc *rawConn) readFrame() ([]byte, error) {
	rc.c.SetReadDeadline(time.Now().Add(ioTimeout))
	if _, err := io.ReadFull(rc.r, rc.hdr[:]); err != nil {
		return nil, fmt.Errorf("read reply header: %w", err)
	}
	n := frameLen(rc.hdr[:])
	if n > protocol.MaxFrameSize {
		return nil, fmt.Errorf("reply frame of %d bytes", n)
	}
	if n > cap(rc.body) {
		rc.body = make([]byte, n)
	}
	body := rc.body[:n]
	if _, err := io.ReadFull(rc.r, body); err != nil {
		return nil, fmt.Errorf("read reply body: %w", err)
	}
	return body, nil
}

// roundTrip sends one request with id and cred and waits for its reply.
func (rc *rawConn) roundTrip(t *frameTemplate, id uint64, cred int) error {
	rc.wbuf = t.Put(rc.wbuf[:0], id, cred)
	if err := rc.write(rc.wbuf); err != nil {
		return err
	}
	got, err := rc.readReply()
	if err != nil {
		return err
	}
	if got != id {
		return fmt.Errorf("reply id %d, want %d", got, id)
	}
	return nil
}

// credPicker chooses the credential for request i; nil keeps the
// template's.
type credPicker func(i int) int

func (p credPicker) pick(i int) int {
	if p == nil {
		return -1
	}
	return p(i)
}

// measureLatency sends warmup and then n requests one at a time on one
// connection and returns the n round-trip times, sorted.
func measureLatency(ctx context.Context, sock string, t *frameTemplate, warmup, n int, creds credPicker) ([]time.Duration, error) {
	rc, err := dialRaw(sock)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	id := uint64(idBase)
	for i := range warmup {
		id++
		if err := rc.roundTrip(t, id, creds.pick(i)); err != nil {
			return nil, fmt.Errorf("warm-up request %d: %w", i, err)
		}
	}
	lat := make([]time.Duration, n)
	for i := range n {
		if i%1024 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		id++
		start := time.Now()
		err := rc.roundTrip(t, id, creds.pick(warmup+i))
		lat[i] = time.Since(start)
		if err != nil {
			return nil, fmt.Errorf("request %d: %w", i, err)
		}
	}
	slices.Sort(lat)
	return lat, nil
}

// window is how a throughput run is timed: warm up, then measure.
type window struct {
	warmup, measure time.Duration
}

// throughput is the result of a parallel or pipelined run.
type throughput struct {
	perSec float64
	cpu    time.Duration   // the server's CPU time per request, 0 when unknown
	lat    []time.Duration // sorted; round trips inside the window (parallel runs only)
}

// measureParallel runs conns connections, each sending one request at a
// time, for w; it reports requests per second inside the measuring window
// and every round trip that started inside it.
func measureParallel(ctx context.Context, sock string, server int, t *frameTemplate, conns int, w window) (throughput, error) {
	rcs := make([]*rawConn, conns)
	for i := range rcs {
		rc, err := dialRaw(sock)
		if err != nil {
			return throughput{}, err
		}
		defer rc.Close()
		rcs[i] = rc
	}
	var (
		recording, stop atomic.Bool
		done            atomic.Int64
		wg              sync.WaitGroup
		errOnce         sync.Once
		firstErr        error
	)
	lats := make([][]time.Duration, conns)
	for i, rc := range rcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 1<<16)
			id := uint64(idBase)
			for !stop.Load() {
				id++
				start := time.Now()
				if err := rc.roundTrip(t, id, -1); err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("connection %d: %w", i, err) })
					stop.Store(true)
					return
				}
				if recording.Load() {
					lat = append(lat, time.Since(start))
					done.Add(1)
				}
			}
			lats[i] = lat
		}()
	}
	perSec, cpu, err := timeWindow(ctx, w, server, &recording, &done)
	stop.Store(true)
	wg.Wait()
	if firstErr != nil {
		return throughput{}, firstErr
	}
	if err != nil {
		return throughput{}, err
	}
	all := slices.Concat(lats...)
	slices.Sort(all)
	return throughput{perSec: perSec, cpu: cpu, lat: all}, nil
}

// timeWindow waits out w's warm-up, turns recording on, counts what done
// gains over w's measuring window, and turns recording off. It returns the
// rate and the CPU time the server process (pid server, 0 for none) spent
// per request in the window.
func timeWindow(ctx context.Context, w window, server int, recording *atomic.Bool, done *atomic.Int64) (perSec float64, cpu time.Duration, err error) {
	if err := sleepCtx(ctx, w.warmup); err != nil {
		return 0, 0, err
	}
	recording.Store(true)
	c0, t0, u0 := done.Load(), time.Now(), procCPU(server)
	err = sleepCtx(ctx, w.measure)
	c1, t1, u1 := done.Load(), time.Now(), procCPU(server)
	recording.Store(false)
	if err != nil {
		return 0, 0, err
	}
	if c1 > c0 && u0 >= 0 && u1 >= 0 {
		cpu = (u1 - u0) / time.Duration(c1-c0)
	}
	return float64(c1-c0) / t1.Sub(t0).Seconds(), cpu, nil
}

// procCPU is the user and system CPU time pid has used, from
// /proc/PID/stat (in clock ticks, 10 ms each), or -1 when it cannot be
// read.
func procCPU(pid int) time.Duration {
	if pid <= 0 {
		return -1
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	// The command name, in parentheses, may hold spaces: count fields
	// after its closing parenthesis. utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return -1
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return time.Duration(ut+st) * 10 * time.Millisecond
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// measurePipelined keeps depth requests in flight on one connection for
// w: a writer sends as soon as a slot is free (all free slots in one
// write), a reader counts replies and frees their slots. It reports
// replies per second inside the measuring window.
func measurePipelined(ctx context.Context, sock string, server int, t *frameTemplate, depth int, w window) (throughput, error) {
	rc, err := dialRaw(sock)
	if err != nil {
		return throughput{}, err
	}
	defer rc.Close()
	slots := make(chan struct{}, depth)
	for range depth {
		slots <- struct{}{}
	}
	// quit stops the writer: at the window's end, or when the reader fails.
	wctx, quit := context.WithCancel(ctx)
	defer quit()
	var (
		recording            atomic.Bool
		done, sent, received atomic.Int64
		writeErr, readErr    error
		writerDone           = make(chan struct{})
		readerDone           = make(chan struct{})
	)
	go func() { // writer
		defer close(writerDone)
		var buf []byte
		id := uint64(idBase)
		for {
			select {
			case <-slots:
			case <-wctx.Done():
				return
			}
			buf = buf[:0]
			for more := true; more; {
				id++
				buf = t.Put(buf, id, -1)
				select {
				case <-slots:
				default:
					more = false
				}
			}
			if err := rc.write(buf); err != nil {
				writeErr = err
				quit()
				return
			}
			sent.Store(int64(id - idBase))
		}
	}()
	go func() { // reader
		defer close(readerDone)
		for {
			id, err := rc.readReply()
			if err == nil && (id <= idBase || id > uint64(idBase+sent.Load()+int64(depth))) {
				err = fmt.Errorf("reply id %d was never sent", id)
			}
			if err != nil {
				readErr = err
				quit()
				return
			}
			received.Add(1)
			if recording.Load() {
				done.Add(1)
			}
			select { // never blocks while the writer runs: slots + in flight = depth
			case slots <- struct{}{}:
			default:
			}
		}
	}()
	perSec, cpu, werr := timeWindow(wctx, w, server, &recording, &done)
	quit()
	<-writerDone
	// Drain what is in flight, so the server is idle for the next figure.
	deadline := time.Now().Add(ioTimeout)
	for received.Load() < sent.Load() && time.Now().Before(deadline) && ctx.Err() == nil {
		select {
		case <-readerDone:
			deadline = time.Now()
		case <-time.After(time.Millisecond):
		}
	}
	missing := sent.Load() - received.Load()
	rc.Close()
	<-readerDone
	switch {
	case writeErr != nil:
		return throughput{}, fmt.Errorf("pipelined writer: %w", writeErr)
	case missing > 0 && readErr != nil:
		return throughput{}, fmt.Errorf("pipelined reader: %w", readErr)
	case werr != nil:
		return throughput{}, werr
	case missing > 0:
		return throughput{}, fmt.Errorf("pipelined: %d replies of %d did not arrive", missing, sent.Load())
	}
	return throughput{perSec: perSec, cpu: cpu}, nil
}

func errOr(err, other error) error {
	if err != nil {
		return err
	}
	return other
}

// percentile returns the p-th percentile (0 < p ≤ 100) of sorted by the
// nearest-rank method: the smallest value with at least p% of the sample
// at or below it.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// micros is d in microseconds.
func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
