package policy

import (
	"net/url"
	"strings"
)

// The money check runs on every signed request, so the catalogue is
// indexed once, at init, instead of being matched entry by entry.
//
// The index only narrows: for a request it gives the few entries whose
// method, first path segment and last path segment allow a match, and
// every one of them is still confirmed by Endpoint.Match, the general
// matcher. An entry may be a candidate without matching; an entry that
// matches is always a candidate. Candidates are kept in catalogue order,
// so the entry found is the first one the catalogue lists, as before.
// index_test.go holds the index to a plain scan of the catalogue.

// moneyIndex is a scheme's catalogue entries, indexed.
type moneyIndex struct {
	entries []MoneyEntry // catalogueFor(scheme), in catalogue order
	// methods holds, per method some entry names exactly, the entries of
	// that method and of method "*"; anyMethod holds the "*" entries
	// alone, for every other method.
	methods   []methodIndex
	anyMethod methodIndex
	// actions maps a Hyperliquid action type to its first entry (for
	// POST requests only, as the entries say).
	actions map[string]int
}

type methodIndex struct {
	method string
	// byFirst holds, per literal first segment some entry names, the
	// entries with that first segment or a wildcard one; otherFirst
	// holds the wildcard ones alone, for every other first segment.
	byFirst    map[string]*segIndex
	otherFirst segIndex
}

type segIndex struct {
	// byLast holds, per literal last segment some entry names, the
	// entries with that last segment or a wildcard one ("*", "**");
	// otherLast holds the wildcard ones alone, for every other last
	// segment. Each list is in catalogue order.
	byLast    map[string][]int
	otherLast []int
}

var moneyIndexes = func() map[string]*moneyIndex {
	m := map[string]*moneyIndex{}
	for scheme, entries := range byScheme {
		m[scheme] = newMoneyIndex(entries)
	}
	return m
}()

func wildcard(seg string) bool { return seg == "*" || seg == "**" }

func newMoneyIndex(entries []MoneyEntry) *moneyIndex {
	x := &moneyIndex{entries: entries}
	var star []int // method "*"
	seen := map[string]bool{}
	var names []string
	for i, e := range entries {
		switch {
		case e.action != "":
			if x.actions == nil {
				x.actions = map[string]int{}
			}
			if _, ok := x.actions[e.action]; !ok {
				x.actions[e.action] = i
			}
		case e.ep.Method == "*":
			star = append(star, i)
		case !seen[e.ep.Method]:
			seen[e.ep.Method] = true
			names = append(names, e.ep.Method)
		}
	}
	for _, m := range names {
		var ids []int
		for i, e := range entries {
			if e.action == "" && (e.ep.Method == m || e.ep.Method == "*") {
				ids = append(ids, i)
			}
		}
		mi := newMethodIndex(entries, ids)
		mi.method = m
		x.methods = append(x.methods, mi)
	}
	x.anyMethod = newMethodIndex(entries, star)
	return x
}

func newMethodIndex(entries []MoneyEntry, ids []int) methodIndex {
	mi := methodIndex{byFirst: map[string]*segIndex{}}
	var wild []int
	for _, i := range ids {
		if first := entries[i].ep.segs[0]; wildcard(first) {
			wild = append(wild, i)
		}
	}
	for _, i := range ids {
		first := entries[i].ep.segs[0]
		if wildcard(first) || mi.byFirst[first] != nil {
			continue
		}
		var with []int
		for _, j := range ids {
			if f := entries[j].ep.segs[0]; f == first || wildcard(f) {
				with = append(with, j)
			}
		}
		s := newSegIndex(entries, with)
		mi.byFirst[first] = &s
	}
	mi.otherFirst = newSegIndex(entries, wild)
	return mi
}

func newSegIndex(entries []MoneyEntry, ids []int) segIndex {
	last := func(i int) string { s := entries[i].ep.segs; return s[len(s)-1] }
	s := segIndex{byLast: map[string][]int{}}
	for _, i := range ids {
		if wildcard(last(i)) {
			s.otherLast = append(s.otherLast, i)
		}
	}
	for _, i := range ids {
		l := last(i)
		if wildcard(l) || s.byLast[l] != nil {
			continue
		}
		var with []int
		for _, j := range ids {
			if lj := last(j); lj == l || wildcard(lj) {
				with = append(with, j)
			}
		}
		s.byLast[l] = with
	}
	return s
}

// lookup returns the index in x.entries of the first entry a request
// hits, or -1.
func (x *moneyIndex) lookup(method, path, body string) int {
	hit := x.lookupPath(method, path)
	if x.actions != nil && method == "POST" {
		if i, ok := x.actions[hyperliquidAction(body)]; ok && (hit < 0 || i < hit) {
			hit = i
		}
	}
	return hit
}

// lookupPath is lookup for the entries that name a path. It cuts the
// path into segments as Endpoint.Match does.
func (x *moneyIndex) lookupPath(method, path string) int {
	mi := &x.anyMethod
	for i := range x.methods {
		if x.methods[i].method == method {
			mi = &x.methods[i]
			break
		}
	}
	rest := strings.TrimPrefix(path, "/")
	first, last := rest, rest
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		first = rest[:i]
		last = rest[strings.LastIndexByte(rest, '/')+1:]
	}
	si := &mi.otherFirst
	if s, ok := mi.byFirst[first]; ok {
		si = s
	}
	ids, ok := si.byLast[last]
	if !ok {
		ids = si.otherLast
	}
	for _, i := range ids {
		if x.entries[i].ep.Match(method, path) {
			return i
		}
	}
	return -1
}

// nameTable answers, for a parameter name, which bit of a paramRule's
// set of names it is, with a table lookup for the many names that are
// none of them.
type nameTable struct {
	// lens holds, per first byte, the lengths of the names that begin
	// with it (bit min(len, 63)); a name whose length is not there is
	// not in bit, and needs no map lookup.
	lens [256]uint64
	bit  map[string]uint64
}

func newNameTable(bit map[string]uint64) *nameTable {
	t := &nameTable{bit: bit}
	for n := range bit {
		if n != "" {
			t.lens[n[0]] |= 1 << min(len(n), 63)
		}
	}
	return t
}

// of returns name's bit, or 0.
func (t *nameTable) of(name string) uint64 {
	if name == "" || t.lens[name[0]]&(1<<min(len(name), 63)) == 0 {
		return 0
	}
	return t.bit[name]
}

// formBits returns the bits of the keys of the form-encoded text q, read
// in one pass as widely as url.ParseQuery reads them and more: pairs are
// split on ';' as well as '&', and a key with an escape ('%' or '+')
// counts both as written and unescaped, so that no venue, however it
// parses, sees a key this missed.
func (t *nameTable) formBits(q string) (present uint64) {
	for start := 0; ; {
		i, escaped := start, false
		for ; i < len(q) && formByte[q[i]] != formEnd; i++ {
			if formByte[q[i]] == formKeyEnd {
				break
			}
			escaped = escaped || formByte[q[i]] == formEscape
		}
		k := q[start:i]
		for i < len(q) && formByte[q[i]] != formEnd {
			i++
		}
		present |= t.of(k)
		if escaped {
			if u, err := url.QueryUnescape(k); err == nil {
				present |= t.of(u)
			}
		}
		if i >= len(q) {
			return present
		}
		start = i + 1
	}
}

// formByte classes the bytes of form-encoded text for formBits.
var formByte = func() (c [256]uint8) {
	c['&'], c[';'] = formEnd, formEnd
	c['='] = formKeyEnd
	c['%'], c['+'] = formEscape, formEscape
	return c
}()

const (
	formEnd    = 1 + iota // ends a pair
	formKeyEnd            // ends a key
	formEscape            // makes a key need unescaping
)
