package audit

import (
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkAppend is the cost on the signing path: stamping the time and
// enqueueing. The writer is held back so that only Append is measured
// (on a 2-CPU machine a running writer competes with the benchmark loop),
// and let go, untimed, to empty the queue before it fills: a queue of b.N
// records would take gigabytes at -benchtime 2s.
func BenchmarkAppend(b *testing.B) {
	const queueLen = 1 << 16
	// Before every write and sync the writer waits for gate to be closed.
	var gate atomic.Pointer[chan struct{}]
	hold := func() { c := make(chan struct{}); gate.Store(&c) }
	release := func() { close(*gate.Load()) }
	hold()
	l, err := Open(Options{Path: filepath.Join(b.TempDir(), "audit.log"), QueueLen: queueLen,
		hook: func(string) error { <-*gate.Load(); return nil }})
	if err != nil {
		b.Fatal(err)
	}
	r := request(1)
	r.Time = time.Time{} // Append stamps it, as for the agent
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%(queueLen/2) == queueLen/2-1 {
			b.StopTimer()
			release()
			for l.Stats().Queued > 0 {
				time.Sleep(time.Millisecond)
			}
			hold()
			b.StartTimer()
		}
		if err := l.Append(r); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	release()
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	if st := l.Stats(); st.Written != uint64(b.N) {
		b.Fatalf("%+v", st)
	}
}

// BenchmarkAppendParallel is Append from many goroutines at once.
func BenchmarkAppendParallel(b *testing.B) {
	l, err := Open(Options{Path: filepath.Join(b.TempDir(), "audit.log"), QueueLen: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	r := request(1)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Append(r) // drops when the writer falls behind are counted, not errors
		}
	})
	b.StopTimer()
	l.Close()
}

// BenchmarkWriter is the writer's throughput: encode, hash, write, with
// fsync every SyncInterval; per record, off the signing path.
func BenchmarkWriter(b *testing.B) {
	l, err := Open(Options{Path: filepath.Join(b.TempDir(), "audit.log"), QueueLen: 1 << 20, MaxBytes: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	r := request(1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for l.Append(r) != nil || l.Stats().Queued > 1<<19 {
			time.Sleep(time.Millisecond)
		}
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkWriterSteady is the writer as the agent runs it under load: a
// queue of the default length that never fills, a detector, and batches
// of maxBatch records. ns/op is the writer's pace; cpu-ns/op is the CPU
// the whole process spent per record, writer and Append both.
func BenchmarkWriterSteady(b *testing.B) {
	l, err := Open(Options{Path: filepath.Join(b.TempDir(), "audit.log"), MaxBytes: 1 << 30,
		Detector: NewDetector(DetectorOptions{})})
	if err != nil {
		b.Fatal(err)
	}
	r := request(1)
	r.Time = time.Time{} // Append stamps it, as for the agent
	b.ReportAllocs()
	cpu := cpuTime(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for i%64 == 0 && l.Stats().Queued > DefaultQueueLen/2 {
			time.Sleep(100 * time.Microsecond)
		}
		if err := l.Append(r); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N), "cpu-ns/op")
	if st := l.Stats(); st.Written < uint64(b.N) || st.Dropped > 0 {
		b.Fatalf("%+v", st)
	}
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkParamsHash is what the agent spends to fill params for a
// typical order's query.
func BenchmarkParamsHash(b *testing.B) {
	q := "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01&price=65000&recvWindow=5000&timestamp=1735689600000"
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		ParamsHash(q, "")
	}
}

// BenchmarkEncodeLine is the writer's work per record before the write:
// encoding the usual request record (body), and that with its hash
// (line), by the encoder and by the reference encoder it replaced
// (encode_test.go).
func BenchmarkEncodeLine(b *testing.B) {
	r := request(1)
	normalize(&r)
	r.Seq, r.Prev = 123456, Genesis
	body := func(enc func([]byte, *Record) []byte) func([]byte, *Record) ([]byte, string) {
		return func(b []byte, r *Record) ([]byte, string) { return enc(b, r), "" }
	}
	for _, enc := range []struct {
		name string
		fn   func([]byte, *Record) ([]byte, string)
	}{
		{"body/current", body(appendBody)}, {"body/reference", body(refAppendBody)},
		{"line/current", appendLine}, {"line/reference", refAppendLine},
	} {
		b.Run(enc.name, func(b *testing.B) {
			buf := make([]byte, 0, 4096)
			b.ReportAllocs()
			for b.Loop() {
				buf, _ = enc.fn(buf[:0], &r)
			}
		})
	}
}
