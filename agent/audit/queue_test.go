package audit

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func seqRecord(producer, i int) Record {
	return Record{Seq: uint64(i), Client: Client{PID: int32(producer)}, Credential: "c"}
}

// TestQueueOrderAndBounds: records come out oldest first, across the end of
// the ring, in batches of at most the limit; a full ring refuses a record
// and hands out a channel that the next take closes; ready holds a token
// whenever there is something to take after a put made the ring non-empty.
func TestQueueOrderAndBounds(t *testing.T) {
	q := newQueue(5)
	next, want := 0, 0
	put := func() bool {
		r := seqRecord(0, next)
		ok, room := q.put(&r, false)
		assert.Equal(t, !ok, room != nil, "a channel exactly when refused")
		if ok {
			next++
		}
		return ok
	}
	take := func(limit int) int {
		n := 0
		q.take(limit, func(r *Record) {
			require.Equal(t, uint64(want), r.Seq, "oldest first")
			want++
			n++
		})
		return n
	}

	require.True(t, put())
	select {
	case <-q.ready:
	default:
		t.Fatal("no token after the first put")
	}
	for range 4 {
		require.True(t, put())
	}
	select {
	case <-q.ready:
		t.Fatal("a token for a ring that was not empty")
	default:
	}
	assert.True(t, q.full())
	assert.False(t, put(), "full")
	r := seqRecord(0, 99)
	ok, room := q.put(&r, true)
	require.False(t, ok)
	require.NotNil(t, room)
	again := room
	_, room2 := q.put(&r, true)
	assert.Equal(t, again, room2, "one channel for all who wait")

	assert.Equal(t, 3, take(3))
	select {
	case <-room:
	default:
		t.Fatal("take did not make room known")
	}
	assert.Equal(t, 2, q.len())
	for range 3 { // past the end of the ring
		require.True(t, put())
	}
	assert.False(t, put())
	assert.Equal(t, 0, take(0))
	assert.Equal(t, 4, take(4))
	assert.Equal(t, 1, take(10))
	assert.Equal(t, 0, take(10))
	assert.Equal(t, 0, q.len())
	assert.False(t, q.full())

	// Many rounds of random puts and takes keep the order, and the slots
	// taken are cleared.
	rng := newRand(t)
	for range 10000 {
		for range rng.IntN(7) {
			put()
		}
		take(rng.IntN(7))
		assert.Equal(t, next-want, q.len())
	}
	take(10)
	for i := range q.ring {
		assert.Zero(t, q.ring[i], "slot %d still holds a record", i)
	}
}

// TestWaiterNotOvertaken: an Append waiting for room gets the slot the
// writer frees before one that comes meanwhile, as a sender blocked on a
// channel did; a newcomer is refused while anyone waits, even with room.
func TestWaiterNotOvertaken(t *testing.T) {
	q := newQueue(2)
	a, b, c := seqRecord(1, 0), seqRecord(2, 0), seqRecord(3, 0)
	require.True(t, first(q.put(&a, false)))
	require.True(t, first(q.put(&a, false)))
	q.wait() // B finds the queue full and waits
	ok, room := q.put(&b, true)
	require.False(t, ok)
	q.take(1, func(*Record) {}) // the writer frees one slot
	<-room
	ok, _ = q.put(&c, false) // C comes before B runs again
	assert.False(t, ok, "a newcomer took the slot freed for a waiting Append")
	ok, _ = q.put(&b, true)
	assert.True(t, ok, "the waiting Append did not get the freed slot")
	q.done()
	q.take(1, func(*Record) {})
	ok, _ = q.put(&c, false)
	assert.True(t, ok, "with no one waiting, a newcomer takes free room")
}

func first(ok bool, _ <-chan struct{}) bool { return ok }

// TestQueueConcurrent: producers that wait for room, as Append does, and
// one taker lose nothing, duplicate nothing, and keep each producer's
// records in order.
func TestQueueConcurrent(t *testing.T) {
	const producers, each = 4, 5000
	q := newQueue(16)
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := range each {
				r := seqRecord(p, i)
				for {
					ok, room := q.put(&r, true)
					if ok {
						break
					}
					select {
					case <-room:
					case <-time.After(10 * time.Second):
						t.Error("waited for room in vain")
						return
					}
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	next := make([]uint64, producers)
	got := 0
	rng := rand.New(rand.NewPCG(1, 2))
	for got < producers*each {
		select {
		case <-q.ready:
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("stuck after %d records", got)
		}
		q.take(1+rng.IntN(20), func(r *Record) {
			p := r.Client.PID
			require.Equal(t, next[p], r.Seq, "producer %d", p)
			next[p]++
			got++
		})
		if q.len() > 0 {
			q.signal()
		}
	}
	<-done
	assert.Equal(t, 0, q.len())
}

// TestCloseWritesBacklog: Close writes a backlog of many batches, rotating
// as it goes, whether the writer meets it in its loop or at Close.
func TestCloseWritesBacklog(t *testing.T) {
	for i := range 4 {
		path := filepath.Join(t.TempDir(), "audit.log")
		release := make(chan struct{})
		var once sync.Once
		l := openLog(t, Options{Path: path, QueueLen: 4096, MaxBytes: 200 << 10, Keep: 100,
			hook: func(string) error { <-release; return nil }})
		const n = 3000
		appendRange(t, l, 0, n)
		time.AfterFunc(time.Duration(i)*20*time.Millisecond, func() { once.Do(func() { close(release) }) })
		require.NoError(t, l.Close())
		assert.Equal(t, uint64(n), l.Stats().Written)
		rep, err := Verify(path)
		require.NoError(t, err)
		require.True(t, rep.OK, "%+v", rep.Problem)
		assert.Equal(t, n, rep.Records)
		assert.Greater(t, len(rep.Files), 2, "rotated")
	}
}

// TestCloseCountsWhatItCannotWrite: with a backlog and a log that cannot
// be written, Close reports every record, those the writer held and those
// still queued.
func TestCloseCountsWhatItCannotWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l := openLog(t, Options{Path: path, QueueLen: 4096, hook: func(stage string) error {
		if stage == "write" {
			return syscall.ENOSPC
		}
		return nil
	}})
	const n = 1500
	appendRange(t, l, 0, n)
	err := l.Close()
	require.Error(t, err)
	assert.Contains(t, err.Error(), fmt.Sprintf("audit: %d records could not be written", n))
	assert.Zero(t, l.Stats().Written)
}
