package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// stats are the latencies and outcomes of one measured phase.
type stats struct {
	name string
	lat  []time.Duration
	// at is when each latency's request was sent (open loop: due), from the start of the run.
	at         []time.Duration
	errors     int
	unexpected int // answered, but not as the phase expects (an admission where a denial was due)
	elapsed    time.Duration
	firstErr   error
	// cpu is each process's CPU time per request (µs): kube-apiserver, etcd, the webhook.
	cpu map[string]float64
	// cpuN counts the requests cpu was measured over, for merging rounds.
	cpuN int
}

func (s *stats) n() int { return len(s.lat) }

// merge adds another round of the same phase.
func (s *stats) merge(o *stats) {
	if s.cpu == nil {
		s.cpu = map[string]float64{}
	}
	for k, v := range o.cpu {
		s.cpu[k] = (s.cpu[k]*float64(s.cpuN) + v*float64(o.cpuN)) / float64(s.cpuN+o.cpuN)
	}
	s.cpuN += o.cpuN
	s.lat = append(s.lat, o.lat...)
	s.errors += o.errors
	s.unexpected += o.unexpected
	s.elapsed += o.elapsed
	if s.firstErr == nil {
		s.firstErr = o.firstErr
	}
}

// over is the share of latencies above d.
func (s *stats) over(d time.Duration) float64 {
	if len(s.lat) == 0 {
		return 0
	}
	n := 0
	for _, l := range s.lat {
		if l > d {
			n++
		}
	}
	return float64(n) / float64(len(s.lat))
}

// slowSeconds counts the latencies above d in each second of an open-loop run, showing only seconds
// with any: "12s:40 13s:3" (when the tail happens: spread out, or in bursts).
func (s *stats) slowSeconds(d time.Duration) string {
	counts := map[int]int{}
	for i, l := range s.lat {
		if l > d && i < len(s.at) {
			counts[int(s.at[i]/time.Second)]++
		}
	}
	var parts []string
	for sec := 0; sec <= int(s.elapsed/time.Second); sec++ {
		if counts[sec] > 0 {
			parts = append(parts, fmt.Sprintf("%ds:%d", sec, counts[sec]))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

func (s *stats) pct(q float64) time.Duration {
	if len(s.lat) == 0 {
		return 0
	}
	l := slices.Clone(s.lat)
	slices.Sort(l)
	i := int(q*float64(len(l))+0.5) - 1
	i = max(0, min(i, len(l)-1))
	return l[i]
}

func (s *stats) max() time.Duration {
	if len(s.lat) == 0 {
		return 0
	}
	return slices.Max(s.lat)
}

func (s *stats) throughput() float64 {
	if s.elapsed == 0 {
		return 0
	}
	return float64(len(s.lat)) / s.elapsed.Seconds()
}

// outcome is one request's result: err when it failed, ok false when it was answered otherwise than
// expected.
type outcome struct {
	ok  bool
	err error
}

// closedLoop runs workers that each send requests back to back: warm-up first (not recorded), then
// d measured.
func closedLoop(ctx context.Context, name string, workers int, warm, d time.Duration, do func(i int64) outcome) *stats {
	return closedLoopMeasured(ctx, name, workers, warm, d, func() {}, do)
}

// closedLoopMeasured is closedLoop calling started between the warm-up and the measured run.
func closedLoopMeasured(ctx context.Context, name string, workers int, warm, d time.Duration, started func(), do func(i int64) outcome) *stats {
	var seq atomic.Int64
	run := func(d time.Duration) *stats {
		s := &stats{name: name}
		var mu sync.Mutex
		var wg sync.WaitGroup
		deadline := time.Now().Add(d)
		began := time.Now()
		for range workers {
			wg.Go(func() {
				var local []time.Duration
				var errs, unexpected int
				var firstErr error
				for time.Now().Before(deadline) && ctx.Err() == nil {
					t0 := time.Now()
					o := do(seq.Add(1))
					lat := time.Since(t0)
					switch {
					case o.err != nil:
						errs++
						if firstErr == nil {
							firstErr = o.err
						}
					case !o.ok:
						unexpected++
						local = append(local, lat)
					default:
						local = append(local, lat)
					}
				}
				mu.Lock()
				s.lat = append(s.lat, local...)
				s.errors += errs
				s.unexpected += unexpected
				if s.firstErr == nil {
					s.firstErr = firstErr
				}
				mu.Unlock()
			})
		}
		wg.Wait()
		s.elapsed = time.Since(began)
		return s
	}
	if warm > 0 {
		run(warm)
	}
	started()
	return run(d)
}

// openLoop sends requests at a fixed rate for d, whatever the answers' latency, from a pool of
// workers; each latency is measured from when the request was due, so a webhook that falls behind
// is charged for the queue it builds (no coordinated omission).
func openLoop(ctx context.Context, name string, rate, workers int, d time.Duration, do func(i int64) outcome) *stats {
	s := &stats{name: name}
	interval := time.Second / time.Duration(rate)
	total := int(d / interval)
	due := make(chan time.Time, total)
	var mu sync.Mutex
	var wg sync.WaitGroup
	var seq atomic.Int64
	began := time.Now()
	for range workers {
		wg.Go(func() {
			for t := range due {
				o := do(seq.Add(1))
				lat := time.Since(t)
				mu.Lock()
				switch {
				case o.err != nil:
					s.errors++
					if s.firstErr == nil {
						s.firstErr = o.err
					}
				case !o.ok:
					s.unexpected++
					fallthrough
				default:
					s.lat = append(s.lat, lat)
					s.at = append(s.at, t.Sub(began))
				}
				mu.Unlock()
			}
		})
	}
	for i := range total {
		t := began.Add(time.Duration(i) * interval)
		if w := time.Until(t); w > 0 {
			time.Sleep(w)
		}
		if ctx.Err() != nil {
			break
		}
		due <- t
	}
	close(due)
	wg.Wait()
	s.elapsed = time.Since(began)
	return s
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d.Microseconds())/1000) }

// cpuTime is the CPU time a process has used (user and system), from /proc/PID/stat.
func cpuTime(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces: fields count from after it.
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}

// cpuMeter measures the CPU time processes use during a run.
type cpuMeter struct {
	pids   map[string]int
	before map[string]time.Duration
}

func newCPUMeter(pids map[string]int) *cpuMeter {
	m := &cpuMeter{pids: pids, before: map[string]time.Duration{}}
	for n, p := range pids {
		m.before[n] = cpuTime(p)
	}
	return m
}

// per is each process's CPU time since the meter started, per request, in microseconds.
func (m *cpuMeter) per(n int) map[string]float64 {
	out := map[string]float64{}
	if n == 0 {
		return out
	}
	for name, p := range m.pids {
		out[name] = float64((cpuTime(p) - m.before[name]).Microseconds()) / float64(n)
	}
	return out
}
