package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"time"
)

// TailOptions configures TailWith.
type TailOptions struct {
	Follow bool          // after the existing records, wait for new ones
	Last   int           // show only the last N existing records; < 0: all of them
	Poll   time.Duration // how often Follow looks for new records; default 100ms
}

// Tail calls fn with every existing record of the log at path, oldest
// first, across its rotated files, and with follow then with each new one
// as it is written, across rotations, until ctx ends or fn fails. Lines
// that are not records are skipped: Verify is the judge of the chain.
func Tail(ctx context.Context, path string, follow bool, fn func(Record) error) error {
	return TailWith(ctx, path, TailOptions{Follow: follow, Last: -1}, fn)
}

// TailWith is Tail with options.
func TailWith(ctx context.Context, path string, o TailOptions, fn func(Record) error) error {
	if o.Poll <= 0 {
		o.Poll = 100 * time.Millisecond
	}
	t := &tailer{path: path, fn: fn}
	f, err := os.Open(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("audit: %w", err)
	}
	if f != nil {
		defer func() { t.f.Close() }()
		t.f = f
		if t.fst, err = f.Stat(); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
	}
	if err := t.existing(o.Last); err != nil {
		return err
	}
	if !o.Follow {
		if t.f == nil && !t.any {
			return fmt.Errorf("audit: no log at %s: %w", path, fs.ErrNotExist)
		}
		return nil
	}
	tick := time.NewTicker(o.Poll)
	defer tick.Stop()
	for {
		if err := t.poll(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

type tailer struct {
	path    string
	fn      func(Record) error
	f       *os.File // the file being followed, nil until it exists
	fst     os.FileInfo
	off     int64  // how far f has been delivered (always after a newline)
	any     bool   // some file existed
	started bool   // lastSeq is known
	lastSeq uint64 // the last record delivered (or skipped by Last)
}

// emit delivers one line. Records already delivered are skipped. A gap in
// seq, seen in the file being followed, means files rotated past unseen:
// they are looked for among the rotated files first (a rotation in
// progress can hide one for a moment, hence the retries).
func (t *tailer) emit(line []byte, following bool) error {
	var r Record
	if json.Unmarshal(line, &r) != nil {
		return nil
	}
	if t.started && !(r.Type == TypeStart && r.Prev == Genesis) {
		if r.Seq <= t.lastSeq {
			return nil
		}
		for try := 0; following && r.Seq > t.lastSeq+1 && try < 5; try++ {
			if try > 0 {
				time.Sleep(5 * time.Millisecond)
			}
			if err := t.catchUp(r.Seq); err != nil {
				return err
			}
		}
	}
	t.started, t.lastSeq = true, r.Seq
	return t.fn(r)
}

// catchUp delivers the records of rotated files after lastSeq and before
// upto, oldest first.
func (t *tailer) catchUp(upto uint64) error {
	nums, err := rotatedFiles(t.path)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	for _, k := range nums {
		name := t.path + "." + strconv.Itoa(k)
		f, err := os.Open(name)
		if err != nil {
			continue
		}
		if st, err := f.Stat(); err == nil {
			if end, err := lastNewline(f, st.Size()); err == nil {
				if last, err := lastLines(f, end, 1); err == nil && len(last) == 1 {
					var r Record
					// Only the file that continues from lastSeq: one further on
					// means the next is hidden by a rotation in progress.
					if json.Unmarshal(last[0], &r) == nil && r.Seq > t.lastSeq && firstSeq(f) <= t.lastSeq+1 {
						_, err = t.from(f, 0, end, false, upto)
						if err != nil {
							f.Close()
							return err
						}
					}
				}
			}
		}
		f.Close()
	}
	return nil
}

// existing delivers the last n records (all when n < 0) that are there now.
func (t *tailer) existing(n int) error {
	nums, err := rotatedFiles(t.path)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	t.any = len(nums) > 0
	end := int64(0)
	if t.f != nil {
		if end, err = lastNewline(t.f, t.fst.Size()); err != nil {
			return fmt.Errorf("audit: read %s: %w", t.path, err)
		}
	}
	t.off = end
	if n < 0 {
		for _, k := range nums {
			if err := t.whole(t.path + "." + strconv.Itoa(k)); err != nil {
				return err
			}
		}
		if t.f != nil {
			_, err := t.from(t.f, 0, end, false, 0)
			return err
		}
		return nil
	}
	// Newest first until n lines are found; at least one, to know where
	// the chain stands.
	want := max(n, 1)
	var lines [][]byte
	if t.f != nil {
		if lines, err = lastLines(t.f, end, want); err != nil {
			return fmt.Errorf("audit: read %s: %w", t.path, err)
		}
	}
	for i := len(nums) - 1; i >= 0 && len(lines) < want; i-- {
		f, err := os.Open(t.path + "." + strconv.Itoa(nums[i]))
		if err != nil {
			continue
		}
		if st, err := f.Stat(); err == nil {
			if e, err := lastNewline(f, st.Size()); err == nil {
				more, _ := lastLines(f, e, want-len(lines))
				lines = append(lines, more...)
			}
		}
		f.Close()
	}
	if n == 0 && len(lines) == 1 {
		var r Record
		if json.Unmarshal(lines[0], &r) == nil {
			t.started, t.lastSeq = true, r.Seq
		}
		return nil
	}
	slices.Reverse(lines)
	for _, l := range lines {
		if err := t.emit(l, false); err != nil {
			return err
		}
	}
	return nil
}

// whole delivers every complete line of a file.
func (t *tailer) whole(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return nil // rotated away meanwhile
	}
	defer f.Close()
	_, err = t.from(f, 0, -1, false, 0)
	return err
}

// errUpto stops from at a record catchUp does not want yet.
var errUpto = errors.New("audit: upto")

// from delivers the complete lines of f between off and end (-1: EOF),
// stopping before a record whose seq is upto or more (0: no limit), and
// returns the offset after the last line delivered.
func (t *tailer) from(f *os.File, off, end int64, following bool, upto uint64) (int64, error) {
	r := io.NewSectionReader(f, off, 1<<62)
	if end >= 0 {
		r = io.NewSectionReader(f, off, end-off)
	}
	var ferr error
	err := eachLine(r, func(line []byte, complete bool) bool {
		if !complete {
			return false
		}
		if upto > 0 && seqOf(line) >= upto {
			ferr = errUpto
			return false
		}
		off += int64(len(line)) + 1
		ferr = t.emit(line, following)
		return ferr == nil
	})
	if errors.Is(ferr, errUpto) {
		return off, nil
	}
	if ferr != nil {
		return off, ferr
	}
	if err != nil {
		return off, fmt.Errorf("audit: read %s: %w", f.Name(), err)
	}
	return off, nil
}

// firstSeq is the seq of f's first record, or 0.
func firstSeq(f *os.File) uint64 {
	var seq uint64
	eachLine(io.NewSectionReader(f, 0, 1<<62), func(line []byte, complete bool) bool {
		if complete {
			seq = seqOf(line)
		}
		return false
	})
	return seq
}

// seqOf is a line's seq, or 0.
func seqOf(line []byte) uint64 {
	var r struct {
		Seq uint64 `json:"seq"`
	}
	json.Unmarshal(line, &r)
	return r.Seq
}

// poll delivers what was appended since the last look, and follows the
// log across rotations: the old file is read to its end, then the new one
// from its start; records of files rotated in between are found by emit.
func (t *tailer) poll() error {
	for {
		if t.f != nil {
			var err error
			if t.off, err = t.from(t.f, t.off, -1, true, 0); err != nil {
				return err
			}
		}
		st, err := os.Stat(t.path)
		if err != nil || (t.fst != nil && os.SameFile(st, t.fst)) {
			return nil // no new file (yet)
		}
		f, err := os.Open(t.path)
		if err != nil {
			return nil
		}
		fst, err := f.Stat()
		if err != nil {
			f.Close()
			return nil
		}
		if t.f != nil {
			// Whatever was written to the old file before it moved.
			if _, err := t.from(t.f, t.off, -1, true, 0); err != nil {
				f.Close()
				return err
			}
			t.f.Close()
		}
		t.f, t.fst, t.off = f, fst, 0
	}
}

// lastNewline returns the offset just after the last newline before size.
func lastNewline(f *os.File, size int64) (int64, error) {
	buf := make([]byte, 4096)
	for end := size; end > 0; {
		k := min(int64(len(buf)), end)
		if _, err := f.ReadAt(buf[:k], end-k); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:k], '\n'); i >= 0 {
			return end - k + int64(i) + 1, nil
		}
		end -= k
	}
	return 0, nil
}

// lastLines returns up to n lines (without newlines) ending at end, which
// is 0 or just after a newline, newest first, reading backwards.
func lastLines(f *os.File, end int64, n int) ([][]byte, error) {
	var lines [][]byte
	var carry []byte
	pos := end
	for pos > 0 && len(lines) < n {
		k := min(int64(64<<10), pos)
		pos -= k
		data := make([]byte, k, k+int64(len(carry)))
		if _, err := f.ReadAt(data, pos); err != nil {
			return nil, err
		}
		data = append(data, carry...)
		for len(lines) < n {
			i := bytes.LastIndexByte(data[:len(data)-1], '\n')
			if i < 0 {
				break
			}
			lines = append(lines, data[i+1:len(data)-1])
			data = data[:i+1]
		}
		carry = data
		if pos == 0 && len(lines) < n && len(carry) > 0 {
			lines = append(lines, carry[:len(carry)-1])
		}
	}
	return lines, nil
}
