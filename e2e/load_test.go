package e2e

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/protocol"
	"github.com/keyward/keyward/protocol/agenttest"
)

// Load and hostile clients (issue 8, proof 4), against the real agent
// binary over its socket.

// procStatus is what /proc/PID/status and /proc/PID/fd say of a process.
type procStatus struct {
	rssKB, hwmKB, threads, fds int
}

func (p procStatus) String() string {
	return fmt.Sprintf("VmRSS %.1f MiB, VmHWM %.1f MiB, %d threads, %d fds", float64(p.rssKB)/1024, float64(p.hwmKB)/1024, p.threads, p.fds)
}

// readProcStatus reads pid's resident memory, peak, threads and open fds.
func readProcStatus(t *testing.T, pid int) procStatus {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	var p procStatus
	for line := range strings.SplitSeq(string(raw), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		switch k {
		case "VmRSS":
			p.rssKB = n
		case "VmHWM":
			p.hwmKB = n
		case "Threads":
			p.threads = n
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	require.NoError(t, err)
	p.fds = len(fds)
	return p
}

// ensureNoFile makes sure this process and the agent (pid) may each open n
// files, raising the soft limit towards the hard one (and the hard one, as
// root) where needed. A Go program raises its own soft limit at start, so
// the agent normally has room already; prlimit(2) covers the rest.
func ensureNoFile(t *testing.T, pid, n int) {
	t.Helper()
	for _, p := range []int{0, pid} {
		var lim unix.Rlimit
		require.NoError(t, unix.Prlimit(p, unix.RLIMIT_NOFILE, nil, &lim))
		if lim.Cur >= uint64(n) {
			continue
		}
		want := lim
		want.Cur = uint64(n)
		if want.Max < want.Cur {
			want.Max = want.Cur
		}
		err := unix.Prlimit(p, unix.RLIMIT_NOFILE, &want, nil)
		if err != nil && lim.Max > lim.Cur {
			want = unix.Rlimit{Cur: lim.Max, Max: lim.Max}
			err = unix.Prlimit(p, unix.RLIMIT_NOFILE, &want, nil)
		}
		if err != nil || want.Cur < uint64(n) {
			t.Skipf("RLIMIT_NOFILE of pid %d is %d/%d and cannot reach %d: %v", p, lim.Cur, lim.Max, n, err)
		}
		t.Logf("raised RLIMIT_NOFILE of pid %d from %d to %d", p, lim.Cur, want.Cur)
	}
}

// backlogFull counts connects refused with EAGAIN because the agent's
// listen backlog was full; every dialler here retries them.
var backlogFull atomic.Int64

// dialRaw connects to sock, retrying for up to 10 s while the listen
// backlog is full (EAGAIN), as a client under a connection flood must.
func dialRaw(sock string) (net.Conn, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("unix", sock)
		if err == nil || !errors.Is(err, syscall.EAGAIN) || time.Now().After(deadline) {
			return c, err
		}
		backlogFull.Add(1)
		time.Sleep(5 * time.Millisecond)
	}
}

// dialClient is client.Dial with dialRaw's retries.
func dialClient(sock string) (*client.Client, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := client.Dial(sock)
		if err == nil || !errors.Is(err, syscall.EAGAIN) || time.Now().After(deadline) {
			return c, err
		}
		backlogFull.Add(1)
		time.Sleep(5 * time.Millisecond)
	}
}

// frameHeader is the 4-byte big-endian length that starts a frame.
func frameHeader(n uint32) []byte {
	return binary.BigEndian.AppendUint32(nil, n)
}

// signFrame is a whole sign request with the bot credential.
func signFrame(id int) []byte {
	f, _ := protocol.AppendFrame(nil, fmt.Appendf(nil, `{"id":%d,"op":"sign","args":{"credential":"bot","method":"GET","url":"https://api.binance.com/api/v3/account?n=%d"}}`, id, id))
	return f
}

// statusFrame is a whole status request.
func statusFrame(id int) []byte {
	f, _ := protocol.AppendFrame(nil, fmt.Appendf(nil, `{"id":%d,"op":"status"}`, id))
	return f
}

// readReply reads one reply frame from c within d.
func readReply(c net.Conn, d time.Duration) (*protocol.Reply, error) {
	c.SetReadDeadline(time.Now().Add(d))
	body, err := protocol.ReadFrame(c, nil)
	if err != nil {
		return nil, err
	}
	var r protocol.Reply
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("reply %q: %w", body, err)
	}
	return &r, nil
}

// waitClosed waits up to d for the agent to close c, draining what it
// sends; it returns how long that took, or an error if c stayed open.
func waitClosed(c net.Conn, d time.Duration) (time.Duration, error) {
	start := time.Now()
	c.SetReadDeadline(start.Add(d))
	_, err := io.Copy(io.Discard, c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return 0, fmt.Errorf("still open after %v", d)
	}
	return time.Since(start), nil
}

// latencies is a set of request durations.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) { l.mu.Lock(); l.d = append(l.d, d); l.mu.Unlock() }

// summary returns the count, median, 99th percentile and maximum.
func (l *latencies) summary() (n int, p50, p99, max time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0, 0, 0, 0
	}
	s := slices.Sorted(slices.Values(l.d))
	return len(s), s[len(s)/2], s[len(s)*99/100], s[len(s)-1]
}

func (l *latencies) String() string {
	n, p50, p99, max := l.summary()
	return fmt.Sprintf("%d signatures, p50 %v, p99 %v, max %v", n, p50.Round(time.Microsecond), p99.Round(time.Microsecond), max.Round(time.Microsecond))
}

// loadRig is an unlocked agent with one Binance credential, "bot".
type loadRig struct {
	t      *testing.T
	sock   string
	agent  *agentProc
	pid    int
	secret string
}

// loadBinary is the agent binary the load tests run: $KEYWARD_BIN when set
// (make test sets it to bin/keyward, the binary that ships), else the one
// TestMain built, rebuilt without the race detector when it has it: a
// race-built agent is several times slower and larger, and its figures
// would say nothing of the real one.
func loadBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("KEYWARD_BIN"); bin != "" {
		if _, err := os.Stat(bin); err == nil {
			return bin
		}
	}
	if !raceEnabled {
		return keywardBin
	}
	bin := filepath.Join(filepath.Dir(keywardBin), "keyward-norace")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	build := exec.Command("go", "build", "-o", bin, "../cmd/keyward")
	build.Env = append(os.Environ(), "GOEXPERIMENT=runtimesecret")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "building keyward without -race: %s", out)
	return bin
}

// startAgentBin is startAgent with another binary.
func startAgentBin(t *testing.T, bin, sock, vault string, extra ...string) *agentProc {
	t.Helper()
	a := &agentProc{logs: &lockedBuffer{}, done: make(chan struct{})}
	a.cmd = exec.Command(bin, append([]string{"agent", "--socket", sock, "--vault", vault}, extra...)...)
	a.cmd.Env = append(os.Environ(), raceQuiet)
	a.cmd.Stderr = a.logs
	require.NoError(t, a.cmd.Start())
	go func() { a.err = a.cmd.Wait(); close(a.done) }()
	t.Cleanup(func() {
		a.signal(syscall.SIGINT)
		select {
		case <-a.done:
		case <-time.After(10 * time.Second):
			a.cmd.Process.Kill()
			<-a.done
		}
	})
	waitListening(t, sock, a.logs)
	return a
}

func newLoadRig(t *testing.T) *loadRig {
	t.Helper()
	sock, vault := agentPaths(shortTempDir(t, "kw-load-"))
	const pass = "load-passphrase"
	initVault(t, vault, pass)
	r := &loadRig{t: t, sock: sock, secret: "load-secret-0123456789abcdef"}
	bin := loadBinary(t)
	t.Logf("agent binary: %s", bin)
	r.agent = startAgentBin(t, bin, sock, vault, "--log-level", "error")
	r.pid = r.agent.cmd.Process.Pid
	out, err := cli(t, sock, pass+"\n", "unlock")
	require.NoError(t, err, out)
	out, err = cli(t, sock, r.secret+"\n", "add", "bot", "--scheme", "binance", "--api-key", "bot-key")
	require.NoError(t, err, out)
	return r
}

// wellBehaved signs with a client of its own until ctx ends, verifying
// every signature, and records each call's latency; every tenth call also
// opens a fresh connection for a status, so new clients are let in too.
func (r *loadRig) wellBehaved(ctx context.Context, lat *latencies, maxCalls int) error {
	c, err := dialClient(r.sock)
	if err != nil {
		return err
	}
	defer c.Close()
	for i := 0; ctx.Err() == nil && (maxCalls == 0 || i < maxCalls); i++ {
		start := time.Now()
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		req, err := c.Sign(cctx, protocol.SignArgs{Credential: "bot", HTTPRequest: protocol.HTTPRequest{
			Method: "GET", URL: fmt.Sprintf("https://api.binance.com/api/v3/account?i=%d", i),
		}})
		if err == nil && i%10 == 0 {
			var fresh *client.Client
			if fresh, err = dialClient(r.sock); err == nil {
				_, err = fresh.Status(cctx)
				fresh.Close()
			}
		}
		cancel()
		if err != nil {
			return fmt.Errorf("well-behaved call %d: %w", i, err)
		}
		lat.add(time.Since(start))
		if err := agenttest.VerifyBinance(r.secret, req); err != nil {
			return fmt.Errorf("well-behaved call %d: %w", i, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return nil
}

// holdIdle opens n connections, has each served one status so the agent
// has surely accepted it, and returns them open and idle.
func (r *loadRig) holdIdle(n int) ([]net.Conn, error) {
	conns := make([]net.Conn, 0, n)
	for i := range n {
		c, err := dialRaw(r.sock)
		if err != nil {
			closeAll(conns)
			return nil, fmt.Errorf("connection %d: %w", i, err)
		}
		conns = append(conns, c)
		if _, err := c.Write(statusFrame(i + 1)); err != nil {
			closeAll(conns)
			return nil, fmt.Errorf("connection %d: %w", i, err)
		}
	}
	for i, c := range conns {
		rep, err := readReply(c, 30*time.Second)
		if err == nil && rep.Error != nil {
			err = rep.Error
		}
		if err != nil {
			closeAll(conns)
			return nil, fmt.Errorf("connection %d was not served: %w", i, err)
		}
	}
	return conns, nil
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		c.Close()
	}
}

// attack is the hostile clients' tally.
type attack struct {
	slowCut       atomic.Int64 // slow clients the agent closed
	slowCutMaxMS  atomic.Int64 // the longest a slow client was kept
	vanished      atomic.Int64 // clients that left mid-frame or mid-flood
	floodReplies  atomic.Int64 // replies read by the pipelining clients
	oversized     atomic.Int64 // oversized or undecodable frames refused with bad_frame
	bigAnnounced  atomic.Int64 // 1 MiB frames announced and trickled
	mu            sync.Mutex
	errs          []error
	slowTimeLimit time.Duration
}

func (a *attack) fail(err error) {
	a.mu.Lock()
	a.errs = append(a.errs, err)
	a.mu.Unlock()
}

// slowClient announces a frame and sends its body a byte a second, as a
// slowloris would; the agent must close it once FrameTimeout (10 s) has
// passed, then it starts again, until ctx ends.
func (r *loadRig) slowClient(ctx context.Context, a *attack, size uint32) {
	for ctx.Err() == nil {
		c, err := dialRaw(r.sock)
		if err != nil {
			a.fail(fmt.Errorf("slow client: %w", err))
			return
		}
		start := time.Now()
		closed := make(chan time.Duration, 1)
		go func() {
			d, _ := waitClosed(c, time.Hour)
			closed <- d
		}()
		c.Write(frameHeader(size))
		tick := time.NewTicker(time.Second)
	drip:
		for {
			select {
			case <-ctx.Done():
				tick.Stop()
				c.Close()
				<-closed
				return
			case <-closed:
				break drip
			case <-tick.C:
				c.Write([]byte{'{'})
			}
		}
		tick.Stop()
		c.Close()
		kept := time.Since(start)
		a.slowCut.Add(1)
		for {
			old := a.slowCutMaxMS.Load()
			if kept.Milliseconds() <= old || a.slowCutMaxMS.CompareAndSwap(old, kept.Milliseconds()) {
				break
			}
		}
		if kept > a.slowTimeLimit {
			a.fail(fmt.Errorf("a slow client was kept %v", kept))
		}
	}
}

// vanisher connects and leaves: in the middle of a frame's length, in the
// middle of a body, or after pipelining requests whose replies it never
// reads. It repeats until ctx ends.
func (r *loadRig) vanisher(ctx context.Context, a *attack) {
	for i := 0; ctx.Err() == nil; i++ {
		c, err := dialRaw(r.sock)
		if err != nil {
			a.fail(fmt.Errorf("vanisher: %w", err))
			return
		}
		switch i % 3 {
		case 0:
			c.Write([]byte{0, 0})
		case 1:
			f := signFrame(i)
			c.Write(f[:len(f)/2])
		case 2:
			for j := range 50 {
				c.Write(signFrame(j))
			}
		}
		c.Close()
		a.vanished.Add(1)
		time.Sleep(time.Millisecond)
	}
}

// flooder pipelines sign requests on one connection, keeping far more
// outstanding than MaxInFlight (128) so back-pressure holds it, and reads
// every reply, until ctx ends.
func (r *loadRig) flooder(ctx context.Context, a *attack) {
	c, err := dialRaw(r.sock)
	if err != nil {
		a.fail(fmt.Errorf("flooder: %w", err))
		return
	}
	defer c.Close()
	const window = 512
	credits := make(chan struct{}, window)
	for range window {
		credits <- struct{}{}
	}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		br := bufio.NewReader(c)
		for {
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			body, err := protocol.ReadFrame(br, nil)
			if err != nil {
				if ctx.Err() == nil {
					a.fail(fmt.Errorf("flooder read: %w", err))
				}
				return
			}
			if strings.Contains(string(body), `"error"`) {
				a.fail(fmt.Errorf("flooder got an error reply: %s", body))
				return
			}
			a.floodReplies.Add(1)
			credits <- struct{}{}
		}
	}()
	w := bufio.NewWriterSize(c, 64<<10)
	for id := 1; ctx.Err() == nil; id++ {
		select {
		case <-credits:
		case <-ctx.Done():
		case <-readDone:
			return
		}
		w.Write(signFrame(id))
		if len(credits) == 0 {
			w.Flush()
		}
	}
	w.Flush()
	c.Close()
	<-readDone
}

// oversizer sends frames the agent must refuse with bad_frame and a close:
// a length over the 1 MiB limit, the largest length there is, and a full
// 1 MiB frame that is not JSON. It repeats until ctx ends.
func (r *loadRig) oversizer(ctx context.Context, a *attack) {
	garbage := append(frameHeader(protocol.MaxFrameSize), make([]byte, protocol.MaxFrameSize)...)
	for i := 0; ctx.Err() == nil; i++ {
		c, err := dialRaw(r.sock)
		if err != nil {
			a.fail(fmt.Errorf("oversizer: %w", err))
			return
		}
		switch i % 3 {
		case 0:
			c.Write(frameHeader(protocol.MaxFrameSize + 1))
		case 1:
			c.Write(frameHeader(^uint32(0)))
		case 2:
			c.Write(garbage)
		}
		rep, err := readReply(c, 20*time.Second)
		if err == nil && (rep.Error == nil || rep.Error.Code != protocol.CodeBadFrame) {
			err = fmt.Errorf("reply %+v", rep)
		}
		if err == nil {
			_, err = waitClosed(c, 20*time.Second)
		}
		c.Close()
		if err != nil {
			a.fail(fmt.Errorf("oversized frame %d: want bad_frame and a close: %w", i%3, err))
			return
		}
		a.oversized.Add(1)
		time.Sleep(5 * time.Millisecond)
	}
}

// bigAnnouncer announces a frame of the full 1 MiB and then trickles its
// body a byte a second: the agent allocates the frame's buffer when the
// length arrives, so this is the most memory one connection can pin.
func (r *loadRig) bigAnnouncer(ctx context.Context, a *attack) {
	a.bigAnnounced.Add(1)
	r.slowClient(ctx, a, protocol.MaxFrameSize)
}

// sampleRSS reads the agent's VmRSS every 100 ms until ctx ends and
// returns the highest seen, in KiB.
func (r *loadRig) sampleRSS(ctx context.Context) <-chan int {
	out := make(chan int, 1)
	go func() {
		peak := 0
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", r.pid))
			if err == nil {
				for line := range strings.SplitSeq(string(raw), "\n") {
					if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
						n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
						peak = max(peak, n)
					}
				}
			}
			select {
			case <-ctx.Done():
				out <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return out
}

// alive checks that the agent process still runs and answers status
// unlocked, with its credential.
func (r *loadRig) alive() {
	r.t.Helper()
	select {
	case <-r.agent.done:
		r.t.Fatalf("the agent exited: %v\n%s", r.agent.err, r.agent.logs.String())
	default:
	}
	require.NoError(r.t, syscall.Kill(r.pid, 0))
	c, err := client.Dial(r.sock)
	require.NoError(r.t, err)
	defer c.Close()
	st, err := c.Status(context.Background())
	require.NoError(r.t, err)
	assert.False(r.t, st.Locked)
	assert.Equal(r.t, 1, st.Credentials)
}

const mib = 1024 // KiB per MiB, for VmRSS figures

// TestLoadHostileClients proves that the agent binary stays available and
// bounded under load and abuse. It holds a thousand idle connections (each
// served once), then for a while (12 s; 90 s under KEYWARD_SOAK) adds slow
// clients that send a byte a second (each must be cut once FrameTimeout,
// 10 s, has passed), clients announcing 1 MiB frames and trickling them,
// clients that vanish mid-frame or mid-flood, pipelining flooders kept
// in check by back-pressure, and oversized and undecodable frames (each
// refused with bad_frame and a close). Throughout, a well-behaved bot keeps
// signing (every signature verified) and new connections are let in; its
// latency under attack must stay within a generous bound. The agent's
// memory (VmRSS) must stay under 256 MiB and come back down afterwards, its
// connections must all be released, and it must still answer status.
func TestLoadHostileClients(t *testing.T) {
	idle := 1000
	attackFor := 12 * time.Second
	if soak() {
		idle = 4000
		attackFor = 90 * time.Second
	}
	idle = envInt(t, "KEYWARD_LOAD_CONNS", idle)
	attackFor = time.Duration(envInt(t, "KEYWARD_LOAD_SECONDS", int(attackFor/time.Second))) * time.Second
	const (
		slowClients   = 50
		bigAnnouncers = 16 // each pins 1 MiB: see TestLoadAnnouncedFramesPinMemory
		vanishers     = 2
		flooders      = 4
		oversizers    = 2
		rssLimitKB    = 256 * mib
	)

	r := newLoadRig(t)
	ensureNoFile(t, r.pid, idle+slowClients+bigAnnouncers+vanishers+flooders+oversizers+256)

	// Before: a quiet agent, and its bot's latency.
	before := readProcStatus(t, r.pid)
	var quiet latencies
	require.NoError(t, r.wellBehaved(context.Background(), &quiet, 300))
	t.Logf("quiet agent: %v; well-behaved bot: %v", before, &quiet)

	// A thousand idle connections.
	start := time.Now()
	conns, err := r.holdIdle(idle)
	require.NoError(t, err, r.agent.logs.String())
	opened := time.Since(start)
	held := readProcStatus(t, r.pid)
	t.Logf("%d connections opened and served in %v; held idle: %v (%.1f KiB of RSS per connection)",
		idle, opened.Round(time.Millisecond), held, float64(held.rssKB-before.rssKB)/float64(idle))
	assert.GreaterOrEqual(t, held.fds-before.fds, idle, "the agent holds every connection")
	assert.Less(t, held.rssKB, rssLimitKB, "RSS with %d idle connections", idle)

	// The attack, with the bot still signing.
	ctx, stop := context.WithTimeout(context.Background(), attackFor)
	defer stop()
	peak := r.sampleRSS(ctx)
	a := &attack{slowTimeLimit: 10*time.Second + 5*time.Second}
	var wg sync.WaitGroup
	spawn := func(n int, f func(context.Context, *attack)) {
		for range n {
			wg.Go(func() { f(ctx, a) })
		}
	}
	spawn(slowClients, func(ctx context.Context, a *attack) { r.slowClient(ctx, a, 100) })
	spawn(bigAnnouncers, r.bigAnnouncer)
	spawn(vanishers, r.vanisher)
	spawn(flooders, r.flooder)
	spawn(oversizers, r.oversizer)
	var attacked latencies
	botErr := make(chan error, 1)
	go func() {
		time.Sleep(500 * time.Millisecond) // let the attack build up
		botErr <- r.wellBehaved(ctx, &attacked, 0)
	}()
	require.NoError(t, <-botErr, r.agent.logs.String())
	wg.Wait()
	peakKB := <-peak
	during := readProcStatus(t, r.pid)
	require.Empty(t, a.errs, "hostile clients saw the agent misbehave")
	t.Logf("under attack for %v: %d slow clients cut (kept at most %v), %d 1 MiB frames announced, %d clients vanished, %d pipelined replies (%.0f/s), %d bad frames refused",
		attackFor, a.slowCut.Load(), time.Duration(a.slowCutMaxMS.Load())*time.Millisecond, a.bigAnnounced.Load(), a.vanished.Load(),
		a.floodReplies.Load(), float64(a.floodReplies.Load())/attackFor.Seconds(), a.oversized.Load())
	t.Logf("well-behaved bot under attack: %v (quiet: %v); %d connects met a full listen backlog (EAGAIN) and were retried", &attacked, &quiet, backlogFull.Load())
	t.Logf("agent under attack: peak VmRSS %.1f MiB; at the end %v", float64(peakKB)/mib, during)

	n, _, p99, worst := attacked.summary()
	_, _, quietP99, _ := quiet.summary()
	assert.GreaterOrEqual(t, n, int(attackFor/(200*time.Millisecond)), "the bot was served throughout (at least 5 signatures a second)")
	assert.Less(t, p99, max(time.Second, 50*quietP99), "p99 latency of a well-behaved bot under attack")
	assert.Less(t, worst, 5*time.Second, "worst latency of a well-behaved bot under attack")
	if attackFor >= 11*time.Second {
		assert.Positive(t, a.slowCut.Load(), "slow clients are cut once FrameTimeout (10 s) has passed")
	}
	assert.Positive(t, a.oversized.Load())
	assert.Positive(t, a.floodReplies.Load())
	assert.Less(t, peakKB, rssLimitKB, "peak RSS under attack")
	assert.Less(t, during.hwmKB, rssLimitKB, "VmHWM under attack")

	// After: everything released, memory back down, still serving.
	closeAll(conns)
	var after procStatus
	assert.Eventually(t, func() bool {
		after = readProcStatus(t, r.pid)
		return after.fds <= before.fds+8
	}, 20*time.Second, 100*time.Millisecond, "the agent releases every connection: %d fds before, %d after", before.fds, after.fds)
	// Go gives freed memory back to the kernel only after a GC, and an idle
	// agent collects at the latest every two minutes (the forced GC), then
	// the scavenger returns pages gradually. So the short run asserts that
	// nothing grows once the clients left and logs the figure; the soak
	// waits for the memory to come back within 64 MiB of the quiet agent.
	time.Sleep(2 * time.Second)
	after = readProcStatus(t, r.pid)
	assert.Less(t, after.rssKB, rssLimitKB, "RSS after the attack")
	assert.LessOrEqual(t, after.rssKB, max(peakKB, during.rssKB)+8*mib, "RSS does not keep growing once the clients left")
	if soak() {
		settledIn := time.Now()
		assert.Eventually(t, func() bool {
			after = readProcStatus(t, r.pid)
			return after.rssKB <= before.rssKB+64*mib
		}, 180*time.Second, time.Second, "RSS comes back down: quiet %d KiB, peak %d KiB", before.rssKB, peakKB)
		t.Logf("RSS back down after %v", time.Since(settledIn).Round(time.Second))
	}
	t.Logf("after the attack: %v", after)
	r.alive()
}

// TestLoadAnnouncedFramesPinMemory: a client allowed to connect (a
// compromised bot) that opens a thousand connections, each announcing a
// 1 MiB frame and sending a byte a second, costs the agent only what was
// sent. (It found that the agent allocated the announced size at once,
// about 1 GiB of RSS here; agent/server.go readBody now grows the buffer
// as bytes arrive.)
func TestLoadAnnouncedFramesPinMemory(t *testing.T) {
	const announcers = 1000
	r := newLoadRig(t)
	ensureNoFile(t, r.pid, announcers+256)
	before := readProcStatus(t, r.pid)
	ctx, stop := context.WithTimeout(context.Background(), 14*time.Second) // past one FrameTimeout
	defer stop()
	peak := r.sampleRSS(ctx)
	a := &attack{slowTimeLimit: 15 * time.Second}
	var wg sync.WaitGroup
	for range announcers {
		wg.Go(func() { r.bigAnnouncer(ctx, a) })
	}
	wg.Wait()
	peakKB := <-peak
	t.Logf("%d connections announcing 1 MiB frames: VmRSS %.1f MiB before, peak %.1f MiB", announcers, float64(before.rssKB)/mib, float64(peakKB)/mib)
	assert.Less(t, peakKB, 256*mib, "peak RSS with %d announced 1 MiB frames", announcers)
	r.alive()
}
