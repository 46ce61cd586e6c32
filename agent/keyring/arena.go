package keyring

import (
	"fmt"

	"github.com/awnumar/memguard"
)

const (
	// slotAlign is the alignment, and so the rounding, of every secret slot.
	slotAlign = 16
	// minChunk is the least a chunk added after unlock locks, unless only
	// less fits.
	minChunk = 64 << 10
	// maxChunk is the most one chunk locks, so offsets fit in a span.
	maxChunk = 1 << 31
)

// arena carves secrets out of a few large memguard LockedBuffers (chunks).
// One buffer per secret would mlock at least a page per secret and meet
// RLIMIT_MEMLOCK after a couple of thousand credentials; an arena packs
// 100,000 64-byte secrets into under 7 MiB.
//
// Slots are rounded to slotAlign; a freed slot is wiped at once and kept on
// a free list of its rounded size for reuse. The arena is not safe for
// concurrent use: its owner serialises calls.
type arena struct {
	chunks []*chunk
	free   map[uint32][]span // rounded size -> wiped, free slots
	locked int64             // bytes mlocked by the chunks (page-rounded)
	// beforeDestroy, if set, sees each chunk after it is wiped and before
	// memguard unmaps it: tests use it to prove the wipe.
	beforeDestroy func([]byte)
}

type chunk struct {
	buf  *memguard.LockedBuffer
	data []byte // all of buf's locked pages
	used int    // bump pointer
}

// span is a slot: chunk index, offset and rounded size. It is 32-bit
// because a table record stores the chunk and offset in 32 bits each.
type span struct{ chunk, off, size uint32 }

func newArena(beforeDestroy func([]byte)) *arena {
	return &arena{free: make(map[uint32][]span), beforeDestroy: beforeDestroy}
}

func roundSlot(n int) int { return (n + slotAlign - 1) &^ (slotAlign - 1) }

// grow adds a chunk of want bytes, or of need bytes when want does not fit
// under RLIMIT_MEMLOCK but need does. Both are rounded to pages. It checks
// the budget itself before asking memguard, which on a failed mlock calls
// core.Panic, which can hang the process (memguard #147, #173).
func (a *arena) grow(want, need int) error {
	want, need = pageRound(min(want, maxChunk)), pageRound(need)
	if need > maxChunk {
		return fmt.Errorf("keyring: a %d-byte chunk is larger than the most one chunk holds", need)
	}
	st := readMemlock()
	if err := st.check(int64(want)); err != nil {
		if need >= want {
			return err
		}
		if err := st.check(int64(need)); err != nil {
			return err
		}
		want = need
	}
	buf := memguard.NewBuffer(want)
	data := buf.Bytes()
	if len(data) != want {
		buf.Destroy()
		return fmt.Errorf("keyring: memguard returned %d bytes for a %d-byte chunk", len(data), want)
	}
	a.chunks = append(a.chunks, &chunk{buf: buf, data: data})
	a.locked += int64(want)
	return nil
}

// alloc reserves a slot for n bytes, growing the arena when no chunk has
// room.
func (a *arena) alloc(n int) (span, error) {
	size := uint32(roundSlot(n))
	if l := a.free[size]; len(l) > 0 {
		sp := l[len(l)-1]
		a.free[size] = l[:len(l)-1]
		return sp, nil
	}
	if sp, ok := a.bump(size); ok {
		return sp, nil
	}
	if err := a.grow(max(minChunk, int(size)), int(size)); err != nil {
		return span{}, err
	}
	sp, _ := a.bump(size)
	return sp, nil
}

// bump carves size bytes from the first chunk, newest first, with room.
func (a *arena) bump(size uint32) (span, bool) {
	for i := len(a.chunks) - 1; i >= 0; i-- {
		c := a.chunks[i]
		if len(c.data)-c.used >= int(size) {
			sp := span{chunk: uint32(i), off: uint32(c.used), size: size}
			c.used += int(size)
			return sp, true
		}
	}
	return span{}, false
}

// bytes returns the n bytes of sp, capped so an append cannot run into the
// next slot.
func (a *arena) bytes(sp span, n uint32) []byte {
	return a.chunks[sp.chunk].data[sp.off : sp.off+n : sp.off+n]
}

// release wipes sp and puts it on the free list.
func (a *arena) release(sp span) {
	clear(a.chunks[sp.chunk].data[sp.off : sp.off+sp.size])
	a.free[sp.size] = append(a.free[sp.size], sp)
}

// destroy wipes every chunk and hands it back to memguard, which wipes it
// again, unlocks and unmaps it. The arena is empty afterwards.
func (a *arena) destroy() {
	for _, c := range a.chunks {
		clear(c.data)
		if a.beforeDestroy != nil {
			a.beforeDestroy(c.data)
		}
		c.data = nil
		c.buf.Destroy()
	}
	a.chunks = nil
	a.free = make(map[uint32][]span)
	a.locked = 0
}
