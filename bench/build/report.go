package main

import (
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"text/tabwriter"
	"time"
)

// results are the measurements of one benchmark run.
type results struct {
	runs, noopRuns     int
	stolen             string // the share of CPU time the hypervisor took during the cold runs
	ingot              []ingotSample
	mmdebstrap         []sample
	noop               []time.Duration
	warm               []sample
	noopDigests        []string // of the no-op and warm builds
	floor              floor
	decoders           decoders
	ingotPackages      int
	mmdebstrapPackages int
	ingotImage         imageInfo
	mmdebstrapImage    imageInfo
}

// print writes the report: a table of the medians, then the ratios, the no-op time and the floor.
func (r *results) print(w io.Writer, b *bench) error {
	var lockS, buildS, totalS []sample
	digests := map[string]bool{}
	for _, s := range r.ingot {
		lockS, buildS, totalS = append(lockS, s.lock), append(buildS, s.build), append(totalS, s.total())
		digests[s.build.digest] = true
	}
	ingot, mm := medians(totalS), medians(r.mmdebstrap)

	fmt.Fprintf(w, "%s (%d packages requested), %s %s, local mirror %s\n", b.cfg.specPath, len(b.packages), b.cfg.suite, b.cfg.arch, b.mirror.dir)
	fmt.Fprintf(w, "median of %d cold runs each (one untimed warm-up first); CPU is user+system of the tool and every process it waited for;\n", r.runs)
	fmt.Fprintf(w, "the hypervisor took %s of the machine's CPU time during them\n\n", r.stolen)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "tool\tpackages\tmedian s\tCPU s\timage layers\tcompressed MiB\truns s\t")
	fmt.Fprintf(tw, "ingot lock+build\t%d\t%.3f\t%.3f\t%d\t%.2f\t%s\t\n", r.ingotPackages, ingot.wall.Seconds(), ingot.cpu.Seconds(), r.ingotImage.layers, mib(r.ingotImage.size), seconds(totalS))
	fmt.Fprintf(tw, "  ingot lock\t\t%.3f\t%.3f\t\t\t%s\t\n", medians(lockS).wall.Seconds(), medians(lockS).cpu.Seconds(), seconds(lockS))
	fmt.Fprintf(tw, "  ingot build\t\t%.3f\t%.3f\t\t\t%s\t\n", medians(buildS).wall.Seconds(), medians(buildS).cpu.Seconds(), seconds(buildS))
	fmt.Fprintf(tw, "mmdebstrap+umoci\t%d\t%.3f\t%.3f\t%d\t%.2f\t%s\t\n", r.mmdebstrapPackages, mm.wall.Seconds(), mm.cpu.Seconds(), r.mmdebstrapImage.layers, mib(r.mmdebstrapImage.size), seconds(r.mmdebstrap))
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nratio mmdebstrap+umoci / ingot lock+build: %.1fx wall, %.1fx CPU\n", ratio(mm.wall, ingot.wall), ratio(mm.cpu, ingot.cpu))
	fmt.Fprintf(w, "ratio mmdebstrap+umoci / ingot build only: %.1fx wall, %.1fx CPU\n", ratio(mm.wall, medians(buildS).wall), ratio(mm.cpu, medians(buildS).cpu))
	fmt.Fprintf(w, "ingot no-op rebuild: %.1f ms median of %d (min %.1f, max %.1f)\n",
		ms(median(r.noop)), r.noopRuns, ms(slices.Min(r.noop)), ms(slices.Max(r.noop)))
	r.printFloor(w, medians(buildS), ingot)

	if extra := aptOnly(b.mirror); len(extra) > 0 {
		fmt.Fprintf(w, "installed by apt but excluded by the spec or not needed by ingot: %v\n", extra)
	}
	for _, d := range r.noopDigests {
		digests[d] = true
	}
	if len(digests) == 1 {
		fmt.Fprintf(w, "ingot digest, identical across all %d builds: %s\n", len(r.ingot)+len(r.noopDigests), r.ingot[0].build.digest)
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

// medians takes the median wall time and the median CPU time of samples, each on its own.
func medians(s []sample) sample {
	var wall, cpu []time.Duration
	for _, x := range s {
		wall, cpu = append(wall, x.wall), append(cpu, x.cpu)
	}
	return sample{wall: median(wall), cpu: median(cpu)}
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

func seconds(s []sample) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += fmt.Sprintf("%.2f", x.wall.Seconds())
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func mib(n int64) float64        { return float64(n) / (1 << 20) }

// printFloor reports the physical floor, ingot's ratio to it, and where decoding time goes.
func (r *results) printFloor(w io.Writer, coldBuild, coldTotal sample) {
	f, d := r.floor, r.decoders
	warm := medians(r.warm)
	fmt.Fprintf(w, "\nphysical floor on this machine (%d cores), median of %d:      wall ms    CPU ms\n", runtime.GOMAXPROCS(0), len(r.warm))
	fmt.Fprintf(w, "  read and decompress the %d .debs once (%6.2f MiB):  %8.1f  %8.1f\n", f.debs, mib(f.debBytes), ms(f.decompress.wall), ms(f.decompress.cpu))
	fmt.Fprintf(w, "  gzip and sha256 the layers once (%6.2f MiB of tar): %8.1f  %8.1f\n", mib(f.tarBytes), ms(f.compress.wall), ms(f.compress.cpu))
	fmt.Fprintf(w, "  floor:                                               %8.1f  %8.1f\n", ms(f.total().wall), ms(f.total().cpu))
	if !f.sameDigests {
		fmt.Fprintf(w, "  WARNING: compressing the layers again did not give ingot's layer digests\n")
	}
	fmt.Fprintf(w, "ingot warm build (packages cached, nothing else): %.1f ms wall, %.1f ms CPU, median of %d: %.2fx the floor's wall, %.2fx its CPU\n",
		ms(warm.wall), ms(warm.cpu), len(r.warm), ratio(warm.wall, f.total().wall), ratio(warm.cpu, f.total().cpu))
	fmt.Fprintf(w, "ingot cold build: %.2fx the floor (wall), %.2fx (CPU); cold lock+build: %.2fx (wall), %.2fx (CPU)\n",
		ratio(coldBuild.wall, f.total().wall), ratio(coldBuild.cpu, f.total().cpu), ratio(coldTotal.wall, f.total().wall), ratio(coldTotal.cpu, f.total().cpu))
	fmt.Fprintf(w, "\ndecoders alone, one core, median of %d (CPU time):\n", len(r.warm))
	fmt.Fprintf(w, "  xz members of the .debs of 256 KiB or more (%.2f MiB): Go (ulikunitz/xz) %.1f ms, xz program %.1f ms: %.1fx\n",
		mib(d.debXZBytes), ms(d.goXZ), ms(d.xzProgram), ratio(d.goXZ, d.xzProgram))
	fmt.Fprintf(w, "  Packages index, %.1f MiB uncompressed:\n", mib(d.indexUncompressed))
	for _, set := range []struct {
		name  string
		size  int64
		times map[string]time.Duration
	}{{"Packages.gz", d.indexGzBytes, d.indexGz}, {"Packages.xz", d.indexXzBytes, d.indexXz}} {
		names := slices.Sorted(maps.Keys(set.times))
		for _, n := range names {
			fmt.Fprintf(w, "    %s (%.2f MiB) %-20s %7.1f ms\n", set.name, mib(set.size), n, ms(set.times[n]))
		}
	}
}
