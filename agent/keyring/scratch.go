package keyring

import (
	"fmt"
	"runtime"

	"github.com/awnumar/memguard"
)

// ScratchSize is the size of the scratch slot Use lends.
const ScratchSize = 256

// scratchPool is a fixed set of ScratchSize slots in one locked chunk, for
// schemes to build key blocks in (HMAC's ipad/opad) instead of the heap.
// Slots are handed out through a channel of indices, so a Use blocks only
// when every slot is lent, and each slot is zeroed before it goes back.
type scratchPool struct {
	buf  *memguard.LockedBuffer
	data []byte
	free chan int
}

// scratchSlots is how many slots the pool holds: enough that Use never
// waits while every P runs one.
func scratchSlots() int { return max(16, 4*runtime.GOMAXPROCS(0)) }

func newScratchPool(slots int) (*scratchPool, error) {
	size := pageRound(slots * ScratchSize)
	if err := readMemlock().check(int64(size)); err != nil {
		return nil, err
	}
	buf := memguard.NewBuffer(size)
	data := buf.Bytes()
	if len(data) != size {
		buf.Destroy()
		return nil, fmt.Errorf("keyring: memguard returned %d bytes for a %d-byte scratch pool", len(data), size)
	}
	p := &scratchPool{buf: buf, data: data, free: make(chan int, slots)}
	for i := range slots {
		p.free <- i
	}
	return p, nil
}

func (p *scratchPool) slot(i int) []byte {
	return p.data[i*ScratchSize : (i+1)*ScratchSize : (i+1)*ScratchSize]
}

// release zeroes slot i and returns it to the pool.
func (p *scratchPool) release(i int) {
	clear(p.slot(i))
	p.free <- i
}

func (p *scratchPool) locked() int64 { return int64(len(p.data)) }

// destroy wipes and frees the pool; no slot may be lent.
func (p *scratchPool) destroy(beforeDestroy func([]byte)) {
	clear(p.data)
	if beforeDestroy != nil {
		beforeDestroy(p.data)
	}
	p.data = nil
	p.buf.Destroy()
}
