package cli

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ingot-build/ingot/internal/debtest"
	"github.com/ingot-build/ingot/internal/regtest"
	"github.com/ingot-build/ingot/internal/testrepo"
	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/rebuild"
	"github.com/ingot-build/ingot/pkg/store"
)

func helloPackages(version string) []debtest.Package {
	return []debtest.Package{
		{Name: "base-files", Version: "12.4", Arch: "all", Files: []debtest.File{{Path: "etc/debian_version", Body: []byte("12.4\n")}}},
		{Name: "hello-data", Version: version, Arch: "all", Depends: "base-files", Files: []debtest.File{{Path: "usr/share/hello/greeting", Body: []byte("hi " + version + "\n")}}},
	}
}

const rebuildSpec = `name: app
version: "1.0"
repositories: [{url: {{URL}}, suite: stable, keyring: {{KEYRING}}}]
packages: [hello-data]
`

// osvBucket serves OSV's bucket layout (<Ecosystem>/all.zip) on loopback with one critical advisory
// against hello-data (Debian:1, the fixture repository's release), fixed in 1.1.
func osvBucket(t *testing.T) (string, *[]string) {
	t.Helper()
	rec := `{"id": "CVE-2099-0001", "modified": "2099-01-01T00:00:00Z", "published": "2020-01-01T00:00:00Z",
  "summary": "hello-data greets too loudly",
  "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
  "affected": [{"package": {"ecosystem": "Debian:1", "name": "hello-data"},
    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.1"}]}]}]}`
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create("CVE-2099-0001.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(rec)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.Path)
		if r.URL.Path != "/Debian:1/all.zip" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(buf.Bytes())
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &paths
}

// TestContinuousRebuild drives the verbs as a newcomer would: register a spec, run a cycle (a first,
// signed version), run it again (nothing new), update the vulnerability data from OSV's layout on
// loopback for the ecosystems the catalog holds (the re-scan revokes the exposed version), publish a
// newer package upstream and run a cycle (a second signed version, whose history says why), then
// read the patch SLA, the jobs and the history, and verify the new version's signature.
func TestContinuousRebuild(t *testing.T) {
	repo := testrepo.New(t, testrepo.Options{Packages: helloPackages("1.0")})
	host := regtest.Registry(t)
	g := &globalFlags{transport: regtest.OfflineTransport(nil)}
	data := t.TempDir()
	ingot := func(args ...string) (string, string, error) {
		t.Helper()
		return runWith(t, g, append([]string{"--data-dir", data}, args...)...)
	}
	must := func(args ...string) string {
		t.Helper()
		out, stderr, err := ingot(args...)
		if err != nil {
			t.Fatalf("ingot %s: %v\n%s\n%s", strings.Join(args, " "), err, out, stderr)
		}
		return out
	}
	keys := t.TempDir()
	pw := filepath.Join(keys, "password")
	if err := os.WriteFile(pw, []byte("correct horse\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("COSIGN_PASSWORD", "") // the worker's key password comes from the file, not a terminal
	os.Unsetenv("COSIGN_PASSWORD")
	must("key", "generate", "--output-key-prefix", filepath.Join(keys, "ingot"), "--key-password-file", pw)
	cycle := []string{"catalog", "cycle", "--push", host + "/golden", "--key", filepath.Join(keys, "ingot.key"),
		"--key-password-file", pw, "--grace", "0s"}

	must("catalog", "add", writeSpec(t, repo, rebuildSpec))
	out := must(cycle...)
	for _, want := range []string{"1 registered spec(s), 1 repository index(es) read once each", "rebuild app (job ", "published app@1.0-r1", "because no version of app@1.0 yet"} {
		if !strings.Contains(out, want) {
			t.Errorf("first cycle does not say %q:\n%s", want, out)
		}
	}
	out = must(cycle...)
	if !strings.Contains(out, "unchanged: app") || strings.Contains(out, "rebuild app") {
		t.Errorf("second cycle:\n%s", out)
	}

	bucket, fetched := osvBucket(t)
	out = must("db", "update", "--url", bucket)
	if got := strings.Join(*fetched, " "); got != "/Debian:1/all.zip" {
		t.Errorf("db update fetched %q, want the catalog's one ecosystem", got)
	}
	if !strings.Contains(out, "revoked app@1.0-r1: automatic: CVE-2099-0001 (critical) in hello-data 1.0, fixed in 1.1") {
		t.Errorf("db update's re-scan:\n%s", out)
	}

	repo.Publish(t, testrepo.Options{Packages: helloPackages("1.1")})
	out = must(cycle...)
	if !strings.Contains(out, "published app@1.0-r2") || !strings.Contains(out, "because upstream: hello-data 1.0 → 1.1 (fixes CVE-2099-0001)") {
		t.Errorf("cycle after a newer hello-data:\n%s", out)
	}
	out = must("catalog", "history", "app", "-o", "json")
	var history []catalog.Event
	if err := json.Unmarshal([]byte(out), &history); err != nil {
		t.Fatal(err)
	}
	var published []string
	for _, e := range history {
		if e.Kind == catalog.EventPublished {
			published = append(published, e.Tag+": "+e.Reason)
		}
	}
	if want := []string{"1.0-r1: no version of app@1.0 yet", "1.0-r2: upstream: hello-data 1.0 → 1.1 (fixes CVE-2099-0001)"}; strings.Join(published, "\n") != strings.Join(want, "\n") {
		t.Errorf("published events:\n%s\nwant\n%s", strings.Join(published, "\n"), strings.Join(want, "\n"))
	}

	out = must("sla", "-o", "json")
	var rep rebuild.SLAReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) != 1 || rep.Findings[0].ID != "CVE-2099-0001" || rep.Findings[0].State != rebuild.SLARemediated ||
		rep.Findings[0].RemediatedBy != "app@1.0-r2" || rep.Findings[0].FixSource != rebuild.FixUpstream || !rep.Findings[0].WithinTarget {
		t.Errorf("sla: %+v", rep.Findings)
	}
	if out = must("sla"); !strings.Contains(out, "1 finding(s) with a fix, 0 open breach(es)") || !strings.Contains(out, "critical") {
		t.Errorf("sla table:\n%s", out)
	}
	if out = must("jobs"); strings.TrimSpace(out) != "no failed jobs" {
		t.Errorf("jobs:\n%s", out)
	}
	out = must("jobs", "--all", "--kind", "ingot_rebuild", "-o", "json")
	var jobs []rebuild.Job
	if err := json.Unmarshal([]byte(out), &jobs); err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 2 || jobs[0].State != rebuild.StateCompleted || jobs[1].State != rebuild.StateCompleted {
		t.Errorf("rebuild jobs: %+v", jobs)
	}

	c, err := store.Store{Root: data}.Catalog(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r2, err := c.Get(context.Background(), catalog.Ref{Image: "app", Version: "1.0-r2"})
	if err != nil {
		t.Fatal(err)
	}
	must("verify", host+"/golden/app@"+r2.Digest, "--key", filepath.Join(keys, "ingot.pub"))
	if r1, err := c.List(context.Background(), catalog.ListOptions{Image: "app", Statuses: []catalog.Status{catalog.StatusRevoked}}); err != nil || len(r1) != 1 || r1[0].Tag() != "1.0-r1" {
		t.Errorf("revoked versions: %+v, %v", r1, err)
	}
}

// TestFailingJobIsVisible: a registered spec whose repository cannot be reached makes the cycle
// fail (exit 1, naming the image); ingot jobs lists the failed cycle with its error, and the other
// spec was still rebuilt.
func TestFailingJobIsVisible(t *testing.T) {
	repo := testrepo.New(t, testrepo.Options{Packages: helloPackages("1.0")})
	g := &globalFlags{transport: regtest.OfflineTransport(nil)}
	data := t.TempDir()
	must := func(args ...string) string {
		t.Helper()
		out, stderr, err := runWith(t, g, append([]string{"--data-dir", data}, args...)...)
		if err != nil {
			t.Fatalf("ingot %s: %v\n%s", strings.Join(args, " "), err, stderr)
		}
		return out
	}
	must("catalog", "add", writeSpec(t, repo, rebuildSpec))
	broken := strings.Replace(strings.Replace(rebuildSpec, "name: app", "name: broken", 1), "{{URL}}", "http://127.0.0.1:1", 1)
	must("catalog", "add", writeSpec(t, repo, broken))
	out, _, err := runWith(t, g, "--data-dir", data, "catalog", "cycle")
	if ExitCode(err) != ExitFailure || !strings.Contains(out, "error: broken: ") || !strings.Contains(out, "published app@1.0-r1") {
		t.Fatalf("cycle with a broken spec: %v\n%s", err, out)
	}
	out = must("jobs")
	if !strings.Contains(out, "ingot_cycle") || !strings.Contains(out, "retryable") || !strings.Contains(out, "broken: repository http://127.0.0.1:1") {
		t.Errorf("jobs does not list the failed cycle with its error:\n%s", out)
	}
	var jobs []rebuild.Job
	if err := json.Unmarshal([]byte(must("jobs", "-o", "json")), &jobs); err != nil || len(jobs) != 1 || jobs[0].Attempt != 1 || jobs[0].MaxAttempts < 2 {
		t.Errorf("failed jobs as JSON: %+v, %v", jobs, err)
	}
	if _, _, err := runWith(t, g, "--data-dir", data, "jobs", "--state", "exploded"); ExitCode(err) != ExitUsage {
		t.Errorf("jobs --state exploded: %v, want a usage error", err)
	}
}

// TestWorker runs ingot worker until it is interrupted: it schedules a cycle when it starts, which
// builds the registered spec, and stops cleanly when its context ends.
func TestWorker(t *testing.T) {
	repo := testrepo.New(t, testrepo.Options{Packages: helloPackages("1.0")})
	g := &globalFlags{transport: regtest.OfflineTransport(nil)}
	data := t.TempDir()
	if _, stderr, err := runWith(t, g, "--data-dir", data, "catalog", "add", writeSpec(t, repo, rebuildSpec)); err != nil {
		t.Fatalf("catalog add: %v\n%s", err, stderr)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := newRoot(g)
	var stdout, stderr bytes.Buffer
	cmd.SetArgs([]string{"--data-dir", data, "worker", "--every", "1h"})
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()

	c, err := store.Store{Root: data}.Catalog(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		vs, err := c.List(context.Background(), catalog.ListOptions{Image: "app"})
		if err == nil && len(vs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("the worker built nothing: %v\n%s", err, stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("worker: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the worker did not stop when interrupted")
	}
	for _, want := range []string{"rebuild workers started", "rebuild enqueued", "rebuild workers stopped"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("the worker's log does not say %q", want)
		}
	}
}
