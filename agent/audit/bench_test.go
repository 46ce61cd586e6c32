package audit

import (
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkAppend is the cost on the signing path: stamping the time and
// enqueueing. The writer is held back so that only Append is measured
// (on a 2-CPU machine a running writer competes with the benchmark loop).
func BenchmarkAppend(b *testing.B) {
	release := make(chan struct{})
	l, err := Open(Options{Path: filepath.Join(b.TempDir(), "audit.log"), QueueLen: b.N + 1,
		hook: func(string) error { <-release; return nil }})
	if err != nil {
		b.Fatal(err)
	}
	r := request(1)
	r.Time = time.Time{} // Append stamps it, as for the agent
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := l.Append(r); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	close(release)
	l.Close()
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

// BenchmarkParamsHash is what the agent spends to fill params for a
// typical order's query.
func BenchmarkParamsHash(b *testing.B) {
	q := "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01&price=65000&recvWindow=5000&timestamp=1735689600000"
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		ParamsHash(q, "")
	}
}
