package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	slsa "github.com/in-toto/attestation/go/predicates/provenance/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/ingot-build/ingot/pkg/store"
)

// TestProvenanceRecorded builds with the spec and lock files named: the evidence holds a valid
// provenance naming both files by digest, every locked .deb and the build's real times; a cached
// rebuild keeps it; the image does not depend on it; and a spec file that changed is refused.
func TestProvenanceRecorded(t *testing.T) {
	repo := fixtureRepo(t)
	dir := t.TempDir()
	s := parseSpec(t, dir, `name: prov
repositories: [{url: "`+repo.URL+`", suite: stable, keyring: "`+repo.Keyring+`"}]
packages: [hello-data]
`)
	ctx := context.Background()
	epoch := time.Unix(1700000000, 0)
	opt := Options{DataDir: t.TempDir(), SpecFile: filepath.Join(dir, "ingot.yaml"), LockFile: filepath.Join(dir, "ingot.lock"), SourceDateEpoch: &epoch}
	l, err := Lock(ctx, s, opt)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Write(opt.LockFile); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	res, err := Build(ctx, s, l, opt)
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	evDir := opt.Store().EvidenceDir(s.Name, res.Digest)
	data, err := os.ReadFile(filepath.Join(evDir, store.ProvenanceFile))
	if err != nil {
		t.Fatal(err)
	}
	var p slsa.Provenance
	if err := protojson.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	ext := p.GetBuildDefinition().GetExternalParameters().AsMap()
	for _, f := range []struct{ key, path string }{{"spec", opt.SpecFile}, {"lock", opt.LockFile}} {
		raw, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(raw)
		ref := ext[f.key].(map[string]any)
		if got := ref["digest"].(map[string]any)["sha256"]; got != hex.EncodeToString(sum[:]) || ref["path"] != filepath.ToSlash(f.path) {
			t.Errorf("%s = %v, want %s with sha256 %x", f.key, ref, f.path, sum)
		}
	}
	debs := map[string]string{}
	for _, d := range p.GetBuildDefinition().GetResolvedDependencies() {
		debs[d.GetName()] = d.GetDigest()["sha256"]
	}
	for _, pkg := range l.Packages() {
		if n := pkg.Name + "_" + pkg.Version + "_" + pkg.Architecture; debs[n] != pkg.SHA256 {
			t.Errorf("provenance has %s with sha256 %q, want %s", n, debs[n], pkg.SHA256)
		}
	}
	md := p.GetRunDetails().GetMetadata()
	start, finish := md.GetStartedOn().AsTime(), md.GetFinishedOn().AsTime()
	if start.Before(before.Truncate(time.Second)) || finish.After(after) || finish.Before(start) {
		t.Errorf("times %s to %s, want within the build %s to %s", start, finish, before, after)
	}
	if got := p.GetBuildDefinition().GetInternalParameters().AsMap()["SOURCE_DATE_EPOCH"]; got != "1700000000" {
		t.Errorf("SOURCE_DATE_EPOCH = %v", got)
	}

	// A cached rebuild is the same image: its provenance stays as recorded.
	again, err := Build(ctx, s, l, opt)
	if err != nil {
		t.Fatal(err)
	}
	kept, _ := os.ReadFile(filepath.Join(evDir, store.ProvenanceFile))
	if !again.Cached || string(kept) != string(data) {
		t.Errorf("cached rebuild: cached=%v, provenance kept=%v", again.Cached, string(kept) == string(data))
	}

	// A fresh build elsewhere, without the files named, makes the same image: the provenance (with
	// its own invocation and times) lives beside the image, not in it.
	other := Options{DataDir: t.TempDir(), SourceDateEpoch: &epoch}
	fresh, err := Build(ctx, s, l, other)
	if err != nil {
		t.Fatal(err)
	}
	if fresh.Cached || fresh.Digest != res.Digest {
		t.Errorf("fresh build: cached=%v digest %s, want %s", fresh.Cached, fresh.Digest, res.Digest)
	}
	freshProv, _ := os.ReadFile(filepath.Join(other.Store().EvidenceDir(s.Name, fresh.Digest), store.ProvenanceFile))
	var fp slsa.Provenance
	if err := protojson.Unmarshal(freshProv, &fp); err != nil {
		t.Fatal(err)
	}
	if fp.GetRunDetails().GetMetadata().GetInvocationId() == md.GetInvocationId() {
		t.Error("two builds share an invocation id")
	}

	// A spec file edited after it was read no longer describes the build.
	if err := os.WriteFile(opt.SpecFile, []byte("name: other\npackages: [hello-data]\nrepositories: [{host: true}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	changed := Options{DataDir: t.TempDir(), SpecFile: opt.SpecFile, LockFile: opt.LockFile}
	if _, err := Build(ctx, s, l, changed); !errors.Is(err, ErrInputChanged) {
		t.Errorf("Build with a changed spec file = %v, want ErrInputChanged", err)
	}
	if _, err := os.Stat(changed.Store().Layouts().Dir(s.Name)); !errors.Is(err, os.ErrNotExist) {
		t.Error("a refused build stored its image")
	}
}
