package attest

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	slsa "github.com/in-toto/attestation/go/predicates/provenance/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/ingot-build/ingot/pkg/lock"
	"github.com/ingot-build/ingot/pkg/spec"
	"github.com/ingot-build/ingot/pkg/vuln"
)

var update = flag.Bool("update", false, "rewrite golden files")

func loadInputs(t *testing.T, specFile, lockFile string) ProvenanceInput {
	t.Helper()
	s, err := spec.Load(filepath.Join("testdata", specFile))
	if err != nil {
		t.Fatal(err)
	}
	l, err := lock.Read(filepath.Join("testdata", lockFile))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	return ProvenanceInput{
		Spec: s, SpecFile: specFile, SpecDigest: strings.Repeat("d", 64),
		Lock: l, LockFile: lockFile, LockDigest: strings.Repeat("e", 64),
		Arch:         "amd64",
		Builder:      map[string]string{"ingot": "v0.9.0", "buildID": "go:test", "go": "go1.26.0"},
		InvocationID: "0123456789abcdef0123456789abcdef",
		Started:      start, Finished: start.Add(42 * time.Second),
	}
}

// dep is what a test expects of one resolved dependency.
type dep struct{ uri, name, sha256 string }

func TestProvenance(t *testing.T) {
	epoch := time.Unix(1700000000, 0)
	for _, tc := range []struct {
		name, spec, lock, arch string
		edit                   func(*ProvenanceInput)
		golden                 string
		want                   []dep
		notWant                []string // digests that must not appear (another arch's packages)
		internal               map[string]any
	}{
		{
			name: "amd64 of an index on a base index", spec: "ingot.yaml", lock: "ingot.lock", arch: "amd64",
			edit: func(in *ProvenanceInput) {
				in.SourceDateEpoch = &epoch
				in.Files = []File{{Path: "/etc/app.toml", SHA256: strings.Repeat("f", 64)}}
				in.VulnData = []vuln.SourceStatus{{Name: "debian", Origin: "/srv/osv/debian", Imported: time.Date(2026, 2, 28, 0, 0, 0, 0, time.UTC), Records: 12}}
			},
			golden: "provenance-amd64.json",
			want: []dep{
				{"http://127.0.0.1:8080/debian/pool/main/b/base-files/base-files_12.4%2Bdeb12u9_amd64.deb", "base-files_12.4+deb12u9_amd64", "aaaa000000000000000000000000000000000000000000000000000000000001"},
				{"http://127.0.0.1:8080/debian/pool/main/g/glibc/libc6_2.36-9%2Bdeb12u9_amd64.deb", "libc6_2.36-9+deb12u9_amd64", "aaaa000000000000000000000000000000000000000000000000000000000002"},
				{"oci://127.0.0.1:5000/library/base", "base", "5555555555555555555555555555555555555555555555555555555555555555"},
				{"http://127.0.0.1:8080/debian/dists/bookworm/", "InRelease or Release", "2222222222222222222222222222222222222222222222222222222222222222"},
				{"http://127.0.0.1:8080/debian/dists/bookworm/main/binary-amd64/Packages.xz", "", "3333333333333333333333333333333333333333333333333333333333333333"},
				{"", "/etc/app.toml", strings.Repeat("f", 64)},
			},
			notWant:  []string{"bbbb000000000000000000000000000000000000000000000000000000000001", "binary-arm64"},
			internal: map[string]any{"arch": "amd64", "SOURCE_DATE_EPOCH": "1700000000"},
		},
		{
			name: "arm64 takes its own packages and base", spec: "ingot.yaml", lock: "ingot.lock", arch: "arm64",
			want: []dep{
				{"http://127.0.0.1:8080/debian/pool/main/b/base-files/base-files_12.4%2Bdeb12u9_arm64.deb", "base-files_12.4+deb12u9_arm64", "bbbb000000000000000000000000000000000000000000000000000000000001"},
				{"http://127.0.0.1:8080/debian/pool/main/g/glibc/libc6_2.36-9%2Bdeb12u9_arm64.deb", "libc6_2.36-9+deb12u9_arm64", "bbbb000000000000000000000000000000000000000000000000000000000002"},
				{"oci://127.0.0.1:5000/library/base", "base", "6666666666666666666666666666666666666666666666666666666666666666"},
			},
			notWant:  []string{"aaaa000000000000000000000000000000000000000000000000000000000001", "5555555555555555555555555555555555555555555555555555555555555555"},
			internal: map[string]any{"arch": "arm64"},
		},
		{
			name: "no base, no repository record, no files", spec: "nobase.yaml", lock: "nobase.lock", arch: "amd64",
			edit: func(in *ProvenanceInput) { in.SpecFile, in.SpecDigest, in.LockFile, in.LockDigest = "", "", "", "" },
			want: []dep{
				{"http://127.0.0.1:8080/debian/pool/main/t/tzdata/tzdata_2025b-0%2Bdeb12u1_all.deb", "tzdata_2025b-0+deb12u1_all", "cccc000000000000000000000000000000000000000000000000000000000001"},
			},
			internal: map[string]any{"arch": "amd64"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := loadInputs(t, tc.spec, tc.lock)
			in.Arch = tc.arch
			if tc.edit != nil {
				tc.edit(&in)
			}
			data, err := Provenance(in)
			if err != nil {
				t.Fatal(err)
			}
			var p slsa.Provenance
			if err := protojson.Unmarshal(data, &p); err != nil {
				t.Fatalf("the official type does not read the predicate: %v\n%s", err, data)
			}
			if err := p.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			bd, rd := p.GetBuildDefinition(), p.GetRunDetails()
			if bd.GetBuildType() != BuildType || rd.GetBuilder().GetId() != BuilderID || rd.GetBuilder().GetVersion()["ingot"] != "v0.9.0" {
				t.Errorf("buildType %q, builder %v", bd.GetBuildType(), rd.GetBuilder())
			}
			md := rd.GetMetadata()
			if md.GetInvocationId() != in.InvocationID || !md.GetStartedOn().AsTime().Equal(in.Started) || !md.GetFinishedOn().AsTime().Equal(in.Finished) {
				t.Errorf("metadata = %v, want id %s, %s to %s", md, in.InvocationID, in.Started, in.Finished)
			}

			deps := map[dep]bool{}
			for _, d := range bd.GetResolvedDependencies() {
				deps[dep{d.GetUri(), d.GetName(), d.GetDigest()["sha256"]}] = true
			}
			for _, w := range tc.want {
				if !deps[w] {
					t.Errorf("resolvedDependencies lack %+v; have %v", w, deps)
				}
			}
			for _, nw := range tc.notWant {
				if strings.Contains(string(data), nw) {
					t.Errorf("the %s provenance names %s", tc.arch, nw)
				}
			}

			ext := bd.GetExternalParameters().AsMap()
			specRef, lockRef := ext["spec"].(map[string]any), ext["lock"].(map[string]any)
			for what, ref := range map[string]map[string]any{"spec": specRef, "lock": lockRef} {
				if _, ok := ref["canonicalDigest"].(map[string]any)["sha256"].(string); !ok {
					t.Errorf("%s has no canonical digest: %v", what, ref)
				}
			}
			if in.SpecDigest != "" {
				if specRef["digest"].(map[string]any)["sha256"] != in.SpecDigest || specRef["path"] != in.SpecFile {
					t.Errorf("spec = %v, want %s with sha256 %s", specRef, in.SpecFile, in.SpecDigest)
				}
				if lockRef["digest"].(map[string]any)["sha256"] != in.LockDigest || lockRef["path"] != in.LockFile {
					t.Errorf("lock = %v, want %s with sha256 %s", lockRef, in.LockFile, in.LockDigest)
				}
			} else if _, ok := specRef["digest"]; ok {
				t.Errorf("spec digest recorded without a file: %v", specRef)
			}
			if img := ext["image"].(map[string]any); img["name"] != in.Spec.Name || img["tag"] != in.Spec.Tag() {
				t.Errorf("image = %v", img)
			}
			got := bd.GetInternalParameters().AsMap()
			for k, v := range tc.internal {
				if got[k] != v {
					t.Errorf("internalParameters[%s] = %v, want %v", k, got[k], v)
				}
			}
			if _, ok := got["SOURCE_DATE_EPOCH"]; ok && in.SourceDateEpoch == nil {
				t.Errorf("SOURCE_DATE_EPOCH recorded though unset: %v", got)
			}
			if tc.golden != "" {
				compareGolden(t, filepath.Join("testdata", tc.golden), data)
			}
		})
	}
}

func TestProvenanceRefusesIncompleteInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*ProvenanceInput)
		want string
	}{
		{"no times", func(in *ProvenanceInput) { in.Started = time.Time{} }, "times"},
		{"finished before started", func(in *ProvenanceInput) { in.Finished = in.Started.Add(-time.Second) }, "before"},
		{"arch not locked", func(in *ProvenanceInput) { in.Arch = "riscv64" }, "riscv64"},
		{"no builder version", func(in *ProvenanceInput) { in.Builder = nil }, "builder"},
		{"no invocation id", func(in *ProvenanceInput) { in.InvocationID = "" }, "invocation"},
		{"no lock", func(in *ProvenanceInput) { in.Lock = nil }, "lock"},
		{"bad spec digest", func(in *ProvenanceInput) { in.SpecDigest = "xyz" }, "digest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := loadInputs(t, "ingot.yaml", "ingot.lock")
			tc.edit(&in)
			_, err := Provenance(in)
			if !errors.Is(err, ErrProvenance) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Provenance = %v, want ErrProvenance mentioning %q", err, tc.want)
			}
		})
	}
}

// compareGolden compares JSON by content; -update rewrites the file.
func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	var a, b any
	if err := json.Unmarshal(got, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(want, &b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("%s differs (run with -update to accept):\n%s", path, got)
	}
}
