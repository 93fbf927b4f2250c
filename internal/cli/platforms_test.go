package cli

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ingot-build/ingot/internal/cdxschema"
	"github.com/ingot-build/ingot/internal/debtest"
	"github.com/ingot-build/ingot/internal/regtest"
	"github.com/ingot-build/ingot/internal/testrepo"
	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/publish"
	"github.com/ingot-build/ingot/pkg/sbom"
	"github.com/ingot-build/ingot/pkg/sign"
	"github.com/ingot-build/ingot/pkg/store"
	"github.com/ingot-build/ingot/pkg/vuln"
)

// indexFixture is the fixture spec built for amd64 and arm64 (the arm64 app also ships a setuid
// helper and a GitHub token, so lint and secrets find something on arm64 only), with vulnerability
// data imported.
type indexFixture struct {
	data, spec             string
	digest                 string // the index's, as build printed it
	buildStdout, buildLogs string
}

// fakeToken is a GitHub token, split so that scanning this source tree does not report it.
const fakeToken = "ghp_" + "Q7vLm2XkR9tB4nWc8ZpJ3sYd6HfA1gEu5KoT"

func newIndexFixture(t *testing.T) indexFixture {
	t.Helper()
	pkgs := twoArchPackages()
	for i := range pkgs {
		if pkgs[i].Name == "app" && pkgs[i].Arch == "arm64" {
			pkgs[i].Files = append(pkgs[i].Files,
				debtest.File{Path: "usr/bin/app-helper", Mode: 0o4755, Body: []byte("helper")},
				debtest.File{Path: "etc/app/env", Body: []byte("GITHUB_TOKEN=" + fakeToken + "\n")},
			)
		}
	}
	repo := testrepo.New(t, testrepo.Options{Archs: []string{"amd64", "arm64"}, Packages: pkgs})
	// The build's gate is not what these tests are about.
	spec := specTemplate + `archs: [amd64, arm64]
evidence:
  fail-on: none
  waivers: [{rule: INGOT-H004, reason: "the helper needs it"}, {rule: INGOT-H011, reason: "a test token"}]
`
	f := indexFixture{data: t.TempDir(), spec: writeSpec(t, repo, spec)}
	osv := t.TempDir()
	if err := os.WriteFile(filepath.Join(osv, "a.json"), []byte(debianAdvisory), 0o644); err != nil {
		t.Fatal(err)
	}
	db := store.Store{Root: f.data}.VulnDB()
	if _, err := db.Import(context.Background(), osv, vuln.ImportOptions{Name: "fixture"}); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := run(t, "--data-dir", f.data, "build", f.spec)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, stderr)
	}
	f.buildStdout, f.buildLogs, f.digest = stdout, stderr, strings.TrimSpace(stdout)
	return f
}

// TestBuildIndexSummary: for a two-arch build stdout is the index digest alone, and the summary on
// stderr gives each platform's digest with its evidence.
func TestBuildIndexSummary(t *testing.T) {
	f := newIndexFixture(t)
	if !regexp.MustCompile(`^sha256:[0-9a-f]{64}\n$`).MatchString(f.buildStdout) {
		t.Errorf("build printed %q on stdout, want the index digest alone", f.buildStdout)
	}
	want := map[string]string{}
	for _, arch := range []string{"amd64", "arm64"} {
		m := regexp.MustCompile(`(?m)^linux/` + arch + `(/v8)? (sha256:[0-9a-f]{64}): \d+ packages, `).FindStringSubmatch(f.buildLogs)
		if m == nil {
			t.Fatalf("the build summary has no line for linux/%s with its digest:\n%s", arch, f.buildLogs)
		}
		want[m[0][:strings.Index(m[0], " ")]] = m[2]
	}
	// Those are the digests the index names.
	out, _, err := run(t, "--data-dir", f.data, "sbom", "-o", "json", "fixture:1.0")
	if err != nil {
		t.Fatal(err)
	}
	idx, invs := decodeIndexInventories(t, out)
	if idx.Digest != f.digest || len(invs) != 2 || invs[0].Image.Digest != want["linux/amd64"] || invs[1].Image.Digest != want["linux/arm64/v8"] {
		t.Errorf("summary digests %v, index %s, the index has %s and %s", want, f.digest, invs[0].Image.Digest, invs[1].Image.Digest)
	}

	// Built again from the cache, every platform is still named with its digest.
	_, stderr, err := run(t, "--data-dir", f.data, "build", f.spec)
	if err != nil {
		t.Fatal(err)
	}
	for platform, d := range want {
		if !strings.Contains(stderr, platform+" "+d+": cached") {
			t.Errorf("a cached build does not name %s %s:\n%s", platform, d, stderr)
		}
	}
}

func decodeIndexInventories(t *testing.T, out string) (struct{ Ref, Digest string }, []evidence.Inventory) {
	t.Helper()
	var v struct {
		Index     struct{ Ref, Digest string }
		Platforms []evidence.Inventory
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("sbom -o json of an index: %v\n%.400s", err, out)
	}
	return v.Index, v.Platforms
}

// TestIndexEvidence runs every evidence verb on a two-arch index: each reports both platforms, in
// every format; --platform picks one; a platform the index lacks is bad input.
func TestIndexEvidence(t *testing.T) {
	f := newIndexFixture(t)
	ingot := func(args ...string) (string, error) {
		t.Helper()
		out, _, err := run(t, append([]string{"--data-dir", f.data}, args...)...)
		return out, err
	}
	// libfoo names a platform's libfoo1 by its package URL, which carries the arch.
	libfoo := func(arch string) string { return "pkg:deb/debian/libfoo1@ arch=" + arch }

	t.Run("sbom", func(t *testing.T) {
		out, err := ingot("sbom", "fixture:1.0")
		if err != nil {
			t.Fatal(err)
		}
		amd, arm := strings.Index(out, "== linux/amd64 sha256:"), strings.Index(out, "== linux/arm64/v8 sha256:")
		if amd < 0 || arm < amd || strings.Count(out[amd:arm], "libfoo1") != 1 || strings.Count(out[arm:], "libfoo1") != 1 {
			t.Errorf("table: want a section per platform, each listing its libfoo1:\n%s", out)
		}
		out, err = ingot("sbom", "-o", "json", "fixture:1.0")
		if err != nil {
			t.Fatal(err)
		}
		idx, invs := decodeIndexInventories(t, out)
		if idx.Ref != "fixture:1.0" || idx.Digest != f.digest || len(invs) != 2 {
			t.Fatalf("json: index %+v with %d platforms", idx, len(invs))
		}
		for i, arch := range []string{"amd64", "arm64"} {
			if invs[i].Image.Arch != arch || !hasPURL(invs[i].Packages, libfoo(arch)) {
				t.Errorf("json platform %d: %s without its libfoo1 %s", i, invs[i].Image.Arch, libfoo(arch))
			}
		}

		for _, format := range []string{"spdx-json", "cyclonedx-json"} {
			doc, err := ingot("sbom", "-o", format, "fixture:1.0")
			if err != nil {
				t.Fatal(err)
			}
			if format == "spdx-json" {
				err = sbom.ValidateSPDX([]byte(doc))
			} else {
				err = cdxschema.Validate([]byte(doc), sbom.Schemas())
			}
			if err != nil {
				t.Errorf("%s of an index does not validate: %v", format, err)
			}
			if !strings.Contains(doc, f.digest) || !strings.Contains(doc, invs[0].Image.Digest) || !strings.Contains(doc, invs[1].Image.Digest) {
				t.Errorf("%s does not name the index and both images", format)
			}
			// Read back, as scan --sbom does, with every platform's packages.
			back, err := sbom.Decode([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			for _, arch := range []string{"amd64", "arm64"} {
				if !hasPURL(back.Packages, libfoo(arch)) {
					t.Errorf("%s read back lacks %s", format, libfoo(arch))
				}
			}
			path := filepath.Join(t.TempDir(), "sbom.json")
			if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := ingot("scan", "--sbom", path, "-o", "json")
			if err != nil {
				t.Fatalf("scan --sbom of the %s document: %v", format, err)
			}
			var r evidence.Report
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatal(err)
			}
			// The two libfoo1 (same name, version and source) are one match for pkg/vuln.
			if len(r.Findings) != 1 || r.Findings[0].Package == nil || r.Findings[0].Package.Name != "libfoo1" {
				t.Errorf("scan --sbom of the %s document: %+v, want libfoo1's advisory", format, r.Findings)
			}
		}

		out, err = ingot("sbom", "-o", "json", "--platform", "linux/arm64", "fixture:1.0")
		if err != nil {
			t.Fatal(err)
		}
		if _, invs := decodeIndexInventories(t, out); len(invs) != 1 || invs[0].Image.Arch != "arm64" {
			t.Errorf("--platform linux/arm64: %d platforms", len(invs))
		}
	})

	t.Run("scan", func(t *testing.T) {
		out, err := ingot("scan", "-o", "json", "fixture:1.0")
		if err != nil {
			t.Fatal(err)
		}
		rs := decodeIndexReports(t, out, "fixture:1.0", 2)
		for i, arch := range []string{"amd64", "arm64"} {
			if len(rs[i].Findings) != 1 || rs[i].Findings[0].Package == nil || !purlIs(rs[i].Findings[0].Package.PURL, libfoo(arch)) {
				t.Errorf("%s: findings %+v, want its libfoo1's", arch, rs[i].Findings)
			}
		}
		_, err = ingot("scan", "--fail-on", "critical", "fixture:1.0")
		var fe *FindingsError
		if !errors.As(err, &fe) || fe.Count != 2 {
			t.Errorf("--fail-on critical: %v, want exit 3 counting both platforms' findings", err)
		}
		out, err = ingot("scan", "-o", "sarif", "fixture:1.0")
		if err != nil {
			t.Fatal(err)
		}
		var log struct {
			Runs []struct {
				Properties map[string]any // coverage is a list; the rest are strings
				Results    []json.RawMessage
			}
		}
		if err := json.Unmarshal([]byte(out), &log); err != nil || len(log.Runs) != 2 {
			t.Fatalf("sarif: %v, %d runs, want one per platform", err, len(log.Runs))
		}
		for i, arch := range []string{"amd64", "arm64"} {
			p := log.Runs[i].Properties
			platform, _ := p["platform"].(string)
			if !strings.HasPrefix(platform, "linux/"+arch) || p["digest"] != rs[i].Image.Digest || len(log.Runs[i].Results) != 1 {
				t.Errorf("sarif run %d: %v with %d results", i, p, len(log.Runs[i].Results))
			}
			if _, ok := p["coverage"]; !ok {
				t.Errorf("sarif run %d: no coverage property, so the run does not say what it checked", i)
			}
		}
		if _, err := ingot("scan", "-o", "cosign-vuln", "fixture:1.0"); ExitCode(err) != ExitUsage || !strings.Contains(err.Error(), "--platform") {
			t.Errorf("cosign-vuln of an index: %v, want exit 2 asking for --platform", err)
		}
		if _, err := ingot("scan", "-o", "cosign-vuln", "--platform", "linux/arm64", "fixture:1.0"); err != nil {
			t.Errorf("cosign-vuln of one platform: %v", err)
		}
	})

	t.Run("lint", func(t *testing.T) {
		// The amd64 image passes; the arm64 one has a setuid file and a secret. The host's platform
		// passing must not hide the other's failures.
		out, err := ingot("lint", "-o", "json", "fixture:1.0")
		var fe *FindingsError
		if !errors.As(err, &fe) || fe.Count != 2 {
			t.Fatalf("lint: %v, want exit 3 for arm64's two failed rules\n%s", err, out)
		}
		rs := decodeIndexReports(t, out, "fixture:1.0", 2)
		for i, wantFailed := range []string{"", "INGOT-H004 INGOT-H011"} {
			var failed []string
			for _, f := range rs[i].Findings {
				if f.Status == evidence.StatusFailed {
					failed = append(failed, f.ID)
				}
			}
			slices.Sort(failed)
			if strings.Join(failed, " ") != wantFailed {
				t.Errorf("platform %s failed %v, want %q", rs[i].Image.Arch, failed, wantFailed)
			}
		}
		if _, err := ingot("lint", "--platform", "linux/amd64", "fixture:1.0"); err != nil {
			t.Errorf("lint --platform linux/amd64: %v, want a pass", err)
		}
	})

	t.Run("secrets", func(t *testing.T) {
		out, err := ingot("secrets", "fixture:1.0", "--fail-on", "high")
		if ExitCode(err) != ExitFindings {
			t.Fatalf("secrets --fail-on high: %v, want exit 3 for arm64's token", err)
		}
		amd, arm := strings.Index(out, "== linux/amd64"), strings.Index(out, "== linux/arm64")
		if amd < 0 || arm < amd || strings.Contains(out[amd:arm], "github") || !strings.Contains(out[arm:], "/etc/app/env") {
			t.Errorf("table: want the token under linux/arm64 only:\n%s", out)
		}
		if strings.Contains(out, fakeToken) {
			t.Error("the secret was printed in full")
		}
	})

	t.Run("test", func(t *testing.T) {
		tests := filepath.Join(t.TempDir(), "tests.yaml")
		body := "fileExistenceTests:\n  - {name: amd64 libfoo, path: /usr/lib/x86_64-linux-gnu/libfoo.so.1.0, shouldExist: true}\n"
		if err := os.WriteFile(tests, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := ingot("test", "-o", "json", "--tests", tests, "fixture:1.0")
		var fe *FindingsError
		if !errors.As(err, &fe) || fe.Count != 1 {
			t.Fatalf("test: %v, want exit 3 for the arm64 image's failure\n%s", err, out)
		}
		rs := decodeIndexReports(t, out, "fixture:1.0", 2)
		if rs[0].Findings[0].Status != evidence.StatusPassed || rs[1].Findings[0].Status != evidence.StatusFailed {
			t.Errorf("amd64 %s, arm64 %s: want each platform's own files tested", rs[0].Findings[0].Status, rs[1].Findings[0].Status)
		}
	})

	t.Run("unknown platform", func(t *testing.T) {
		for _, verb := range [][]string{{"sbom"}, {"scan"}, {"lint"}, {"secrets"}} {
			_, err := ingot(append(verb, "--platform", "linux/s390x", "fixture:1.0")...)
			if ExitCode(err) != ExitUsage || !strings.Contains(err.Error(), "linux/amd64, linux/arm64") {
				t.Errorf("%s --platform linux/s390x: %v (exit %d), want exit 2 naming linux/amd64, linux/arm64", verb[0], err, ExitCode(err))
			}
		}
		if _, err := ingot("sbom", "--platform", "arm64", "fixture:1.0"); ExitCode(err) != ExitUsage {
			t.Errorf("--platform arm64: %v, want exit 2 (os/arch)", err)
		}
	})
}

// hasPURL reports whether a package's URL matches want: "PREFIX QUALIFIER" (see purlIs).
func hasPURL(pkgs []evidence.Package, want string) bool {
	for _, p := range pkgs {
		if purlIs(p.PURL, want) {
			return true
		}
	}
	return false
}

// purlIs reports whether purl starts with want's first word and holds its second.
func purlIs(purl, want string) bool {
	prefix, qualifier, _ := strings.Cut(want, " ")
	return strings.HasPrefix(purl, prefix) && strings.Contains(purl, qualifier)
}

// TestVerifyIndex signs and attests a two-arch index as a user would (build --push, sign, attest),
// then verifies it: in Debian's registry (the referrers tag scheme) and in one with the referrers
// API. Both platforms are reported, each predicate once with both its formats; a platform whose
// attestations are removed fails verification, by name.
func TestVerifyIndex(t *testing.T) {
	for _, reg := range []struct {
		name  string
		start func(testing.TB) string
	}{
		{"docker-registry", regtest.DockerRegistry},
		{"referrers API", func(t testing.TB) string { return regtest.Registry(t) }},
	} {
		t.Run(reg.name, func(t *testing.T) {
			host := reg.start(t)
			f := newIndexFixture(t)
			offline := regtest.OfflineTransport(nil)
			g := &globalFlags{transport: offline}
			t.Setenv("COSIGN_PASSWORD", "correct horse")
			prefix := filepath.Join(t.TempDir(), "release")
			ingot := func(args ...string) (string, string, error) {
				t.Helper()
				return runWith(t, g, append([]string{"--data-dir", f.data}, args...)...)
			}
			if _, stderr, err := ingot("key", "generate", "--output-key-prefix", prefix); err != nil {
				t.Fatalf("key generate: %v\n%s", err, stderr)
			}
			key, pub := prefix+".key", prefix+".pub"
			ref := host + "/golden/multi:1.0"
			for _, args := range [][]string{{"build", "--push", ref, f.spec}, {"sign", "--key", key, ref}, {"attest", "--key", key, ref}} {
				if _, stderr, err := ingot(args...); err != nil {
					t.Fatalf("%s: %v\n%s", args[0], err, stderr)
				}
			}
			repo := host + "/golden/multi"
			out, _, err := ingot("sbom", "-o", "json", "fixture:1.0")
			if err != nil {
				t.Fatal(err)
			}
			_, invs := decodeIndexInventories(t, out)
			amd, arm := invs[0].Image.Digest, invs[1].Image.Digest

			// Signatures: the index's and each platform's, one line each.
			out, stderr, err := ingot("verify", "--key", pub, ref)
			if err != nil {
				t.Fatalf("verify: %v\n%s", err, stderr)
			}
			want := []string{
				"verified " + repo + "@" + f.digest + " (index): legacy, bundle",
				"verified " + repo + " linux/amd64 " + amd + ": legacy, bundle",
				"verified " + repo + " linux/arm64/v8 " + arm + ": legacy, bundle",
			}
			if got := strings.TrimSpace(out); got != strings.Join(want, "\n") {
				t.Errorf("verify printed\n%s\nwant\n%s", got, strings.Join(want, "\n"))
			}

			// Attestations: each platform's provenance, once though it is there in both formats.
			out, stderr, err = ingot("verify", "--key", pub, "--attestation", "slsaprovenance1", ref)
			if err != nil {
				t.Fatalf("verify --attestation: %v\n%s", err, stderr)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 2 || !strings.Contains(lines[0], `"buildType"`) {
				t.Errorf("verify --attestation printed %d predicates, want one per platform:\n%.600s", len(lines), out)
			}
			for _, w := range []string{repo + " linux/amd64 " + amd + ": 1 predicate (legacy, bundle)", repo + " linux/arm64/v8 " + arm + ": 1 predicate (legacy, bundle)"} {
				if !strings.Contains(stderr, w) {
					t.Errorf("verify --attestation does not say %q:\n%s", w, stderr)
				}
			}
			out, _, err = ingot("verify", "--key", pub, "--attestation", "slsaprovenance1", "-o", "json", ref)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, ln := range strings.Split(strings.TrimSpace(out), "\n") {
				var a struct {
					Digest, Platform, PredicateType string
					Formats                         []string
				}
				if err := json.Unmarshal([]byte(ln), &a); err != nil {
					t.Fatal(err)
				}
				got = append(got, a.Platform+" "+a.Digest+" "+strings.Join(a.Formats, ","))
			}
			if w := []string{"linux/amd64 " + amd + " legacy,bundle", "linux/arm64/v8 " + arm + " legacy,bundle"}; !slices.Equal(got, w) {
				t.Errorf("-o json: %q, want %q", got, w)
			}

			// Remove the arm64 image's attestations, both formats: verification fails, naming it.
			removeAttestations(t, repo, arm)
			_, _, err = ingot("verify", "--key", pub, "--attestation", "slsaprovenance1", ref)
			if err == nil || ExitCode(err) != ExitFailure || !errors.Is(err, sign.ErrNoAttestations) ||
				!strings.Contains(err.Error(), "linux/arm64/v8 "+arm) || strings.Contains(err.Error(), amd) {
				t.Errorf("verify --attestation without arm64's: %v, want exit 1, no attestations, naming linux/arm64/v8 only", err)
			}
			if _, stderr, err := ingot("verify", "--key", pub, ref); err != nil {
				t.Errorf("the signatures no longer verify: %v\n%s", err, stderr)
			}
			if refused := offline.Refused(); len(refused) > 0 {
				t.Errorf("tried to leave loopback: %v", refused)
			}
		})
	}
}

// removeAttestations deletes an image's legacy .att image and its bundle referrers (with the
// referrers tag, on a registry without the API).
func removeAttestations(t *testing.T, repoName, digest string) {
	t.Helper()
	repo, err := name.NewRepository(repoName)
	if err != nil {
		t.Fatal(err)
	}
	h, err := v1.NewHash(digest)
	if err != nil {
		t.Fatal(err)
	}
	del := func(ref name.Reference) {
		desc, err := remote.Head(ref)
		if err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
		if err := remote.Delete(repo.Digest(desc.Digest.String())); err != nil {
			t.Fatalf("deleting %s: %v", ref, err)
		}
		// ggcr's registry keeps a tag apart from the digest it names, and deletes it by name;
		// Debian's refuses that, having dropped the tag with the manifest.
		if tag, ok := ref.(name.Tag); ok {
			_ = remote.Delete(tag)
			if _, err := remote.Head(tag); err == nil {
				t.Fatalf("%s is still there", tag)
			}
		}
	}
	del(repo.Tag("sha256-" + h.Hex + ".att"))
	idx, err := remote.Referrers(repo.Digest(digest))
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range m.Manifests {
		del(repo.Digest(d.Digest.String()))
	}
	if _, err := remote.Head(repo.Tag("sha256-" + h.Hex)); err == nil {
		del(repo.Tag("sha256-" + h.Hex))
	}
}

// TestRegistryVerbsRefuseLocalNames: sign, attest, verify and copy work on registries; a name of the
// local store, or anything path-like, is refused as bad input without a single request, instead of
// going to docker.io. registry:NAME still means the registry.
func TestRegistryVerbsRefuseLocalNames(t *testing.T) {
	data := t.TempDir()
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (store.Store{Root: data}).Layouts().Write(context.Background(), "static", "bookworm", publish.Artifact{Image: img}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("COSIGN_PASSWORD", "correct horse")
	prefix := filepath.Join(t.TempDir(), "k")
	if _, stderr, err := run(t, "--data-dir", data, "key", "generate", "--output-key-prefix", prefix); err != nil {
		t.Fatalf("key generate: %v\n%s", err, stderr)
	}
	key, pub := prefix+".key", prefix+".pub"
	for _, args := range [][]string{
		{"sign", "--key", key, "static:bookworm"},
		{"attest", "--key", key, "static:bookworm"},
		{"verify", "--key", pub, "static:bookworm"},
		{"verify", "--key", pub, "--attestation", "slsaprovenance1", "static"},
		{"copy", "static:bookworm", "127.0.0.1:1/mirror/static:bookworm"},
		{"copy", "127.0.0.1:1/golden/static:bookworm", "./static"},
		{"sign", "--key", key, "oci:" + store.Store{Root: data}.Layouts().Dir("static") + ":bookworm"},
		{"verify", "--key", pub, "app.tar"},
	} {
		g, offline, counted := offlineFlags()
		_, _, err := runWith(t, g, append([]string{"--data-dir", data}, args...)...)
		if ExitCode(err) != ExitUsage || !strings.Contains(err.Error(), "local") || !strings.Contains(err.Error(), "Push it first") {
			t.Errorf("%q: %v (exit %d), want exit 2 saying it is local", args, err, ExitCode(err))
		}
		if n := counted.n.Load(); n > 0 || len(offline.Refused()) > 0 {
			t.Errorf("%q made %d requests and tried %v, want none", args, n, offline.Refused())
		}
	}
	// registry:NAME goes to the registry that name means (docker.io here, refused by the transport).
	offline := regtest.OfflineTransport(nil)
	_, _, err = runWith(t, &globalFlags{transport: offline}, "--data-dir", data, "verify", "--key", pub, "registry:static:bookworm")
	if err == nil || len(offline.Refused()) == 0 || !strings.Contains(strings.Join(offline.Refused(), " "), "docker.io") {
		t.Errorf("registry:static:bookworm: %v, refused %v: want a docker.io lookup", err, offline.Refused())
	}
	// And a registry: reference works as the plain one does.
	host := regtest.Registry(t)
	if err := remote.Write(mustRef(t, host+"/golden/static:bookworm"), img); err != nil {
		t.Fatal(err)
	}
	g := &globalFlags{transport: regtest.OfflineTransport(nil)}
	if _, stderr, err := runWith(t, g, "--data-dir", data, "sign", "--key", key, "registry:"+host+"/golden/static:bookworm"); err != nil {
		t.Fatalf("sign registry:REF: %v\n%s", err, stderr)
	}
	if out, stderr, err := runWith(t, g, "--data-dir", data, "verify", "--key", pub, "registry:"+host+"/golden/static:bookworm"); err != nil || !strings.Contains(out, "verified") {
		t.Errorf("verify registry:REF: %v\n%s%s", err, out, stderr)
	}
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
