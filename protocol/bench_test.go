package protocol

import (
	"bytes"
	"context"
	"testing"
)

// The codec's share of a signature: a sign request decoded, dispatched to
// an agent that answers at once, and the reply encoded and framed.

var benchSignFrame = []byte(`{"id":12345,"op":"sign","args":{"credential":"binance-main","method":"POST","url":"https://api.binance.com/api/v3/order","headers":{"Content-Type":"application/x-www-form-urlencoded"},"body":"symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=10000"}}`)

// BenchmarkDecodeSignRequest is the signing path's decoder;
// BenchmarkDecodeSignRequestJSON the encoding/json path it stands in for.
func BenchmarkDecodeSignRequest(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		req, err := DecodeRequest(benchSignFrame)
		if err != nil || req.sign == nil {
			b.Fatal("the fast path did not take a plain sign request", err)
		}
	}
}

func BenchmarkDecodeSignRequestJSON(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		req, err := decodeRequestJSON(benchSignFrame)
		if err != nil {
			b.Fatal(err)
		}
		var args SignArgs
		if err := decodeArgs(req, &args); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHandleSign(b *testing.B) {
	a := &fixedAgent{}
	ctx := context.Background()
	b.ReportAllocs()
	var out []byte
	for b.Loop() {
		req, err := DecodeRequest(benchSignFrame)
		if err != nil {
			b.Fatal(err)
		}
		reply := Handle(ctx, a, req)
		if out, err = AppendReply(out[:0], reply); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendReply(b *testing.B) {
	r := &Reply{ID: 12345, Result: []byte(`{"method":"POST","url":"https://api.binance.com/api/v3/order","headers":{"X-MBX-APIKEY":"k"},"body":"symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=10000&recvWindow=5000&timestamp=1&signature=00"}`)}
	b.ReportAllocs()
	var out []byte
	for b.Loop() {
		out, _ = AppendReply(out[:0], r)
	}
}

func BenchmarkFrameRoundTrip(b *testing.B) {
	var buf bytes.Buffer
	body := make([]byte, 0, len(benchSignFrame))
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := WriteFrame(&buf, benchSignFrame); err != nil {
			b.Fatal(err)
		}
		if _, err := ReadFrame(&buf, body); err != nil {
			b.Fatal(err)
		}
	}
}
