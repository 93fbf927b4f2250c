package main

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"time"

	"github.com/ingot-build/ingot/pkg/catalog"
)

// rescanStats says how a re-scan of the whole catalog went.
type rescanStats struct {
	versions, platforms, packages int
	changed, introduced, fixed    int
	total, packagesTime, match    time.Duration
	// read is the time spent reading inventories (Get, on every core), record the time spent in
	// RecordScan (one writer): busy times, overlapping.
	read, record time.Duration
}

// rescan re-scans every version of the catalog against db, as the re-scan after new vulnerability
// data does (pkg/rebuild's, when it lands): the distinct packages of the catalog (Packages) are
// matched once; then each version's stored inventory (Get) says which of them it ships, and each
// platform image's findings are recorded (RecordScan), which keeps what did not change and appends
// an event where something did.
func rescan(ctx context.Context, c catalog.Catalog, match *matcher) (rescanStats, error) {
	var st rescanStats
	start := time.Now()
	pkgs, err := c.Packages(ctx)
	if err != nil {
		return st, err
	}
	st.packages = len(pkgs)
	st.packagesTime = time.Since(start)
	t := time.Now()
	if err := match.prime(ctx, pkgs); err != nil {
		return st, err
	}
	st.match = time.Since(t)
	vs, err := c.List(ctx, catalog.ListOptions{})
	if err != nil {
		return st, err
	}
	st.versions = len(vs)
	at := time.Now()
	got := make(chan *catalog.Version, 64)
	next := make(chan *catalog.Version)
	var readers sync.WaitGroup
	var mu sync.Mutex
	var readErr error
	for range runtime.GOMAXPROCS(0) {
		readers.Go(func() {
			for v := range next {
				t := time.Now()
				full, err := c.Get(ctx, catalog.Ref{Image: v.Image, Version: v.Tag()})
				mu.Lock()
				st.read += time.Since(t)
				if err != nil && readErr == nil {
					readErr = err
				}
				mu.Unlock()
				if err != nil {
					continue
				}
				got <- full
			}
		})
	}
	go func() {
		defer close(next)
		for _, v := range vs {
			select {
			case next <- v:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() {
		readers.Wait()
		close(got)
	}()
	var recErr error
	for v := range got {
		if recErr != nil {
			continue // drain
		}
		for _, p := range v.Platforms {
			if p.Evidence == nil || p.Evidence.Inventory == nil {
				continue
			}
			t := time.Now()
			ch, err := c.RecordScan(ctx, catalog.Scan{VersionID: v.ID, Platform: p.Digest, Findings: match.findings(p.Evidence.Inventory.Packages),
				At: at, Data: "Go all.zip + bench Debian"})
			st.record += time.Since(t)
			if err != nil {
				recErr = err
				break
			}
			st.platforms++
			if ch.Changed() {
				st.changed++
				st.introduced += len(ch.Introduced)
				st.fixed += len(ch.Fixed)
			}
		}
	}
	st.total = time.Since(start)
	return st, errors.Join(readErr, recErr, ctx.Err())
}
