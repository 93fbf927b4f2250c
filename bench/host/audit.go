package main

// The audit half: ingot host audit against oscap-chroot with the SCAP Security Guide on the same
// Debian 11 trees (.ci/host-tree.sh makes them): wall time of each, the ratio, and whether the
// verdicts agree on the rules both check. It measures; it does not assert the target.
//
//	go run ./bench/host -mode audit -runs 3 -trees ~/.cache/ingot-ci/host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"time"

	"github.com/ingot-build/ingot/bench/internal/release"
	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/host"
)

const (
	ssgDebian11   = "/usr/share/xml/scap/ssg/content/ssg-debian11-ds.xml"
	sharedProfile = "xccdf_build.ingot_profile_host-shared"
	tailoring     = "pkg/host/testdata/ssg-shared-tailoring.xml"
)

// defaultTrees is where .ci/host-tree.sh leaves the trees.
func defaultTrees() string {
	if d := os.Getenv("INGOT_HOST_TREES"); d != "" {
		return d
	}
	return filepath.Join(os.Getenv("HOME"), ".cache", "ingot-ci", "host")
}

func runAudit(cfg config) {
	trees, runs, profile := &cfg.trees, &cfg.runs, &cfg.oscapProfile
	log.SetFlags(0)

	work, err := os.MkdirTemp("", "ingot-bench-host-")
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = os.RemoveAll(work) }()
	ingot := filepath.Join(work, "ingot")
	if err := release.Build(context.Background(), "", ingot, "./cmd/ingot"); err != nil {
		log.Fatalf("run from the module root: %v", err)
	}
	tail, err := filepath.Abs(tailoring)
	if err != nil {
		log.Fatal(err)
	}

	fmt.Printf("%-9s %12s %8s %14s %8s %12s %s\n", "tree", "ingot rules", "ratio", "ingot+secrets", "ratio", "oscap", "verdicts on shared rules")
	for _, variant := range []string{"weak", "hardened"} {
		tree := filepath.Join(*trees, variant)
		if _, err := os.Stat(tree); err != nil {
			log.Fatalf("%v: make the trees with .ci/host-tree.sh", err)
		}
		var report evidence.Report
		audit := func(extra ...string) func() {
			return func() {
				out, err := exec.Command(ingot, append([]string{"host", "audit", tree, "-o", "json", "--fail-on", "none"}, extra...)...).Output()
				if err != nil {
					log.Fatalf("ingot host audit %s: %v", tree, err)
				}
				if err := json.Unmarshal(out, &report); err != nil {
					log.Fatal(err)
				}
			}
		}
		// The rules alone are what oscap does; the default audit adds the secrets stage and the
		// report's digest, which read every file, and is timed apart.
		fullTime := timedMedian(*runs, audit())
		ingotTime := timedMedian(*runs, audit("--no-secrets"))
		results := filepath.Join(work, variant+".xml")
		args := []string{tree, "xccdf", "eval", "--results", results}
		if *profile == "shared" {
			args = append(args, "--tailoring-file", tail, "--profile", sharedProfile)
		} else {
			args = append(args, "--profile", *profile)
		}
		args = append(args, ssgDebian11)
		oscapTime := timedMedian(*runs, func() {
			before, _ := os.ReadDir(tree)
			err := exec.Command("oscap-chroot", args...).Run()
			removeNewFiles(tree, before)
			if exit := (*exec.ExitError)(nil); err != nil && (!errors.As(err, &exit) || exit.ExitCode() != 2) {
				log.Fatalf("oscap-chroot %s: %v", tree, err)
			}
		})
		agree, differ := compare(report, results)
		fmt.Printf("%-9s %12s %7.1fx %14s %7.1fx %12s %d agree, %d differ %v\n", variant, ingotTime.Round(time.Millisecond),
			float64(oscapTime)/float64(ingotTime), fullTime.Round(time.Millisecond), float64(oscapTime)/float64(fullTime),
			oscapTime.Round(time.Millisecond), len(agree), len(differ), differ)
	}
	fmt.Println("ratio = oscap / ingot (rules: every ingot rule and leftover check; oscap: the profile's rules). Target: >= 10x.")
	fmt.Println("ingot+secrets is the default audit: the secrets stage and the report's digest read every file of the tree once.")
}

// timedMedian runs fn n times and returns the median wall time.
func timedMedian(n int, fn func()) time.Duration {
	if n < 1 {
		n = 1
	}
	ds := make([]time.Duration, n)
	for i := range ds {
		start := time.Now()
		fn()
		ds[i] = time.Since(start)
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[n/2]
}

var ruleResult = regexp.MustCompile(`<rule-result idref="xccdf_org\.ssgproject\.content_rule_([^"]+)"[^>]*>\s*<result>([a-z]+)</result>`)

// compare lists the shared rules whose verdicts agree and those that differ (the accuracy test in
// pkg/host gives the reason for each difference).
func compare(r evidence.Report, resultsFile string) (agree, differ []string) {
	data, err := os.ReadFile(resultsFile)
	if err != nil {
		log.Fatal(err)
	}
	ssg := map[string]string{}
	for _, m := range ruleResult.FindAllStringSubmatch(string(data), -1) {
		ssg[m[1]] = m[2]
	}
	ours := map[string]string{}
	for _, f := range r.Findings {
		ours[f.ID] = f.Status
	}
	shared := host.SSGRules()
	ids := make([]string, 0, len(shared))
	for id := range shared {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		failed, seen := false, false
		for _, r := range shared[id] {
			if res, ok := ssg[r]; ok {
				seen = true
				failed = failed || res == "fail"
			}
		}
		if !seen {
			continue
		}
		if failed == (ours[id] == evidence.StatusFailed) {
			agree = append(agree, id)
		} else {
			differ = append(differ, id)
		}
	}
	return agree, differ
}

// removeNewFiles removes the regular files at dir's root that are not in before: oscap-chroot's
// package probes leave a copy of apt's caches there (.XXXXXX, 3.4 MB) on every run, which would make
// the trees, and every later figure, grow.
func removeNewFiles(dir string, before []os.DirEntry) {
	had := map[string]bool{}
	for _, e := range before {
		had[e.Name()] = true
	}
	after, err := os.ReadDir(dir)
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range after {
		if !had[e.Name()] && e.Type().IsRegular() {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				log.Fatal(err)
			}
		}
	}
}
