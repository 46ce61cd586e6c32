package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// request returns the i-th test record: distinct, like a real one.
func request(i int) Record {
	return Record{
		Time:       t0.Add(time.Duration(i) * time.Millisecond),
		Client:     Client{UID: 1000, GID: 1000, PID: int32(4000 + i), Unit: "bot-a.service", Exe: "/usr/bin/python3"},
		Op:         "sign",
		Credential: fmt.Sprintf("c%d", i),
		Method:     "POST",
		Host:       "api.binance.com",
		Path:       "/api/v3/order",
		Params:     ParamsHash(fmt.Sprintf("symbol=BTCUSDT&i=%d", i), ""),
		Decision:   Allow,
		Rule:       "bot-a",
		LatencyUS:  int64(40 + i),
	}
}

func openLog(t *testing.T, o Options) *Log {
	t.Helper()
	if o.SyncInterval == 0 {
		o.SyncInterval = 5 * time.Millisecond
	}
	l, err := Open(o)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	return l
}

// appendRange appends records from..to-1 and requires each to be accepted.
func appendRange(t *testing.T, l *Log, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		require.NoError(t, l.Append(request(i)))
	}
}

func readRecords(t *testing.T, path string) []Record {
	t.Helper()
	var recs []Record
	require.NoError(t, Tail(t.Context(), path, false, func(r Record) error {
		recs = append(recs, r)
		return nil
	}))
	return recs
}

func TestAppendRotateReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "audit")
	path := filepath.Join(dir, "audit.log")
	o := Options{Path: path, MaxBytes: 2000, Keep: 20}
	l := openLog(t, o)
	appendRange(t, l, 1, 41)
	require.NoError(t, l.Close())
	assert.Equal(t, uint64(40), l.Stats().Written)
	assert.Equal(t, uint64(40), l.Stats().Seq)

	st, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), st.Mode().Perm())
	for _, name := range []string{path, path + ".1", headPath(path)} {
		st, err := os.Stat(name)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), name)
	}

	rep, err := Verify(path)
	require.NoError(t, err)
	require.True(t, rep.OK, "%+v", rep.Problem)
	assert.Equal(t, 40, rep.Records)
	assert.Greater(t, len(rep.Files), 3, "rotated several times")
	assert.True(t, rep.HeadFile)

	// Every file but the current one is within MaxBytes, and each file's
	// first record chains to the previous file's last.
	var prevHash string
	for i, name := range rep.Files {
		b, err := os.ReadFile(name)
		require.NoError(t, err)
		if name != path {
			assert.LessOrEqual(t, len(b), 2000, name)
		}
		lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		first, err := parseLine([]byte(lines[0]))
		require.NoError(t, err)
		if i == 0 {
			assert.Equal(t, Genesis, first.Prev)
		} else {
			assert.Equal(t, prevHash, first.Prev, "%s continues the chain", name)
		}
		last, err := parseLine([]byte(lines[len(lines)-1]))
		require.NoError(t, err)
		prevHash = last.Hash
	}

	// Reopening continues seq and prev.
	l = openLog(t, o)
	appendRange(t, l, 41, 51)
	require.NoError(t, l.Close())
	rep, err = Verify(path)
	require.NoError(t, err)
	require.True(t, rep.OK, "%+v", rep.Problem)
	assert.Equal(t, 50, rep.Records)
	assert.Equal(t, uint64(50), rep.LastSeq)
	recs := readRecords(t, path)
	require.Len(t, recs, 50)
	for i, r := range recs {
		assert.Equal(t, uint64(i+1), r.Seq)
		assert.Equal(t, fmt.Sprintf("c%d", i+1), r.Credential)
	}
}

func TestReopenAfterRotationIntoEmptyFile(t *testing.T) {
	// A crash right after a rotation leaves an empty current file: the
	// chain continues from path.1.
	path := filepath.Join(t.TempDir(), "audit.log")
	l := openLog(t, Options{Path: path})
	appendRange(t, l, 1, 6)
	require.NoError(t, l.Close())
	require.NoError(t, os.Rename(path, path+".1"))
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	l = openLog(t, Options{Path: path})
	appendRange(t, l, 6, 8)
	require.NoError(t, l.Close())
	rep, err := Verify(path)
	require.NoError(t, err)
	require.True(t, rep.OK, "%+v", rep.Problem)
	assert.Equal(t, 7, rep.Records)
}

func TestKeepBoundsRotatedFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l := openLog(t, Options{Path: path, MaxBytes: 1000, Keep: 2})
	appendRange(t, l, 1, 31)
	require.NoError(t, l.Close())
	nums, err := rotatedFiles(path)
	require.NoError(t, err)
	assert.Equal(t, []int{2, 1}, nums)
	rep, err := Verify(path)
	require.NoError(t, err)
	require.True(t, rep.OK, "%+v", rep.Problem)
	assert.Equal(t, uint64(30), rep.LastSeq)
	assert.Greater(t, rep.FirstSeq, uint64(1))
	assert.Contains(t, strings.Join(rep.Notes, "\n"), "older records were rotated away")
}

func TestRecordNeverHoldsParameters(t *testing.T) {
	const secret = "kw-SECRET-7f3a9c2e1b5d8046"
	path := filepath.Join(t.TempDir(), "audit.log")
	l := openLog(t, Options{Path: path})
	u, err := url.Parse("https://user:" + secret + "@api.binance.com/api/v3/order?symbol=BTCUSDT&signature=" + secret)
	require.NoError(t, err)
	body := "side=BUY&apiSecret=" + secret + "&passphrase=" + secret
	r := Record{Client: Client{UID: 1000, PID: 1}, Op: "sign", Credential: "main", Decision: Allow}
	r.SetRequest("post", u, body)
	require.NoError(t, l.Append(r))
	require.NoError(t, l.Close())

	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.NotContains(t, string(b), secret)
	assert.NotContains(t, string(b), "symbol=", "the query is only hashed")
	assert.Contains(t, string(b), `"params":"`+ParamsHash(u.RawQuery, body)+`"`)
	assert.Contains(t, string(b), `"host":"api.binance.com","path":"/api/v3/order"`)
	assert.Contains(t, string(b), `"method":"POST"`)
}

func TestCanonicalEncoding(t *testing.T) {
	r := Record{V: 1, Seq: 7, Time: time.Date(2026, 3, 1, 12, 0, 0, 120000000, time.UTC), Type: TypeRequest,
		Client: Client{UID: 0, GID: 0, PID: 42}, Op: "sign", Path: "/a\"b\\c\n\x01\x7f\xffé", Decision: Deny,
		Status: 418, Prev: Genesis}
	line, h := appendLine(nil, &r)
	want := `{"v":1,"seq":7,"time":"2026-03-01T12:00:00.12Z","type":"request","client":{"uid":0,"gid":0,"pid":42},` +
		`"op":"sign","path":"/a\"b\\c\n\u0001\u007f` + "\uFFFD" + `é","decision":"deny","status":418,"prev":"` + Genesis + `","hash":"` + h + `"}` + "\n"
	assert.Equal(t, want, string(line))
	body := appendBody(nil, &r)
	assert.Equal(t, want[:strings.Index(want, `,"hash"`)]+"}", string(body), "the hash covers the line without its hash member")
	got, err := parseLine(line[:len(line)-1])
	require.NoError(t, err)
	assert.Equal(t, h, got.Hash)
	j, err := got.MarshalJSON()
	require.NoError(t, err)
	assert.Equal(t, string(line[:len(line)-1]), string(j))

	// The client is left out only when it is wholly zero (a start record).
	r.Client = Client{}
	line, _ = appendLine(nil, &r)
	assert.NotContains(t, string(line), "client")

	// Bot-controlled strings are bounded.
	long := Record{Path: strings.Repeat("é", 2000)}
	normalize(&long)
	assert.LessOrEqual(t, len(long.Path), maxField)
	assert.True(t, strings.HasSuffix(long.Path, "…"))
}

func FuzzParseLine(f *testing.F) {
	r := request(1)
	normalize(&r)
	r.Seq, r.Prev = 1, Genesis
	line, _ := appendLine(nil, &r)
	f.Add(line[:len(line)-1])
	f.Add([]byte(`{"v":1}`))
	f.Add([]byte(`{"v":1,"seq":1,"time":"2026-01-01T00:00:00Z","type":"x","prev":"","hash":""}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseLine(b)
		if err != nil {
			return
		}
		// Whatever parses is exactly its canonical line.
		again, h := appendLine(nil, &r)
		if !bytes.Equal(again[:len(again)-1], b) || h != r.Hash {
			t.Fatalf("accepted a non-canonical line %q", b)
		}
	})
}

// tamper rewrites a file's lines.
func tamper(t *testing.T, name string, fn func(lines []string) []string) {
	t.Helper()
	b, err := os.ReadFile(name)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	lines = fn(lines)
	require.NoError(t, os.WriteFile(name, []byte(strings.Join(lines, "\n")+"\n"), 0o600))
}

// rehash edits record line with fn and recomputes its hash, as an
// attacker who knows the format would.
func rehash(t *testing.T, line string, fn func(r *Record)) string {
	t.Helper()
	r, err := parseLine([]byte(line))
	require.NoError(t, err)
	fn(&r)
	out, _ := appendLine(nil, &r)
	return strings.TrimSuffix(string(out), "\n")
}

func TestVerifyDetectsTampering(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rotate bool // spread the records over several files
		change func(t *testing.T, path string)
		kind   string
		file   string // suffix of the problem's file
		line   int
		msg    string
	}{
		{
			name: "edit a field",
			change: func(t *testing.T, path string) {
				tamper(t, path, func(l []string) []string {
					l[16] = strings.Replace(l[16], `"decision":"allow"`, `"decision":"deny"`, 1)
					return l
				})
			},
			kind: KindEdited, line: 17, msg: "record 17: hash does not match its contents (edited)",
		},
		{
			name: "delete a middle record",
			change: func(t *testing.T, path string) {
				tamper(t, path, func(l []string) []string { return append(l[:16], l[17:]...) })
			},
			kind: KindDeleted, line: 17, msg: "seq jumps from 16 to 18: record 17 is missing (deleted)",
		},
		{
			name: "delete several middle records",
			change: func(t *testing.T, path string) {
				tamper(t, path, func(l []string) []string { return append(l[:16], l[19:]...) })
			},
			kind: KindDeleted, line: 17, msg: "seq jumps from 16 to 20: records 17 to 19 are missing (deleted)",
		},
		{
			name: "delete the last records",
			change: func(t *testing.T, path string) {
				tamper(t, path, func(l []string) []string { return l[:27] })
			},
			kind: KindDeleted, line: 27, msg: "the log ends at record 27 but " + "audit.log.head says record 30 was written: the records after 27 were deleted",
		},
		{
			name: "swap two records",
			change: func(t *testing.T, path string) {
				tamper(t, path, func(l []string) []string { l[15], l[16] = l[16], l[15]; return l })
			},
			kind: KindReordered, line: 16, msg: "record 17 comes before record 16 (reordered)",
		},
		{
			name: "truncate mid-line",
			change: func(t *testing.T, path string) {
				st, err := os.Stat(path)
				require.NoError(t, err)
				require.NoError(t, os.Truncate(path, st.Size()-40))
			},
			kind: KindTruncated, line: 30, msg: "last line is incomplete (truncated)",
		},
		{
			name: "edit then recompute the hash",
			change: func(t *testing.T, path string) {
				tamper(t, path, func(l []string) []string {
					l[16] = rehash(t, l[16], func(r *Record) { r.Decision = Deny })
					return l
				})
			},
			kind: KindEdited, line: 18, msg: "record 18: prev does not match record 17's hash (record 17 was edited",
		},
		{
			name: "edit the last record then recompute its hash",
			change: func(t *testing.T, path string) {
				tamper(t, path, func(l []string) []string {
					l[29] = rehash(t, l[29], func(r *Record) { r.Host = "evil.example" })
					return l
				})
			},
			kind: KindEdited, line: 30, msg: "record 30's hash differs from the one " + "audit.log.head holds",
		},
		{
			name: "add a field the hash does not cover",
			change: func(t *testing.T, path string) {
				tamper(t, path, func(l []string) []string {
					l[4] = strings.Replace(l[4], `{"v":1,`, `{"v":1,"note":"hi",`, 1)
					return l
				})
			},
			kind: KindEdited, line: 5, msg: "record 5: the line is not in canonical form",
		},
		{
			name: "replace a record with garbage",
			change: func(t *testing.T, path string) {
				tamper(t, path, func(l []string) []string { l[9] = "hello"; return l })
			},
			kind: KindEdited, line: 10, msg: "the line is not a valid record (edited)",
		},
		{
			name:   "edit a record in a rotated file",
			rotate: true,
			change: func(t *testing.T, path string) {
				tamper(t, path+".2", func(l []string) []string {
					l[1] = strings.Replace(l[1], `"op":"sign"`, `"op":"list"`, 1)
					return l
				})
			},
			kind: KindEdited, file: ".2", line: 2, msg: "hash does not match its contents (edited)",
		},
		{
			name:   "delete a rotated file",
			rotate: true,
			change: func(t *testing.T, path string) { require.NoError(t, os.Remove(path+".2")) },
			kind:   KindDeleted, file: ".2", msg: "the file is missing (deleted)",
		},
		{
			name:   "delete the last lines of a rotated file",
			rotate: true,
			change: func(t *testing.T, path string) {
				tamper(t, path+".2", func(l []string) []string { return l[:len(l)-1] })
			},
			kind: KindDeleted, file: ".1", line: 1, msg: "is missing (deleted)",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.log")
			o := Options{Path: path}
			if tc.rotate {
				o.MaxBytes = 2000
			}
			l := openLog(t, o)
			appendRange(t, l, 1, 31)
			require.NoError(t, l.Close())
			rep, err := Verify(path)
			require.NoError(t, err)
			require.True(t, rep.OK, "intact before: %+v", rep.Problem)

			tc.change(t, path)
			rep, err = Verify(path)
			require.NoError(t, err)
			require.False(t, rep.OK)
			require.NotNil(t, rep.Problem)
			p := rep.Problem
			assert.Equal(t, tc.kind, p.Kind, p.Error())
			assert.Equal(t, path+tc.file, p.File, p.Error())
			assert.Equal(t, tc.line, p.Line, p.Error())
			assert.Contains(t, strings.ReplaceAll(p.Message, filepath.Dir(path)+"/", ""), tc.msg)
		})
	}
}

func TestOpenRefusesBrokenChain(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, path string)
		msg    string
	}{
		{"truncated", func(t *testing.T, path string) {
			st, _ := os.Stat(path)
			require.NoError(t, os.Truncate(path, st.Size()-10))
		}, "audit.log line 5: last line is incomplete (truncated)"},
		{"last records deleted", func(t *testing.T, path string) {
			tamper(t, path, func(l []string) []string { return l[:3] })
		}, "audit.log line 3: the log ends at record 3 but"},
		{"last record edited", func(t *testing.T, path string) {
			tamper(t, path, func(l []string) []string {
				l[4] = strings.Replace(l[4], `"c5"`, `"c6"`, 1)
				return l
			})
		}, "audit.log line 5: record 5: hash does not match its contents (edited)"},
		{"log deleted, head kept", func(t *testing.T, path string) {
			require.NoError(t, os.Remove(path))
		}, "its records were deleted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.log")
			l := openLog(t, Options{Path: path})
			appendRange(t, l, 1, 6)
			require.NoError(t, l.Close())
			tc.change(t, path)

			_, err := Open(Options{Path: path})
			require.ErrorIs(t, err, ErrBroken)
			var be *BrokenError
			require.ErrorAs(t, err, &be)
			assert.Contains(t, err.Error(), tc.msg)
			assert.Contains(t, err.Error(), "keyward audit verify")

			// With Restart, the broken log moves aside and a new chain
			// begins with a start record that says why.
			l, err = Open(Options{Path: path, Restart: true, SyncInterval: time.Millisecond})
			require.NoError(t, err)
			appendRange(t, l, 100, 102)
			require.NoError(t, l.Close())
			rep, err := Verify(path)
			require.NoError(t, err)
			require.True(t, rep.OK, "%+v", rep.Problem)
			assert.Equal(t, 3, rep.Records)
			recs := readRecords(t, path)
			assert.Equal(t, TypeStart, recs[0].Type)
			assert.Equal(t, Genesis, recs[0].Prev)
			assert.Contains(t, recs[0].Reason, "the previous log is broken")
			assert.Contains(t, recs[0].Reason, ".broken-")
			assert.Contains(t, strings.Join(rep.Notes, "\n"), "a new chain starts here")

			matches, _ := filepath.Glob(path + ".broken-*")
			require.NotEmpty(t, matches)
			if tc.name != "log deleted, head kept" {
				old, err := Verify(matches[0])
				require.NoError(t, err)
				assert.False(t, old.OK, "the moved log still shows its problem")
			}
		})
	}
}

func TestOpenUnwritableDirectory(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(notDir, nil, 0o600))
	_, err := Open(Options{Path: filepath.Join(notDir, "audit", "audit.log"), FailClosed: true})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "audit: create directory")

	if os.Geteuid() != 0 { // root writes anywhere
		ro := filepath.Join(dir, "ro")
		require.NoError(t, os.Mkdir(ro, 0o500))
		_, err = Open(Options{Path: filepath.Join(ro, "audit.log"), FailClosed: true})
		require.ErrorIs(t, err, os.ErrPermission)
		assert.Contains(t, err.Error(), "audit: open "+ro)
	}
}

// TestDiskFull writes to /dev/full, which fails every write with ENOSPC.
func TestDiskFull(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	for _, failClosed := range []bool{true, false} {
		t.Run(fmt.Sprintf("fail-closed=%v", failClosed), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.log")
			require.NoError(t, os.Symlink("/dev/full", path))
			l := openLog(t, Options{Path: path, FailClosed: failClosed})
			require.NoError(t, l.Healthy())
			require.NoError(t, l.Append(request(1)))
			require.Eventually(t, func() bool { return l.Stats().Failing }, 5*time.Second, time.Millisecond)
			st := l.Stats()
			assert.NotZero(t, st.Errors)
			assert.Contains(t, st.LastError, "no space left on device")
			if failClosed {
				err := l.Healthy()
				require.ErrorIs(t, err, ErrUnavailable)
				assert.Contains(t, err.Error(), "no space left on device")
				assert.Contains(t, err.Error(), "refusing rather than sign unaudited")
				assert.ErrorIs(t, l.Append(request(2)), ErrUnavailable)
				assert.Equal(t, uint64(1), l.Stats().Refused)
			} else {
				assert.NoError(t, l.Healthy())
				assert.NoError(t, l.Append(request(2)))
			}
			err := l.Close()
			require.Error(t, err, "Close reports records it could not write")
			assert.Contains(t, err.Error(), "could not be written")
		})
	}
}

func TestRecoversAfterWriteFailures(t *testing.T) {
	var mu sync.Mutex
	failing := true
	o := Options{Path: filepath.Join(t.TempDir(), "audit.log"), FailClosed: true, hook: func(stage string) error {
		mu.Lock()
		defer mu.Unlock()
		if stage == "write" && failing {
			return syscall.ENOSPC
		}
		return nil
	}}
	l := openLog(t, o)
	require.NoError(t, l.Append(request(1)))
	require.Eventually(t, func() bool { return l.Healthy() != nil }, 5*time.Second, time.Millisecond)
	assert.ErrorIs(t, l.Append(request(2)), ErrUnavailable, "signing stops")
	mu.Lock()
	failing = false
	mu.Unlock()
	require.Eventually(t, func() bool { return l.Healthy() == nil }, 5*time.Second, time.Millisecond, "signing resumes")
	require.NoError(t, l.Append(request(3)))
	require.NoError(t, l.Close())
	recs := readRecords(t, o.Path)
	require.Len(t, recs, 2, "the record accepted before the failure is kept and written")
	assert.Equal(t, "c1", recs[0].Credential)
	assert.Equal(t, "c3", recs[1].Credential)
	rep, err := Verify(o.Path)
	require.NoError(t, err)
	assert.True(t, rep.OK, "%+v", rep.Problem)
}

// blockedLog returns a log whose writer blocks in its first write until
// release is closed.
func blockedLog(t *testing.T, failClosed bool) (l *Log, path string, release func()) {
	path = filepath.Join(t.TempDir(), "audit.log")
	block := make(chan struct{})
	entered := make(chan struct{}, 1)
	var once sync.Once
	l = openLog(t, Options{Path: path, FailClosed: failClosed, QueueLen: 4, hook: func(stage string) error {
		if stage == "write" {
			select {
			case entered <- struct{}{}:
			default:
			}
			<-block
		}
		return nil
	}})
	require.NoError(t, l.Append(request(0)))
	<-entered
	return l, path, func() { once.Do(func() { close(block) }) }
}

func TestFailClosedQueueFull(t *testing.T) {
	l, path, release := blockedLog(t, true)
	defer release()
	accepted := 1
	var err error
	for i := 1; i < 100; i++ {
		if err = l.Append(request(i)); err != nil {
			break
		}
		accepted++
	}
	require.ErrorIs(t, err, ErrUnavailable)
	assert.Contains(t, err.Error(), "queue of 4 records is full")
	assert.LessOrEqual(t, accepted, 1+4+4, "the queue and the writer's pending batch bound what is accepted")
	assert.ErrorIs(t, l.Healthy(), ErrUnavailable)

	release()
	require.Eventually(t, func() bool { return l.Healthy() == nil }, 5*time.Second, time.Millisecond)
	require.NoError(t, l.Close())
	rep, err := Verify(path)
	require.NoError(t, err)
	require.True(t, rep.OK, "%+v", rep.Problem)
	assert.Equal(t, accepted, rep.Records, "every accepted record is written, none other")
}

func TestQueueFullNotFailClosed(t *testing.T) {
	l, path, release := blockedLog(t, false)
	for i := 1; i < 8; i++ {
		start := time.Now()
		require.NoError(t, l.Append(request(i)), "never fails the caller")
		require.Less(t, time.Since(start), appendWait+time.Second, "waits a bounded time")
	}
	assert.NoError(t, l.Healthy())
	dropped := l.Stats().Dropped
	assert.NotZero(t, dropped)
	release()
	require.NoError(t, l.Close())
	recs := readRecords(t, path)
	var alert *Record
	for i := range recs {
		if recs[i].Type == TypeAlert {
			alert = &recs[i]
		}
	}
	require.NotNil(t, alert, "the loss is on record")
	assert.Equal(t, "audit-queue-full", alert.Rule)
	assert.Contains(t, alert.Reason, fmt.Sprintf("%d audit records were lost", dropped))
	rep, err := Verify(path)
	require.NoError(t, err)
	assert.True(t, rep.OK, "%+v", rep.Problem)
}

// TestWriterBehindLosesNothing: a writer that falls behind for a moment
// (a slow fsync, a burst) slows Append down; it does not cost records.
func TestWriterBehindLosesNothing(t *testing.T) {
	l, path, release := blockedLog(t, false)
	time.AfterFunc(30*time.Millisecond, release)
	const n = 40 // ten times the queue
	for i := 1; i <= n; i++ {
		require.NoError(t, l.Append(request(i)))
	}
	require.NoError(t, l.Close())
	assert.Zero(t, l.Stats().Dropped)
	rep, err := Verify(path)
	require.NoError(t, err)
	require.True(t, rep.OK, "%+v", rep.Problem)
	assert.Equal(t, n+1, rep.Records, "every record is written")
}

func TestAppendAfterClose(t *testing.T) {
	l := openLog(t, Options{Path: filepath.Join(t.TempDir(), "audit.log")})
	require.NoError(t, l.Close())
	assert.ErrorIs(t, l.Append(request(1)), ErrClosed)
	assert.ErrorIs(t, l.Healthy(), ErrClosed)
	assert.NoError(t, l.Close())
}

func TestConcurrentAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l := openLog(t, Options{Path: path, MaxBytes: 64 << 10, Keep: 50, QueueLen: 10000})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				assert.NoError(t, l.Append(request(g*1000+i)))
			}
		})
	}
	wg.Wait()
	require.NoError(t, l.Close())
	rep, err := Verify(path)
	require.NoError(t, err)
	require.True(t, rep.OK, "%+v", rep.Problem)
	assert.Equal(t, 1600, rep.Records)
}

func TestWriterFeedsDetector(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l := openLog(t, Options{Path: path, Detector: NewDetector(DetectorOptions{})})
	for i := range 25 {
		r := request(i)
		r.Decision = Deny
		require.NoError(t, l.Append(r))
	}
	require.NoError(t, l.Close())
	var alerts []Record
	for _, r := range readRecords(t, path) {
		if r.Type == TypeAlert {
			alerts = append(alerts, r)
		}
	}
	require.Len(t, alerts, 1)
	assert.Equal(t, RuleDenyBurst, alerts[0].Rule)
	assert.Equal(t, uint32(1000), alerts[0].Client.UID)
}

var errStop = errors.New("stop")

// FuzzAppendString: every field the log writes is JSON that reads back as
// the text, with each byte of invalid UTF-8 as U+FFFD.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "a\"b\\c", "\n\r\t\x00\x1f\x7f", "é€😀", "\xff\xfe", "x\xc3", "ok\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := appendString([]byte("x"), s)
		require.Equal(t, byte('x'), out[0])
		var got string
		require.NoError(t, json.Unmarshal(out[1:], &got), "%q", out)
		var want strings.Builder
		for _, r := range s { // each invalid byte ranges as one U+FFFD
			want.WriteRune(r)
		}
		require.Equal(t, want.String(), got)
		for _, c := range out[1:] {
			require.True(t, c >= 0x20 && c != 0x7f, "raw control byte %#x in %q", c, out)
		}
	})
}
