package agent

import (
	"testing"
	"time"
)

func TestLazyDeadlineNeverEarlyAndRarelyReset(t *testing.T) {
	var sets []time.Time
	l := lazyDeadline{set: func(t time.Time) error { sets = append(sets, t); return nil }}
	const d = 800 * time.Millisecond
	for i := range 200 {
		before := time.Now()
		l.extend(d)
		after := time.Now()
		if l.armed.Before(before.Add(d)) {
			t.Fatalf("call %d: armed %v, sooner than %v asked", i, l.armed, d)
		}
		if l.armed.After(after.Add(d + d/8)) {
			t.Fatalf("call %d: armed more than d/8 late", i)
		}
		time.Sleep(time.Millisecond)
	}
	// 200 calls over >= 200 ms with d/8 = 100 ms: a few resets, not one each.
	if len(sets) < 1 || len(sets) > 10 {
		t.Fatalf("deadline set %d times in 200 calls", len(sets))
	}
	// A shorter deadline (a frame's, after the idle one) moves it at once.
	l.extend(d / 10)
	if got := time.Until(l.armed); got > d/10+d/80+10*time.Millisecond {
		t.Fatalf("a shorter deadline was not armed: %v left", got)
	}
}
