package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// timing is one measured operation: its durations, and the rows of its last answer.
type timing struct {
	name   string
	rows   int
	runs   []time.Duration
	target time.Duration // zero when the issue sets none
	// cpu is the process's CPU time (user and system, every thread) per timed run, on average: on a
	// shared machine, what a run costs apart from waiting for a core.
	cpu time.Duration
}

// percentile is the p-th percentile (nearest rank) of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(float64(len(sorted))*p/100+0.999999) - 1
	return sorted[max(0, min(len(sorted)-1, rank))]
}

func (t timing) p(p float64) time.Duration {
	s := slices.Clone(t.runs)
	slices.Sort(s)
	return percentile(s, p)
}

// measure runs fn warm times untimed (the caches of a long-running process are warm), then runs
// times timed; fn is given the run's number (operations that rotate through inputs use it; the
// warm-up runs are numbered from runs on) and returns the rows of its answer, or -1 when it did not
// count them.
func measure(name string, warm, runs int, target time.Duration, fn func(i int) (int, error)) (timing, error) {
	t := timing{name: name, target: target}
	for i := range warm {
		n, err := fn(runs + i)
		if err != nil {
			return t, fmt.Errorf("%s: %w", name, err)
		}
		t.rows = n
	}
	cpu0 := cpuTime()
	for i := range runs {
		start := time.Now()
		n, err := fn(i)
		d := time.Since(start)
		if err != nil {
			return t, fmt.Errorf("%s: %w", name, err)
		}
		t.runs = append(t.runs, d)
		if n >= 0 { // -1: the run did not count its rows
			t.rows = n
		}
	}
	if runs > 0 {
		t.cpu = (cpuTime() - cpu0) / time.Duration(runs)
	}
	return t, nil
}

// cpuTime is the process's CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ms renders a duration in milliseconds, three significant digits.
func ms(d time.Duration) string {
	f := float64(d) / float64(time.Millisecond)
	switch {
	case f >= 100:
		return fmt.Sprintf("%.0f ms", f)
	case f >= 10:
		return fmt.Sprintf("%.1f ms", f)
	}
	return fmt.Sprintf("%.2f ms", f)
}

// printTimings writes a table of timings: rows, p50, p99, and the target with whether p99 met it.
func printTimings(w io.Writer, ts []timing) {
	fmt.Fprintf(w, "  %-58s %7s %10s %10s %10s  %s\n", "", "rows", "p50", "p99", "CPU/run", "target (p99)")
	for _, t := range ts {
		target := ""
		if t.target > 0 {
			verdict := "met"
			if t.p(99) >= t.target {
				verdict = "MISSED"
			}
			target = fmt.Sprintf("< %s: %s", ms(t.target), verdict)
		}
		fmt.Fprintf(w, "  %-58s %7d %10s %10s %10s  %s\n", t.name, t.rows, ms(t.p(50)), ms(t.p(99)), ms(t.cpu), target)
	}
}

// Memory. The RSS high-water mark is the kernel's (VmHWM), reset at the start of each phase by
// writing 5 to /proc/self/clear_refs; the Go heap's peak is sampled every 50 ms from runtime/metrics
// (which does not stop the world).

// resetPeak resets the process's RSS high-water mark; false where the kernel does not allow it.
func resetPeak() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// vmHWM is the RSS high-water mark, in bytes.
func vmHWM() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// heapSampler follows the Go heap's peak (live and not yet swept objects).
type heapSampler struct {
	peak atomic.Int64
	stop chan struct{}
	done chan struct{}
}

func heapNow() int64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64()) //nolint:gosec // G115: a heap fits in int64
}

func startHeapSampler() *heapSampler {
	h := &heapSampler{stop: make(chan struct{}), done: make(chan struct{})}
	h.peak.Store(heapNow())
	go func() {
		defer close(h.done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-h.stop:
				return
			case <-tick.C:
				if n := heapNow(); n > h.peak.Load() {
					h.peak.Store(n)
				}
			}
		}
	}()
	return h
}

// end stops sampling and returns the peak.
func (h *heapSampler) end() int64 {
	close(h.stop)
	<-h.done
	if n := heapNow(); n > h.peak.Load() {
		h.peak.Store(n)
	}
	return h.peak.Load()
}

// mib renders bytes in MiB.
func mib(n int64) string { return fmt.Sprintf("%d MiB", n>>20) }

// loadAvg is /proc/loadavg's first three fields.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
