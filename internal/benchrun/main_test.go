package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckBinary(t *testing.T) {
	dir := t.TempDir()
	_, err := checkBinary(filepath.Join(dir, "keyward"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "does not exist: run `make build` first")

	plain := filepath.Join(dir, "plain")
	require.NoError(t, os.WriteFile(plain, []byte("x"), 0o644))
	_, err = checkBinary(plain)
	assert.ErrorContains(t, err, "is not an executable file")

	_, err = checkBinary(dir)
	assert.ErrorContains(t, err, "is not an executable file")

	exe := filepath.Join(dir, "exe")
	require.NoError(t, os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755))
	got, err := checkBinary(exe)
	require.NoError(t, err)
	assert.Equal(t, exe, got)
}

func TestTailBuffer(t *testing.T) {
	var b tailBuffer
	b.Write([]byte("panic: boom\n"))
	for range 10_000 {
		b.Write([]byte("goroutine 1 [running]: a long stack trace line\n"))
	}
	b.Write([]byte("last line"))
	s := b.String()
	assert.LessOrEqual(t, len(s), logHead+logTail+8)
	assert.Contains(t, s, "\n…\n", "the middle is dropped")
	assert.Equal(t, "panic: boom", b.crashLine(), "the head keeps a crash's first line")
	assert.Equal(t, "goroutine 1 [running]: a long stack trace line / last line", lastLines(s, 2))
}
