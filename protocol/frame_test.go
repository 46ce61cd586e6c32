package protocol

import (
	"bytes"
	"encoding/binary"
	"io"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func frame(body string) []byte {
	b, err := AppendFrame(nil, []byte(body))
	if err != nil {
		panic(err)
	}
	return b
}

func TestFrameRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, WriteFrame(&buf, []byte(`{"id":1,"op":"hello"}`)))
	require.NoError(t, WriteFrame(&buf, []byte(`{"id":2,"op":"status"}`)))
	assert.Equal(t, []byte{0, 0, 0, 21}, buf.Bytes()[:4], "big-endian length prefix")

	scratch := make([]byte, 0, 64)
	got, err := ReadFrame(&buf, scratch)
	require.NoError(t, err)
	assert.Equal(t, `{"id":1,"op":"hello"}`, string(got))
	assert.Equal(t, &scratch[:1][0], &got[0], "a body that fits is read into the caller's buffer")
	got, err = ReadFrame(&buf, nil)
	require.NoError(t, err)
	assert.Equal(t, `{"id":2,"op":"status"}`, string(got))
	_, err = ReadFrame(&buf, nil)
	assert.ErrorIs(t, err, io.EOF, "clean end between frames")
}

func TestReadFrameRefusesBadSizesBeforeAllocating(t *testing.T) {
	for _, tc := range []struct {
		name string
		size uint32
		msg  string
	}{
		{"zero", 0, "protocol: empty frame (length 0)"},
		{"one over the limit", MaxFrameSize + 1, "protocol: frame of 1048577 bytes is over the 1048576-byte limit"},
		{"4 GiB", 0xFFFFFFFF, "protocol: frame of 4294967295 bytes is over the 1048576-byte limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := binary.BigEndian.AppendUint32(nil, tc.size)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for range 100 {
				_, err := ReadFrame(bytes.NewReader(hdr), nil)
				var fse *FrameSizeError
				require.ErrorAs(t, err, &fse)
				require.Equal(t, tc.size, fse.Size)
			}
			runtime.ReadMemStats(&after)
			_, err := ReadFrame(bytes.NewReader(hdr), nil)
			assert.EqualError(t, err, tc.msg)
			assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(64<<10), "no body buffer is allocated for a refused size")
		})
	}
}

func TestReadFrameAtLimitIsAccepted(t *testing.T) {
	body := bytes.Repeat([]byte("x"), MaxFrameSize)
	var buf bytes.Buffer
	require.NoError(t, WriteFrame(&buf, body))
	got, err := ReadFrame(&buf, nil)
	require.NoError(t, err)
	assert.Len(t, got, MaxFrameSize)
}

func TestReadFrameTruncated(t *testing.T) {
	full := frame(`{"id":1,"op":"status"}`)
	for cut := 1; cut < len(full); cut++ {
		_, err := ReadFrame(bytes.NewReader(full[:cut]), nil)
		assert.ErrorIs(t, err, io.ErrUnexpectedEOF, "cut at %d", cut)
	}
}

func TestWriteFrameRefusesEmptyAndOversized(t *testing.T) {
	var buf bytes.Buffer
	var fse *FrameSizeError
	assert.ErrorAs(t, WriteFrame(&buf, nil), &fse)
	assert.ErrorAs(t, WriteFrame(&buf, make([]byte, MaxFrameSize+1)), &fse)
	assert.Zero(t, buf.Len(), "nothing written")
}
