package main

import (
	"context"
	"os"
	"testing"
)

// TestDebianImage makes the ordinary Debian image when INGOT_BENCH_WORK names a work directory (it
// needs root, mmdebstrap and the host's apt sources); otherwise it is skipped.
func TestDebianImage(t *testing.T) {
	work := os.Getenv("INGOT_BENCH_WORK")
	if work == "" {
		t.Skip("INGOT_BENCH_WORK is not set")
	}
	p, err := debianImage(context.Background(), work, "bookworm")
	if err != nil {
		t.Fatal(err)
	}
	t.Log(p)
}
