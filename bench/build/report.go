package main

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"
)

// results are the measurements of one benchmark run.
type results struct {
	runs, noopRuns     int
	ingot              []ingotSample
	mmdebstrap         []time.Duration
	noop               []time.Duration
	noopDigests        []string
	ingotPackages      int
	mmdebstrapPackages int
	ingotImage         imageInfo
	mmdebstrapImage    imageInfo
}

// print writes the report: a table of the medians, then the ratios and the no-op time.
func (r *results) print(w io.Writer, b *bench) error {
	var lockT, buildT, totalT []time.Duration
	digests := map[string]bool{}
	for _, s := range r.ingot {
		lockT, buildT, totalT = append(lockT, s.lock), append(buildT, s.build), append(totalT, s.total())
		digests[s.digest] = true
	}
	ingot, mm := median(totalT), median(r.mmdebstrap)

	fmt.Fprintf(w, "%s (%d packages requested), %s %s, local mirror %s\n", b.cfg.specPath, len(b.packages), b.cfg.suite, b.cfg.arch, b.mirror.dir)
	fmt.Fprintf(w, "median of %d cold runs each (one untimed warm-up first)\n\n", r.runs)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "tool\tpackages\tmedian s\timage layers\tcompressed MiB\truns s\t")
	fmt.Fprintf(tw, "ingot lock+build\t%d\t%.3f\t%d\t%.2f\t%s\t\n", r.ingotPackages, ingot.Seconds(), r.ingotImage.layers, mib(r.ingotImage.size), seconds(totalT))
	fmt.Fprintf(tw, "  ingot lock\t\t%.3f\t\t\t%s\t\n", median(lockT).Seconds(), seconds(lockT))
	fmt.Fprintf(tw, "  ingot build\t\t%.3f\t\t\t%s\t\n", median(buildT).Seconds(), seconds(buildT))
	fmt.Fprintf(tw, "mmdebstrap+umoci\t%d\t%.3f\t%d\t%.2f\t%s\t\n", r.mmdebstrapPackages, mm.Seconds(), r.mmdebstrapImage.layers, mib(r.mmdebstrapImage.size), seconds(r.mmdebstrap))
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nratio mmdebstrap+umoci / ingot lock+build: %.1fx\n", ratio(mm, ingot))
	fmt.Fprintf(w, "ratio mmdebstrap+umoci / ingot build only: %.1fx\n", ratio(mm, median(buildT)))
	fmt.Fprintf(w, "ingot no-op rebuild: %.1f ms median of %d (min %.1f, max %.1f)\n",
		ms(median(r.noop)), r.noopRuns, ms(slices.Min(r.noop)), ms(slices.Max(r.noop)))

	if extra := aptOnly(b.mirror); len(extra) > 0 {
		fmt.Fprintf(w, "installed by apt but excluded by the spec or not needed by ingot: %v\n", extra)
	}
	for _, d := range r.noopDigests {
		digests[d] = true
	}
	if len(digests) == 1 {
		fmt.Fprintf(w, "ingot digest, identical across all %d builds: %s\n", len(r.ingot)+len(r.noop), r.ingot[0].digest)
	} else {
		fmt.Fprintf(w, "WARNING: ingot produced %d different digests for the same spec and lock\n", len(digests))
	}
	if r.ingotPackages != len(b.mirror.ingot) {
		fmt.Fprintf(w, "WARNING: ingot locked %d packages, setup resolved %d\n", r.ingotPackages, len(b.mirror.ingot))
	}
	if r.mmdebstrapPackages != len(b.mirror.apt) {
		fmt.Fprintf(w, "WARNING: mmdebstrap extracted %d packages, apt's dry run predicted %d\n", r.mmdebstrapPackages, len(b.mirror.apt))
	}
	return nil
}

// aptOnly names the packages apt installs that ingot does not.
func aptOnly(m *mirror) []string {
	in := map[string]bool{}
	for _, p := range m.ingot {
		in[p.Name] = true
	}
	var out []string
	for _, p := range m.apt {
		if !in[p.Name] {
			out = append(out, p.Name)
		}
	}
	slices.Sort(out)
	return out
}

// median of a non-empty sample; an even count takes the mean of the middle two.
func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func seconds(d []time.Duration) string {
	out := ""
	for i, x := range d {
		if i > 0 {
			out += " "
		}
		out += fmt.Sprintf("%.2f", x.Seconds())
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func mib(n int64) float64        { return float64(n) / (1 << 20) }
