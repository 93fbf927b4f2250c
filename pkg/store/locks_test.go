package store_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/ingot-build/ingot/pkg/store"
)

// TestLockVersion: a version's lock is held by one taker at a time, waited for until released (or
// until the context ends), and leaves no file behind once released.
func TestLockVersion(t *testing.T) {
	st := store.Store{Root: t.TempDir()}
	unlock, ok, err := st.TryLockVersion(7)
	if err != nil || !ok {
		t.Fatalf("TryLockVersion: %v %v", ok, err)
	}
	if _, ok, err := st.TryLockVersion(7); err != nil || ok {
		t.Fatalf("a second TryLockVersion of a held lock: %v %v, want not taken", ok, err)
	}
	if u, ok, err := st.TryLockVersion(8); err != nil || !ok {
		t.Fatalf("another version's lock: %v %v", ok, err)
	} else {
		u()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := st.LockVersion(ctx, 7); err == nil {
		t.Fatal("LockVersion took a held lock")
	}
	got := make(chan error, 1)
	go func() {
		u, err := st.LockVersion(context.Background(), 7)
		if err == nil {
			u()
		}
		got <- err
	}()
	time.Sleep(150 * time.Millisecond)
	unlock()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("LockVersion still waits after the release")
	}
	entries, err := os.ReadDir(st.Locks())
	if err != nil || len(entries) != 0 {
		t.Errorf("locks left behind: %v %v", entries, err)
	}
}
