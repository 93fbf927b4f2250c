package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ingot-build/ingot/internal/regtest"
	"github.com/ingot-build/ingot/internal/testrepo"
	"github.com/ingot-build/ingot/pkg/store"
	"github.com/ingot-build/ingot/pkg/vuln"
)

// runWith executes ingot like run, over preset global flags (a transport, for one).
func runWith(t *testing.T, g *globalFlags, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := newRoot(g)
	cmd.SetArgs(args)
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := cmd.ExecuteContext(ctx)
	return stdout.String(), stderr.String(), err
}

// signFixture is a data directory with vulnerability data, a spec, and a key pair made by ingot.
type signFixture struct {
	data, spec, key, pub string
}

func newSignFixture(t *testing.T) signFixture {
	t.Helper()
	t.Setenv("COSIGN_PASSWORD", "correct horse")
	repo := testrepo.New(t, testrepo.Options{Packages: fixturePackages()})
	// The fixture advisory is critical; the gate is not what these tests are about.
	f := signFixture{data: t.TempDir(), spec: writeSpec(t, repo, specTemplate+"evidence: {fail-on: none}\n")}
	osv := t.TempDir()
	if err := os.WriteFile(filepath.Join(osv, "a.json"), []byte(debianAdvisory), 0o644); err != nil {
		t.Fatal(err)
	}
	db := store.Store{Root: f.data}.VulnDB()
	if _, err := db.Import(context.Background(), osv, vuln.ImportOptions{Name: "fixture"}); err != nil {
		t.Fatal(err)
	}
	keys := t.TempDir()
	prefix := filepath.Join(keys, "release")
	if _, stderr, err := run(t, "key", "generate", "--output-key-prefix", prefix); err != nil {
		t.Fatalf("key generate: %v\n%s", err, stderr)
	}
	f.key, f.pub = prefix+".key", prefix+".pub"
	return f
}

// TestBuildSignPush runs the whole pipeline into Debian's docker-registry, which has no referrers
// API, with a transport that refuses anything but loopback; then ingot and the real cosign v2 and v3
// verify the signatures and attestations, and a second run adds nothing.
func TestBuildSignPush(t *testing.T) {
	host := regtest.DockerRegistry(t)
	f := newSignFixture(t)
	ref := host + "/golden/fixture:1.0"
	offline := regtest.OfflineTransport(nil)
	g := &globalFlags{transport: offline}
	stdout, stderr, err := runWith(t, g, "--data-dir", f.data, "build", "--sign", "--key", f.key, "--push", ref, f.spec)
	if err != nil {
		t.Fatalf("build --sign --push: %v\n%s", err, stderr)
	}
	digest := strings.TrimSpace(stdout)
	dref := host + "/golden/fixture@" + digest
	if !strings.Contains(stderr, "signed ") || !strings.Contains(stderr, "attested ") {
		t.Errorf("build did not report signing and attesting:\n%s", stderr)
	}

	// ingot verifies the signature in each format, and every attestation type.
	for _, format := range []string{"legacy", "bundle"} {
		out, stderr, err := runWith(t, g, "verify", "--key", f.pub, "--format", format, dref)
		if err != nil || !strings.Contains(out, "verified") {
			t.Fatalf("verify --format %s: %v\n%s%s", format, err, out, stderr)
		}
	}
	wantPred := map[string]string{
		"slsaprovenance1": `"buildType":"https://ingot.build/buildtypes/image/v1"`,
		"spdxjson":        `"spdxVersion":"SPDX-2.3"`,
		"cyclonedx":       `"bomFormat":"CycloneDX"`,
		"vuln":            `DEBIAN-CVE-2024-1111`,
		"lint":            `"findings"`,
	}
	for typ, want := range wantPred {
		out, stderr, err := runWith(t, g, "verify", "--key", f.pub, "--attestation", typ, dref)
		if err != nil {
			t.Fatalf("verify --attestation %s: %v\n%s", typ, err, stderr)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 1 {
			t.Errorf("verify --attestation %s printed %d predicates, want 1 (the same in both formats)", typ, len(lines))
		}
		if !strings.Contains(compactJSON(t, lines[0]), want) {
			t.Errorf("the %s predicate lacks %s:\n%.400s", typ, want, lines[0])
		}
	}
	if refused := offline.Refused(); len(refused) > 0 {
		t.Fatalf("signing and verifying tried to leave loopback: %v", refused)
	}

	// A second run (a retry) writes nothing new.
	before := attachments(t, host+"/golden/fixture", digest)
	if _, stderr, err := runWith(t, g, "--data-dir", f.data, "build", "--sign", "--key", f.key, "--push", ref, f.spec); err != nil {
		t.Fatalf("second build --sign --push: %v\n%s", err, stderr)
	}
	if after := attachments(t, host+"/golden/fixture", digest); after != before {
		t.Errorf("a second run changed the attachments: %+v, then %+v", before, after)
	}

	// The real cosign agrees. v3 reads the bundles; v2 the bundles with --new-bundle-format.
	for _, major := range []int{2, 3} {
		bin := regtest.Cosign(t, major)
		vf := regtest.VerifyFlags(t, bin, major)
		if major == 2 {
			vf = append(vf, "--new-bundle-format", "--trusted-root", regtest.TrustedRoot(t, regtest.Cosign(t, 3)))
		}
		args := append(append([]string{"verify", "--key", f.pub}, vf...), dref)
		if out, stderr, err := regtest.RunCosign(t, bin, nil, args...); err != nil {
			t.Fatalf("cosign v%d verify: %v\n%s%s", major, err, out, stderr)
		}
		for _, typ := range []string{"slsaprovenance1", "vuln", "spdxjson", "cyclonedx"} {
			args := append(append([]string{"verify-attestation", "--key", f.pub, "--type", typ}, vf...), dref)
			if out, stderr, err := regtest.RunCosign(t, bin, nil, args...); err != nil {
				t.Errorf("cosign v%d verify-attestation --type %s: %v\n%.300s%s", major, typ, err, out, stderr)
			}
		}
	}
}

// TestLegacyOnlyCosignV2 signs in the legacy format alone: what cosign v2, Kyverno and
// policy-controller read by default, with no extra flag.
func TestLegacyOnlyCosignV2(t *testing.T) {
	host := regtest.DockerRegistry(t)
	f := newSignFixture(t)
	ref := host + "/golden/legacy:1.0"
	stdout, stderr, err := run(t, "--data-dir", f.data, "build", "--sign", "--sign-format", "legacy", "--key", f.key, "--push", ref, f.spec)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, stderr)
	}
	dref := host + "/golden/legacy@" + strings.TrimSpace(stdout)
	for _, major := range []int{2, 3} {
		bin := regtest.Cosign(t, major)
		vf := regtest.VerifyFlags(t, bin, major)
		if major == 3 {
			vf = []string{"--insecure-ignore-tlog", "--allow-http-registry", "--new-bundle-format=false"}
		}
		if out, stderr, err := regtest.RunCosign(t, bin, nil, append(append([]string{"verify", "--key", f.pub}, vf...), dref)...); err != nil {
			t.Fatalf("cosign v%d verify: %v\n%s%s", major, err, out, stderr)
		}
		for _, typ := range []string{"slsaprovenance1", "vuln", "spdxjson"} {
			args := append(append([]string{"verify-attestation", "--key", f.pub, "--type", typ}, vf...), dref)
			if out, stderr, err := regtest.RunCosign(t, bin, nil, args...); err != nil {
				t.Errorf("cosign v%d verify-attestation --type %s: %v\n%.300s%s", major, typ, err, out, stderr)
			}
		}
	}
}

// TestVerifyWhatCosignSigned: ingot accepts cosign's own signatures and attestations, made with a
// key cosign generated, in both formats.
func TestVerifyWhatCosignSigned(t *testing.T) {
	host := regtest.Registry(t, regtest.WithReferrers(false))
	f := newSignFixture(t)
	keys := t.TempDir()
	bin2 := regtest.Cosign(t, 2)
	env := []string{"COSIGN_PASSWORD=cosign pw"}
	if _, stderr, err := regtest.RunCosign(t, bin2, env, "generate-key-pair", "--output-key-prefix", filepath.Join(keys, "cosign")); err != nil {
		t.Fatalf("cosign generate-key-pair: %v\n%s", err, stderr)
	}
	key, pub := filepath.Join(keys, "cosign.key"), filepath.Join(keys, "cosign.pub")
	pred := filepath.Join(keys, "pred.json")
	if err := os.WriteFile(pred, []byte(`{"scanner":{"uri":"x"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, major := range []int{2, 3} {
		ref := host + "/cosigned/v" + string(rune('0'+major)) + ":1"
		stdout, stderr, err := run(t, "--data-dir", f.data, "build", "--push", ref, f.spec)
		if err != nil {
			t.Fatalf("build: %v\n%s", err, stderr)
		}
		dref := strings.Replace(ref, ":1", "@"+strings.TrimSpace(stdout), 1)
		bin := regtest.Cosign(t, major)
		sf := regtest.SignFlags(t, bin, major)
		if out, stderr, err := regtest.RunCosign(t, bin, env, append(append([]string{"sign", "--key", key}, sf...), dref)...); err != nil {
			t.Fatalf("cosign v%d sign: %v\n%s%s", major, err, out, stderr)
		}
		if out, stderr, err := regtest.RunCosign(t, bin, env, append(append([]string{"attest", "--key", key, "--type", "vuln", "--predicate", pred}, sf...), dref)...); err != nil {
			t.Fatalf("cosign v%d attest: %v\n%s%s", major, err, out, stderr)
		}
		t.Setenv("COSIGN_PASSWORD", "")
		out, stderr, err := run(t, "verify", "--key", pub, dref)
		if err != nil || !strings.Contains(out, "verified") {
			t.Fatalf("ingot verify of cosign v%d's signature: %v\n%s%s", major, err, out, stderr)
		}
		out, stderr, err = run(t, "verify", "--key", pub, "--attestation", "vuln", dref)
		if err != nil || !strings.Contains(out, `"uri":"x"`) {
			t.Fatalf("ingot verify --attestation vuln of cosign v%d's attestation: %v\n%s%s", major, err, out, stderr)
		}
		// And the wrong key is refused.
		if _, _, err := run(t, "verify", "--key", f.pub, dref); err == nil || ExitCode(err) != ExitFailure {
			t.Fatalf("verify with another key = %v", err)
		}
	}
}

// TestPushDiesMidway: the registry dies in the middle of build --sign --push; the command fails, and
// a retry completes the work with nothing duplicated.
func TestPushDiesMidway(t *testing.T) {
	upstream := regtest.DockerRegistry(t)
	flaky := &regtest.Flaky{}
	host := regtest.Front(t, upstream, flaky.Wrap)
	f := newSignFixture(t)
	ref := host + "/golden/flaky:1.0"
	// Let the image through, then fail while the signatures and attestations go up.
	flaky.FailAfterManifestPut(regtest.Failure{Status: 0})
	if _, _, err := run(t, "--data-dir", f.data, "build", "--sign", "--key", f.key, "--push", ref, f.spec); err == nil {
		t.Fatal("build --sign --push succeeded while the registry was down")
	}
	flaky.Heal()
	stdout, stderr, err := run(t, "--data-dir", f.data, "build", "--sign", "--key", f.key, "--push", ref, f.spec)
	if err != nil {
		t.Fatalf("retry: %v\n%s", err, stderr)
	}
	digest := strings.TrimSpace(stdout)
	a := attachments(t, host+"/golden/flaky", digest)
	if a.sigLayers != 1 || a.attLayers < 5 {
		t.Errorf("after the retry: %+v, want one signature and one layer per attestation", a)
	}
	if a.referrers != 1+a.attLayers {
		t.Errorf("after the retry: %d bundle referrers, want %d (one signature, one per attestation)", a.referrers, 1+a.attLayers)
	}
	if _, stderr, err := run(t, "verify", "--key", f.pub, host+"/golden/flaky@"+digest); err != nil {
		t.Fatalf("verify after retry: %v\n%s", err, stderr)
	}
}

// TestCopyKeepsSignatures copies a signed image to another registry and verifies it there, with
// ingot and with cosign v3.
func TestCopyKeepsSignatures(t *testing.T) {
	src := regtest.Registry(t)
	dst := regtest.DockerRegistry(t)
	f := newSignFixture(t)
	stdout, stderr, err := run(t, "--data-dir", f.data, "build", "--sign", "--key", f.key, "--push", src+"/golden/app:1.0", f.spec)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, stderr)
	}
	digest := strings.TrimSpace(stdout)
	for i := range 2 {
		out, stderr, err := run(t, "copy", src+"/golden/app:1.0", dst+"/mirror/app:1.0")
		if err != nil {
			t.Fatalf("copy: %v\n%s", err, stderr)
		}
		if i == 1 && !strings.Contains(out, "0 signature tags, 0 referrers") {
			t.Errorf("a second copy copied again: %s", out)
		}
	}
	dref := dst + "/mirror/app@" + digest
	for _, typ := range []string{"", "slsaprovenance1"} {
		args := []string{"verify", "--key", f.pub, dref}
		if typ != "" {
			args = append(args, "--attestation", typ)
		}
		if _, stderr, err := run(t, args...); err != nil {
			t.Fatalf("verify %s at the copy: %v\n%s", typ, err, stderr)
		}
	}
	bin := regtest.Cosign(t, 3)
	args := append(append([]string{"verify-attestation", "--key", f.pub, "--type", "slsaprovenance1"}, regtest.VerifyFlags(t, bin, 3)...), dref)
	if out, stderr, err := regtest.RunCosign(t, bin, nil, args...); err != nil {
		t.Fatalf("cosign v3 at the copy: %v\n%s%s", err, out, stderr)
	}
}

type attached struct{ sigLayers, attLayers, referrers int }

// attachments counts what hangs off an image: legacy signature and attestation layers, and referrers.
func attachments(t *testing.T, repo, digest string) attached {
	t.Helper()
	var a attached
	r, err := name.NewRepository(repo)
	if err != nil {
		t.Fatal(err)
	}
	h, err := v1.NewHash(digest)
	if err != nil {
		t.Fatal(err)
	}
	for suffix, n := range map[string]*int{"sig": &a.sigLayers, "att": &a.attLayers} {
		img, err := remote.Image(r.Tag("sha256-" + h.Hex + "." + suffix))
		if err != nil {
			t.Fatalf("%s: %v", suffix, err)
		}
		m, err := img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		*n = len(m.Layers)
	}
	idx, err := remote.Referrers(r.Digest(digest))
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	a.referrers = len(m.Manifests)
	return a
}

func compactJSON(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Fatalf("not JSON: %v\n%.200s", err, s)
	}
	return b.String()
}

// TestAttestImageBuiltElsewhere attests an image ingot has no record of: the evidence stages run on
// the registry's image, their documents are recorded, and attesting again adds nothing.
func TestAttestImageBuiltElsewhere(t *testing.T) {
	host := regtest.Registry(t, regtest.WithReferrers(false))
	f := newSignFixture(t)
	ref := host + "/elsewhere/app:1"
	stdout, stderr, err := run(t, "--data-dir", t.TempDir(), "build", "--push", ref, f.spec)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, stderr)
	}
	dref := host + "/elsewhere/app@" + strings.TrimSpace(stdout)
	for i, want := range []string{"4 new", "0 new, 4 already there"} {
		out, stderr, err := run(t, "--data-dir", f.data, "attest", "--key", f.key, "--format", "bundle", dref)
		if err != nil {
			t.Fatalf("attest #%d: %v\n%s", i+1, err, stderr)
		}
		if !strings.Contains(out, want) {
			t.Errorf("attest #%d: %q, want %q (SPDX, CycloneDX, vuln, lint)", i+1, out, want)
		}
	}
	for _, typ := range []string{"spdxjson", "cyclonedx", "vuln", "lint"} {
		if _, stderr, err := run(t, "verify", "--key", f.pub, "--attestation", typ, dref); err != nil {
			t.Errorf("verify --attestation %s: %v\n%s", typ, err, stderr)
		}
	}
	if _, _, err := run(t, "verify", "--key", f.pub, "--attestation", "slsaprovenance1", dref); err == nil {
		t.Error("an image ingot did not build has a provenance attestation")
	}
}
