package keyring

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeClock is an injected clock that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newKeyring(t testing.TB, opts Options) *Keyring {
	k := New(opts)
	t.Cleanup(k.Close)
	return k
}

func credName(i int) string { return fmt.Sprintf("cred-%06d", i) }

// secretFor is credential i's made-up secret: never zero, so a wipe shows.
func secretFor(i, n int) []byte {
	b := make([]byte, n)
	for j := range b {
		b[j] = byte(i+j)%251 + 1
	}
	return b
}

// loadN puts count credentials with size-byte secrets and records the
// slices put handed out in *got, if got is not nil.
func loadN(count, size int, got *[][]byte) func(put func(Credential, int) ([]byte, error)) error {
	return func(put func(Credential, int) ([]byte, error)) error {
		for i := range count {
			b, err := put(Credential{Name: credName(i), Scheme: "binance", APIKey: "key-" + credName(i)}, size)
			if err != nil {
				return err
			}
			copy(b, secretFor(i, size))
			if got != nil {
				*got = append(*got, b)
			}
		}
		return nil
	}
}

func useSecret(t testing.TB, k *Keyring, name string) []byte {
	t.Helper()
	var cp []byte
	err := k.Use(name, func(c Credential, secret, scratch []byte) error {
		assert.Equal(t, name, c.Name)
		assert.Len(t, scratch, ScratchSize)
		assert.True(t, allZero(scratch), "scratch is lent zeroed")
		cp = append([]byte(nil), secret...)
		return nil
	})
	require.NoError(t, err)
	return cp
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func TestLifecycle(t *testing.T) {
	k := newKeyring(t, Options{})
	assert.True(t, k.Locked())
	assert.ErrorIs(t, k.Use("x", nil), ErrLocked)
	assert.ErrorIs(t, k.Add(Credential{Name: "x"}, []byte("s")), ErrLocked)
	assert.ErrorIs(t, k.Remove("x"), ErrLocked)
	_, err := k.Credential("x")
	assert.ErrorIs(t, err, ErrLocked)
	_, err = k.Scheme("x")
	assert.ErrorIs(t, err, ErrLocked)
	assert.True(t, k.UnlockedAt().IsZero())

	require.NoError(t, k.Unlock(3, 3*40, loadN(3, 40, nil)))
	assert.False(t, k.Locked())
	assert.False(t, k.UnlockedAt().IsZero())
	assert.Equal(t, 3, k.Len())
	assert.ErrorIs(t, k.Unlock(1, 1, loadN(1, 1, nil)), ErrUnlocked)
	for i := range 3 {
		assert.Equal(t, secretFor(i, 40), useSecret(t, k, credName(i)))
	}
	c, err := k.Credential(credName(1))
	require.NoError(t, err)
	assert.Equal(t, Credential{Name: credName(1), Scheme: "binance", APIKey: "key-" + credName(1)}, c)
	sc, err := k.Scheme(credName(1))
	require.NoError(t, err)
	assert.Equal(t, "binance", sc)
	name1 := credName(1)
	assert.Zero(t, testing.AllocsPerRun(100, func() { k.Scheme(name1) }), "Scheme copies nothing")
	_, err = k.Scheme("nope")
	assert.ErrorIs(t, err, ErrUnknown)

	// Add copies; the caller's buffer is its own.
	secret := []byte("added-secret")
	meta := map[string]string{"venue": "testnet"}
	require.NoError(t, k.Add(Credential{Name: "new", Scheme: "binance", Meta: meta}, secret))
	meta["venue"] = "changed"
	clear(secret)
	assert.Equal(t, []byte("added-secret"), useSecret(t, k, "new"))
	c, err = k.Credential("new")
	require.NoError(t, err)
	assert.Equal(t, "testnet", c.Meta["venue"], "keyring keeps its own copy of Meta")
	assert.ErrorIs(t, k.Add(Credential{Name: "new"}, []byte("x")), ErrExists)
	assert.Error(t, k.Add(Credential{Name: "empty"}, nil))
	assert.Error(t, k.Add(Credential{}, []byte("x")))
	assert.Equal(t, 4, k.Len())

	require.NoError(t, k.Remove("new"))
	assert.ErrorIs(t, k.Remove("new"), ErrUnknown)
	assert.ErrorIs(t, k.Use("new", nil), ErrUnknown)
	_, err = k.Credential("new")
	assert.ErrorIs(t, err, ErrUnknown)

	// f's error comes back as is.
	boom := errors.New("boom")
	assert.Equal(t, boom, k.Use(credName(0), func(Credential, []byte, []byte) error { return boom }))

	k.Lock("test")
	k.Lock("again") // idempotent
	assert.True(t, k.Locked())
	assert.Zero(t, k.Len())
	assert.ErrorIs(t, k.Use(credName(0), nil), ErrLocked)

	// A locked keyring unlocks again.
	require.NoError(t, k.Unlock(1, 8, loadN(1, 8, nil)))
	assert.Equal(t, secretFor(0, 8), useSecret(t, k, credName(0)))

	k.Close()
	assert.True(t, k.Locked())
	assert.ErrorIs(t, k.Unlock(1, 8, loadN(1, 8, nil)), ErrLocked)
}

func TestEmptyUnlockThenAdd(t *testing.T) {
	k := newKeyring(t, Options{})
	require.NoError(t, k.Unlock(0, 0, func(func(Credential, int) ([]byte, error)) error { return nil }))
	assert.False(t, k.Locked())
	for i := range 3000 { // more than one 64 KiB chunk
		require.NoError(t, k.Add(Credential{Name: credName(i)}, secretFor(i, 64)))
	}
	for _, i := range []int{0, 1023, 1024, 2999} {
		assert.Equal(t, secretFor(i, 64), useSecret(t, k, credName(i)))
	}
}

// TestScratchZeroed writes into every scratch slot it is lent and checks
// each later Use still gets zeros.
func TestScratchZeroed(t *testing.T) {
	k := newKeyring(t, Options{})
	require.NoError(t, k.Unlock(1, 32, loadN(1, 32, nil)))
	for range 3 * scratchSlots() {
		err := k.Use(credName(0), func(_ Credential, _, scratch []byte) error {
			require.True(t, allZero(scratch))
			for i := range scratch {
				scratch[i] = 0xA5
			}
			return nil
		})
		require.NoError(t, err)
	}
	// A panicking f still gets its slot wiped and returned.
	assert.Panics(t, func() {
		_ = k.Use(credName(0), func(_ Credential, _, scratch []byte) error {
			scratch[0] = 1
			panic("bot bug")
		})
	})
	for range 2 * scratchSlots() {
		useSecret(t, k, credName(0)) // asserts zeroed scratch, and would block if a slot leaked
	}
}

// TestLockWipes proves that Lock zeroes every byte put handed out, and the
// whole of every chunk and the scratch pool, before the memory goes back to
// memguard. The hook runs after our wipe and before memguard's Destroy
// (which wipes again and unmaps, so the slices cannot be read afterwards).
func TestLockWipes(t *testing.T) {
	k := newKeyring(t, Options{})
	var handed [][]byte
	var seen int
	k.beforeDestroy = func(chunk []byte) {
		seen++
		assert.True(t, allZero(chunk), "chunk wiped before destroy")
		for _, b := range handed {
			assert.True(t, allZero(b), "secret wiped before destroy")
		}
	}
	require.NoError(t, k.Unlock(200, 200*48, loadN(200, 48, &handed)))
	require.Len(t, handed, 200)
	assert.Equal(t, secretFor(7, 48), handed[7], "put's slice is where the secret lives")
	// Each slice put handed out is inside a chunk, and no two overlap.
	assertDisjoint(t, handed)

	k.Lock("test")
	assert.Equal(t, 1, seen, "one chunk destroyed")
	handed = nil // unmapped now: must not be read
	k.Close()
	assert.Equal(t, 2, seen, "scratch pool destroyed on Close")
}

func assertDisjoint(t *testing.T, bufs [][]byte) {
	t.Helper()
	type rng struct{ lo, hi uintptr }
	seen := make([]rng, 0, len(bufs))
	for _, b := range bufs {
		lo := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
		r := rng{lo, lo + uintptr(cap(b))}
		assert.Zero(t, lo%slotAlign, "slot aligned")
		for _, s := range seen {
			require.False(t, r.lo < s.hi && s.lo < r.hi, "slots overlap")
		}
		seen = append(seen, r)
	}
}

// TestRemoveWipes reads the slot put handed out after Remove: the memory is
// still mapped (the keyring is unlocked), so this is a direct proof.
func TestRemoveWipes(t *testing.T) {
	k := newKeyring(t, Options{})
	var handed [][]byte
	require.NoError(t, k.Unlock(3, 3*64, loadN(3, 64, &handed)))
	require.NoError(t, k.Remove(credName(1)))
	assert.True(t, allZero(handed[1]), "removed secret wiped")
	assert.Equal(t, secretFor(0, 64), handed[0], "neighbours untouched")
	assert.Equal(t, secretFor(2, 64), handed[2], "neighbours untouched")

	// The freed slot is reused for a secret of the same size class.
	require.NoError(t, k.Add(Credential{Name: "again"}, secretFor(9, 60)))
	assert.Equal(t, secretFor(9, 60), handed[1][:60])
}

func TestReplaceWipesOld(t *testing.T) {
	k := newKeyring(t, Options{})
	var handed [][]byte
	require.NoError(t, k.Unlock(2, 2*64, loadN(2, 64, &handed)))
	next := secretFor(7, 48)
	require.NoError(t, k.Replace(Credential{Name: credName(1), Scheme: "binance", Meta: map[string]string{"v": "2"}}, next))
	assert.True(t, allZero(handed[1]), "the old secret is wiped")
	assert.Equal(t, next, useSecret(t, k, credName(1)))
	c, err := k.Credential(credName(1))
	require.NoError(t, err)
	assert.Equal(t, "2", c.Meta["v"])
	assert.Equal(t, secretFor(0, 64), handed[0], "neighbours untouched")
	assert.ErrorIs(t, k.Replace(Credential{Name: "nosuch"}, next), ErrUnknown)
	k.Lock("test")
	assert.ErrorIs(t, k.Replace(Credential{Name: credName(0)}, next), ErrLocked)
}

func TestLoadErrorWipesAndStaysLocked(t *testing.T) {
	k := newKeyring(t, Options{})
	var handed [][]byte
	var destroyed int
	k.beforeDestroy = func(chunk []byte) {
		destroyed++
		assert.True(t, allZero(chunk))
		for _, b := range handed {
			assert.True(t, allZero(b))
		}
	}
	boom := errors.New("vault: record 4: authentication failed")
	err := k.Unlock(10, 10*32, func(put func(Credential, int) ([]byte, error)) error {
		if err := loadN(4, 32, &handed)(put); err != nil {
			return err
		}
		return boom
	})
	assert.ErrorIs(t, err, boom)
	assert.Equal(t, 1, destroyed)
	handed = nil
	assert.True(t, k.Locked())
	assert.Zero(t, k.Len())
	assert.Equal(t, int64(pageRound(scratchSlots()*ScratchSize)), k.MemStats().LockedBytes, "only the scratch pool stays locked")

	// A failed put fails the unlock even if load swallows the error.
	err = k.Unlock(2, 64, func(put func(Credential, int) ([]byte, error)) error {
		_, _ = put(Credential{Name: "a"}, 32)
		_, _ = put(Credential{Name: "a"}, 32)
		return nil
	})
	assert.ErrorIs(t, err, ErrExists)
	assert.True(t, k.Locked())

	// put is dead once load has returned.
	var keep func(Credential, int) ([]byte, error)
	require.NoError(t, k.Unlock(0, 0, func(put func(Credential, int) ([]byte, error)) error {
		keep = put
		return nil
	}))
	_, err = keep(Credential{Name: "late"}, 8)
	assert.Error(t, err)
	assert.Zero(t, k.Len())
}

func TestLockDuringUnlockWins(t *testing.T) {
	k := newKeyring(t, Options{})
	started, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- k.Unlock(1, 16, func(put func(Credential, int) ([]byte, error)) error {
			if err := loadN(1, 16, nil)(put); err != nil {
				return err
			}
			close(started)
			<-release
			return nil
		})
	}()
	<-started
	// While loading, the keyring answers at once.
	assert.True(t, k.Locked())
	assert.ErrorIs(t, k.Use(credName(0), nil), ErrLocked)
	assert.ErrorIs(t, k.Unlock(1, 1, loadN(1, 1, nil)), ErrUnlocked)
	k.Lock("owner")
	close(release)
	assert.ErrorIs(t, <-done, ErrLocked)
	assert.True(t, k.Locked())
}

func TestIdleLock(t *testing.T) {
	clk := newFakeClock()
	reasons := make(chan string, 1)
	k := newKeyring(t, Options{LockIdle: 10 * time.Minute, Now: clk.Now, OnLock: func(r string) { reasons <- r }})
	require.NoError(t, k.Unlock(1, 8, loadN(1, 8, nil)))

	clk.Advance(9 * time.Minute)
	k.checkTimers()
	require.False(t, k.Locked())
	useSecret(t, k, credName(0)) // resets idle
	clk.Advance(9 * time.Minute)
	k.checkTimers()
	require.False(t, k.Locked(), "18 min unlocked but only 9 idle")
	clk.Advance(time.Minute)
	k.checkTimers()
	require.True(t, k.Locked(), "10 min idle")
	assert.Contains(t, <-reasons, "idle")
}

func TestLockAfter(t *testing.T) {
	clk := newFakeClock()
	reasons := make(chan string, 1)
	k := newKeyring(t, Options{LockAfter: time.Hour, LockIdle: 20 * time.Minute, Now: clk.Now, OnLock: func(r string) { reasons <- r }})
	require.NoError(t, k.Unlock(1, 8, loadN(1, 8, nil)))
	for range 5 {
		clk.Advance(11 * time.Minute)
		useSecret(t, k, credName(0))
		k.checkTimers()
		require.False(t, k.Locked())
	}
	clk.Advance(5 * time.Minute) // 60 min unlocked, in use all along
	k.checkTimers()
	require.True(t, k.Locked())
	assert.Contains(t, <-reasons, "lock-after")
}

// A timer armed for one unlock never locks a later one.
func TestStaleTimerIgnored(t *testing.T) {
	clk := newFakeClock()
	k := newKeyring(t, Options{LockIdle: time.Minute, Now: clk.Now})
	require.NoError(t, k.Unlock(1, 8, loadN(1, 8, nil)))
	k.mu.RLock()
	oldGen := k.gen
	k.mu.RUnlock()
	k.Lock("manual")
	require.NoError(t, k.Unlock(1, 8, loadN(1, 8, nil)))
	clk.Advance(time.Hour)
	k.tick(oldGen)
	assert.False(t, k.Locked())
	k.checkTimers()
	assert.True(t, k.Locked())
}

// TestTimerFiresOnRealClock lets the real timer run with a tiny idle limit;
// it asserts only that the lock happens, not when.
func TestTimerFiresOnRealClock(t *testing.T) {
	locked := make(chan string, 1)
	k := newKeyring(t, Options{LockIdle: 2 * time.Millisecond, OnLock: func(r string) { locked <- r }})
	require.NoError(t, k.Unlock(1, 8, loadN(1, 8, nil)))
	select {
	case r := <-locked:
		assert.Contains(t, r, "idle")
	case <-time.After(30 * time.Second):
		t.Fatal("idle lock never fired")
	}
	assert.True(t, k.Locked())
}

// checkTimers runs the lock timer's check now, for the current unlock.
func (k *Keyring) checkTimers() {
	k.mu.RLock()
	gen := k.gen
	k.mu.RUnlock()
	k.tick(gen)
}

func TestUseDoesNotAllocate(t *testing.T) {
	k := newKeyring(t, Options{LockIdle: time.Hour, LockAfter: time.Hour})
	require.NoError(t, k.Unlock(100, 100*64, loadN(100, 64, nil)))
	name := credName(42)
	var sink byte
	f := func(_ Credential, secret, scratch []byte) error {
		sink ^= secret[0] ^ scratch[0]
		return nil
	}
	allocs := testing.AllocsPerRun(1000, func() {
		if err := k.Use(name, f); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
}

// TestConcurrentUseAndLock hammers Use from several goroutines while the
// keyring is locked and unlocked under them (run with -race).
func TestConcurrentUseAndLock(t *testing.T) {
	k := newKeyring(t, Options{})
	require.NoError(t, k.Unlock(10, 10*64, loadN(10, 64, nil)))
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := credName((g + i) % 10)
				err := k.Use(name, func(_ Credential, secret, scratch []byte) error {
					if string(secret) != string(secretFor((g+i)%10, 64)) {
						return errors.New("wrong secret")
					}
					scratch[0] = 1
					return nil
				})
				if err != nil && !errors.Is(err, ErrLocked) {
					t.Error(err)
					return
				}
			}
		}()
	}
	for range 20 {
		k.Lock("flap")
		require.NoError(t, k.Unlock(10, 10*64, loadN(10, 64, nil)))
	}
	close(stop)
	wg.Wait()
}

func TestMemStats(t *testing.T) {
	k := newKeyring(t, Options{})
	require.NoError(t, k.Unlock(10, 640, loadN(10, 64, nil)))
	ms := k.MemStats()
	assert.Positive(t, ms.LockedBytes)
	assert.Zero(t, ms.LockedBytes%int64(pageRound(1)), "whole pages")
	st := readMemlock()
	assert.Equal(t, st.unlimited, ms.Unlimited)
}
