package agent

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward/protocol"
)

// clockBook keeps each venue host's clock offset, measured from forwarded
// responses: a venue's time endpoint (millisecond resolution) when its
// scheme has one, else the Date header (one second). The agent signs with
// its own clock corrected by the offset, because venues refuse timestamps
// outside a window of a few seconds, and a VPS clock drifts.
type clockBook struct {
	mu    sync.Mutex
	hosts map[string]*clockEntry
}

type clockEntry struct {
	off      protocol.ClockOffset
	probedAt time.Time // last time-endpoint probe started
	probing  bool
}

// serverTimeFresh is how long a time-endpoint measurement is preferred
// over Date headers; probeEvery is how often a host is probed while the
// agent forwards to it.
const (
	serverTimeFresh = time.Hour
	probeEvery      = 10 * time.Minute
)

func newClockBook() *clockBook { return &clockBook{hosts: make(map[string]*clockEntry)} }

func (b *clockBook) entryLocked(host string) *clockEntry {
	e := b.hosts[host]
	if e == nil {
		e = &clockEntry{}
		b.hosts[host] = e
	}
	return e
}

// correct returns t as host's clock reads it, when the offset measured is
// larger than its uncertainty; t otherwise.
func (b *clockBook) correct(host string, t time.Time) time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.hosts[host]
	if e == nil || e.off.MeasuredAt.IsZero() {
		return t
	}
	off := time.Duration(e.off.OffsetMS) * time.Millisecond
	if off.Abs() <= time.Duration(e.off.UncertaintyMS)*time.Millisecond {
		return t
	}
	return t.Add(off)
}

// fromDate records the offset a response's Date header shows, unless a
// fresher time-endpoint measurement exists. sent and received bound when
// the venue wrote the header.
func (b *clockBook) fromDate(host string, h http.Header, sent, received time.Time) {
	d, err := http.ParseTime(h.Get("Date"))
	if err != nil || sent.IsZero() {
		return
	}
	rtt := received.Sub(sent)
	mid := sent.Add(rtt / 2)
	// Date is truncated to the second: the venue's time lies in
	// [d, d+1s), so its middle is the estimate.
	venue := d.Add(500 * time.Millisecond)
	off := protocol.ClockOffset{Host: host, OffsetMS: venue.Sub(mid).Milliseconds(),
		UncertaintyMS: (500*time.Millisecond + rtt/2).Milliseconds(), Source: "date", MeasuredAt: received.UTC()}
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.entryLocked(host)
	if e.off.Source == "server_time" && received.Sub(e.off.MeasuredAt) < serverTimeFresh {
		// A fresh, finer measurement stands, unless the Date header
		// contradicts it (a clock stepped since): then the Date header
		// is the better guess, and the time endpoint is asked again.
		if abs(off.OffsetMS-e.off.OffsetMS) <= off.UncertaintyMS+e.off.UncertaintyMS+500 {
			return
		}
		e.probedAt = time.Time{}
	}
	e.off = off
}

// fromServerTime records the offset a venue's time endpoint gave.
func (b *clockBook) fromServerTime(host string, venue, sent, received time.Time) {
	rtt := received.Sub(sent)
	mid := sent.Add(rtt / 2)
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.entryLocked(host)
	e.off = protocol.ClockOffset{Host: host, OffsetMS: venue.Sub(mid).Milliseconds(),
		UncertaintyMS: max(rtt/2, time.Millisecond).Milliseconds(), Source: "server_time", MeasuredAt: received.UTC()}
}

// startProbe reports whether host's time endpoint should be asked now,
// and marks the probe as running; probeDone ends it.
func (b *clockBook) startProbe(host string, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.entryLocked(host)
	if e.probing || !e.probedAt.IsZero() && now.Sub(e.probedAt) < probeEvery {
		return false
	}
	e.probing, e.probedAt = true, now
	return true
}

func (b *clockBook) probeDone(host string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.entryLocked(host).probing = false
}

// list returns the offsets measured, by host.
func (b *clockBook) list() []protocol.ClockOffset {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []protocol.ClockOffset
	for _, e := range b.hosts {
		if !e.off.MeasuredAt.IsZero() {
			out = append(out, e.off)
		}
	}
	slices.SortFunc(out, func(x, y protocol.ClockOffset) int { return strings.Compare(x.Host, y.Host) })
	return out
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}
