package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/fakeexchange"
	venue "github.com/keyward/keyward/internal/fakeexchange/verify"
	"github.com/keyward/keyward/protocol"
)

// This file proves issue 8's first claim: no secret is in the agent's
// memory where it should not be. It runs the agent as an unprivileged user
// under the common 8 MiB RLIMIT_MEMLOCK, gives it secrets of every form a
// venue issues, signs thousands of requests, then reads the agent's whole
// memory as root (/proc/PID/mem), attributing every hit to its mapping
// through /proc/PID/smaps.

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

// ---- the process's mappings ----

// region is one mapping of a process, from /proc/PID/smaps.
type region struct {
	start, end            uint64
	perms, name           string
	rssKB, swapKB, lockKB int
	flags                 []string // VmFlags: "lo" is VM_LOCKED, "dd" VM_DONTDUMP
}

func (r region) has(flag string) bool { return slices.Contains(r.flags, flag) }

// secure reports whether the region is locked (never swapped) and left out
// of core dumps: where memguard keeps secrets, and the only place a secret
// may be while the agent is unlocked.
func (r region) secure() bool { return r.has("lo") && r.has("dd") }

// kind says what a region is, for a reader of a hit report.
func (r region) kind() string {
	switch {
	case r.has("lo") && r.has("dd"):
		return "locked, non-dumpable (memguard)"
	case r.has("lo"):
		return "locked but DUMPABLE"
	case r.has("dd"):
		return "non-dumpable but NOT LOCKED"
	case r.name == "[stack]":
		return "main thread stack"
	case r.name == "[heap]":
		return "brk heap"
	case strings.HasPrefix(r.name, "/"):
		return "file mapping " + r.name
	case r.name != "":
		return r.name
	case r.perms == "rw-p" && r.end-r.start >= 4<<20:
		// Go 1.26 randomises the heap's base address: its arenas are the
		// large private read-write anonymous mappings.
		return "anonymous, NOT LOCKED (a Go heap arena: live objects, freed spans, goroutine stacks)"
	default:
		return "anonymous, NOT LOCKED (runtime metadata, OS thread stacks or race shadow)"
	}
}

func (r region) String() string {
	return fmt.Sprintf("%x-%x %s %s [Rss %d kB, Locked %d kB, VmFlags %s]", r.start, r.end, r.perms, r.kind(), r.rssKB, r.lockKB, strings.Join(r.flags, " "))
}

func readRegions(t *testing.T, pid int) []region {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps", pid))
	require.NoError(t, err)
	defer f.Close()
	var rs []region
	kb := func(v string) int {
		n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
		return n
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			lo, hi, _ := strings.Cut(fields[0], "-")
			s, err1 := strconv.ParseUint(lo, 16, 64)
			e, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 == nil && err2 == nil {
				r := region{start: s, end: e, perms: fields[1]}
				if len(fields) >= 6 {
					r.name = strings.Join(fields[5:], " ")
				}
				rs = append(rs, r)
				continue
			}
		}
		if len(rs) == 0 {
			continue
		}
		r := &rs[len(rs)-1]
		switch key, v, _ := strings.Cut(line, ":"); key {
		case "Rss":
			r.rssKB = kb(v)
		case "Swap":
			r.swapKB = kb(v)
		case "Locked":
			r.lockKB = kb(v)
		case "VmFlags":
			r.flags = strings.Fields(v)
		}
	}
	require.NoError(t, sc.Err())
	return rs
}

// ---- what to look for ----

type needleClass int

const (
	// mustHide: a secret, the vault passphrase or a key-equivalent value
	// (an HMAC key block, a private scalar): only in locked, non-dumpable
	// memory while unlocked; nowhere after lock.
	mustHide needleClass = iota
	// clearSecret: a value the venue receives in clear on every request
	// (OKX's passphrase), so it is in every signed reply: reported, not
	// asserted.
	clearSecret
	// midstate: the hash state after compressing an HMAC key block, which
	// agent/scheme/hmac.go documents may sit on a goroutine stack: reported,
	// not asserted.
	midstate
	// forwardedClear: a secret a venue receives itself on every request
	// (Alpaca's secret key, an OANDA token), which forward mode writes
	// into the TLS stream: in transit while unlocked (reported), nowhere
	// after lock (asserted), because the request is built under
	// runtime/secret and its buffer wiped after the write.
	forwardedClear
)

// needle is a distinctive window (16 bytes or more) of one form of one
// secret.
type needle struct {
	secret, form string
	class        needleClass
	b            []byte
}

func (n *needle) String() string { return n.secret + ": " + n.form }

// needles collects what to look for, without duplicates.
type needles struct {
	list []*needle
	seen map[string]bool
}

func (ns *needles) add(secret, form string, class needleClass, b []byte) {
	if len(b) < 16 {
		panic(fmt.Sprintf("needle %s %s is %d bytes: too short to be distinctive", secret, form, len(b)))
	}
	if ns.seen == nil {
		ns.seen = make(map[string]bool)
	}
	if ns.seen[string(b)] {
		return
	}
	ns.seen[string(b)] = true
	ns.list = append(ns.list, &needle{secret: secret, form: form, class: class, b: bytes.Clone(b)})
}

// windows returns up to three 32-byte windows of v at head, middle and tail
// (v itself when it is 32 bytes or shorter), as offsets.
func windows(v []byte) [][2]int {
	if len(v) <= 32 {
		return [][2]int{{0, len(v)}}
	}
	return [][2]int{{0, 32}, {len(v)/2 - 16, len(v)/2 + 16}, {len(v) - 32, len(v)}}
}

// addForms adds the raw, hex (lower and upper case) and base64 forms of the
// windows [lo,hi) of v. base64 is tried at the three alignments a window
// can have inside a larger encoded buffer (the wire's JSON frame, a PEM
// body), so any base64 copy of the window is found.
func (ns *needles) addForms(secret, what string, class needleClass, v []byte, wins [][2]int) {
	for _, w := range wins {
		raw := v[w[0]:w[1]]
		ns.add(secret, what+" raw", class, raw)
		h := raw[:min(len(raw), 24)]
		ns.add(secret, what+" hex", class, []byte(hex.EncodeToString(h)))
		ns.add(secret, what+" HEX", class, []byte(strings.ToUpper(hex.EncodeToString(h))))
		for a := range 3 {
			// 12 bytes from w[0]+a encode to 16 base64 characters; one of
			// the three alignments matches any encoding of v.
			if w[0]+a+12 <= len(v) && w[0]+a+12 <= w[1]+2 {
				ns.add(secret, fmt.Sprintf("%s base64 (alignment %d)", what, a), class, []byte(base64.StdEncoding.EncodeToString(v[w[0]+a:w[0]+a+12])))
			}
		}
	}
}

// addHMAC adds the ipad and opad key blocks HMAC derives from key (padded
// with zeros to the hash's block size, XOR 0x36 and 0x5c): a window at the
// start and one across the key's end (or the block's end), and the hash
// midstates after each block, as reported-only needles.
func (ns *needles) addHMAC(secret string, key []byte, newHash func() hash.Hash) {
	h := newHash()
	bs := h.BlockSize()
	if len(key) > bs {
		panic("test keys are at most one block")
	}
	for _, p := range []struct {
		name string
		x    byte
	}{{"ipad", 0x36}, {"opad", 0x5c}} {
		block := make([]byte, bs)
		for i := range block {
			var b byte
			if i < len(key) {
				b = key[i]
			}
			block[i] = b ^ p.x
		}
		name := fmt.Sprintf("%s block (%d bytes, key XOR %#x)", p.name, bs, p.x)
		ns.add(secret, name+" start", mustHide, block[:32])
		if end := len(key); end < bs {
			ns.add(secret, name+" across the key's end", mustHide, block[max(0, end-16):end+16])
		} else {
			ns.add(secret, name+" end", mustHide, block[bs-32:])
		}
		h.Reset()
		h.Write(block)
		state, err := h.(encoding.BinaryMarshaler).MarshalBinary()
		if err != nil {
			panic(err)
		}
		// MarshalBinary: 4-byte magic, then the state words big-endian;
		// in memory (amd64) each word is little-endian.
		word := 4
		if bs == 128 {
			word = 8
		}
		be := state[4 : 4+8*word]
		le := make([]byte, len(be))
		for i := 0; i < len(be); i += word {
			for j := range word {
				le[i+j] = be[i+word-1-j]
			}
		}
		ns.add(secret, p.name+" midstate (hash state words in memory order)", midstate, le[:32])
	}
}

// reversed returns b's bytes in reverse order: a big.Int's (or bigmod
// Nat's) limbs are little-endian words, least significant first, so in
// memory its bytes run in the reverse order of its big-endian form.
func reversed(b []byte) []byte {
	r := bytes.Clone(b)
	slices.Reverse(r)
	return r
}

// middle returns the 32-byte window in the middle of b.
func middle(b []byte) []byte { return b[len(b)/2-16 : len(b)/2+16] }

// ---- the scan ----

type hit struct {
	n    *needle
	addr uint64
	r    region
	ctx  string // bytes around the hit, quoted
}

func (h hit) String() string {
	return fmt.Sprintf("%s at %#x in %s; around it: %s", h.n, h.addr, h.r, h.ctx)
}

type scanStats struct {
	regions, skipped int
	scanned, unread  uint64 // bytes read and searched; bytes that could not be read
	duration         time.Duration
}

// scanMemory reads every mapping of pid that holds any page (Rss or Swap
// above zero; the rest reads as zeros) through /proc/PID/mem, in chunks
// that overlap by the longest needle, and returns every place a needle
// starts.
//
// The search costs one table probe per aligned 8-byte word, however many
// needles there are (the race detector slows every load of this loop, and
// the agent's memory is hundreds of MiB under it): a needle of 15 bytes or
// more always covers one whole aligned word, at one of 8 offsets, so each
// needle is indexed by its 8 substrings of 8 bytes. Shorter needles are
// searched for with bytes.Index.
func scanMemory(t *testing.T, pid int, ns []*needle) ([]hit, scanStats) {
	t.Helper()
	begin := time.Now()
	type entry struct {
		n *needle
		k int // offset of the word in the needle
	}
	index := make(map[uint64][]entry)
	var filter [1 << 16 / 64]uint64
	slot := func(w uint64) uint64 { return (w * 0x9e3779b97f4a7c15) >> 48 }
	var short []*needle
	maxLen := 8
	for _, n := range ns {
		maxLen = max(maxLen, len(n.b))
		if len(n.b) < 15 {
			short = append(short, n)
			continue
		}
		for k := range 8 {
			w := binary.LittleEndian.Uint64(n.b[k:])
			index[w] = append(index[w], entry{n, k})
			s := slot(w)
			filter[s/64] |= 1 << (s % 64)
		}
	}
	mem, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	require.NoError(t, err)
	defer mem.Close()

	var st scanStats
	var hits []hit
	const chunk = 4 << 20
	words := make([]uint64, (chunk+maxLen+7)/8)
	buf := unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), len(words)*8)
	found := func(b []byte, off uint64, p int, n *needle, r region) {
		lo, hi := max(0, p-48), min(len(b), p+len(n.b)+48)
		hits = append(hits, hit{n: n, addr: off + uint64(p), r: r, ctx: strconv.Quote(string(b[lo:hi]))})
	}
	for _, r := range readRegions(t, pid) {
		if r.rssKB == 0 && r.swapKB == 0 {
			st.skipped++
			continue
		}
		st.regions++
		for off := r.start; off < r.end; off += chunk {
			b := buf[:min(uint64(len(buf)), r.end-off)]
			if got, err := mem.ReadAt(b, int64(off)); err != nil && got < len(b) {
				// A guard page or a racing unmap: read what can be read
				// page by page.
				for p := 0; p < len(b); p += 4096 {
					page := b[p:min(p+4096, len(b))]
					if m, _ := mem.ReadAt(page, int64(off)+int64(p)); m < len(page) {
						clear(page[m:])
						st.unread += uint64(len(page) - m)
					}
				}
			}
			// Matches starting at or past limit belong to the next chunk.
			limit := min(len(b), chunk)
			st.scanned += uint64(limit)
			for wi, w := range words[:len(b)/8] {
				if s := slot(w); filter[s/64]&(1<<(s%64)) == 0 {
					continue
				}
				for _, e := range index[w] {
					p := wi*8 - e.k
					if p >= 0 && p < limit && bytes.HasPrefix(b[p:], e.n.b) {
						found(b, off, p, e.n, r)
					}
				}
			}
			for _, n := range short {
				for p := 0; p < limit; {
					i := bytes.Index(b[p:], n.b)
					if i < 0 || p+i >= limit {
						break
					}
					found(b, off, p+i, n, r)
					p += i + 1
				}
			}
		}
	}
	st.duration = time.Since(begin)
	return hits, st
}

// ---- the agent as an unprivileged user ----

const nobody = 65534

// nobodyAgent is `keyward agent` running as uid 65534 under prlimit, with
// its own directory (socket, vault, nonces, audit log), which is also its
// working directory.
type nobodyAgent struct {
	dir, sock string
	env       []string
	cmd       *exec.Cmd
	pid       int
	logs      *lockedBuffer
	done      chan struct{}
	state     *os.ProcessState // set before done closes
}

// startNobodyAgent initialises a vault with passphrase in a new directory
// owned by uid 65534 and starts the agent there as that user, with
// RLIMIT_MEMLOCK at 8 MiB and the given extra environment and prlimit
// options.
func startNobodyAgent(t *testing.T, passphrase string, env []string, limits ...string) *nobodyAgent {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("running the agent as another user, and reading its memory, need root")
	}
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("prlimit (util-linux) is not installed")
	}
	dir := shortTempDir(t, "kw-mem-")
	require.NoError(t, os.Chown(dir, nobody, nobody))
	require.NoError(t, os.Chmod(dir, 0o700))
	a := &nobodyAgent{dir: dir, sock: filepath.Join(dir, "run", "agent.sock"), logs: &lockedBuffer{}, done: make(chan struct{})}
	a.env = append([]string{"KEYWARD_SOCK=" + a.sock, "KEYWARD_VAULT=" + filepath.Join(dir, "vault")}, env...)
	a.run(t, passphrase+"\n", "init", "--argon2-memory", "8", "--argon2-time", "1")

	args := append([]string{"--memlock=8388608:8388608"}, limits...)
	a.cmd = asUser(nobody, nobody, a.env, prlimit, append(args, "--", keywardBin, "agent")...)
	a.cmd.Dir = dir
	a.cmd.Stderr = a.logs
	require.NoError(t, a.cmd.Start())
	a.pid = a.cmd.Process.Pid // prlimit execs keyward in place
	go func() { a.cmd.Wait(); a.state = a.cmd.ProcessState; close(a.done) }()
	t.Cleanup(func() {
		a.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-a.done:
		case <-time.After(10 * time.Second):
			a.cmd.Process.Kill()
			<-a.done
		}
	})
	waitListening(t, a.sock, a.logs)
	return a
}

// run runs the CLI as uid 65534 against the agent and returns its output.
func (a *nobodyAgent) run(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	cmd := asUser(nobody, nobody, a.env, keywardBin, args...)
	cmd.Dir = a.dir
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "keyward %v: %s\nagent: %s", args, out, a.logs.String())
	return string(out)
}

// writeFile writes a file only uid 65534 (and root) can read.
func (a *nobodyAgent) writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(a.dir, name)
	require.NoError(t, os.WriteFile(p, data, 0o600))
	require.NoError(t, os.Chown(p, nobody, nobody))
	return p
}

// ---- the test keys ----

// alnum returns n random letters and digits.
func alnum(n int) []byte {
	const set = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = set[int(b[i])%len(set)]
	}
	return b
}

// pemKey makes a private key with openssl (as a user would), or with the
// standard library where openssl is missing, and returns the PEM text.
func pemKey(t *testing.T, dir, name string, openssl []string, fallback func() (string, []byte)) []byte {
	t.Helper()
	if path, err := exec.LookPath("openssl"); err == nil {
		out := filepath.Join(dir, name)
		b, err := exec.Command(path, append(openssl, "-out", out)...).CombinedOutput()
		require.NoError(t, err, "openssl %v: %s", openssl, b)
		pemText, err := os.ReadFile(out)
		require.NoError(t, err)
		require.NoError(t, os.Remove(out))
		return pemText
	}
	typ, der := fallback()
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// pemBody returns the offsets of the base64 body of a one-block PEM text:
// the windows of the PEM text worth searching lie within it.
func pemBody(p []byte) (int, int) {
	start := bytes.IndexByte(p, '\n') + 1
	end := bytes.LastIndex(p, []byte("\n-----END"))
	return start, end
}

// idleWait is how long the agent is left idle before its memory is read
// while unlocked: a quiet moment, not the Go runtime's 2-minute forced GC.
const idleWait = 2 * time.Second

// TestNoSecretInMemoryAfterLock runs the agent as uid 65534 with 8 MiB of
// lockable memory, adds six credentials through the CLI (HMAC secrets for
// Binance and OKX with its passphrase, Kraken's base64 secret, and RSA,
// Ed25519 and EC P-256 PEM keys made by openssl), signs thousands of
// requests with them, locks and unlocks once more, signs again, and then
// reads the agent's whole memory as root, twice: while unlocked and idle,
// every secret, the vault passphrase and every key-equivalent value (HMAC
// key blocks, private scalars and primes) may be only in locked,
// non-dumpable memory; after lock, none of them is anywhere. Each is
// searched for raw, in hex and in base64.
func TestNoSecretInMemoryAfterLock(t *testing.T) {
	pass := "kw-memscan-vault-passphrase-" + string(alnum(20))
	a := startNobodyAgent(t, pass, nil)
	keyDir := shortTempDir(t, "kw-keys-")
	var ns needles

	// HMAC secrets as venues show them: Binance 64 letters and digits, OKX
	// 32 upper-case hex digits and a passphrase of the owner's choosing.
	binanceSecret := append([]byte("KWbn"), alnum(60)...)
	okxSecret := []byte(strings.ToUpper(hex.EncodeToString(randBytes(16))))
	okxPass := append([]byte("kwOkxPass-"), alnum(14)...)
	// Kraken: base64 of 64 random bytes.
	krakenRaw := randBytes(64)
	krakenText := []byte(base64.StdEncoding.EncodeToString(krakenRaw))
	// PEM keys, made now and never committed.
	rsaPEM := pemKey(t, keyDir, "rsa.pem", []string{"genpkey", "-algorithm", "rsa", "-pkeyopt", "rsa_keygen_bits:2048"}, func() (string, []byte) {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		require.NoError(t, err)
		der, err := x509.MarshalPKCS8PrivateKey(k)
		require.NoError(t, err)
		return "PRIVATE KEY", der
	})
	edPEM := pemKey(t, keyDir, "ed.pem", []string{"genpkey", "-algorithm", "ed25519"}, func() (string, []byte) {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		require.NoError(t, err)
		der, err := x509.MarshalPKCS8PrivateKey(k)
		require.NoError(t, err)
		return "PRIVATE KEY", der
	})
	ecPEM := pemKey(t, keyDir, "ec.pem", []string{"ecparam", "-name", "prime256v1", "-genkey", "-noout"}, func() (string, []byte) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		der, err := x509.MarshalECPrivateKey(k)
		require.NoError(t, err)
		return "EC PRIVATE KEY", der
	})

	// The vault passphrase.
	ns.addForms("vault passphrase", "passphrase", mustHide, []byte(pass), windows([]byte(pass)))

	// HMAC secrets, as given and as the keyed hash uses them.
	ns.addForms("binance HMAC secret", "secret", mustHide, binanceSecret, windows(binanceSecret))
	ns.addHMAC("binance HMAC secret", binanceSecret, sha256.New)
	ns.addForms("okx HMAC secret", "secret", mustHide, okxSecret, windows(okxSecret))
	ns.addHMAC("okx HMAC secret", okxSecret, sha256.New)
	ns.add("okx passphrase", "raw (sent in clear in every signed request)", clearSecret, okxPass)
	ns.addForms("okx passphrase", "passphrase", mustHide, okxPass, [][2]int{{0, len(okxPass)}})
	// The raw form of the OKX passphrase is a clear secret; its hex and
	// base64 forms must still be gone.
	ns.list = slices.DeleteFunc(ns.list, func(n *needle) bool {
		return n.secret == "okx passphrase" && n.class == mustHide && n.form == "passphrase raw"
	})
	ns.addForms("kraken secret", "base64 text as issued", mustHide, krakenText, windows(krakenText))
	ns.addForms("kraken secret", "decoded 64 bytes", mustHide, krakenRaw, windows(krakenRaw))
	ns.addHMAC("kraken secret", krakenRaw, sha512.New)

	// RSA: the PEM text (from the body's second half on: its first part is
	// the public modulus), the stored PKCS#8 DER, and the private exponent
	// and primes as big-endian bytes and as big.Int limbs lie in memory.
	rsaKey, rsaDER := parsePKCS8(t, rsaPEM)
	rk := rsaKey.(*rsa.PrivateKey)
	bs, be := pemBody(rsaPEM)
	half := bs + (be-bs)/2
	ns.addForms("binance RSA key", "PEM text", mustHide, rsaPEM, [][2]int{{half, half + 32}, {be - 40, be - 8}})
	ns.addForms("binance RSA key", "stored PKCS#8 DER", mustHide, rsaDER, [][2]int{{len(rsaDER) / 2, len(rsaDER)/2 + 32}, {len(rsaDER) - 32, len(rsaDER)}})
	for _, v := range []struct {
		name string
		b    []byte
	}{{"private exponent d", rk.D.Bytes()}, {"prime p", rk.Primes[0].Bytes()}, {"prime q", rk.Primes[1].Bytes()}} {
		ns.add("binance RSA key", v.name+" big-endian", mustHide, middle(v.b))
		ns.add("binance RSA key", v.name+" as limbs (little-endian)", mustHide, middle(reversed(v.b)))
	}

	// Ed25519: the PEM text, the stored 32-byte seed, and the SHA-512 of
	// the seed that signing expands it to (scalar and prefix).
	edKey, _ := parsePKCS8(t, edPEM)
	seed := edKey.(ed25519.PrivateKey).Seed()
	bs, be = pemBody(edPEM)
	ns.addForms("binance Ed25519 key", "PEM text", mustHide, edPEM, [][2]int{{bs + 20, be}})
	ns.addForms("binance Ed25519 key", "seed (stored)", mustHide, seed, windows(seed))
	expanded := sha512.Sum512(seed)
	ns.add("binance Ed25519 key", "expanded scalar (SHA-512 of seed, first half, unclamped bytes)", mustHide, expanded[1:31])
	ns.add("binance Ed25519 key", "expanded prefix (SHA-512 of seed, second half)", mustHide, expanded[32:])

	// EC P-256 (Coinbase CDP): the PEM text, the stored PKCS#8 DER (whose
	// private part is the scalar D), and D as bytes and as limbs.
	block, _ := pem.Decode(ecPEM)
	require.NotNil(t, block)
	ek, err := x509.ParseECPrivateKey(block.Bytes)
	require.NoError(t, err)
	d, err := ek.Bytes()
	require.NoError(t, err)
	bs, _ = pemBody(ecPEM)
	ns.addForms("coinbase EC key", "PEM text", mustHide, ecPEM, [][2]int{{bs + 10, bs + 42}})
	ns.addForms("coinbase EC key", "private scalar D (in the stored DER)", mustHide, d, windows(d))
	ns.add("coinbase EC key", "private scalar D as limbs (little-endian)", mustHide, reversed(d))

	// Forward-only credentials: the secret travels in clear to the venue.
	alpacaSecret := append([]byte("kwAlpacaSecret"), alnum(26)...)
	oandaToken := []byte(hex.EncodeToString(randBytes(16)) + "-" + hex.EncodeToString(randBytes(16)))
	ns.addForms("alpaca secret key", "secret", forwardedClear, alpacaSecret, windows(alpacaSecret))
	ns.addForms("oanda token", "token", forwardedClear, oandaToken, windows(oandaToken))

	// What the scan must find in locked memory while unlocked, to prove it
	// sees the keyring at all: each stored form.
	stored := map[string][]byte{
		"binance HMAC secret":        binanceSecret[:32],
		"okx HMAC secret":            okxSecret,
		"kraken secret (decoded)":    krakenRaw[:32],
		"binance RSA key (DER tail)": rsaDER[len(rsaDER)-32:],
		"binance Ed25519 key (seed)": seed,
		"coinbase EC key (D)":        d,
		"alpaca secret key":          alpacaSecret[:32],
		"oanda token":                oandaToken[:32],
	}

	// Add the credentials as the user would: secret files, read by the CLI
	// running as the agent's user.
	a.run(t, pass+"\n", "unlock")
	add := func(name, scheme, apiKey string, secret, passphrase []byte, extra ...string) {
		args := []string{"add", name, "--scheme", scheme, "--api-key", apiKey, "--secret-file", a.writeFile(t, name+".secret", secret)}
		if len(extra) == 0 {
			args = append(args, "--verify=off") // no venue to ask
		}
		args = append(args, extra...)
		if passphrase != nil {
			args = append(args, "--passphrase-file", a.writeFile(t, name+".pass", passphrase))
		}
		a.run(t, "", args...)
		require.NoError(t, os.Remove(filepath.Join(a.dir, name+".secret")))
		os.Remove(filepath.Join(a.dir, name+".pass"))
	}
	add("bn-hmac", "binance", "bn-hmac-key", binanceSecret, nil)
	add("okx", "okx", "okx-key", okxSecret, okxPass)
	add("kraken", "kraken", "kraken-key", krakenText, nil)
	add("bn-rsa", "binance", "bn-rsa-key", rsaPEM, nil)
	add("bn-ed", "binance", "bn-ed-key", edPEM, nil)
	add("cb-ec", "coinbase", "organizations/kw-org/apiKeys/kw-key", ecPEM, nil)

	// The forward-only keys reach a fake exchange on loopback, which the
	// agent asks about each key when it is added (--verify) and to which
	// it forwards orders below.
	ex, err := fakeexchange.Start(fakeexchange.Config{})
	require.NoError(t, err)
	defer ex.Close()
	const alpacaKey, oandaAccount = "PKKWMEMSCAN000000001", "101-004-1234567-001"
	ex.AddAccount("alpaca", venue.Account{APIKey: alpacaKey, Secret: alpacaSecret}, fakeexchange.Permissions{Read: true, Trade: true})
	ex.AddAccount("oanda", venue.Account{APIKey: oandaAccount, Secret: oandaToken}, fakeexchange.Permissions{Read: true, Trade: true})
	caFile := a.writeFile(t, "venue-ca.pem", ex.CAPEM())
	via := []string{"--meta", "connect_to=" + ex.Addr(), "--meta", "ca_file=" + caFile}
	add("alpaca", "alpaca", alpacaKey, alpacaSecret, nil, append([]string{"--verify"}, via...)...)
	add("oanda", "oanda", oandaAccount, oandaToken, nil, append([]string{"--verify"}, via...)...)

	c, err := client.Dial(a.sock)
	require.NoError(t, err)
	defer c.Close()
	requests := []struct {
		cred  string
		req   func(i int) protocol.HTTPRequest
		count int // per round
	}{
		{"bn-hmac", func(i int) protocol.HTTPRequest {
			return protocol.HTTPRequest{Method: "POST", URL: "https://api.binance.com/api/v3/order", Body: fmt.Sprintf("symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=%d&price=1", i+1)}
		}, 1200},
		{"okx", func(i int) protocol.HTTPRequest {
			return protocol.HTTPRequest{Method: "POST", URL: "https://www.okx.com/api/v5/trade/order", Body: fmt.Sprintf(`{"instId":"BTC-USDT","tdMode":"cash","side":"buy","ordType":"limit","sz":"%d","px":"1"}`, i+1)}
		}, 1000},
		{"kraken", func(i int) protocol.HTTPRequest {
			return protocol.HTTPRequest{Method: "POST", URL: "https://api.kraken.com/0/private/AddOrder", Body: fmt.Sprintf("ordertype=limit&type=buy&volume=%d&pair=XBTUSD&price=1", i+1)}
		}, 1000},
		{"bn-ed", func(i int) protocol.HTTPRequest {
			return protocol.HTTPRequest{Method: "GET", URL: fmt.Sprintf("https://api.binance.com/api/v3/account?recvWindow=%d", 1000+i)}
		}, 300},
		{"cb-ec", func(i int) protocol.HTTPRequest {
			return protocol.HTTPRequest{Method: "GET", URL: fmt.Sprintf("https://api.coinbase.com/api/v3/brokerage/accounts?limit=%d", 1+i%50)}
		}, 300},
		{"bn-rsa", func(i int) protocol.HTTPRequest {
			return protocol.HTTPRequest{Method: "GET", URL: fmt.Sprintf("https://api.binance.com/api/v3/account?recvWindow=%d", 1000+i)}
		}, 100},
	}
	signed := 0
	var signedMu sync.Mutex
	// round signs every request of the table, from 8 goroutines sharing one
	// pipelined connection, as busy bots would; last scales it down.
	round := func(scale int) {
		var g errgroup
		for w := range 8 {
			g.run(func() error {
				for _, r := range requests {
					for i := w; i < r.count/scale; i += 8 {
						out, err := c.Sign(context.Background(), protocol.SignArgs{Credential: r.cred, HTTPRequest: r.req(i)})
						if err != nil {
							return fmt.Errorf("%s #%d: %w", r.cred, i, err)
						}
						if len(out.Headers)+len(out.URL) == 0 {
							return errors.New("empty signed request")
						}
						signedMu.Lock()
						signed++
						signedMu.Unlock()
					}
				}
				return nil
			})
		}
		require.NoError(t, g.wait(), "agent: %s", a.logs.String())
		// Forward-only keys: orders the agent sends itself.
		for i := range 200 / scale {
			for _, f := range []protocol.ForwardArgs{
				{Credential: "alpaca", HTTPRequest: protocol.HTTPRequest{Method: "POST", URL: "https://paper-api.alpaca.markets/v2/orders",
					Headers: map[string]string{"Content-Type": "application/json"},
					Body:    fmt.Sprintf(`{"symbol":"AAPL","qty":"%d","side":"buy","type":"market","time_in_force":"day"}`, i+1)}},
				{Credential: "oanda", HTTPRequest: protocol.HTTPRequest{Method: "POST", URL: "https://api-fxpractice.oanda.com/v3/accounts/" + oandaAccount + "/orders",
					Headers: map[string]string{"Content-Type": "application/json"},
					Body:    fmt.Sprintf(`{"order":{"units":"%d","instrument":"EUR_USD","type":"MARKET"}}`, i+1)}},
			} {
				res, err := c.Forward(context.Background(), f)
				require.NoError(t, err, "agent: %s", a.logs.String())
				require.Less(t, res.Status, 300, "%s: %s", f.Credential, res.Body)
				signedMu.Lock()
				signed++
				signedMu.Unlock()
			}
		}
	}
	begin := time.Now()
	round(1)
	// Lock and unlock once more, so the unlock path (secrets decrypted
	// from the vault straight into locked memory) is exercised too, and
	// sign again with the reloaded keys.
	a.run(t, "", "lock")
	a.run(t, pass+"\n", "unlock")
	round(4)
	t.Logf("signed %d requests in %v", signed, time.Since(begin).Round(time.Millisecond))

	// Idle: nothing in flight, as a scan of a quiet agent.
	time.Sleep(idleWait)
	report := func(phase string, hits []hit, st scanStats) {
		t.Logf("%s: scanned %.1f MiB in %d mappings (%d empty mappings skipped, %d bytes unreadable) for %d needles in %v",
			phase, float64(st.scanned)/(1<<20), st.regions, st.skipped, st.unread, len(ns.list), st.duration.Round(time.Millisecond))
		if clear := slices.DeleteFunc(slices.Clone(hits), func(h hit) bool { return h.n.class != clearSecret }); len(clear) > 0 {
			t.Logf("%s: %d copies of clear secrets, which every signed request carries (reported, not asserted):\n%s", phase, len(clear), summarise(clear))
		}
		if fwd := slices.DeleteFunc(slices.Clone(hits), func(h hit) bool { return h.n.class != forwardedClear }); len(fwd) > 0 {
			t.Logf("%s: %d copies of forwarded clear secrets (reported while unlocked, asserted after lock):\n%s", phase, len(fwd), summarise(fwd))
		}
		if mid := slices.DeleteFunc(slices.Clone(hits), func(h hit) bool { return h.n.class != midstate }); len(mid) > 0 {
			t.Logf("%s: %d HMAC midstates, key-equivalent (reported, not asserted; see agent/scheme/hmac.go):\n%s", phase, len(mid), summarise(mid))
		}
	}

	unlocked, st := scanMemory(t, a.pid, ns.list)
	report("unlocked", unlocked, st)
	foundLocked := map[string]bool{}
	var leaks []hit
	for _, h := range unlocked {
		for name, b := range stored {
			if h.r.secure() && bytes.Equal(h.n.b, b) {
				foundLocked[name] = true
			}
		}
		if h.n.class == mustHide && !h.r.secure() {
			leaks = append(leaks, h)
		}
	}
	if len(leaks) > 0 {
		t.Errorf("LEAK: while unlocked, %d copies of secrets outside locked, non-dumpable memory:\n%s", len(leaks), summarise(leaks))
	}
	for name := range stored {
		assert.True(t, foundLocked[name], "the scan finds %s in locked memory, where the keyring keeps it", name)
	}

	a.run(t, "", "lock")
	locked, st := scanMemory(t, a.pid, ns.list)
	report("locked", locked, st)
	leaks = slices.DeleteFunc(locked, func(h hit) bool { return h.n.class != mustHide && h.n.class != forwardedClear })
	if len(leaks) > 0 {
		t.Errorf("LEAK: after lock, %d copies of secrets in memory:\n%s", len(leaks), summarise(leaks))
	}
}

// summarise groups hits by what was found and where, with a count, the
// addresses and the bytes around the first.
func summarise(hits []hit) string {
	type key struct{ needle, region string }
	var order []key
	groups := map[key][]hit{}
	for _, h := range hits {
		k := key{h.n.String(), h.r.String()}
		if groups[k] == nil {
			order = append(order, k)
		}
		groups[k] = append(groups[k], h)
	}
	var b strings.Builder
	for _, k := range order {
		g := groups[k]
		addrs := make([]string, 0, 8)
		for i, h := range g {
			if i == 8 {
				addrs = append(addrs, "…")
				break
			}
			addrs = append(addrs, fmt.Sprintf("%#x", h.addr))
		}
		fmt.Fprintf(&b, "  %d× %s\n      in %s\n      at %s\n      first: %s\n", len(g), k.needle, k.region, strings.Join(addrs, " "), g[0].ctx)
	}
	return b.String()
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// parsePKCS8 parses a PKCS#8 PEM key and returns it with the DER the agent
// stores (re-encoded by the standard library, as the agent does).
func parsePKCS8(t *testing.T, p []byte) (any, []byte) {
	t.Helper()
	block, _ := pem.Decode(p)
	require.NotNil(t, block)
	require.Equal(t, "PRIVATE KEY", block.Type)
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(k)
	require.NoError(t, err)
	return k, der
}

// scan is scanMemory for a few labelled needles (8 bytes or more), as
// other tests use it: each hit is "label at ADDR in REGION (locked)" when
// the region is locked and non-dumpable, "(unlocked)" otherwise.
func scan(t *testing.T, pid int, labelled map[string][]byte) []string {
	t.Helper()
	var ns []*needle
	for label, b := range labelled {
		require.GreaterOrEqual(t, len(b), 8, "needle %q is too short to search for", label)
		ns = append(ns, &needle{secret: label, form: "raw", b: b})
	}
	hits, _ := scanMemory(t, pid, ns)
	var out []string
	for _, h := range hits {
		where := "unlocked"
		if h.r.secure() {
			where = "locked"
		}
		out = append(out, fmt.Sprintf("%s at %#x in %s (%s)", h.n.secret, h.addr, h.r, where))
	}
	return out
}

// TestMemoryScanFindsPlantedNeedles checks the scanner on this process's
// own memory, which needs no privilege: needles planted at every offset
// modulo 8, across the boundary between two 4 MiB read chunks and at a
// mapping's very end are all found at their addresses, and a needle in a
// locked, non-dumpable mapping is attributed to it.
func TestMemoryScanFindsPlantedNeedles(t *testing.T) {
	// A 9 MiB read-write mapping between two inaccessible pages, so that
	// the kernel cannot merge it with a neighbour: its read chunks then
	// start at its first byte.
	const size = 9 << 20
	full, err := unix.Mmap(-1, 0, size+2*4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	require.NoError(t, err)
	defer unix.Munmap(full)
	require.NoError(t, unix.Mprotect(full[:4096], unix.PROT_NONE))
	require.NoError(t, unix.Mprotect(full[4096+size:], unix.PROT_NONE))
	m := full[4096 : 4096+size]
	lockedPage, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	require.NoError(t, err)
	defer unix.Munmap(lockedPage)
	canLock := unix.Mlock(lockedPage) == nil && unix.Madvise(lockedPage, unix.MADV_DONTDUMP) == nil

	base := uint64(uintptr(unsafe.Pointer(&m[0])))
	want := map[uint64]string{}
	var ns []*needle
	plant := func(buf []byte, off int, n *needle) {
		copy(buf[off:], n.b)
		want[uint64(uintptr(unsafe.Pointer(&buf[off])))] = n.secret
	}
	for k := range 8 {
		n := &needle{secret: fmt.Sprintf("offset %d", k), form: "raw", b: randBytes(16 + k)}
		ns = append(ns, n)
		plant(m, 4096+k*64+k, n)
	}
	cross := &needle{secret: "across chunks", form: "raw", b: randBytes(40)}
	end := &needle{secret: "at the end", form: "raw", b: randBytes(24)}
	short := &needle{secret: "short", form: "raw", b: randBytes(9)}
	shortCross := &needle{secret: "short across chunks", form: "raw", b: randBytes(11)}
	locked := &needle{secret: "locked", form: "raw", b: randBytes(32)}
	ns = append(ns, cross, end, short, shortCross, locked)
	plant(m, 4<<20-13, cross)
	plant(m, size-len(end.b), end)
	plant(m, 1<<20+3, short)
	plant(m, 8<<20-5, shortCross)
	plant(lockedPage, 100, locked)

	hits, st := scanMemory(t, os.Getpid(), ns)
	t.Logf("scanned %.1f MiB of this process in %v", float64(st.scanned)/(1<<20), st.duration)
	got := map[uint64]hit{}
	for _, h := range hits {
		got[h.addr] = h
	}
	for addr, name := range want {
		h, ok := got[addr]
		if assert.True(t, ok, "needle %q planted at %#x not found", name, addr) {
			assert.Equal(t, name, h.n.secret)
		}
	}
	if canLock {
		h := got[uint64(uintptr(unsafe.Pointer(&lockedPage[100])))]
		assert.True(t, h.r.secure(), "a needle in a locked, non-dumpable page is attributed to it: %s", h.r)
	} else {
		t.Log("cannot mlock a page here: the locked attribution is not checked")
	}
	for _, h := range hits {
		if a := h.addr; a >= base && a < base+size {
			assert.False(t, h.r.secure(), "an ordinary mapping is reported as locked: %s", h.r)
		}
	}
}
