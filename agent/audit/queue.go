package audit

import (
	"sync"
	"sync/atomic"
)

// queue holds the records Append has accepted and the writer has not yet
// taken: a ring of fixed size that the writer empties a batch at a time.
// A channel would cost the writer a lock per record; here it takes the
// lock twice per batch and copies the records out without holding it,
// while Appends go on filling the rest of the ring.
type queue struct {
	mu   sync.Mutex
	ring []Record      // guarded by mu, except the slots the writer is taking
	head int           // guarded by mu: the oldest record
	n    int           // guarded by mu: records in the ring, the ones being taken too
	room chan struct{} // guarded by mu: closed when the writer next takes records; nil until a put waits for it
	// waiters counts the Appends waiting for room (guarded by mu): while
	// there are any, a newcomer's put is refused, so that it cannot take
	// the slot the writer freed for them.
	waiters int

	size atomic.Int64 // n, for readers that do not take mu
	// ready gets a token when the writer has records to look at: put
	// leaves one when it makes the ring non-empty, the writer when it
	// leaves records behind. A token may come to find the ring empty.
	ready chan struct{}
}

func newQueue(capacity int) *queue {
	return &queue{ring: make([]Record, capacity), ready: make(chan struct{}, 1)}
}

// len is the number of records waiting.
func (q *queue) len() int { return int(q.size.Load()) }

// full reports whether put would refuse a record.
func (q *queue) full() bool { return q.len() >= len(q.ring) }

// put adds *r unless the ring is full or, for a newcomer (waiter false),
// unless Appends are waiting for room: they go first. When it refuses, it
// returns a channel that is closed when the writer next takes records.
func (q *queue) put(r *Record, waiter bool) (ok bool, room <-chan struct{}) {
	q.mu.Lock()
	if q.n == len(q.ring) || !waiter && q.waiters > 0 {
		if q.room == nil {
			q.room = make(chan struct{})
		}
		room = q.room
		q.mu.Unlock()
		return false, room
	}
	i := q.head + q.n
	if i >= len(q.ring) {
		i -= len(q.ring)
	}
	q.ring[i] = *r
	q.n++
	q.size.Store(int64(q.n))
	first := q.n == 1
	q.mu.Unlock()
	if first {
		q.signal()
	}
	return true, nil
}

// wait and done bracket an Append that waits for room and calls put as
// a waiter meanwhile.
func (q *queue) wait() {
	q.mu.Lock()
	q.waiters++
	q.mu.Unlock()
}

func (q *queue) done() {
	q.mu.Lock()
	q.waiters--
	q.mu.Unlock()
}

// signal leaves a token in ready, unless one is there already.
func (q *queue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// take calls fn with up to limit of the oldest records, oldest first, then
// removes them. Only the writer calls it; fn must not keep the pointers.
func (q *queue) take(limit int, fn func(*Record)) {
	q.mu.Lock()
	k, head := min(limit, q.n), q.head
	q.mu.Unlock()
	if k <= 0 {
		return
	}
	// The k slots from head are the writer's until it moves head past them:
	// put writes only after the n records it counts.
	first := q.ring[head:min(head+k, len(q.ring))]
	second := q.ring[:k-len(first)]
	for _, s := range [2][]Record{first, second} {
		for i := range s {
			fn(&s[i])
		}
		clear(s) // let go of the strings
	}
	q.mu.Lock()
	q.head += k
	if q.head >= len(q.ring) {
		q.head -= len(q.ring)
	}
	q.n -= k
	q.size.Store(int64(q.n))
	if q.room != nil {
		close(q.room)
		q.room = nil
	}
	q.mu.Unlock()
}
