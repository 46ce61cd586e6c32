package agent

import (
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBoundHeapSetsAndRestores(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	restore := boundHeap(1 << 30)
	require.Equal(t, int64(1<<30), debug.SetMemoryLimit(-1))
	restore()
	require.Equal(t, prev, debug.SetMemoryLimit(-1))

	// A lower limit someone set (GOMEMLIMIT) stays.
	debug.SetMemoryLimit(1 << 29)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	restore = boundHeap(1 << 30)
	require.Equal(t, int64(1<<29), debug.SetMemoryLimit(-1))
	restore()
	require.Equal(t, int64(1<<29), debug.SetMemoryLimit(-1))
}
