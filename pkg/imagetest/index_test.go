package imagetest

import (
	"context"
	"errors"
	"runtime"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/ingot-build/ingot/pkg/evidence"
)

func indexOf(t *testing.T, archs ...string) v1.ImageIndex {
	t.Helper()
	var adds []mutate.IndexAddendum
	for _, a := range archs {
		img := imageOf(t, a, v1.Config{}, layerOf(t, append(baseEntries(), fileE("arch", 0o644, a))...))
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: a}}})
	}
	// An attestation manifest, as buildx adds, is neither tested nor reported.
	att := imageOf(t, "unknown", v1.Config{}, layerOf(t, fileE("att.json", 0o644, "{}")))
	adds = append(adds, mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"}}})
	return mutate.AppendManifests(empty.Index, adds...)
}

func TestRunIndex(t *testing.T) {
	other := "arm64"
	if runtime.GOARCH == "arm64" {
		other = "amd64"
	}
	s := &Suite{FileContentTests: []FileContentTest{{Name: "native", Path: "/arch", ExpectedContents: []string{"^" + runtime.GOARCH + "$"}}}}
	fs, err := RunIndex(context.Background(), indexOf(t, other, runtime.GOARCH, "s390x"), s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 3 {
		t.Fatalf("findings %+v, want the test and two skipped platforms", fs)
	}
	checkFinding(t, fs[0], "") // the native image was the one tested
	for i, p := range []string{"linux/" + other, "linux/s390x"} {
		f := fs[i+1]
		if f.Kind != evidence.KindTest || f.Status != evidence.StatusSkipped || f.Detail["platform"] != p || f.Reason == "" || f.Counts() {
			t.Errorf("skipped platform %s reported as %+v", p, f)
		}
	}

	if _, err := RunIndex(context.Background(), indexOf(t, "s390x"), s, Options{}); !errors.Is(err, ErrNoNativePlatform) {
		t.Errorf("an index without a %s image: %v, want ErrNoNativePlatform", runtime.GOARCH, err)
	}
}
