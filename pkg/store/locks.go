package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Locks is the directory of the locks processes of this machine hold on catalog versions.
func (s Store) Locks() string { return s.path("locks") }

// LockVersion takes this machine's lock on catalog version id, waiting (until ctx ends) while
// another process holds it, and returns the function that releases it. A process publishing a
// version holds its lock, so that another one completing pending versions leaves it alone; the
// kernel releases the lock of a process that dies, so a killed run never blocks the next.
func (s Store) LockVersion(ctx context.Context, id int64) (func(), error) {
	for {
		unlock, ok, err := s.TryLockVersion(id)
		if err != nil || ok {
			return unlock, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for another ingot working on catalog version %d: %w", id, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TryLockVersion takes the lock on catalog version id if no process holds it; ok is false when one
// does. The lock file is removed when the lock is released, so that locks/ holds only the versions
// being worked on.
func (s Store) TryLockVersion(id int64) (unlock func(), ok bool, err error) {
	if err := os.MkdirAll(s.Locks(), 0o755); err != nil {
		return nil, false, err
	}
	path := filepath.Join(s.Locks(), "version-"+strconv.FormatInt(id, 10))
	for {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644) //nolint:gosec // G302: an empty lock file
		if err != nil {
			return nil, false, fmt.Errorf("locking catalog version %d: %w", id, err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			_ = f.Close() // the lock is not ours; closing loses nothing
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, false, nil
			}
			return nil, false, fmt.Errorf("locking catalog version %d: %w", id, err)
		}
		// The holder before us may have removed the file between our open and our lock: then the
		// lock is on a file nobody else will open, and the path must be locked afresh.
		held, herr := f.Stat()
		named, nerr := os.Stat(path)
		if herr == nil && nerr == nil && os.SameFile(held, named) {
			return func() {
				_ = os.Remove(path) // before the release, so no one locks a file on its way out
				_ = f.Close()       // releases the lock; the file holds no data
			}, true, nil
		}
		_ = f.Close()
		if herr != nil {
			return nil, false, fmt.Errorf("locking catalog version %d: %w", id, herr)
		}
		if nerr != nil && !errors.Is(nerr, os.ErrNotExist) {
			return nil, false, fmt.Errorf("locking catalog version %d: %w", id, nerr)
		}
	}
}
