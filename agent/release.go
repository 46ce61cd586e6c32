package agent

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
)

// releaseAfter is how many credentials make Unlock return the load's
// garbage to the operating system before it returns (releaseGarbage).
const releaseAfter = 4096

const (
	// warmBlock is the size of the blocks releaseGarbage touches: one
	// runtime page, the smallest span the allocator hands out, so the
	// blocks fill the lowest free pages, which it also reuses first.
	warmBlock = 8 << 10
	// maxWarm bounds the memory releaseGarbage touches.
	maxWarm = 512 << 20
)

// releaseGarbage collects what a large load left and returns it to the
// operating system, then touches again as much memory as the heap will grow
// into before its next collection.
//
// Decrypting a vault of 100,000 credentials leaves a few hundred MiB of
// garbage (the file, its parsed records, a cipher per record), which the Go
// runtime would return only over minutes: the agent's resident memory would
// stay at the load's peak. debug.FreeOSMemory returns all of it at once,
// but with it the pages the heap grows back into between collections (as
// much again as is live, at GOGC=100), so every request signed in the next
// minutes would take a page fault or so (~1.6 µs each on a VM) until the
// heap has grown back. Touching that room now, in blocks that are garbage
// again after one more collection, pays those faults during the unlock
// instead; the pages stay resident and free, and are the first the
// allocator reuses. Resident memory after an unlock is then what it stays
// at while signing. Unlocking is rare, and this costs two collections and
// ~30 ms of faults for 100,000 credentials.
func releaseGarbage() {
	debug.FreeOSMemory()
	room := heapRoom()
	if room <= 0 {
		return
	}
	page := os.Getpagesize()
	blocks := make([][]byte, 0, room/warmBlock+1)
	for n := 0; n < room; n += warmBlock {
		b := make([]byte, warmBlock)
		for i := 0; i < len(b); i += page {
			b[i] = 1
		}
		blocks = append(blocks, b)
	}
	runtime.KeepAlive(blocks)
	runtime.GC()
}

// heapRoom is how far the heap will grow before its next collection,
// capped at what is live and at maxWarm (with GOGC=off the goal has no
// bound).
func heapRoom() int {
	s := []metrics.Sample{{Name: "/gc/heap/goal:bytes"}, {Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 || s[1].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	goal, live := s[0].Value.Uint64(), s[1].Value.Uint64()
	if goal <= live {
		return 0
	}
	return int(min(goal-live, live, maxWarm))
}
