package agent

import (
	"testing"
	"time"
)

func TestLazyDeadlineNeverEarlyAndRarelyReset(t *testing.T) {
	var sets []time.Time
	l := lazyDeadline{set: func(t time.Time) error { sets = append(sets, t); return nil }}
	const d = 800 * time.Millisecond
	start := time.Now()
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
	// One reset per d/8 that passed (plus the first), not one per call;
	// the bound follows the time the loop took on a busy machine.
	if most := int(time.Since(start)/(d/8)) + 2; len(sets) < 1 || len(sets) > most || len(sets) > 100 {
		t.Fatalf("deadline set %d times in 200 calls over %v", len(sets), time.Since(start))
	}
	// A shorter deadline (a frame's, after the idle one) moves it at once.
	l.extend(d / 10)
	if got := time.Until(l.armed); got > d/10+d/80+10*time.Millisecond {
		t.Fatalf("a shorter deadline was not armed: %v left", got)
	}
}
