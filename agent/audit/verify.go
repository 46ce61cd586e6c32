package audit

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Problem kinds.
const (
	KindEdited    = "edited"
	KindDeleted   = "deleted"
	KindReordered = "reordered"
	KindTruncated = "truncated"
	KindVersion   = "version"
)

// Problem is the first thing wrong with a log, and where.
type Problem struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"` // 1-based; 0 when about a whole file
	Seq     uint64 `json:"seq,omitempty"`
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

func (p Problem) Error() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s line %d: %s", p.File, p.Line, p.Message)
	}
	return p.File + ": " + p.Message
}

// Report is Verify's answer.
type Report struct {
	OK       bool     `json:"ok"`
	Path     string   `json:"path"`
	Files    []string `json:"files"` // oldest first
	Records  int      `json:"records"`
	FirstSeq uint64   `json:"first_seq"`
	LastSeq  uint64   `json:"last_seq"`
	Head     string   `json:"head"`      // the last record's hash
	HeadFile bool     `json:"head_file"` // Path.head was there and was checked
	Problem  *Problem `json:"problem,omitempty"`
	Notes    []string `json:"notes,omitempty"`
}

// Verify checks the whole log at path — Path.N … Path.1, then path — and
// reports the first edited, deleted, reordered or truncated record, or
// that the chain is intact. Its error is for logs it cannot read at all.
func Verify(path string) (Report, error) {
	for attempt := 0; ; attempt++ {
		before, _ := os.Stat(path)
		rep, err := verifyOnce(path)
		if err != nil || rep.OK || attempt == 2 {
			return rep, err
		}
		// A live log may have grown or rotated while it was read: a
		// problem at its end then means nothing, so look again.
		after, _ := os.Stat(path)
		if before == nil || after == nil || (os.SameFile(before, after) && before.Size() == after.Size()) {
			return rep, nil
		}
	}
}

func verifyOnce(path string) (Report, error) {
	rep := Report{Path: path}
	// The head is read before the log: it is written after the log is
	// synced, so the log read afterwards is never behind it.
	head, err := readHead(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		rep.Notes = append(rep.Notes, "there is no head file "+headPath(path)+": records deleted from the end cannot be detected")
	case err != nil:
		rep.Problem = &Problem{File: headPath(path), Kind: KindEdited, Message: err.Error()}
		return rep, nil
	default:
		rep.HeadFile = true
	}
	nums, err := rotatedFiles(path)
	if err != nil {
		return rep, fmt.Errorf("audit: list %s: %w", filepath.Dir(path), err)
	}
	var files []string
	for _, n := range nums {
		files = append(files, path+"."+strconv.Itoa(n))
	}
	if _, err := os.Stat(path); err == nil {
		files = append(files, path)
	} else if len(files) == 0 {
		return rep, fmt.Errorf("audit: no log at %s: %w", path, fs.ErrNotExist)
	}
	rep.Files = files
	c := &checker{rep: &rep, head: head}
	for i, name := range files {
		if i > 0 && i < len(nums) && nums[i-1] != nums[i]+1 {
			rep.Problem = &Problem{File: path + "." + strconv.Itoa(nums[i]+1), Kind: KindDeleted,
				Message: fmt.Sprintf("the file is missing (deleted): the rotated files jump from %s to %s", files[i-1], name)}
			return rep, nil
		}
		if i == len(nums) && len(nums) > 0 && nums[len(nums)-1] != 1 {
			rep.Problem = &Problem{File: path + ".1", Kind: KindDeleted, Message: "the file is missing (deleted): the newest rotated file is " + files[i-1]}
			return rep, nil
		}
		if p := c.file(name); p != nil {
			rep.Problem = p
			return rep, nil
		}
	}
	if p := c.finish(); p != nil {
		rep.Problem = p
		return rep, nil
	}
	rep.OK = true
	return rep, nil
}

// checker follows the chain record by record.
type checker struct {
	rep      *Report
	head     headState
	have     bool
	lastSeq  uint64
	lastHash string
	lastFile string
	lastLine int
	held     *Problem // a record after a seq jump, until the next record says deleted or reordered
	heldSeq  uint64
}

func (c *checker) file(name string) *Problem {
	f, err := os.Open(name)
	if err != nil {
		return &Problem{File: name, Kind: KindDeleted, Message: "cannot be read: " + err.Error()}
	}
	defer f.Close()
	n := 0
	var prob *Problem
	err = eachLine(f, func(line []byte, complete bool) bool {
		n++
		if !complete {
			prob = &Problem{File: name, Line: n, Kind: KindTruncated, Message: "last line is incomplete (truncated)"}
			return false
		}
		r, err := parseLine(line)
		if err != nil {
			le := err.(*lineError)
			prob = &Problem{File: name, Line: n, Seq: r.Seq, Kind: le.kind, Message: le.msg}
			return false
		}
		prob = c.record(name, n, r)
		return prob == nil
	})
	if err != nil && prob == nil {
		prob = &Problem{File: name, Line: n + 1, Kind: KindEdited, Message: "cannot be read: " + err.Error()}
	}
	if prob == nil && n == 0 && name != c.rep.Path {
		prob = &Problem{File: name, Kind: KindDeleted, Message: "the rotated file is empty (its records were deleted)"}
	}
	return prob
}

func (c *checker) record(file string, line int, r Record) *Problem {
	at := func(kind, format string, args ...any) *Problem {
		return &Problem{File: file, Line: line, Seq: r.Seq, Kind: kind, Message: fmt.Sprintf(format, args...)}
	}
	if c.held != nil {
		h := c.held
		if r.Seq == c.lastSeq+1 {
			h.Kind = KindReordered
			h.Message = fmt.Sprintf("record %d comes before record %d (reordered)", c.heldSeq, r.Seq)
			return h
		}
		return h
	}
	if !c.have {
		switch {
		case r.Seq == 0:
			return at(KindEdited, "seq is 0 (edited)")
		case r.Seq == 1 && r.Prev != Genesis:
			return at(KindEdited, "record 1: prev is not the start of a chain (edited)")
		case r.Seq > 1:
			c.rep.Notes = append(c.rep.Notes, fmt.Sprintf("the chain begins at record %d: older records were rotated away (Verify cannot tell that from their deletion)", r.Seq))
		}
		if r.Type == TypeStart && r.Reason != "" {
			c.rep.Notes = append(c.rep.Notes, fmt.Sprintf("record %d (start): %s", r.Seq, r.Reason))
		}
		c.rep.FirstSeq = r.Seq
	} else {
		switch {
		case r.Seq == c.lastSeq+1:
			if r.Prev != c.lastHash {
				return at(KindEdited, "record %d: prev does not match record %d's hash (record %d was edited and its hash recomputed, or records were replaced)", r.Seq, c.lastSeq, c.lastSeq)
			}
		case r.Seq == 1 && r.Prev == Genesis:
			return at(KindEdited, "record 1 starts a new chain in the middle of the log: the records before it belong to another chain (edited)")
		case r.Seq > c.lastSeq+1:
			missing := fmt.Sprintf("record %d is missing", c.lastSeq+1)
			if r.Seq > c.lastSeq+2 {
				missing = fmt.Sprintf("records %d to %d are missing", c.lastSeq+1, r.Seq-1)
			}
			c.held = at(KindDeleted, "seq jumps from %d to %d: %s (deleted)", c.lastSeq, r.Seq, missing)
			c.heldSeq = r.Seq
			return nil
		case r.Seq == c.lastSeq:
			return at(KindReordered, "record %d appears twice (copied or reordered)", r.Seq)
		default:
			return at(KindReordered, "seq goes back from %d to %d (reordered)", c.lastSeq, r.Seq)
		}
	}
	if c.head.ok && r.Seq == c.head.seq && r.Hash != c.head.hash {
		return at(KindEdited, "record %d's hash differs from the one %s holds (record %d was edited and its hash recomputed)", r.Seq, headPath(c.rep.Path), r.Seq)
	}
	c.have, c.lastSeq, c.lastHash, c.lastFile, c.lastLine = true, r.Seq, r.Hash, file, line
	c.rep.Records++
	c.rep.LastSeq, c.rep.Head = r.Seq, r.Hash
	return nil
}

func (c *checker) finish() *Problem {
	if c.held != nil {
		return c.held
	}
	if c.head.ok && c.head.seq > c.lastSeq {
		p := &Problem{File: c.lastFile, Line: c.lastLine, Seq: c.lastSeq, Kind: KindDeleted,
			Message: fmt.Sprintf("the log ends at record %d but %s says record %d was written: the records after %d were deleted", c.lastSeq, headPath(c.rep.Path), c.head.seq, c.lastSeq)}
		if !c.have {
			p.File, p.Message = c.rep.Path, fmt.Sprintf("the log is empty but %s says record %d was written: its records were deleted", headPath(c.rep.Path), c.head.seq)
		}
		return p
	}
	return nil
}

// eachLine calls fn with each line of r, without its newline; complete is
// false for a last line that has none. fn returns false to stop.
func eachLine(r io.Reader, fn func(line []byte, complete bool) bool) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var long []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			if len(long) > 16<<20 {
				return errors.New("a line is longer than 16 MiB")
			}
			long = append(long, chunk...)
			continue
		}
		line := chunk
		if long != nil {
			line = append(long, chunk...)
			long = nil
		}
		if err == io.EOF {
			if len(line) > 0 {
				fn(line, false)
			}
			return nil
		}
		if err != nil {
			return err
		}
		if !fn(line[:len(line)-1], true) {
			return nil
		}
	}
}

// rotatedFiles returns the N of every path.N, highest (oldest) first.
func rotatedFiles(path string) ([]int, error) {
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	prefix := filepath.Base(path) + "."
	var nums []int
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || rest == "" || rest[0] == '0' || strings.Trim(rest, "0123456789") != "" {
			continue
		}
		if n, err := strconv.Atoi(rest); err == nil {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	slices.Reverse(nums)
	return nums, nil
}

// tailState is where an existing chain ends.
type tailState struct {
	seq     uint64
	hash    string
	problem *Problem
}

// readTail finds the last record of the chain at path (in path, or in
// path.1 when path is empty or absent) and checks it against itself and
// the head file. It does not read the records before it: that is Verify's.
func readTail(path string) (tailState, error) {
	head, err := readHead(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		head = headState{} // a damaged head file does not stop the agent; Verify reports it
	}
	for _, name := range []string{path, path + ".1"} {
		f, err := os.Open(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return tailState{}, fmt.Errorf("audit: read %s: %w", name, err)
		}
		if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
			f.Close() // a device (such as /dev/full in tests) has no chain to continue
			continue
		}
		var last []byte
		n, lastLine := 0, 0
		var prob *Problem
		err = eachLine(f, func(line []byte, complete bool) bool {
			n++
			if !complete {
				prob = &Problem{File: name, Line: n, Kind: KindTruncated, Message: "last line is incomplete (truncated)"}
				return false
			}
			last, lastLine = append(last[:0], line...), n
			return true
		})
		f.Close()
		if err != nil {
			return tailState{}, fmt.Errorf("audit: read %s: %w", name, err)
		}
		if prob != nil {
			return tailState{problem: prob}, nil
		}
		if lastLine == 0 {
			continue
		}
		r, err := parseLine(last)
		if err != nil {
			le := err.(*lineError)
			return tailState{problem: &Problem{File: name, Line: lastLine, Seq: r.Seq, Kind: le.kind, Message: le.msg}}, nil
		}
		switch {
		case head.ok && head.seq > r.Seq:
			return tailState{problem: &Problem{File: name, Line: lastLine, Seq: r.Seq, Kind: KindDeleted,
				Message: fmt.Sprintf("the log ends at record %d but %s says record %d was written: the records after %d were deleted", r.Seq, headPath(path), head.seq, r.Seq)}}, nil
		case head.ok && head.seq == r.Seq && head.hash != r.Hash:
			return tailState{problem: &Problem{File: name, Line: lastLine, Seq: r.Seq, Kind: KindEdited,
				Message: fmt.Sprintf("record %d's hash differs from the one %s holds (edited)", r.Seq, headPath(path))}}, nil
		}
		return tailState{seq: r.Seq, hash: r.Hash}, nil
	}
	if head.ok && head.seq > 0 {
		return tailState{problem: &Problem{File: path, Kind: KindDeleted,
			Message: fmt.Sprintf("the log is empty or gone but %s says record %d was written: its records were deleted", headPath(path), head.seq)}}, nil
	}
	return tailState{hash: Genesis}, nil
}

// The head file: the last synced record's seq and hash, so that deleting
// records at the end of the log is noticed.
type headState struct {
	ok   bool
	seq  uint64
	hash string
}

type headJSON struct {
	V    int    `json:"v"`
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
}

func headPath(path string) string { return path + ".head" }

func readHead(path string) (headState, error) {
	b, err := os.ReadFile(headPath(path))
	if err != nil {
		return headState{}, err
	}
	var h headJSON
	if err := json.Unmarshal(b, &h); err != nil || h.V != FormatVersion || len(h.Hash) != len(Genesis) {
		return headState{}, errors.New("the head file is damaged (edited)")
	}
	return headState{ok: true, seq: h.Seq, hash: h.Hash}, nil
}

// writeHead replaces the head file atomically (temporary file, fsync,
// rename). A crash leaves the old head, which is behind the log: allowed.
func writeHead(path string, seq uint64, hash string) error {
	b, _ := json.Marshal(headJSON{V: FormatVersion, Seq: seq, Hash: hash})
	hp := headPath(path)
	tmp, err := os.CreateTemp(filepath.Dir(hp), "."+filepath.Base(hp)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), hp)
}

// moveAside renames the log, its head file and its rotated files to
// path.broken-TIME…, out of the way of a new chain, and returns that name.
func moveAside(path string, now time.Time) (string, error) {
	base := path + ".broken-" + now.UTC().Format("20060102T150405Z")
	for i := 2; ; i++ {
		if _, err := os.Lstat(base); errors.Is(err, fs.ErrNotExist) {
			break
		}
		base = path + ".broken-" + now.UTC().Format("20060102T150405Z") + "-" + strconv.Itoa(i)
	}
	nums, err := rotatedFiles(path)
	if err != nil {
		return "", err
	}
	moves := [][2]string{{path, base}, {headPath(path), headPath(base)}}
	for _, n := range nums {
		s := "." + strconv.Itoa(n)
		moves = append(moves, [2]string{path + s, base + s})
	}
	for _, m := range moves {
		if err := os.Rename(m[0], m[1]); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
	}
	return base, syncDir(filepath.Dir(path))
}
