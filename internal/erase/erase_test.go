package erase

import "testing"

func TestDoRunsF(t *testing.T) {
	ran := false
	Do(func() { ran = true })
	if !ran {
		t.Fatal("Do did not run f")
	}
}
