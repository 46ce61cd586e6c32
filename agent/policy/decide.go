package policy

import (
	"fmt"
	"math/big"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward/agent/peerid"
)

// Decision is the policy's answer. Rule names what decided ("client
// \"grid-bot\" grant 1 (line 12)", "catalogue: binance withdrawal POST
// /sapi/*/capital/withdraw/**", "default deny"); Reason says why in words
// the bot's operator can act on.
type Decision struct {
	Allow  bool
	Client string
	Rule   string
	Reason string
	// RetryAfter is set when a rate limit refused the request.
	RetryAfter time.Duration
}

// Grants returns the client's grants in file order.
func (c *Client) Grants() []*Grant { return c.grants }

// Match returns the first client entry id matches, or nil.
func (p *Policy) Match(id peerid.Identity) *Client {
	if p == nil {
		return nil
	}
	for _, c := range p.clients {
		if c.matches(id) {
			return c
		}
	}
	return nil
}

func (c *Client) matches(id peerid.Identity) bool {
	if c.uid != nil && id.UID != *c.uid {
		return false
	}
	if c.gid != nil && !id.InGroup(*c.gid) {
		return false
	}
	if c.unit != "" && id.Unit != c.unit {
		return false
	}
	if c.exe != "" && id.Exe != c.exe {
		return false
	}
	return true
}

func (c *Client) rule() string       { return fmt.Sprintf("client %q (line %d)", c.Name, c.Line) }
func (g *Grant) rule(*Client) string { return g.ruleText }

func (g *Grant) coversCredential(name string) bool {
	for _, pat := range g.credentials {
		if ok, _ := path.Match(pat, name); ok {
			return true
		}
	}
	return false
}

// Visible reports whether the client id may see credential name at all
// (in `list`, in messages). Without a policy everyone who may connect sees
// everything.
func (p *Policy) Visible(id peerid.Identity, name string) bool {
	if p == nil {
		return true
	}
	c := p.Match(id)
	if c == nil {
		return false
	}
	for _, g := range c.grants {
		if g.coversCredential(name) {
			return true
		}
	}
	return false
}

// Decide judges a request from id. A nil policy (no policy file) allows
// every request except the money-moving catalogue, which only a policy
// grant can open. Rate limits are not applied here: see Limiter.
func (p *Policy) Decide(id peerid.Identity, r Request) (Decision, *Client, *Grant) {
	var req parsedRequest
	req.set(r)
	preq := &req
	signing := r.Op == OpSign || r.Op == OpForward
	var money *MoneyEntry // the catalogue entry r hits, if any
	if signing {
		money = moneyEndpoint(r.Scheme, r.Method, preq.path, r.Body)
	}
	if p == nil {
		if signing {
			if d, blocked := moneyCheck(r, preq, money, nil); blocked {
				return d, nil, nil
			}
		}
		return Decision{Allow: true, Rule: "no policy file"}, nil, nil
	}
	c := p.Match(id)
	if c == nil {
		return Decision{Rule: "default deny", Reason: fmt.Sprintf("no client in %s matches %s: add a [[client]] for it", p.Source, describe(id))}, nil, nil
	}
	var why []string
	for _, g := range c.grants {
		if !g.coversCredential(r.Credential) {
			continue
		}
		if !slices.Contains(g.ops, r.Op) {
			why = append(why, fmt.Sprintf("grant %d does not grant %s", g.Index, r.Op))
			continue
		}
		if !signing {
			return Decision{Allow: true, Client: c.Name, Rule: g.rule(c)}, c, g
		}
		if d, blocked := moneyCheck(r, preq, money, g); blocked {
			d.Client = c.Name
			return d, c, g
		}
		// A request moneyCheck passes that hits the catalogue is one g
		// names, and needs no other endpoint.
		if money == nil && !g.coversEndpoint(r.Method, preq.path) {
			why = append(why, fmt.Sprintf("grant %d does not list %s %s", g.Index, r.Method, preq.path))
			continue
		}
		if reason := g.checkOrders(r, preq); reason != "" {
			return Decision{Client: c.Name, Rule: g.rule(c), Reason: reason}, c, g
		}
		return Decision{Allow: true, Client: c.Name, Rule: g.rule(c)}, c, g
	}
	if len(why) == 0 {
		// The same words whether or not the credential exists, so that a
		// client learns nothing about credentials it may not use.
		return Decision{Client: c.Name, Rule: c.rule(), Reason: fmt.Sprintf("client %q has no grant for credential %q", c.Name, r.Credential)}, c, nil
	}
	return Decision{Client: c.Name, Rule: c.rule(), Reason: fmt.Sprintf("client %q may not %s %s %s with %q: %s", c.Name, r.Op, r.Method, preq.path, r.Credential, strings.Join(why, "; "))}, c, nil
}

func describe(id peerid.Identity) string {
	s := fmt.Sprintf("uid %d", id.UID)
	if id.Unit != "" {
		s += ", unit " + id.Unit
	}
	if id.Exe != "" {
		s += ", exe " + id.Exe
	}
	return s
}

func (g *Grant) coversEndpoint(method, p string) bool {
	for _, e := range g.endpoints {
		if e.Match(method, p) {
			return true
		}
	}
	return false
}

// namesMoney reports whether g names e, the catalogue entry r hits (nil
// for none): by the entry's ID, or by the exact endpoint the request goes
// to.
func (g *Grant) namesMoney(e *MoneyEntry, r Request, p *parsedRequest) bool {
	if e == nil || g == nil {
		return false
	}
	exact := r.Method + " " + p.path
	for _, m := range g.money {
		if m == e.ID || e.action == "" && m == exact {
			return true
		}
	}
	return false
}

// moneyCheck refuses catalogue endpoints and, for venues that do not sign
// the path, the parameter sets that belong to them, unless g names them.
// e is the catalogue entry r hits, as moneyEndpoint returns it.
func moneyCheck(r Request, p *parsedRequest, e *MoneyEntry, g *Grant) (Decision, bool) {
	if e != nil {
		if g.namesMoney(e, r, p) {
			return Decision{}, false
		}
		return Decision{Rule: "catalogue: " + r.Scheme + " " + e.What + " " + e.ID,
			Reason: fmt.Sprintf("%s is a %s endpoint: the agent refuses it unless a policy grant names %q in allow_money_movement", e.ID, e.What, e.ID)}, true
	}
	if set, hit := moneyParams(r.Scheme, p); hit {
		return Decision{Rule: "catalogue: " + r.Scheme + " money-moving parameters",
			Reason: fmt.Sprintf("the request carries %s, parameters of a %s withdrawal or transfer; %s does not sign the path, so such a signature could be replayed against the withdrawal endpoint: the agent refuses it", set, r.Scheme, r.Scheme)}, true
	}
	return Decision{}, false
}

// checkOrders applies the grant's symbol and size limits to order
// endpoints; it returns a reason when they refuse.
func (g *Grant) checkOrders(r Request, p *parsedRequest) string {
	if len(g.symbols) == 0 && g.maxQty == nil && g.maxNotional == nil {
		return ""
	}
	orders, isOrder, err := ordersOf(r.Scheme, r.Method, p, r.Body)
	if !isOrder {
		return ""
	}
	if err != nil {
		return fmt.Sprintf("the order cannot be read (%v), so its limits cannot be checked", err)
	}
	for _, o := range orders {
		if len(g.symbols) > 0 && !slices.Contains(g.symbols, o.Symbol) {
			return fmt.Sprintf("symbol %q is not one grant %d allows (%s)", o.Symbol, g.Index, strings.Join(g.symbols, ", "))
		}
		if g.maxQty != nil {
			if o.Quantity == nil && o.Quote == nil {
				return "the order has no quantity, so max_quantity cannot be checked"
			}
			if o.Quantity != nil && o.Quantity.Cmp(g.maxQty) > 0 {
				return fmt.Sprintf("quantity %s is above grant %d's max_quantity %s", o.Quantity.FloatString(8), g.Index, g.maxQty.FloatString(8))
			}
		}
		if g.maxNotional != nil {
			var notional *big.Rat
			switch {
			case o.Quote != nil:
				notional = o.Quote
			case o.Quantity != nil && o.Price != nil:
				notional = new(big.Rat).Mul(o.Quantity, o.Price)
			default:
				return "the order has no price (a market order?), so max_notional cannot be checked: give a price or a quote size"
			}
			if notional.Cmp(g.maxNotional) > 0 {
				return fmt.Sprintf("notional %s is above grant %d's max_notional %s", notional.FloatString(2), g.Index, g.maxNotional.FloatString(2))
			}
		}
	}
	return ""
}

// Limiter holds token buckets per client, per grant and per credential.
// It is safe for concurrent use.
type Limiter struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// NewLimiter returns an empty limiter.
func NewLimiter() *Limiter { return &Limiter{buckets: map[string]*bucket{}} }

// Allow takes one token from each bucket that applies to a request the
// policy allowed (client c, grant g, credential cred) at now. It takes
// nothing when any bucket is empty, and then says which and when to retry.
func (l *Limiter) Allow(p *Policy, c *Client, g *Grant, cred string, now time.Time) Decision {
	type lim struct {
		key   string
		rate  Rate
		burst int
		what  string
	}
	var ls []lim
	if c != nil && c.Rate.PerSecond > 0 {
		ls = append(ls, lim{"client\x00" + c.Name, c.Rate, c.Burst, fmt.Sprintf("client %q's rate %s", c.Name, c.Rate)})
	}
	if g != nil && g.Rate.PerSecond > 0 {
		ls = append(ls, lim{fmt.Sprintf("grant\x00%s\x00%d\x00%s", c.Name, g.Index, cred), g.Rate, g.Burst, fmt.Sprintf("grant %d's rate %s", g.Index, g.Rate)})
	}
	if p != nil {
		if cr, ok := p.creds[cred]; ok && cr.Rate.PerSecond > 0 {
			ls = append(ls, lim{"cred\x00" + cred, cr.Rate, cr.Burst, fmt.Sprintf("credential %q's rate %s (all clients)", cred, cr.Rate)})
		}
	}
	if len(ls) == 0 {
		return Decision{Allow: true}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	bs := make([]*bucket, len(ls))
	for i, x := range ls {
		b := l.buckets[x.key]
		if b == nil {
			b = &bucket{tokens: float64(x.burst), last: now}
			l.buckets[x.key] = b
		}
		if el := now.Sub(b.last).Seconds(); el > 0 {
			b.tokens = min(float64(x.burst), b.tokens+el*x.rate.PerSecond)
			b.last = now
		}
		if b.tokens < 1 {
			wait := time.Duration((1 - b.tokens) / x.rate.PerSecond * float64(time.Second))
			return Decision{Rule: "rate limit", Reason: fmt.Sprintf("%s is used up: retry in %v", x.what, wait.Round(time.Millisecond)), RetryAfter: wait}
		}
		bs[i] = b
	}
	for _, b := range bs {
		b.tokens--
	}
	return Decision{Allow: true}
}
