package agent

import "time"

// lazyDeadline arms a connection deadline only when it must move: each
// read and write used to reset the runtime's timer, which costs more than
// the rest of the socket's bookkeeping. A deadline d from now is armed as
// d + d/8, and left alone while it still falls within [now+d, now+d+d/8]:
// so it fires no sooner than asked and at most an eighth later, and is
// re-armed about once per d/8 on a busy connection.
type lazyDeadline struct {
	set   func(time.Time) error
	armed time.Time
}

func (l *lazyDeadline) extend(d time.Duration) {
	now := time.Now()
	want := now.Add(d)
	if !l.armed.Before(want) && !l.armed.After(want.Add(d/8)) {
		return
	}
	l.armed = want.Add(d / 8)
	l.set(l.armed)
}
