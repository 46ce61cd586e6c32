package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward/protocol"
)

// Targets 5, 6 and 7 of issue 9: a platform's worth of credentials, many
// idle bots, and a container's memlock limit.

// unlockRepeats is how many times each scale vault is unlocked; the
// median counts.
const unlockRepeats = 3

func (h *harness) scaleRows(ctx context.Context) ([]Row, error) {
	n := h.opts.scaleN
	t0 := time.Now()
	one, err := h.newAgent("scale-1", 1, memlockDefault)
	if err != nil {
		return nil, err
	}
	defer one.stop()
	many, err := h.newAgent("scale-many", n, memlockDefault)
	if err != nil {
		return nil, err
	}
	defer many.stop()
	built := time.Since(t0)

	// Unlock each several times (lock in between), alternating, and keep
	// the medians: Argon2id alone varies by tens of milliseconds.
	var (
		tOne, tMany []time.Duration
		firstRSS    int64 // after the first unlock
	)
	for i := range unlockRepeats {
		if i > 0 {
			if err := one.lock(ctx); err != nil {
				return nil, err
			}
			if err := many.lock(ctx); err != nil {
				return nil, err
			}
		}
		d, _, err := one.unlock(ctx)
		if err != nil {
			return nil, err
		}
		tOne = append(tOne, d)
		d, got, err := many.unlock(ctx)
		if err != nil {
			return nil, err
		}
		if got != n {
			return nil, fmt.Errorf("the agent unlocked %d credentials, the vault holds %d", got, n)
		}
		tMany = append(tMany, d)
		if i == 0 {
			st, err := procStatus(many.pid())
			if err != nil {
				return nil, err
			}
			firstRSS = st["VmRSS"]
		}
	}
	u1, uN := median(tOne), median(tMany)
	unlock := absRow("scale_unlock", fmt.Sprintf("unlock %s creds beyond Argon2id", formatNumber(float64(n))), "s", (uN - u1).Seconds(), atMost, 3)
	unlock.Baseline, unlock.BaselineName = ptr(u1.Seconds()), "1 cred"
	unlock.Note = fmt.Sprintf("median of %d unlocks: %s s with %s credentials, %s s with 1 (one Argon2id, %s); the vault was built in %s s with AddBatch",
		unlockRepeats, formatNumber(uN.Seconds()), formatNumber(float64(n)), formatNumber(u1.Seconds()), h.settings()["argon2id"], formatNumber(built.Seconds()))

	st, err := procStatus(many.pid())
	if err != nil {
		return nil, err
	}
	lck := absRow("scale_vmlck", fmt.Sprintf("VmLck, %s creds", formatNumber(float64(n))), "MiB", mib(st["VmLck"]), atMost, mib(memlockDefault))
	lck.Note = fmt.Sprintf("the agent runs as %s under RLIMIT_MEMLOCK %s MiB", h.agentUser(), formatLimit(mib(memlockDefault)))
	rss := absRow("scale_rss", fmt.Sprintf("RSS, %s creds", formatNumber(float64(n))), "MiB", mib(st["VmRSS"]), atMost, 256)
	rss.Note = fmt.Sprintf("after %d unlocks (each after a lock); %s MiB after the first; peak (VmHWM) %s MiB",
		unlockRepeats, formatNumber(mib(firstRSS)), formatNumber(mib(st["VmHWM"])))

	// Sign: every request names a different credential, in random order,
	// against the same request always naming the only one.
	t, err := newFrameTemplate(protocol.OpSign, signArgs(credName(0)))
	if err != nil {
		return nil, err
	}
	perm := rand.Perm(n)
	pick := credPicker(func(i int) int { return perm[i%n] })
	samples := max(h.opts.samples/2, 1000)
	var lOne, lMany []time.Duration
	for range latencyRounds {
		l, err := measureLatency(ctx, one.sock, t, h.opts.warmup/latencyRounds, samples/latencyRounds, nil)
		if err != nil {
			return nil, fmt.Errorf("sign with 1 credential: %w", one.explain(err))
		}
		lOne = append(lOne, l...)
		l, err = measureLatency(ctx, many.sock, t, h.opts.warmup/latencyRounds, samples/latencyRounds, pick)
		if err != nil {
			return nil, fmt.Errorf("sign with %d credentials: %w", n, many.explain(err))
		}
		lMany = append(lMany, l...)
	}
	slices.Sort(lOne)
	slices.Sort(lMany)
	sign := ratioRow("scale_sign_p50", fmt.Sprintf("sign p50, %s creds vs 1", formatNumber(float64(n))), "µs", micros(percentile(lMany, 50)), micros(percentile(lOne, 50)), "1 cred", atMost, 1.1)
	sign.Target = "≤ ~1.1× (as fast as with one)"
	sign.Note = fmt.Sprintf("each request names a random one of the %s credentials; %d round trips each", formatNumber(float64(n)), len(lMany))
	return []Row{unlock, lck, rss, sign}, nil
}

// median of durations (the upper one of an even count).
func median(d []time.Duration) time.Duration {
	return percentile(sortedCopy(d), 50)
}

// agentUser says who the agents run as.
func (h *harness) agentUser() string {
	if h.asNobody {
		return "uid 65534"
	}
	return "the harness's user"
}

// helloFrame is a hello request frame with id 1.
func helloFrame() ([]byte, error) {
	return protocol.AppendFrame(nil, []byte(`{"id":1,"op":"hello","args":{"version":1}}`))
}

func (h *harness) idleRows(ctx context.Context) ([]Row, error) {
	n := h.opts.idleN
	a, err := h.newAgent("idle", 1, memlockDefault)
	if err != nil {
		return nil, err
	}
	defer a.stop()
	if _, _, err := a.unlock(ctx); err != nil {
		return nil, err
	}
	hello, err := helloFrame()
	if err != nil {
		return nil, err
	}
	// One connection first, so what every connection shares (the hello
	// path, the buffers it warms) is paid before the "before" figure.
	if err := helloOn(a.sock, hello, nil); err != nil {
		return nil, a.explain(err)
	}
	settle := func() { sleepCtx(ctx, 500*time.Millisecond) }
	settle()
	before, err := procStatus(a.pid())
	if err != nil {
		return nil, err
	}
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range n {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var c net.Conn
		if err := helloOn(a.sock, hello, &c); err != nil {
			return nil, fmt.Errorf("connection %d: %w", i+1, a.explain(err))
		}
		conns = append(conns, c)
	}
	settle()
	after, err := procStatus(a.pid())
	if err != nil {
		return nil, err
	}
	if !a.alive() {
		return nil, a.exitError()
	}
	delta := mib(after["VmRSS"] - before["VmRSS"])
	row := absRow("idle_rss", fmt.Sprintf("RSS of %s idle conns", formatNumber(float64(n))), "MiB", delta, atMost, 32)
	row.Note = fmt.Sprintf("agent RSS %s MiB before, %s MiB with %d connections open, each after a hello (%s KiB each)",
		formatNumber(mib(before["VmRSS"])), formatNumber(mib(after["VmRSS"])), n, formatNumber(delta*1024/float64(n)))
	return []Row{row}, nil
}

// helloOn opens a connection to sock, says hello and reads the reply. It
// keeps the connection in *keep, or closes it when keep is nil.
func helloOn(sock string, hello []byte, keep *net.Conn) error {
	rc, err := dialRaw(sock)
	if err != nil {
		return err
	}
	if err := rc.write(hello); err != nil {
		rc.Close()
		return err
	}
	if id, err := rc.readReply(); err != nil || id != 1 {
		rc.Close()
		return fmt.Errorf("hello: id %d: %w", id, errOr(err, errors.New("wrong id")))
	}
	rc.c.SetDeadline(time.Time{})
	if keep == nil {
		return rc.Close()
	}
	*keep = rc.c
	return nil
}

// lowMemlockAnswer bounds how long the agent may take to answer under a
// low memlock limit before the row calls it hung.
const lowMemlockAnswer = 10 * time.Second

func (h *harness) lowMemlockRows(ctx context.Context) ([]Row, error) {
	n := h.opts.lowN
	const id, target = "low_memlock", "answers ≤ 10 s, alive"
	figure := fmt.Sprintf("unlock %s creds at 64 KiB memlock", formatNumber(float64(n)))
	dir, err := h.agentDir("low-memlock")
	if err != nil {
		return nil, err
	}
	if err := buildVault(filepath.Join(dir, "vault"), h.kdf, n); err != nil {
		return nil, fmt.Errorf("build vault: %w", err)
	}
	if err := h.chownTree(dir); err != nil {
		return nil, err
	}
	start := time.Now()
	a, err := h.startAgent("low-memlock agent", dir, memlockLow)
	if err != nil {
		// Refusing to start, promptly and saying why, is one of the two
		// answers the issue allows.
		took := time.Since(start)
		msg := err.Error()
		if took <= lowMemlockAnswer && strings.Contains(msg, "exited") && strings.Contains(msg, "MEMLOCK") {
			row := absRow(id, figure, "s", took.Seconds(), atMost, lowMemlockAnswer.Seconds())
			row.Target = target
			row.Note = "the agent refused to start: " + firstLine(msg, 300)
			return []Row{row}, nil
		}
		return nil, err
	}
	defer a.stop()

	c, err := a.dial()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	uctx, cancel := context.WithTimeout(ctx, lowMemlockAnswer)
	defer cancel()
	start = time.Now()
	res, uerr := c.Unlock(uctx, protocol.UnlockArgs{Passphrase: protocol.Secret(passphrase())})
	took := time.Since(start)
	row := absRow(id, figure, "s", took.Seconds(), atMost, lowMemlockAnswer.Seconds())
	row.Target = target
	var outcome string
	switch {
	case uctx.Err() != nil:
		row.Status = statusFail
		outcome = fmt.Sprintf("no answer to unlock within %s: hung", lowMemlockAnswer)
	case uerr != nil:
		outcome = fmt.Sprintf("unlock refused with code %q: %s", protocol.CodeOf(uerr), firstLine(uerr.Error(), 300))
		if protocol.CodeOf(uerr) != protocol.CodeMemlock {
			outcome += " (expected code memlock)"
		}
	default:
		outcome = fmt.Sprintf("unlocked %d credentials (degraded?)", res.Credentials)
	}
	// Still alive, and still answering?
	sctx, scancel := context.WithTimeout(ctx, lowMemlockAnswer)
	defer scancel()
	st, serr := c.Status(sctx)
	switch {
	case !a.alive():
		row.Status = statusFail
		outcome += "; the agent DIED: " + firstLine(a.logs.String(), 300)
	case serr != nil:
		row.Status = statusFail
		outcome += "; status after it failed: " + serr.Error()
	default:
		outcome += fmt.Sprintf("; afterwards the agent is alive and answers status (locked=%v, memlock %d of %d bytes)", st.Locked, st.MemlockBytes, st.MemlockLimit)
	}
	row.Note = outcome
	return []Row{row}, nil
}

// firstLine is s's first line, cut to n bytes.
func firstLine(s string, n int) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}
