package policy

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Holder holds the policy in force and replaces it when its file changes:
// a valid file applies atomically to requests decided after the swap; an
// invalid one is logged with its lines and reasons, reported by Err, and
// the policy in force stays.
type Holder struct {
	path    string
	log     *slog.Logger
	cur     atomic.Pointer[Policy]
	limiter atomic.Pointer[Limiter]

	mu      sync.Mutex
	lastErr error
	loaded  time.Time
}

// NewHolder loads the policy at path. A policy that does not load stops
// the agent from starting: running without the owner's policy would be
// running without least privilege.
func NewHolder(path string, log *slog.Logger) (*Holder, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p, err := Load(path)
	if err != nil {
		return nil, err
	}
	h := &Holder{path: path, log: log, loaded: time.Now()}
	h.cur.Store(p)
	h.limiter.Store(NewLimiter())
	return h, nil
}

// Path is the policy file's path.
func (h *Holder) Path() string { return h.path }

// Policy returns the policy in force.
func (h *Holder) Policy() *Policy {
	if h == nil {
		return nil
	}
	return h.cur.Load()
}

// Limiter returns the rate limiter of the policy in force.
func (h *Holder) Limiter() *Limiter { return h.limiter.Load() }

// Err returns why the file on disk was last refused, nil when the policy
// in force is the file's current content.
func (h *Holder) Err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lastErr
}

// Reload reads the file again. On error the policy in force stays.
func (h *Holder) Reload() error {
	p, err := Load(h.path)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		h.lastErr = err
		h.log.Error("policy refused; the previous policy stays in force", "file", h.path, "err", err)
		return err
	}
	h.cur.Store(p)
	// Buckets start full under a new policy: its rates may differ.
	h.limiter.Store(NewLimiter())
	h.lastErr = nil
	h.loaded = time.Now()
	h.log.Info("policy loaded", "file", h.path, "clients", len(p.clients))
	return nil
}

// Watch reloads the policy whenever its file changes, until ctx ends. It
// watches the directory, because editors and config tools replace files
// by renaming a new one into place.
func (h *Holder) Watch(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	if err := w.Add(filepath.Dir(h.path)); err != nil {
		return err
	}
	base := filepath.Base(h.path)
	var timer *time.Timer
	fire := make(chan struct{}, 1)
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if filepath.Base(ev.Name) != base || ev.Op == fsnotify.Chmod {
				continue
			}
			// A burst of events (truncate, write, rename) settles first.
			if timer == nil {
				timer = time.AfterFunc(100*time.Millisecond, func() {
					select {
					case fire <- struct{}{}:
					default:
					}
				})
			} else {
				timer.Reset(100 * time.Millisecond)
			}
		case <-fire:
			h.Reload()
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			h.log.Warn("watching the policy file", "err", err)
		}
	}
}
