package audit

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// clock is a test clock.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time      { return c.now }
func (c *clock) add(d time.Duration) { c.now = c.now.Add(d) }
func newClock() *clock               { return &clock{now: t0} }
func bot(uid uint32, exe string) Client {
	return Client{UID: uid, GID: uid, PID: 7, Unit: "bot.service", Exe: exe}
}
func req(c Client, decision string) Record {
	return Record{Type: TypeRequest, Client: c, Op: "sign", Credential: "main", Decision: decision, Reason: "endpoint not granted"}
}

// feed sends n requests spread evenly over d and returns the alerts.
func feed(d *Detector, clk *clock, c Client, decision string, n int, over time.Duration) []Record {
	var alerts []Record
	step := over / time.Duration(n)
	for range n {
		alerts = append(alerts, d.Observe(req(c, decision))...)
		clk.add(step)
	}
	return alerts
}

func TestDetectorRateSpike(t *testing.T) {
	clk := newClock()
	d := NewDetector(DetectorOptions{Now: clk.Now})
	a := bot(1000, "/usr/bin/python3")

	// Ten minutes at 2 requests a second is this client's usual rate.
	require.Empty(t, feed(d, clk, a, Allow, 1200, 10*time.Minute))
	// Three times that is not an alert.
	require.Empty(t, feed(d, clk, a, Allow, 60, 10*time.Second))
	// Twenty times is: one alert, however long it lasts within a minute.
	alerts := feed(d, clk, a, Allow, 400, 10*time.Second)
	require.Len(t, alerts, 1)
	al := alerts[0]
	assert.Equal(t, TypeAlert, al.Type)
	assert.Equal(t, RuleRateSpike, al.Rule)
	assert.Equal(t, a, al.Client)
	assert.Equal(t, "main", al.Credential)
	assert.Contains(t, al.Reason, "requests in the last 10s")
	assert.Contains(t, al.Reason, "this client's usual")
	assert.Empty(t, feed(d, clk, a, Allow, 400, 10*time.Second), "one alert per minute")
	assert.Empty(t, feed(d, clk, a, Allow, 600, 40*time.Second-time.Millisecond))
	// The usual rate has risen meanwhile (to about 4.5/s): a minute after
	// the first alert, a spike far above that alerts again.
	alerts = feed(d, clk, a, Allow, 1000, 10*time.Second)
	assert.Len(t, alerts, 1, "a minute later, spiking again")

	// Another client (same uid, other executable) is judged on its own.
	b := bot(1000, "/usr/bin/node")
	assert.Empty(t, feed(d, clk, b, Allow, 20, 10*time.Second))
}

func TestDetectorQuietClientFirstBurst(t *testing.T) {
	clk := newClock()
	d := NewDetector(DetectorOptions{Now: clk.Now})
	a := bot(1001, "/opt/bot")
	// A new client starting up (load markets, balances, open orders) is
	// judged against the floor: 50 requests in 10 s is fine…
	require.Empty(t, feed(d, clk, a, Allow, 50, 10*time.Second))
	// …a client quiet for an hour is back near the floor, and 61 in 10 s
	// is not.
	clk.add(time.Hour)
	alerts := feed(d, clk, a, Allow, 70, 5*time.Second)
	require.Len(t, alerts, 1)
	assert.Equal(t, RuleRateSpike, alerts[0].Rule)
}

func TestDetectorDenyBurst(t *testing.T) {
	clk := newClock()
	d := NewDetector(DetectorOptions{Now: clk.Now})
	a := bot(1002, "/opt/bot")
	// 19 denials in 10 s, then a pause: nothing.
	require.Empty(t, feed(d, clk, a, Deny, 19, 10*time.Second))
	clk.add(10 * time.Second)
	// Denials spread out never reach 20 in a window.
	require.Empty(t, feed(d, clk, a, Deny, 40, 40*time.Second))
	// 20 within 10 s do, once per minute.
	alerts := feed(d, clk, a, Deny, 20, 5*time.Second)
	require.Len(t, alerts, 1)
	assert.Equal(t, RuleDenyBurst, alerts[0].Rule)
	assert.Contains(t, alerts[0].Reason, "20 requests denied in the last 10s (the latest: endpoint not granted)")
	assert.Empty(t, feed(d, clk, a, Deny, 30, 30*time.Second))
	clk.add(30 * time.Second)
	assert.Len(t, feed(d, clk, a, Deny, 25, 5*time.Second), 1)
	// Allowed requests are not denials.
	b := bot(1003, "/opt/bot")
	assert.Empty(t, feed(d, clk, b, Allow, 40, 10*time.Second))
}

func TestDetectorIgnoresOtherRecordsAndBoundsClients(t *testing.T) {
	clk := newClock()
	d := NewDetector(DetectorOptions{Now: clk.Now, MaxClients: 10})
	assert.Nil(t, d.Observe(Record{Type: TypeAlert}))
	for i := range 100 {
		d.Observe(req(bot(uint32(i), "/x"), Allow))
		clk.add(time.Second)
	}
	d.mu.Lock()
	n := len(d.clients)
	d.mu.Unlock()
	assert.LessOrEqual(t, n, 10)
}

func TestDetectorUsesRecordTime(t *testing.T) {
	d := NewDetector(DetectorOptions{})
	a := bot(1004, "/opt/bot")
	var alerts []Record
	for i := range 25 {
		r := req(a, Deny)
		r.Time = t0.Add(time.Duration(i) * 100 * time.Millisecond)
		alerts = append(alerts, d.Observe(r)...)
	}
	require.Len(t, alerts, 1)
	assert.Equal(t, t0.Add(19*100*time.Millisecond), alerts[0].Time)
}
