package audit

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// Alert rules, in an alert record's rule field.
const (
	RuleRateSpike = "rate-spike" // a client's request rate jumped far above its usual rate
	RuleDenyBurst = "deny-burst" // a burst of denials from one client
)

// DetectorOptions tunes a Detector; zero values take the defaults.
type DetectorOptions struct {
	// Now is the clock. Nil: each record's Time (time.Now if it has none).
	Now    func() time.Time
	Window time.Duration // the recent window; default 10s
	// SpikeFactor: alert when the requests in the window exceed this many
	// times the client's usual count per window; default 10.
	SpikeFactor float64
	// MinUsual is the least usual count per window a client is judged
	// against, so that a new or quiet client's first burst must exceed
	// SpikeFactor × MinUsual requests in a window; default 6.
	MinUsual float64
	// HalfLife is how fast the usual rate follows the actual one (an
	// exponentially weighted average per second); default 5m.
	HalfLife  time.Duration
	DenyBurst int           // alert at this many denials in the window; default 20
	Cooldown  time.Duration // at most one alert per client per rule per Cooldown; default 1m
	// MaxClients bounds the clients tracked; clients idle longest are
	// forgotten first. Default 4096.
	MaxClients int
}

// Detector notices unusual request patterns per client (uid, unit and
// executable) and returns alert records for the log. It is safe for
// concurrent use; Options.Detector runs it in the Log's writer goroutine.
type Detector struct {
	o      DetectorOptions
	decay  float64 // per second
	window int64   // seconds

	mu      sync.Mutex // guards clients
	clients map[clientKey]*clientState
}

type clientKey struct {
	uid       uint32
	unit, exe string
}

type clientState struct {
	sec       int64   // the second cur counts
	usual     float64 // requests per second, weighted average of completed seconds
	ring      []slot  // completed and current seconds, by sec % window
	lastAlert [2]time.Time
	lastSeen  time.Time
}

type slot struct {
	sec             int64
	requests, denys int
}

// NewDetector returns a Detector.
func NewDetector(o DetectorOptions) *Detector {
	if o.Window < time.Second {
		o.Window = 10 * time.Second
	}
	if o.SpikeFactor <= 0 {
		o.SpikeFactor = 10
	}
	if o.MinUsual <= 0 {
		o.MinUsual = 6
	}
	if o.HalfLife <= 0 {
		o.HalfLife = 5 * time.Minute
	}
	if o.DenyBurst <= 0 {
		o.DenyBurst = 20
	}
	if o.Cooldown <= 0 {
		o.Cooldown = time.Minute
	}
	if o.MaxClients <= 0 {
		o.MaxClients = 4096
	}
	return &Detector{
		o:       o,
		decay:   math.Exp(-math.Ln2 / o.HalfLife.Seconds()),
		window:  int64(o.Window / time.Second),
		clients: map[clientKey]*clientState{},
	}
}

// Observe counts a request record and returns the alert records it
// causes, usually none.
func (d *Detector) Observe(r Record) []Record {
	if r.Type != TypeRequest && r.Type != "" {
		return nil
	}
	now := r.Time
	if d.o.Now != nil {
		now = d.o.Now()
	} else if now.IsZero() {
		now = time.Now()
	}
	sec := now.Unix()
	key := clientKey{r.Client.UID, r.Client.Unit, r.Client.Exe}

	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.clients[key]
	if c == nil {
		if len(d.clients) >= d.o.MaxClients {
			d.forgetLocked(now)
		}
		c = &clientState{sec: sec, ring: make([]slot, d.window)}
		c.ring[d.slot(sec)].sec = sec
		d.clients[key] = c
	}
	c.lastSeen = now
	d.advance(c, sec)
	s := &c.ring[d.slot(c.sec)]
	s.requests++
	if r.Decision == Deny {
		s.denys++
	}
	var requests, denys int
	for _, s := range c.ring {
		if s.sec > c.sec-d.window {
			requests += s.requests
			denys += s.denys
		}
	}

	var alerts []Record
	usual := max(c.usual*float64(d.window), d.o.MinUsual)
	if float64(requests) > d.o.SpikeFactor*usual && d.cool(c, 0, now) {
		alerts = append(alerts, d.alert(r, now, RuleRateSpike, fmt.Sprintf(
			"%d requests in the last %s, %.0f× this client's usual %.1f per %s",
			requests, d.o.Window, float64(requests)/usual, c.usual*float64(d.window), d.o.Window)))
	}
	if denys >= d.o.DenyBurst && d.cool(c, 1, now) {
		alerts = append(alerts, d.alert(r, now, RuleDenyBurst, fmt.Sprintf(
			"%d requests denied in the last %s (the latest: %s)", denys, d.o.Window, r.Reason)))
	}
	return alerts
}

// advance moves c's current second to sec, folding the seconds that ended
// into the usual rate.
func (d *Detector) advance(c *clientState, sec int64) {
	if sec <= c.sec {
		return // same second, or a clock that stepped back: count it in the current one
	}
	cur := c.ring[d.slot(c.sec)]
	n := 0
	if cur.sec == c.sec {
		n = cur.requests
	}
	c.usual = c.usual*d.decay + (1-d.decay)*float64(n)
	if gap := sec - c.sec - 1; gap > 0 {
		c.usual *= math.Pow(d.decay, float64(gap))
	}
	c.sec = sec
	c.ring[d.slot(sec)] = slot{sec: sec}
}

func (d *Detector) slot(sec int64) int64 { return (sec%d.window + d.window) % d.window }

func (d *Detector) cool(c *clientState, rule int, now time.Time) bool {
	if !c.lastAlert[rule].IsZero() && now.Sub(c.lastAlert[rule]) < d.o.Cooldown {
		return false
	}
	c.lastAlert[rule] = now
	return true
}

func (d *Detector) alert(r Record, now time.Time, rule, reason string) Record {
	return Record{Type: TypeAlert, Time: now, Client: r.Client, Op: r.Op, Credential: r.Credential, Rule: rule, Reason: reason}
}

// forgetLocked drops clients idle longer than an hour, or else the half
// idle longest. d.mu held.
func (d *Detector) forgetLocked(now time.Time) {
	for k, c := range d.clients {
		if now.Sub(c.lastSeen) > time.Hour {
			delete(d.clients, k)
		}
	}
	if len(d.clients) < d.o.MaxClients {
		return
	}
	var seen []time.Time
	for _, c := range d.clients {
		seen = append(seen, c.lastSeen)
	}
	// The median last-seen time splits the clients in two.
	slices.SortFunc(seen, time.Time.Compare)
	cut := seen[len(seen)/2]
	for k, c := range d.clients {
		if !c.lastSeen.After(cut) {
			delete(d.clients, k)
		}
	}
}
