package main

import (
	"bufio"
	"slices"
	"strings"
	"time"
)

// measure is what one timed step took: wall time, and the user+system CPU time of its processes.
type measure struct{ wall, cpu time.Duration }

// medians takes the median wall time and the median CPU time of ms, each on its own.
func medians(ms []measure) measure {
	var wall, cpu []time.Duration
	for _, m := range ms {
		wall, cpu = append(wall, m.wall), append(cpu, m.cpu)
	}
	return measure{wall: median(wall), cpu: median(cpu)}
}

// median is the middle of ds (the upper middle for an even count), or 0 for none.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// ratio is how many times slower peer is than ingot.
func ratio(peer, ingot time.Duration) float64 {
	if ingot == 0 {
		return 0
	}
	return float64(peer) / float64(ingot)
}

// gitVersion reads the "GitVersion:" line that `cosign version` prints, or "".
func gitVersion(out string) string {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "GitVersion:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
