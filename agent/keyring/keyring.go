// Package keyring holds the agent's unlocked secrets in locked memory
// (memguard: mlocked, guard-paged, excluded from core dumps) and lends them,
// one call at a time, to the code that signs; it locks on request, after a
// maximum time unlocked and after a time idle.
//
// It must never hand a secret out beyond one call (Use lends it for the
// length of a callback, and the slice must not be kept), never put plaintext
// in a Go string or the ordinary heap (secrets are decrypted straight into
// locked memory through Unlock's put, or copied there by Add), and never let
// a secret outlive Lock: Lock wipes every secret and hands the memory back
// before it returns (scratch slots are zeroed after every Use, and the
// scratch pool is freed by Close).
//
// Secrets live in an arena: a few large locked chunks from which each
// secret gets a 16-byte-aligned slot, because one memguard buffer per secret
// locks at least a page each and meets RLIMIT_MEMLOCK after ~2,000
// credentials. The budget is checked before every chunk is asked of
// memguard (RLIMIT_MEMLOCK less VmLck, unless the process has CAP_IPC_LOCK),
// because memguard panics, and can hang, when mlock fails. No Enclave is
// opened on the signing path: Use costs a read lock, a hash-table lookup,
// an atomic store and a channel hand-off, and does not allocate.
//
// The public parts are indexed in a table without Go pointers per
// credential (table.go), so that 100,000 credentials take a few MiB of
// ordinary heap, add nothing to a garbage collection's work, and are
// looked up about as fast as one.
package keyring

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Errors. They are wrapped with detail; test with errors.Is. None ever
// carries secret bytes.
var (
	ErrLocked   = errors.New("keyring: locked")
	ErrUnlocked = errors.New("keyring: already unlocked")
	ErrUnknown  = errors.New("keyring: unknown credential")
	ErrExists   = errors.New("keyring: credential already exists")
	ErrMemlock  = errors.New("keyring: cannot lock memory")
)

// Options configures a Keyring.
type Options struct {
	LockAfter time.Duration       // 0 = never: the longest the keyring stays unlocked
	LockIdle  time.Duration       // 0 = never: lock after this long without a Use
	OnLock    func(reason string) // called in its own goroutine after an automatic lock; for logging
	Now       func() time.Time    // nil = time.Now; tests inject
}

// Credential is the public part of a credential: never a secret.
type Credential struct {
	Name, Scheme, APIKey string
	Meta                 map[string]string
}

// MemStats reports what the keyring has mlocked and the process's limit.
type MemStats struct {
	LockedBytes int64 // bytes this keyring has mlocked (arena and scratch pool)
	Limit       int64 // RLIMIT_MEMLOCK's soft limit; 0 when Unlimited
	Unlimited   bool  // no limit applies (RLIM_INFINITY or CAP_IPC_LOCK)
}

// maxTick bounds how long the lock timer sleeps between checks, so that a
// clock that jumps (a suspended machine, an injected clock) is noticed.
const maxTick = time.Second

// Keyring holds unlocked credentials. Its methods are safe for concurrent
// use.
type Keyring struct {
	opts Options
	now  func() time.Time

	// lastUse is the time of the last Use, as nanoseconds since unlockedAt
	// (a monotonic difference, so wall-clock steps do not move it).
	lastUse atomic.Int64

	mu         sync.RWMutex
	st         *state // nil while locked
	unlockedAt time.Time
	unlocking  bool   // an Unlock is loading outside mu
	abort      bool   // Lock or Close came while unlocking
	closed     bool   // Close was called
	gen        uint64 // bumped by every lock and unlock: stale timers do nothing
	timer      *time.Timer
	scratch    *scratchPool // made at first Unlock, kept until Close

	// beforeDestroy, if set (by tests), sees each locked chunk after it is
	// wiped and before it is unmapped.
	beforeDestroy func([]byte)
}

// state is an unlocked keyring's contents.
type state struct {
	arena *arena
	t     *table
}

// secret is the secret of the record at off, in the arena.
func (st *state) secret(off int) []byte {
	sp, n := st.t.secret(off)
	return st.arena.bytes(sp, n)
}

// New returns a locked, empty keyring.
func New(opts Options) *Keyring {
	k := &Keyring{opts: opts, now: opts.Now}
	if k.now == nil {
		k.now = time.Now
	}
	return k
}

// Unlock fills an empty, locked keyring. load is given put, which reserves
// n bytes of locked memory for credential c and returns the slice to decrypt
// the secret into; count is the number of credentials and total the sum of
// every n, which size the first chunk. put is safe for concurrent use and
// fails once load has returned. If load returns an error, or any put fails,
// every byte handed out is wiped and freed and the keyring stays locked.
//
// Loading runs without holding the keyring's lock, so Use, Locked and
// friends answer at once (ErrLocked) meanwhile; a Lock during the load wins
// and Unlock then fails with ErrLocked. Unlock returns ErrUnlocked if the
// keyring is already unlocked or another Unlock is loading.
func (k *Keyring) Unlock(count, total int, load func(put func(c Credential, n int) ([]byte, error)) error) error {
	if count < 0 || total < 0 {
		return fmt.Errorf("keyring: unlock: negative count %d or total %d", count, total)
	}
	k.mu.Lock()
	switch {
	case k.closed:
		k.mu.Unlock()
		return fmt.Errorf("keyring: closed: %w", ErrLocked)
	case k.st != nil:
		k.mu.Unlock()
		return ErrUnlocked
	case k.unlocking:
		k.mu.Unlock()
		return fmt.Errorf("%w: an unlock is in progress", ErrUnlocked)
	}
	if k.scratch == nil {
		p, err := newScratchPool(scratchSlots())
		if err != nil {
			k.mu.Unlock()
			return err
		}
		k.scratch = p
	}
	k.unlocking, k.abort = true, false
	hook := k.beforeDestroy
	k.mu.Unlock()

	st, err := loadState(count, total, load, hook)
	return k.publish(st, err)
}

// publish makes st, loaded with err, the keyring's state, unless err is
// set or a Lock or Close came meanwhile.
func (k *Keyring) publish(st *state, err error) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.unlocking = false
	if err != nil {
		return err
	}
	if k.abort || k.closed {
		st.destroy()
		return fmt.Errorf("keyring: locked while unlocking: %w", ErrLocked)
	}
	k.st = st
	k.unlockedAt = k.now()
	k.lastUse.Store(0)
	k.gen++
	k.scheduleLocked(k.unlockedAt)
	return nil
}

// loadState builds an unlocked state through load.
func loadState(count, total int, load func(put func(c Credential, n int) ([]byte, error)) error, hook func([]byte)) (*state, error) {
	st := &state{arena: newArena(hook), t: newTable(count)}
	if total > 0 {
		// Exactly what was asked for, with modest headroom for rounding
		// and later adds; only the exact total if the headroom does not fit.
		if err := st.arena.grow(total+total/32+count*slotAlign/4+4096, total); err != nil {
			st.destroy()
			return nil, err
		}
	}
	var (
		mu      sync.Mutex
		done    bool
		putErr  error
		putFunc = func(c Credential, n int) ([]byte, error) {
			mu.Lock()
			defer mu.Unlock()
			if done {
				return nil, errors.New("keyring: put called after load returned")
			}
			if putErr != nil {
				return nil, putErr
			}
			b, err := st.addLocked(c, n)
			if err != nil {
				putErr = err
				return nil, err
			}
			return b, nil
		}
	)
	err := load(putFunc)
	mu.Lock()
	done = true
	if err == nil {
		err = putErr
	}
	mu.Unlock()
	if err != nil {
		st.destroy()
		return nil, err
	}
	st.t.trim()
	return st, nil
}

// checkSecret refuses a secret of n bytes for credential name.
func checkSecret(name string, n int) error {
	if n <= 0 {
		return fmt.Errorf("keyring: credential %q: secret is empty", name)
	}
	if n > maxSecret {
		return fmt.Errorf("keyring: credential %q: a %d-byte secret is larger than %d bytes", name, n, maxSecret)
	}
	return nil
}

// addLocked reserves n bytes for c; the caller serialises access to st.
func (st *state) addLocked(c Credential, n int) ([]byte, error) {
	if c.Name == "" {
		return nil, errors.New("keyring: credential has no name")
	}
	if err := checkSecret(c.Name, n); err != nil {
		return nil, err
	}
	if _, _, ok := st.t.find(c.Name); ok {
		return nil, fmt.Errorf("%w: %q", ErrExists, c.Name)
	}
	sp, err := st.arena.alloc(n)
	if err != nil {
		return nil, err
	}
	if err := st.t.insert(c, sp, n); err != nil {
		st.arena.release(sp)
		return nil, err
	}
	return st.arena.bytes(sp, uint32(n)), nil
}

// destroy wipes and frees every secret.
func (st *state) destroy() {
	st.t = nil
	st.arena.destroy()
}

// Lock wipes and frees every secret now. It waits for Use calls in flight
// (they take microseconds) and is idempotent. reason is for the caller's
// log; OnLock is called only for automatic locks.
func (k *Keyring) Lock(reason string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.lockLocked()
}

// lockLocked locks the keyring; k.mu must be held.
func (k *Keyring) lockLocked() {
	if k.unlocking {
		k.abort = true
	}
	if k.timer != nil {
		k.timer.Stop()
		k.timer = nil
	}
	k.gen++
	if k.st == nil {
		return
	}
	st := k.st
	k.st = nil
	k.unlockedAt = time.Time{}
	st.destroy()
}

// Close locks the keyring and releases its scratch pool; for shutdown. The
// keyring cannot be unlocked again.
func (k *Keyring) Close() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.lockLocked()
	k.closed = true
	if k.scratch != nil {
		k.scratch.destroy(k.beforeDestroy)
		k.scratch = nil
	}
}

// Locked reports whether the keyring is locked.
func (k *Keyring) Locked() bool {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.st == nil
}

// Add copies secret into locked memory as credential c. The caller wipes
// its own copy of secret.
func (k *Keyring) Add(c Credential, secret []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.st == nil {
		return ErrLocked
	}
	dst, err := k.st.addLocked(c, len(secret))
	if err != nil {
		return err
	}
	copy(dst, secret)
	return nil
}

// Replace swaps credential c's secret (and public part) for a new one in
// one step: a Use in flight finishes with the old secret, every later Use
// sees the new one, and the old secret is wiped at once. The caller wipes
// its own copy of secret.
func (k *Keyring) Replace(c Credential, secret []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.st == nil {
		return ErrLocked
	}
	st := k.st
	off, slot, ok := st.t.find(c.Name)
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknown, c.Name)
	}
	if err := checkSecret(c.Name, len(secret)); err != nil {
		return err
	}
	sp, err := st.arena.alloc(len(secret))
	if err != nil {
		return err
	}
	old, _ := st.t.secret(off)
	off, err = st.t.replace(off, slot, c, sp, len(secret))
	if err != nil {
		st.arena.release(sp)
		return err
	}
	copy(st.secret(off), secret)
	st.arena.release(old)
	return nil
}

// Remove wipes credential name's secret and forgets it.
func (k *Keyring) Remove(name string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.st == nil {
		return ErrLocked
	}
	off, slot, ok := k.st.t.find(name)
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknown, name)
	}
	sp, _ := k.st.t.secret(off)
	k.st.arena.release(sp)
	k.st.t.remove(off, slot)
	return nil
}

// Use lends credential name's secret and a zeroed ScratchSize-byte scratch
// slot to f for the length of the call; both are locked memory and must not
// be retained, nor converted to strings. The scratch slot is zeroed after f
// returns. c is the keyring's own: c.Name is name; c.Meta is shared with
// every credential of the same scheme and metadata, and f must not modify
// it; c's strings may be kept, but then keep the keyring's table of names
// in memory. f must not call back into the keyring. Use records the use for
// the idle timer.
func (k *Keyring) Use(name string, f func(c Credential, secret, scratch []byte) error) error {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.st == nil {
		return ErrLocked
	}
	off, _, ok := k.st.t.find(name)
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknown, name)
	}
	// Only move lastUse forward by a millisecond or more: the idle timer
	// needs no finer grain, and parallel Uses then rarely write the same
	// cache line.
	if t := int64(k.now().Sub(k.unlockedAt)); t-k.lastUse.Load() >= int64(time.Millisecond) {
		k.lastUse.Store(t)
	}
	i := <-k.scratch.free
	defer k.scratch.release(i)
	return f(k.st.t.credential(off, name), k.st.secret(off), k.scratch.slot(i))
}

// Credential returns a copy of the public part of credential name, which
// the caller may keep and modify.
func (k *Keyring) Credential(name string) (Credential, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.st == nil {
		return Credential{}, ErrLocked
	}
	off, _, ok := k.st.t.find(name)
	if !ok {
		return Credential{}, fmt.Errorf("%w: %q", ErrUnknown, name)
	}
	c := k.st.t.credential(off, name)
	c.APIKey = strings.Clone(c.APIKey) // not a string into the table
	c.Meta = maps.Clone(c.Meta)
	return c, nil
}

// Scheme returns credential name's scheme, without copying the rest of
// it: the signing path asks for it on every request, before the policy.
func (k *Keyring) Scheme(name string) (string, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.st == nil {
		return "", ErrLocked
	}
	off, _, ok := k.st.t.find(name)
	if !ok {
		return "", fmt.Errorf("%w: %q", ErrUnknown, name)
	}
	return k.st.t.credential(off, name).Scheme, nil
}

// Len returns the number of credentials held; 0 when locked.
func (k *Keyring) Len() int {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.st == nil {
		return 0
	}
	return k.st.t.live
}

// UnlockedAt returns when the keyring was unlocked; zero when locked.
func (k *Keyring) UnlockedAt() time.Time {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.unlockedAt
}

// MemStats reports what the keyring has mlocked and RLIMIT_MEMLOCK.
func (k *Keyring) MemStats() MemStats {
	lim := readMemlock()
	k.mu.RLock()
	defer k.mu.RUnlock()
	var ms MemStats
	if k.st != nil {
		ms.LockedBytes += k.st.arena.locked
	}
	if k.scratch != nil {
		ms.LockedBytes += k.scratch.locked()
	}
	ms.Unlimited = lim.unlimited
	if !lim.unlimited {
		ms.Limit = lim.limit
	}
	return ms
}

// SetTimers changes LockAfter and LockIdle while the keyring runs; an
// unlocked keyring re-arms its timer at once under the new limits.
func (k *Keyring) SetTimers(after, idle time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.opts.LockAfter, k.opts.LockIdle = after, idle
	if k.st != nil {
		k.scheduleLocked(k.now())
	}
}

// scheduleLocked arms the lock timer for the current unlock; k.mu must be
// held.
func (k *Keyring) scheduleLocked(now time.Time) {
	if k.timer != nil {
		k.timer.Stop()
		k.timer = nil
	}
	if k.opts.LockAfter <= 0 && k.opts.LockIdle <= 0 {
		return
	}
	_, wait := k.dueLocked(now)
	gen := k.gen
	k.timer = time.AfterFunc(wait, func() { k.tick(gen) })
}

// dueLocked says why the keyring must lock at now, or how long until the
// next check; k.mu must be held (read or write).
func (k *Keyring) dueLocked(now time.Time) (reason string, wait time.Duration) {
	wait = maxTick
	up := now.Sub(k.unlockedAt)
	if d := k.opts.LockAfter; d > 0 {
		if up >= d {
			return fmt.Sprintf("unlocked for %v (lock-after)", d), 0
		}
		wait = min(wait, d-up)
	}
	if d := k.opts.LockIdle; d > 0 {
		idle := up - time.Duration(k.lastUse.Load())
		if idle >= d {
			return fmt.Sprintf("idle for %v (lock-idle)", d), 0
		}
		wait = min(wait, d-idle)
	}
	return "", wait
}

// tick is the lock timer: it locks if a limit has passed, else re-arms.
func (k *Keyring) tick(gen uint64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.st == nil || k.gen != gen {
		return
	}
	now := k.now()
	reason, _ := k.dueLocked(now)
	if reason == "" {
		k.scheduleLocked(now)
		return
	}
	k.lockLocked()
	if f := k.opts.OnLock; f != nil {
		go f(reason)
	}
}
