// Package nonce hands out strictly increasing nonces per credential and
// keeps a high-water mark on disk, so that several bots sharing one Kraken
// or Bitfinex key through the agent never send a nonce the venue has seen,
// not even after the agent restarts or crashes.
//
// A nonce is a count of some unit (milliseconds, microseconds) since the
// Unix epoch: the clock's value, or one more than the last nonce issued
// when that is larger. Writing the file on every signature would put an
// fsync on the signing path, so the store persists a ceiling ahead of the
// last nonce (a lease of a minute's worth of units) and writes again only
// when a nonce passes it; after a restart it starts above the ceiling.
//
// The file holds no secret: credential names, units and numbers. It must
// never be trusted to go backwards: a file that cannot be read stops every
// nonce (the caller refuses to sign) until a person moves it away.
package nonce

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/atomicfile"
)

// Lease is how far ahead of the last nonce the ceiling is written.
const Lease = time.Minute

// fileVersion is the version of the file format.
const fileVersion = 1

type entry struct {
	Unit    time.Duration `json:"unit_ns"`
	Ceiling uint64        `json:"ceiling"`
	last    uint64
}

type file struct {
	Version     int               `json:"version"`
	Credentials map[string]*entry `json:"credentials"`
}

// Store is the nonce state of one vault. It is safe for concurrent use.
type Store struct {
	path string

	mu      sync.Mutex
	loaded  bool
	loadErr error
	entries map[string]*entry
}

// Open returns the store kept at path. The file is read at the first Next,
// and created when a nonce is first issued.
func Open(path string) *Store {
	return &Store{path: path}
}

// Path is where the store keeps its file.
func (s *Store) Path() string { return s.path }

// Next returns the next nonce for credential name, in unit, given the
// agent's clock now. It fails, and the caller must not sign, when the file
// cannot be read or the new ceiling cannot be written.
func (s *Store) Next(name string, unit time.Duration, now time.Time) (uint64, error) {
	if unit <= 0 {
		return 0, fmt.Errorf("nonce: unit %v is not positive", unit)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return 0, err
	}
	e := s.entries[name]
	if e == nil {
		e = &entry{Unit: unit}
		s.entries[name] = e
	}
	if e.Unit != unit {
		// The same credential under another unit (it never happens within
		// one scheme): carry the marks over, rounding up.
		e.last = convert(e.last, e.Unit, unit)
		e.Ceiling = convert(e.Ceiling, e.Unit, unit)
		e.Unit = unit
	}
	n := uint64(now.UnixNano() / int64(unit))
	if n <= e.last {
		n = e.last + 1
	}
	if n > e.Ceiling {
		lease := uint64(Lease / unit)
		if lease < 1 {
			lease = 1
		}
		old := e.Ceiling
		e.Ceiling = n + lease
		if err := s.save(); err != nil {
			e.Ceiling = old
			return 0, err
		}
	}
	e.last = n
	return n, nil
}

// Forget drops a removed credential's marks.
func (s *Store) Forget(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return err
	}
	if _, ok := s.entries[name]; !ok {
		return nil
	}
	delete(s.entries, name)
	return s.save()
}

// convert re-expresses v, counted in from, in units of to, rounding up.
func convert(v uint64, from, to time.Duration) uint64 {
	if from == to || v == 0 {
		return v
	}
	ns := v * uint64(from)
	return (ns + uint64(to) - 1) / uint64(to)
}

// load reads the file once. A missing file is an empty store.
func (s *Store) load() error {
	if s.loaded {
		return s.loadErr
	}
	s.loaded = true
	s.entries = make(map[string]*entry)
	raw, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		s.loadErr = fmt.Errorf("nonce: read %s: %w", s.path, err)
		return s.loadErr
	}
	var f file
	if err := json.Unmarshal(raw, &f); err != nil || f.Version != fileVersion {
		s.loadErr = fmt.Errorf("nonce: %s is damaged, so nonces could repeat: move it away (the agent then starts from the clock; venues may refuse nonces below what they saw until the clock passes them)", s.path)
		return s.loadErr
	}
	for name, e := range f.Credentials {
		if e == nil || e.Unit <= 0 {
			s.loadErr = fmt.Errorf("nonce: %s has a bad entry for %q: move the file away", s.path, name)
			return s.loadErr
		}
		e.last = e.Ceiling
		s.entries[name] = e
	}
	return nil
}

// save writes the file atomically.
func (s *Store) save() error {
	data, err := json.MarshalIndent(file{Version: fileVersion, Credentials: s.entries}, "", "  ")
	if err != nil {
		return fmt.Errorf("nonce: encode: %w", err)
	}
	if err := atomicfile.Write(s.path, append(data, '\n')); err != nil {
		return fmt.Errorf("nonce: %w", err)
	}
	return nil
}
