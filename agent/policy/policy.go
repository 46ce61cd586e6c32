// Package policy decides what each bot may do: which credentials it may
// use, for which operations and endpoints, how fast, and for which
// symbols and order sizes. Clients are named in a TOML file and matched by
// what the kernel says about the connecting process (uid, groups, systemd
// unit, executable; see peerid), never by anything the bot says.
//
// Deny by default: with a policy loaded, a request is allowed only when
// the first client entry the peer matches has a grant that covers it.
// Money-moving and key-management endpoints of every supported venue
// (withdrawals, transfers, API-key creation; see catalogue.go) are refused
// unless a grant names them explicitly, with or without a policy file, and
// so are parameter sets that belong to them where the venue does not sign
// the path.
//
// The package must never see a secret: it decides on names, URLs and
// bodies the bot sent. A denial's reason must never name a credential the
// client may not see.
package policy

import (
	"fmt"
	"math/big"
	"os"
	"os/user"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Operations a grant may name.
const (
	OpSign    = "sign"
	OpForward = "forward"
	OpList    = "list"
)

var grantOps = []string{OpSign, OpForward, OpList}

// fileSpec is the TOML document.
type fileSpec struct {
	Version     int              `toml:"version"`
	Defaults    defaultsSpec     `toml:"defaults"`
	Clients     []clientSpec     `toml:"client"`
	Credentials []credentialSpec `toml:"credential"`
}

type defaultsSpec struct {
	RotationPeriod Duration `toml:"rotation_period"`
	ExpireUnused   Duration `toml:"expire_unused"`
}

type clientSpec struct {
	Name   string   `toml:"name"`
	UID    *int64   `toml:"uid"`
	User   string   `toml:"user"`
	GID    *int64   `toml:"gid"`
	Group  string   `toml:"group"`
	Unit   string   `toml:"unit"`
	Exe    string   `toml:"exe"`
	Rate   Rate     `toml:"rate"`
	Burst  int      `toml:"burst"`
	Grants []grantS `toml:"grant"`
}

type grantS struct {
	Credentials []string `toml:"credentials"`
	Operations  []string `toml:"operations"`
	Endpoints   []string `toml:"endpoints"`
	MoneyMoving []string `toml:"allow_money_movement"`
	Symbols     []string `toml:"symbols"`
	MaxQuantity string   `toml:"max_quantity"`
	MaxNotional string   `toml:"max_notional"`
	Rate        Rate     `toml:"rate"`
	Burst       int      `toml:"burst"`
}

type credentialSpec struct {
	Name           string   `toml:"name"`
	Rate           Rate     `toml:"rate"`
	Burst          int      `toml:"burst"`
	RotationPeriod Duration `toml:"rotation_period"`
	ExpireUnused   Duration `toml:"expire_unused"`
}

// DefaultRotationPeriod is how old a key may get before `list` and
// `status` warn, unless the policy says otherwise.
const DefaultRotationPeriod = 90 * 24 * time.Hour

// Policy is a parsed, checked policy file. It is immutable: a reload makes
// a new one.
type Policy struct {
	Source  string // the file it came from, for messages
	clients []*Client
	creds   map[string]*CredentialRules
	// RotationPeriod and ExpireUnused are the defaults for credentials the
	// file does not name.
	RotationPeriod time.Duration
	ExpireUnused   time.Duration
}

// Client is one [[client]] entry.
type Client struct {
	Name   string
	Line   int
	uid    *uint32
	gid    *uint32
	unit   string
	exe    string
	Rate   Rate
	Burst  int
	grants []*Grant
}

// Grant is one [[client.grant]] entry.
type Grant struct {
	Index       int // 1-based within its client
	Line        int
	credentials []string // path.Match patterns
	ops         []string
	endpoints   []Endpoint
	money       []string // catalogue IDs or exact endpoints
	symbols     []string
	maxQty      *big.Rat
	maxNotional *big.Rat
	Rate        Rate
	Burst       int
	ruleText    string
}

// CredentialRules are the limits of one credential across all clients.
type CredentialRules struct {
	Name           string
	Rate           Rate
	Burst          int
	RotationPeriod time.Duration
	ExpireUnused   time.Duration
}

// Problem is one mistake in a policy file.
type Problem struct {
	Line int
	Msg  string
}

func (p Problem) String() string {
	if p.Line > 0 {
		return fmt.Sprintf("line %d: %s", p.Line, p.Msg)
	}
	return p.Msg
}

// Error lists a file's problems.
type Error struct {
	File     string
	Problems []Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "policy %s: ", e.File)
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// Load reads and checks the policy file at path.
func Load(path string) (*Policy, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return Parse(raw, path)
}

// Parse checks a policy document. Every problem found is reported, each
// with its line, not just the first.
func Parse(raw []byte, name string) (*Policy, error) {
	var spec fileSpec
	md, err := toml.Decode(string(raw), &spec)
	if err != nil {
		if pe, ok := err.(toml.ParseError); ok {
			return nil, &Error{File: name, Problems: []Problem{{Line: pe.Position.Line, Msg: pe.Message}}}
		}
		return nil, &Error{File: name, Problems: []Problem{typeProblem(err.Error())}}
	}
	lines := headerLines(raw)
	var probs []Problem
	for _, k := range md.Undecoded() {
		probs = append(probs, Problem{Line: lines.keyLine(k), Msg: fmt.Sprintf("unknown key %q (check its spelling and the table it is in)", k.String())})
	}
	if spec.Version != 1 {
		probs = append(probs, Problem{Msg: fmt.Sprintf("version = %d: this agent reads version = 1 policies; put `version = 1` at the top", spec.Version)})
	}
	p := &Policy{
		Source:         name,
		creds:          map[string]*CredentialRules{},
		RotationPeriod: DefaultRotationPeriod,
		ExpireUnused:   time.Duration(spec.Defaults.ExpireUnused),
	}
	if spec.Defaults.RotationPeriod > 0 {
		p.RotationPeriod = time.Duration(spec.Defaults.RotationPeriod)
	}
	names := map[string]bool{}
	for i, cs := range spec.Clients {
		line := lines.client(i)
		c, cp := compileClient(cs, line, lines, i)
		probs = append(probs, cp...)
		if cs.Name != "" && names[cs.Name] {
			probs = append(probs, Problem{Line: line, Msg: fmt.Sprintf("client %q is named twice; names must be unique", cs.Name)})
		}
		names[cs.Name] = true
		p.clients = append(p.clients, c)
	}
	for i, cr := range spec.Credentials {
		line := lines.credential(i)
		if cr.Name == "" {
			probs = append(probs, Problem{Line: line, Msg: "[[credential]] needs a name (the credential's name in `keyward list`)"})
			continue
		}
		if _, dup := p.creds[cr.Name]; dup {
			probs = append(probs, Problem{Line: line, Msg: fmt.Sprintf("credential %q has two [[credential]] entries", cr.Name)})
		}
		probs = append(probs, checkRate(cr.Rate, cr.Burst, line)...)
		r := &CredentialRules{Name: cr.Name, Rate: cr.Rate, Burst: burstOf(cr.Rate, cr.Burst),
			RotationPeriod: time.Duration(cr.RotationPeriod), ExpireUnused: time.Duration(cr.ExpireUnused)}
		if r.RotationPeriod == 0 {
			r.RotationPeriod = p.RotationPeriod
		}
		if r.ExpireUnused == 0 {
			r.ExpireUnused = p.ExpireUnused
		}
		p.creds[cr.Name] = r
	}
	if len(probs) > 0 {
		slices.SortStableFunc(probs, func(a, b Problem) int { return a.Line - b.Line })
		return nil, &Error{File: name, Problems: probs}
	}
	return p, nil
}

func compileClient(cs clientSpec, line int, lines headers, ci int) (*Client, []Problem) {
	var probs []Problem
	bad := func(format string, args ...any) {
		probs = append(probs, Problem{Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	c := &Client{Name: cs.Name, Line: line, unit: cs.Unit, exe: cs.Exe, Rate: cs.Rate, Burst: burstOf(cs.Rate, cs.Burst)}
	if cs.Name == "" {
		bad("[[client]] needs a name (it appears in denials, the audit log and `policy explain`)")
	}
	label := fmt.Sprintf("client %q", cs.Name)
	switch {
	case cs.UID != nil && cs.User != "":
		bad("%s: give uid or user, not both", label)
	case cs.UID != nil:
		if *cs.UID < 0 || *cs.UID > 0xfffffffe {
			bad("%s: uid %d is not a user id", label, *cs.UID)
		} else {
			u := uint32(*cs.UID)
			c.uid = &u
		}
	case cs.User != "":
		u, err := user.Lookup(cs.User)
		if err != nil {
			bad("%s: no user %q on this system", label, cs.User)
		} else if id, err := strconv.ParseUint(u.Uid, 10, 32); err == nil {
			v := uint32(id)
			c.uid = &v
		}
	}
	switch {
	case cs.GID != nil && cs.Group != "":
		bad("%s: give gid or group, not both", label)
	case cs.GID != nil:
		if *cs.GID < 0 || *cs.GID > 0xfffffffe {
			bad("%s: gid %d is not a group id", label, *cs.GID)
		} else {
			g := uint32(*cs.GID)
			c.gid = &g
		}
	case cs.Group != "":
		g, err := user.LookupGroup(cs.Group)
		if err != nil {
			bad("%s: no group %q on this system", label, cs.Group)
		} else if id, err := strconv.ParseUint(g.Gid, 10, 32); err == nil {
			v := uint32(id)
			c.gid = &v
		}
	}
	if c.uid == nil && c.gid == nil && cs.UID == nil && cs.User == "" && cs.GID == nil && cs.Group == "" {
		bad("%s matches no one: give at least uid/user or gid/group (unit and exe narrow a uid or group; they are not identities on their own)", label)
	}
	if cs.Unit != "" && !strings.Contains(cs.Unit, ".") {
		bad("%s: unit %q is not a unit name: write it in full, like %q", label, cs.Unit, cs.Unit+".service")
	}
	if cs.Exe != "" && !strings.HasPrefix(cs.Exe, "/") {
		bad("%s: exe %q must be an absolute path (what /proc/PID/exe shows, e.g. /usr/bin/python3.11)", label, cs.Exe)
	}
	probs = append(probs, checkRate(cs.Rate, cs.Burst, line)...)
	if len(cs.Grants) == 0 {
		bad("%s has no [[client.grant]]: it could do nothing; add a grant or remove the client", label)
	}
	for gi, gs := range cs.Grants {
		g, gp := compileGrant(gs, lines.grant(ci, gi), label, gi+1)
		g.ruleText = fmt.Sprintf("client %q grant %d (line %d)", cs.Name, g.Index, g.Line)
		probs = append(probs, gp...)
		c.grants = append(c.grants, g)
	}
	return c, probs
}

func compileGrant(gs grantS, line int, client string, index int) (*Grant, []Problem) {
	var probs []Problem
	label := fmt.Sprintf("%s grant %d", client, index)
	bad := func(format string, args ...any) {
		probs = append(probs, Problem{Line: line, Msg: label + ": " + fmt.Sprintf(format, args...)})
	}
	g := &Grant{Index: index, Line: line, Rate: gs.Rate, Burst: burstOf(gs.Rate, gs.Burst), symbols: gs.Symbols}
	if len(gs.Credentials) == 0 {
		bad("names no credentials: list them, e.g. credentials = [\"binance-main\"]")
	}
	for _, c := range gs.Credentials {
		if _, err := path.Match(c, ""); err != nil || c == "" {
			bad("credential pattern %q is malformed", c)
		}
		g.credentials = append(g.credentials, c)
	}
	if len(gs.Operations) == 0 {
		bad("names no operations: give some of %s", strings.Join(grantOps, ", "))
	}
	for _, op := range gs.Operations {
		if !slices.Contains(grantOps, op) {
			bad("operation %q is not one a bot may be granted (%s); administration is the owner's alone", op, strings.Join(grantOps, ", "))
		}
		g.ops = append(g.ops, op)
	}
	signs := slices.Contains(g.ops, OpSign) || slices.Contains(g.ops, OpForward)
	if signs && len(gs.Endpoints) == 0 {
		bad("grants %s but names no endpoints: list them as \"METHOD /path\" (\"*\" matches one path segment, \"**\" the rest; e.g. \"POST /api/v3/order\")", strings.Join(g.ops, "/"))
	}
	for _, e := range gs.Endpoints {
		ep, err := ParseEndpoint(e)
		if err != nil {
			bad("%v", err)
			continue
		}
		g.endpoints = append(g.endpoints, ep)
	}
	for _, e := range gs.MoneyMoving {
		if err := checkMoneyName(e); err != nil {
			bad("allow_money_movement: %v", err)
			continue
		}
		g.money = append(g.money, normalizeMoney(e))
	}
	var err error
	if gs.MaxQuantity != "" {
		if g.maxQty, err = positiveDecimal(gs.MaxQuantity); err != nil {
			bad("max_quantity: %v", err)
		}
	}
	if gs.MaxNotional != "" {
		if g.maxNotional, err = positiveDecimal(gs.MaxNotional); err != nil {
			bad("max_notional: %v", err)
		}
	}
	for _, s := range gs.Symbols {
		if s == "" || strings.ContainsAny(s, " \t") {
			bad("symbol %q is not a symbol as the venue writes it (e.g. BTCUSDT, BTC-USDT)", s)
		}
	}
	probs = append(probs, checkRate(gs.Rate, gs.Burst, line)...)
	return g, probs
}

// positiveDecimal parses a decimal limit ("0.5", "5000").
func positiveDecimal(s string) (*big.Rat, error) {
	r, ok := new(big.Rat).SetString(s)
	if !ok || r.Sign() <= 0 || strings.ContainsAny(s, "/eE") {
		return nil, fmt.Errorf("%q is not a positive decimal number (write it as a string, e.g. \"0.5\")", s)
	}
	return r, nil
}

func checkRate(r Rate, burst, line int) []Problem {
	if burst < 0 {
		return []Problem{{Line: line, Msg: fmt.Sprintf("burst %d is negative", burst)}}
	}
	if burst > 0 && r.PerSecond == 0 {
		return []Problem{{Line: line, Msg: "burst without rate: give rate too, e.g. rate = \"10/s\""}}
	}
	return nil
}

// burstOf is the bucket size: the burst given, else one second's worth
// (at least 1).
func burstOf(r Rate, burst int) int {
	if burst > 0 || r.PerSecond == 0 {
		return burst
	}
	b := int(r.PerSecond + 0.999)
	if b < 1 {
		b = 1
	}
	return b
}

// Clients returns the client entries in file order.
func (p *Policy) Clients() []*Client { return p.clients }

// Credential returns the rules for a credential (defaults when unnamed).
func (p *Policy) Credential(name string) CredentialRules {
	if p == nil {
		return CredentialRules{Name: name, RotationPeriod: DefaultRotationPeriod}
	}
	if r, ok := p.creds[name]; ok {
		return *r
	}
	return CredentialRules{Name: name, RotationPeriod: p.RotationPeriod, ExpireUnused: p.ExpireUnused}
}

// checkMoneyName accepts a catalogue ID ("hyperliquid:withdraw3", or an
// entry's "METHOD /pattern" as Catalogue lists it) or an exact endpoint
// that a catalogue entry covers ("POST /sapi/v1/capital/withdraw/apply").
func checkMoneyName(s string) error {
	for _, e := range catalogue() {
		if e.ID == s {
			return nil
		}
	}
	if strings.Contains(s, ":") && !strings.Contains(s, " ") {
		return fmt.Errorf("%q is not an action in the catalogue (see `keyward policy catalogue`)", s)
	}
	ep, err := ParseEndpoint(s)
	if err != nil {
		return err
	}
	if strings.Contains(ep.Path, "*") {
		return fmt.Errorf("%q: name money-moving endpoints exactly, without wildcards", s)
	}
	for _, e := range catalogue() {
		if e.action == "" && e.ep.Match(ep.Method, ep.Path) {
			return nil
		}
	}
	return fmt.Errorf("%q is not a money-moving endpoint in the catalogue: list it under endpoints instead", s)
}

func normalizeMoney(s string) string {
	if ep, err := ParseEndpoint(s); err == nil {
		return ep.String()
	}
	return s
}

var tomlLine = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): `)

// typeProblem rewords the TOML decoder's type errors ("incompatible types:
// TOML value has type string; destination has type integer") in the
// file's terms, with the line.
func typeProblem(msg string) Problem {
	var p Problem
	if m := tomlLine.FindStringSubmatch(msg); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
		msg = fmt.Sprintf("%s: %s", m[2], msg[len(m[0]):])
	}
	for goType, word := range map[string]string{
		"destination has type integer": "it must be a number without quotes",
		"destination has type string":  "it must be a string in quotes",
		"destination has type slice":   "it must be a list, e.g. [\"a\", \"b\"]",
		"destination has type struct":  "it must be a table",
	} {
		if i := strings.Index(msg, goType); i >= 0 {
			msg = strings.TrimSuffix(msg[:i], "; ") + "; " + word
		}
	}
	p.Msg = strings.TrimPrefix(msg, "toml: ")
	return p
}
