package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/protocol"
)

// errgroup runs functions and keeps the first error.
type errgroup struct {
	wg   sync.WaitGroup
	once sync.Once
	err  error
}

func (g *errgroup) run(f func() error) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := f(); err != nil {
			g.once.Do(func() { g.err = err })
		}
	}()
}

func (g *errgroup) wait() error { g.wg.Wait(); return g.err }

// region is one mapping of a process, from /proc/PID/smaps.
type region struct {
	start, end uint64
	name       string
	lockedKB   int
}

func readRegions(t *testing.T, pid int) []region {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps", pid))
	require.NoError(t, err)
	defer f.Close()
	var rs []region
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			lo, hi, _ := strings.Cut(fields[0], "-")
			s, err1 := strconv.ParseUint(lo, 16, 64)
			e, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 == nil && err2 == nil {
				r := region{start: s, end: e}
				if len(fields) >= 6 {
					r.name = fields[5]
				}
				rs = append(rs, r)
				continue
			}
		}
		if v, ok := strings.CutPrefix(line, "Locked:"); ok && len(rs) > 0 {
			rs[len(rs)-1].lockedKB, _ = strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
		}
	}
	return rs
}

// scan reads every readable region of pid and returns where each needle
// was found, as "needle-label in region-name (locked|unlocked)".
func scan(t *testing.T, pid int, needles map[string][]byte) []string {
	mem, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	require.NoError(t, err)
	defer mem.Close()
	var hits []string
	for _, r := range readRegions(t, pid) {
		if r.name == "[vvar]" || r.name == "[vsyscall]" || r.end-r.start > 1<<30 {
			continue
		}
		buf := make([]byte, r.end-r.start)
		n, _ := mem.ReadAt(buf, int64(r.start))
		buf = buf[:n]
		for label, needle := range needles {
			if bytes.Contains(buf, needle) {
				where := "unlocked"
				if r.lockedKB > 0 {
					where = "locked"
				}
				hits = append(hits, fmt.Sprintf("%s in %x-%x %q (%s)", label, r.start, r.end, r.name, where))
			}
		}
	}
	return hits
}

// TestNoSecretInMemoryAfterLock signs 2,000 requests, then reads the whole
// agent's memory: while unlocked, a secret may be only in locked memory,
// and after lock neither a secret nor the passphrase is anywhere, in raw
// or in the base64 form they travelled in.
func TestNoSecretInMemoryAfterLock(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("reading another process's memory needs root")
	}
	sock, vault := agentPaths(shortTempDir(t, "kw-mem-"))
	const pass = "memscan-passphrase-Zq81wLx"
	secrets := []string{"memscan-secret-one-Kd02mPqs7Hv3", "memscan-secret-two-Yt5nBc9xWe1R", "memscan-secret-three-Gh4jLo6uNa2"}
	initVault(t, vault, pass)
	agent := startAgent(t, sock, vault)

	out, err := cli(t, sock, pass+"\n", "unlock")
	require.NoError(t, err, out)
	for i, s := range secrets {
		out, err = cli(t, sock, s+"\n", "add", fmt.Sprintf("cred%d", i), "--scheme", "binance", "--api-key", "k")
		require.NoError(t, err, out)
	}
	// Thousands of signatures, pipelined from 8 goroutines on one
	// connection, as a busy bot would.
	c, err := client.Dial(sock)
	require.NoError(t, err)
	defer c.Close()
	var g errgroup
	for w := range 8 {
		g.run(func() error {
			for i := range 250 {
				_, err := c.Sign(context.Background(), protocol.SignArgs{Credential: fmt.Sprintf("cred%d", (w+i)%3), HTTPRequest: protocol.HTTPRequest{
					Method: "POST", URL: "https://api.binance.com/api/v3/order",
					Body: fmt.Sprintf("symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=%d&price=1", i),
				}})
				if err != nil {
					return err
				}
			}
			return nil
		})
	}
	require.NoError(t, g.wait())
	// Lock and unlock once more, so the unlock path is exercised twice.
	_, err = cli(t, sock, "", "lock")
	require.NoError(t, err)
	out, err = cli(t, sock, pass+"\n", "unlock")
	require.NoError(t, err, out)

	needles := map[string][]byte{
		"passphrase":        []byte(pass),
		"passphrase base64": []byte(base64.StdEncoding.EncodeToString([]byte(pass))[:24]),
	}
	for i, s := range secrets {
		needles[fmt.Sprintf("secret %d", i)] = []byte(s)
		needles[fmt.Sprintf("secret %d base64", i)] = []byte(base64.StdEncoding.EncodeToString([]byte(s))[:24])
	}
	pid := agent.cmd.Process.Pid

	unlocked := scan(t, pid, needles)
	for _, h := range unlocked {
		assert.Contains(t, h, "(locked)", "while unlocked, a secret outside locked memory: %s", h)
	}
	found := 0
	for _, h := range unlocked {
		if strings.HasPrefix(h, "secret ") && !strings.Contains(h, "base64") {
			found++
		}
	}
	assert.GreaterOrEqual(t, found, 3, "the scan finds the secrets where they should be (locked memory): %v", unlocked)

	_, err = cli(t, sock, "", "lock")
	require.NoError(t, err)
	assert.Empty(t, scan(t, pid, needles), "after lock, nothing anywhere")
}
