package audit

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTailLast(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l := openLog(t, Options{Path: path, MaxBytes: 2000})
	appendRange(t, l, 1, 31)
	require.NoError(t, l.Close())
	nums, _ := rotatedFiles(path)
	require.NotEmpty(t, nums)

	for _, n := range []int{0, 1, 3, 12, 30, 100} {
		var seqs []uint64
		require.NoError(t, TailWith(t.Context(), path, TailOptions{Last: n}, func(r Record) error {
			seqs = append(seqs, r.Seq)
			return nil
		}))
		want := []uint64{}
		for s := max(1, 31-n); s <= 30; s++ {
			want = append(want, uint64(s))
		}
		if len(seqs) == 0 {
			seqs = []uint64{}
		}
		assert.Equal(t, want, seqs, "last %d, across rotated files", n)
	}

	// fn's error stops Tail.
	calls := 0
	err := Tail(t.Context(), path, false, func(Record) error { calls++; return errStop })
	assert.ErrorIs(t, err, errStop)
	assert.Equal(t, 1, calls)

	_, err = os.Stat(path + ".none")
	require.Error(t, err)
	assert.ErrorIs(t, Tail(t.Context(), path+".none", false, func(Record) error { return nil }), os.ErrNotExist)
}

// collector gathers records from a Tail running in a goroutine.
type collector struct {
	mu   sync.Mutex
	seqs []uint64
}

func (c *collector) add(r Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seqs = append(c.seqs, r.Seq)
	return nil
}

func (c *collector) get() []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]uint64(nil), c.seqs...)
}

func seqRange(from, to int) []uint64 {
	var s []uint64
	for i := from; i <= to; i++ {
		s = append(s, uint64(i))
	}
	return s
}

func TestTailFollowAcrossRotations(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	o := Options{Path: path, MaxBytes: 1500, Keep: 50}
	l := openLog(t, o)
	appendRange(t, l, 1, 6)
	require.Eventually(t, func() bool { return l.Stats().Written == 5 }, 5*time.Second, time.Millisecond)

	ctx, cancel := context.WithCancel(t.Context())
	c := &collector{}
	done := make(chan error, 1)
	go func() {
		done <- TailWith(ctx, path, TailOptions{Follow: true, Last: 2, Poll: 5 * time.Millisecond}, c.add)
	}()
	require.Eventually(t, func() bool { return len(c.get()) == 2 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, []uint64{4, 5}, c.get())

	// New records, slowly enough to be seen one file at a time, then a
	// burst that rotates several times between two polls.
	for i := 6; i <= 20; i++ {
		require.NoError(t, l.Append(request(i)))
		time.Sleep(2 * time.Millisecond)
	}
	require.Eventually(t, func() bool { return len(c.get()) == 17 }, 5*time.Second, time.Millisecond, "%v", c.get())
	appendRange(t, l, 21, 61)
	if !assert.Eventually(t, func() bool { return len(c.get()) == 57 }, 5*time.Second, time.Millisecond) {
		nums, _ := rotatedFiles(path)
		t.Fatalf("%v %+v %v", c.get(), l.Stats(), nums)
	}
	assert.Equal(t, seqRange(4, 60), c.get(), "every record once, in order")
	nums, _ := rotatedFiles(path)
	assert.Greater(t, len(nums), 5, "the log rotated while followed")

	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
}

func TestTailFollowWaitsForTheLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	c := &collector{}
	go TailWith(ctx, path, TailOptions{Follow: true, Last: -1, Poll: 5 * time.Millisecond}, c.add)
	time.Sleep(20 * time.Millisecond)
	l := openLog(t, Options{Path: path})
	appendRange(t, l, 1, 4)
	require.Eventually(t, func() bool { return len(c.get()) == 3 }, 5*time.Second, time.Millisecond, fmt.Sprint(c.get()))
	assert.Equal(t, seqRange(1, 3), c.get())
}
