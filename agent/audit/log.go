package audit

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Options configures a Log.
type Options struct {
	Path     string // the log file; rotated files are Path.1, Path.2, …
	MaxBytes int64  // rotate when the file would grow past this; default 64 MiB
	Keep     int    // rotated files kept; default 10
	// FailClosed makes Append and Healthy return an error while the log
	// cannot be written (disk full, permissions, queue full), so that the
	// agent stops signing rather than sign unaudited. Otherwise failures
	// are counted (Stats), logged at most once a minute, and lost records
	// are noted in the log by an alert record once it can be written again.
	FailClosed   bool
	QueueLen     int           // records waiting for the writer; default 16384 (about 125 ms of signing flat out)
	SyncInterval time.Duration // fsync at most this often; default 200ms
	// Linger is how long the writer, woken by a record, waits for more
	// before it writes them: under load one wake-up and one write serve
	// many records instead of one each, which the signing path would feel.
	// Default 10ms; negative writes at once. Records wait at most this
	// long before they are written (and at most SyncInterval more before
	// they are synced).
	Linger time.Duration
	Now    func() time.Time
	Log    *slog.Logger
	// Restart: when the end of the existing chain is broken (an incomplete
	// or edited last record, records missing at the end), move the whole
	// log aside to Path.broken-TIME (and .1, .2, .head) and begin a new
	// chain whose first record, of type "start", names the break and where
	// the old log went. Without it Open refuses to append.
	Restart bool
	// Detector, if set, sees every request record in the writer goroutine,
	// off the signing path, and its alerts are written after the record.
	Detector *Detector

	hook func(stage string) error // tests: fail or block a stage of the writer
}

// maxBatch bounds the records the writer takes from the queue per write.
const maxBatch = 512

// maxWrite bounds the bytes of one write: a batch of maxBatch usual
// records fits in one, and the records that pile up in pending while the
// log cannot be written, or that Close finds queued, go out in several
// rather than in one buffer the size of them all.
const maxWrite = 256 << 10

// Defaults.
const (
	DefaultMaxBytes     = 64 << 20
	DefaultKeep         = 10
	DefaultQueueLen     = 16384
	DefaultSyncInterval = 200 * time.Millisecond
	DefaultLinger       = 10 * time.Millisecond
)

var (
	// ErrUnavailable is wrapped by Append's and Healthy's errors while a
	// fail-closed log cannot be written.
	ErrUnavailable = errors.New("audit: the log cannot be written")
	// ErrClosed is returned by Append after Close.
	ErrClosed = errors.New("audit: the log is closed")
	// ErrBroken is wrapped by Open's *BrokenError.
	ErrBroken = errors.New("audit: the existing chain is broken")
)

// BrokenError is Open's refusal to continue a chain whose end is broken.
type BrokenError struct{ Problem Problem }

func (e *BrokenError) Error() string {
	return "audit: refusing to append to a broken chain: " + e.Problem.Error() +
		" (run `keyward audit verify` for details; keep the files as evidence, then move them aside or start with the option that begins a new chain)"
}

func (e *BrokenError) Unwrap() error { return ErrBroken }

// Stats are a Log's counters.
type Stats struct {
	Written   uint64 `json:"written"` // records written to the file
	Dropped   uint64 `json:"dropped"` // records lost, not fail-closed (queue full)
	Refused   uint64 `json:"refused"` // Appends refused, fail-closed
	Errors    uint64 `json:"errors"`  // failed writes, syncs, rotations and head-file writes
	Queued    int    `json:"queued"`  // records waiting for the writer
	Seq       uint64 `json:"seq"`     // seq of the last record written
	Failing   bool   `json:"failing"` // the log cannot be written right now
	LastError string `json:"last_error,omitempty"`
}

// Log is an open audit log. Append may be called from any goroutine.
type Log struct {
	opts Options
	now  func() time.Time
	log  *slog.Logger
	q    *queue
	stop chan struct{}
	done chan struct{}

	mu     sync.RWMutex // guards closed against a concurrent put on q
	closed bool

	failure  atomic.Pointer[error] // set while the log cannot be written
	errFull  error                 // fail-closed: the queue is full
	lastErr  atomic.Pointer[string]
	written  atomic.Uint64
	dropped  atomic.Uint64
	refused  atomic.Uint64
	errCount atomic.Uint64
	lastSeq  atomic.Uint64
	closeErr error

	// The writer goroutine's own state.
	f    *os.File
	size int64
	seq  uint64
	// prev is the hash of the record seq: always 64 lower-case hex digits
	// (Genesis, or a hash this package computed or, at Open, checked), so
	// that it goes into the next record as it is, unescaped.
	prev      [2 * sha256.Size]byte
	pending   []Record
	buf       []byte // the batch being written, kept for the next one
	dirty     bool
	torn      bool // a failed write may have left a partial line past size
	syncTimer *time.Timer
	syncArmed bool
	retryAt   time.Time // after a failed write or sync, the next attempt
	rotateAt  time.Time // after a failed rotation, the next attempt
	reported  uint64    // drops already noted in the log
	warned    map[string]time.Time
}

// Open opens or creates the log at o.Path and continues its chain.
func Open(o Options) (*Log, error) {
	if o.Path == "" {
		return nil, errors.New("audit: no log path")
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.Keep <= 0 {
		o.Keep = DefaultKeep
	}
	if o.QueueLen <= 0 {
		o.QueueLen = DefaultQueueLen
	}
	if o.Linger == 0 {
		o.Linger = DefaultLinger
	}
	if o.SyncInterval <= 0 {
		o.SyncInterval = DefaultSyncInterval
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	dir := filepath.Dir(o.Path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit: create directory %s: %w", dir, err)
	}
	l := &Log{
		opts: o, now: o.Now, log: o.Log,
		q:      newQueue(o.QueueLen),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		warned: map[string]time.Time{},
		errFull: fmt.Errorf("%w: its queue of %d records is full (the writer cannot keep up with %s); refusing rather than sign unaudited",
			ErrUnavailable, o.QueueLen, o.Path),
	}
	t, err := readTail(o.Path)
	if err != nil {
		return nil, err
	}
	var start *Record
	if t.problem != nil {
		if !o.Restart {
			return nil, &BrokenError{Problem: *t.problem}
		}
		moved, err := moveAside(o.Path, o.Now())
		if err != nil {
			return nil, fmt.Errorf("audit: move the broken log %s aside: %w", o.Path, err)
		}
		o.Log.Warn("audit chain broken: starting a new chain", "problem", t.problem.Error(), "moved_to", moved)
		start = &Record{Type: TypeStart, Time: o.Now(), Reason: fmt.Sprintf(
			"a new chain starts here: the previous log is broken (%s) and was moved to %s", t.problem.Error(), moved)}
		t = tailState{hash: Genesis}
	}
	f, err := os.OpenFile(o.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: open %s: %w", o.Path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("audit: open %s: %w", o.Path, err)
	}
	if st.Mode().IsRegular() && st.Mode().Perm()&0o077 != 0 {
		o.Log.Warn("audit log is readable by others", "path", o.Path, "mode", st.Mode().Perm().String())
	}
	l.f, l.size, l.seq = f, st.Size(), t.seq
	copy(l.prev[:], t.hash) // Genesis, or the last record's hash as parseLine checked it
	l.lastSeq.Store(t.seq)
	l.syncTimer = time.NewTimer(time.Hour)
	l.syncTimer.Stop()
	if start != nil {
		l.pending = append(l.pending, *start)
		if l.flush(true); len(l.pending) > 0 {
			f.Close()
			return nil, fmt.Errorf("audit: write the first record of %s: %s", o.Path, l.lastError())
		}
		l.sync()
	}
	go l.run()
	return l, nil
}

// appendWait bounds how long Append waits for room in a full queue while
// the log is healthy.
const appendWait = time.Second

// Append queues r to be written; it waits (up to appendWait) only when the
// queue is full and the log healthy. Time is set when
// zero; V, Seq, Prev and Hash are set by the writer, in order. It fails only
// when the log is closed or, fail-closed, cannot be written.
func (l *Log) Append(r Record) error {
	if r.Time.IsZero() {
		r.Time = l.now()
	}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return ErrClosed
	}
	if l.opts.FailClosed {
		if e := l.failure.Load(); e != nil {
			l.mu.RUnlock()
			l.refused.Add(1)
			return *e
		}
	}
	if ok, _ := l.q.put(&r, false); ok {
		l.mu.RUnlock()
		return nil
	}
	if l.failure.Load() == nil {
		// The writer is working but behind (a burst, a slow fsync, a busy
		// machine): wait for room, so that signing slows to the pace of
		// the log instead of outrunning it. A log that cannot be written
		// is not waited for.
		// Appends that wait go before the ones that come meanwhile (see
		// queue.waiters), as senders blocked on a channel do.
		t := time.NewTimer(appendWait)
		l.q.wait()
	wait:
		for {
			ok, room := l.q.put(&r, true)
			if ok {
				l.q.done()
				t.Stop()
				l.mu.RUnlock()
				return nil
			}
			select {
			case <-room: // the writer took records: try again
			case <-t.C:
				break wait
			}
		}
		l.q.done()
	} else if ok, _ := l.q.put(&r, true); ok {
		// A failing log is not waited for, but room that waiters left
		// (they were waiting when it began to fail) is taken.
		l.mu.RUnlock()
		return nil
	}
	l.mu.RUnlock()
	if l.opts.FailClosed {
		l.refused.Add(1)
		return l.errFull
	}
	l.dropped.Add(1)
	return nil
}

// Healthy returns nil when Append would accept a record, and otherwise,
// for a fail-closed log, why not: the agent checks it before signing. A log
// that is not fail-closed is always healthy; see Stats.
func (l *Log) Healthy() error {
	l.mu.RLock()
	closed := l.closed
	l.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	if !l.opts.FailClosed {
		return nil
	}
	if e := l.failure.Load(); e != nil {
		return *e
	}
	if l.q.full() {
		return l.errFull
	}
	return nil
}

// Stats returns the log's counters.
func (l *Log) Stats() Stats {
	return Stats{
		Written:   l.written.Load(),
		Dropped:   l.dropped.Load(),
		Refused:   l.refused.Load(),
		Errors:    l.errCount.Load(),
		Queued:    l.q.len(),
		Seq:       l.lastSeq.Load(),
		Failing:   l.failure.Load() != nil,
		LastError: l.lastError(),
	}
}

func (l *Log) lastError() string {
	if s := l.lastErr.Load(); s != nil {
		return *s
	}
	return ""
}

// Close writes every queued record, syncs the file and the head file, and
// stops the writer. It reports records that could not be written.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	close(l.stop)
	<-l.done
	return l.closeErr
}

func (l *Log) hook(stage string) error {
	if l.opts.hook == nil {
		return nil
	}
	return l.opts.hook(stage)
}

// run is the writer goroutine.
func (l *Log) run() {
	defer close(l.done)
	retry := time.NewTicker(l.opts.SyncInterval)
	defer retry.Stop()
	for {
		ready := l.q.ready
		if len(l.pending) >= l.opts.QueueLen {
			ready = nil // the log is failing: let the queue fill and Append say so
		}
		select {
		case <-ready:
			if l.opts.Linger > 0 && l.q.len() < maxBatch {
				// Records that come meanwhile wait in q, waking no one.
				// With a batch already waiting there is nothing to gather:
				// a writer that slept anyway would fall behind a load of
				// more than maxBatch records per Linger.
				time.Sleep(l.opts.Linger)
			}
			// Batches stay small enough to reuse pending's memory, and
			// take at least one record per wake-up.
			l.takeQueued(max(1, min(l.opts.QueueLen, maxBatch)-len(l.pending)))
			if l.q.len() > 0 {
				l.q.signal() // come back for the rest
			}
			l.flush(false)
		case <-l.syncTimer.C:
			l.syncArmed = false
			l.sync()
		case <-retry.C:
			if len(l.pending) > 0 || l.dropped.Load() > l.reported {
				l.noteDrops()
				l.flush(false)
			}
			if l.dirty && l.failure.Load() != nil {
				l.sync() // a failed sync is not re-armed by new writes
			}
		case <-l.stop:
			// What is queued goes out in batches, as above, rather than
			// all through pending at once. Once a write fails, the rest
			// is only gathered, to be counted.
			for {
				l.takeQueued(maxBatch)
				if l.q.len() == 0 {
					l.noteDrops()
					l.flush(true)
					break
				}
				if l.flush(true); len(l.pending) > 0 {
					l.takeQueued(l.q.len())
					l.noteDrops()
					break
				}
			}
			l.sync()
			if n := len(l.pending); n > 0 {
				l.closeErr = fmt.Errorf("audit: %d records could not be written to %s: %s", n, l.opts.Path, l.lastError())
			}
			if err := l.f.Close(); err != nil && l.closeErr == nil {
				l.closeErr = fmt.Errorf("audit: close %s: %w", l.opts.Path, err)
			}
			return
		}
	}
}

// takeQueued moves up to n records from the queue to pending, without
// waiting for any.
func (l *Log) takeQueued(n int) {
	l.q.take(n, l.take)
}

// take moves a record from the queue to pending, with the detector's
// alerts after it.
func (l *Log) take(r *Record) {
	l.noteDrops()
	l.pending = append(l.pending, *r)
	if l.opts.Detector != nil && (r.Type == TypeRequest || r.Type == "") {
		l.pending = append(l.pending, l.opts.Detector.Observe(*r)...)
	}
}

// noteDrops queues an alert for records lost since the last one.
func (l *Log) noteDrops() {
	d := l.dropped.Load()
	if d <= l.reported {
		return
	}
	n := d - l.reported
	l.reported = d
	l.warn("drop", "audit records lost: the queue was full", "lost", n, "path", l.opts.Path)
	l.pending = append(l.pending, Record{Type: TypeAlert, Time: l.now(), Rule: "audit-queue-full",
		Reason: strconv.FormatUint(n, 10) + " audit records were lost before this one: the queue was full (the writer could not keep up, or the log could not be written)"})
}

// flush writes pending records, rotating as needed. On failure the
// records stay pending and are retried after SyncInterval, unless force.
func (l *Log) flush(force bool) {
	if len(l.pending) == 0 || (!force && time.Now().Before(l.retryAt)) {
		return
	}
	limit := l.opts.MaxBytes
	if time.Now().Before(l.rotateAt) {
		limit = 1<<63 - 1 // rotation failed a moment ago: the records matter more than the size
	}
	done := 0
	defer func() {
		n := copy(l.pending, l.pending[done:])
		clear(l.pending[n:])
		l.pending = l.pending[:n]
	}()
	for done < len(l.pending) {
		buf := l.buf[:0]
		seq, prev := l.seq, l.prev
		n := done
		for n < len(l.pending) && len(buf) < maxWrite {
			r := &l.pending[n]
			normalize(r)
			r.Seq = seq + 1
			// appendBody, with prev as it is: it needs no escaping.
			mark := len(buf)
			buf = appendMembers(buf, r)
			buf = append(buf, '"')
			buf = append(buf, prev[:]...)
			buf = append(buf, '"', '}')
			buf = sealLine(buf, mark)
			if l.size+int64(len(buf)) > limit && (l.size > 0 || mark > 0) {
				buf = buf[:mark]
				break
			}
			seq++
			copy(prev[:], lineHash(buf))
			n++
		}
		l.buf = buf[:0]
		if n == done {
			// The current file is full: rotate, then build the chunk again.
			if err := l.rotate(); err != nil {
				l.errCount.Add(1)
				l.setLastErr("rotate", err)
				l.warn("rotate", "audit log rotation failed; writing on in the current file", "path", l.opts.Path, "err", err)
				l.rotateAt = time.Now().Add(time.Minute)
				limit = 1<<63 - 1
			}
			continue
		}
		if err := l.write(buf); err != nil {
			l.failed("write", err)
			return
		}
		l.seq, l.prev = seq, prev
		l.lastSeq.Store(seq)
		l.written.Add(uint64(n - done))
		done = n
		l.recovered()
	}
}

// write appends b to the file; a failed write is cut back so that the
// file never holds a partial line before the next record.
func (l *Log) write(b []byte) error {
	if l.torn {
		if err := l.f.Truncate(l.size); err != nil {
			return fmt.Errorf("cut back a partial write: %w", err)
		}
		l.torn = false
	}
	if err := l.hook("write"); err != nil {
		return err
	}
	n, err := l.f.Write(b)
	if err != nil {
		if n > 0 {
			if terr := l.f.Truncate(l.size); terr != nil {
				l.torn = true
			}
		}
		return err
	}
	l.size += int64(n)
	l.dirty = true
	if !l.syncArmed {
		l.syncArmed = true
		l.syncTimer.Reset(l.opts.SyncInterval)
	}
	return nil
}

// sync makes what was written durable, then records the head.
func (l *Log) sync() {
	if !l.dirty {
		return
	}
	err := l.hook("sync")
	if err == nil {
		err = l.f.Sync()
	}
	if err != nil {
		l.failed("sync", err)
		return
	}
	l.dirty = false
	if err := writeHead(l.opts.Path, l.seq, string(l.prev[:])); err != nil {
		l.errCount.Add(1)
		l.setLastErr("write head file", err)
		l.warn("head", "audit head file not written: deleting the log's last records would go unnoticed", "path", headPath(l.opts.Path), "err", err)
	}
}

// rotate renames Path → Path.1 → … → Path.Keep and starts a new file.
func (l *Log) rotate() error {
	if err := l.hook("rotate"); err != nil {
		return err
	}
	if err := l.f.Sync(); err != nil {
		return err
	}
	p := l.opts.Path
	for i := l.opts.Keep + 1; ; i++ { // files from a larger Keep would break the chain's order
		if err := os.Remove(p + "." + strconv.Itoa(i)); err != nil {
			break
		}
	}
	for i := l.opts.Keep; i >= 1; i-- {
		src := p
		if i > 1 {
			src = p + "." + strconv.Itoa(i-1)
		}
		if err := os.Rename(src, p+"."+strconv.Itoa(i)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	l.f.Close()
	l.f, l.size, l.dirty = f, 0, true
	if err := syncDir(filepath.Dir(p)); err != nil {
		return err
	}
	l.log.Info("audit log rotated", "path", p, "seq", l.seq)
	return nil
}

func (l *Log) failed(stage string, err error) {
	l.errCount.Add(1)
	l.setLastErr(stage, err)
	e := fmt.Errorf("%w: %s %s: %v; refusing rather than sign unaudited", ErrUnavailable, stage, l.opts.Path, err)
	l.failure.Store(&e)
	l.retryAt = time.Now().Add(l.opts.SyncInterval)
	l.warn(stage, "audit log cannot be written", "path", l.opts.Path, "err", err, "fail_closed", l.opts.FailClosed)
}

func (l *Log) recovered() {
	if l.failure.Load() != nil {
		l.failure.Store(nil)
		l.retryAt = time.Time{}
		l.log.Info("audit log writable again", "path", l.opts.Path)
	}
}

func (l *Log) setLastErr(stage string, err error) {
	s := stage + ": " + err.Error()
	l.lastErr.Store(&s)
}

// warn logs at most once a minute per kind.
func (l *Log) warn(kind, msg string, args ...any) {
	now := time.Now()
	if last, ok := l.warned[kind]; ok && now.Sub(last) < time.Minute {
		return
	}
	l.warned[kind] = now
	l.log.Warn(msg, args...)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
