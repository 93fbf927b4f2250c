// Package steal measures how much of the machine's CPU time the hypervisor took during a phase of a
// benchmark: on a virtual machine whose host is busy, time a command waits without running, which
// shows in its wall time and not in its CPU time. The benchmarks print it beside their figures so
// that a run on a stolen machine can be told from a slower program.
package steal

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Mark is the machine's CPU time at one moment: all of it, and the part stolen.
type Mark struct{ total, stolen int64 }

// Now reads /proc/stat's first line; on a system without one, the mark is zero and Since says "?".
func Now() Mark {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return Mark{}
	}
	return parse(string(b))
}

func parse(stat string) Mark {
	line, _, _ := strings.Cut(stat, "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return Mark{}
	}
	var m Mark
	for i, s := range f[1:] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return Mark{}
		}
		if i < 8 { // user nice system idle iowait irq softirq steal; guest time is inside user
			m.total += n
		}
		if i == 7 {
			m.stolen = n
		}
	}
	return m
}

// Since is the share of the CPU time since m that the hypervisor stole, as "12%", or "?".
func Since(m Mark) string { return between(m, Now()) }

func between(a, b Mark) string {
	if a.total == 0 || b.total <= a.total {
		return "?"
	}
	return fmt.Sprintf("%.0f%%", 100*float64(b.stolen-a.stolen)/float64(b.total-a.total))
}
