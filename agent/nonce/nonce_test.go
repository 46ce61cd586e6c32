package nonce

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStrictlyIncreasingUnderOneClock(t *testing.T) {
	s := Open(filepath.Join(t.TempDir(), "vault.nonces"))
	now := time.UnixMilli(1700000000000)
	var prev uint64
	for i := range 1000 {
		n, err := s.Next("kraken", time.Millisecond, now) // a frozen clock: many bots in one millisecond
		require.NoError(t, err)
		if i == 0 {
			assert.Equal(t, uint64(1700000000000), n, "the first nonce is the clock")
		} else {
			assert.Equal(t, prev+1, n)
		}
		prev = n
	}
	// The clock moving forward past the counter wins again.
	n, err := s.Next("kraken", time.Millisecond, now.Add(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, uint64(now.Add(time.Hour).UnixMilli()), n)
	// A clock stepping backwards never makes a nonce go back.
	n2, err := s.Next("kraken", time.Millisecond, now)
	require.NoError(t, err)
	assert.Equal(t, n+1, n2)
}

func TestCredentialsAreIndependent(t *testing.T) {
	s := Open(filepath.Join(t.TempDir(), "n"))
	now := time.UnixMicro(1700000000000000)
	a, err := s.Next("a", time.Microsecond, now)
	require.NoError(t, err)
	b, err := s.Next("b", time.Microsecond, now)
	require.NoError(t, err)
	assert.Equal(t, a, b)
}

func TestConcurrentNoncesAreUnique(t *testing.T) {
	s := Open(filepath.Join(t.TempDir(), "n"))
	now := time.UnixMilli(1700000000000)
	var mu sync.Mutex
	seen := map[uint64]bool{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				n, err := s.Next("shared", time.Millisecond, now)
				require.NoError(t, err)
				mu.Lock()
				assert.False(t, seen[n], "nonce %d issued twice", n)
				seen[n] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	assert.Len(t, seen, 1600)
}

// TestSurvivesRestart: a new store over the same file (the agent restarted,
// or was killed) starts above every nonce the old one issued, even with the
// clock behind them.
func TestSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vault.nonces")
	now := time.UnixMilli(1700000000000)
	s := Open(path)
	var last uint64
	for range 5000 { // a frozen clock: the counter runs ahead of it
		n, err := s.Next("k", time.Millisecond, now)
		require.NoError(t, err)
		last = n
	}
	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	s2 := Open(path) // no Forget, no clean shutdown: the old store is simply abandoned
	n, err := s2.Next("k", time.Millisecond, now)
	require.NoError(t, err)
	assert.Greater(t, n, last)
	assert.LessOrEqual(t, n, last+uint64(Lease/time.Millisecond)+1, "the jump is at most one lease")
}

func TestFewWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "n")
	s := Open(path)
	now := time.UnixMilli(1700000000000)
	_, err := s.Next("k", time.Millisecond, now)
	require.NoError(t, err)
	before, err := os.Stat(path)
	require.NoError(t, err)
	require.NoError(t, os.Chmod(path, 0o400)) // a write now would still succeed (rename), so watch the inode instead
	for i := range 1000 {
		_, err := s.Next("k", time.Millisecond, now.Add(time.Duration(i)*time.Millisecond))
		require.NoError(t, err)
	}
	after, err := os.Stat(path)
	require.NoError(t, err)
	assert.True(t, os.SameFile(before, after), "1000 nonces inside one lease rewrote the file")
}

func TestDamagedFileStopsNonces(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vault.nonces")
	require.NoError(t, os.WriteFile(path, []byte("{not json"), 0o600))
	s := Open(path)
	_, err := s.Next("k", time.Millisecond, time.Now())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "damaged")
	assert.Contains(t, err.Error(), "move it away")
	raw, _ := os.ReadFile(path)
	assert.Equal(t, "{not json", string(raw), "the damaged file is left for a person to look at")
}

func TestUnwritableDirectoryRefuses(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes anywhere; the e2e tests cover an unprivileged agent")
	}
	dir := t.TempDir()
	require.NoError(t, os.Chmod(dir, 0o500))
	defer os.Chmod(dir, 0o700)
	_, err := Open(filepath.Join(dir, "n")).Next("k", time.Millisecond, time.Now())
	require.Error(t, err)
}

func TestForget(t *testing.T) {
	path := filepath.Join(t.TempDir(), "n")
	s := Open(path)
	now := time.UnixMilli(1700000000000)
	for range 10 {
		_, err := s.Next("gone", time.Millisecond, now)
		require.NoError(t, err)
	}
	require.NoError(t, s.Forget("gone"))
	n, err := Open(path).Next("gone", time.Millisecond, now)
	require.NoError(t, err)
	assert.Equal(t, uint64(now.UnixMilli()), n, "a forgotten credential starts from the clock")
}

func TestUnitChangeRoundsUp(t *testing.T) {
	s := Open(filepath.Join(t.TempDir(), "n"))
	now := time.UnixMilli(1700000000000)
	ms, err := s.Next("k", time.Millisecond, now)
	require.NoError(t, err)
	us, err := s.Next("k", time.Microsecond, now)
	require.NoError(t, err)
	assert.Greater(t, us, ms*1000)
}

func BenchmarkNext(b *testing.B) {
	s := Open(filepath.Join(b.TempDir(), "n"))
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Next("k", time.Microsecond, now); err != nil {
			b.Fatal(err)
		}
	}
}
