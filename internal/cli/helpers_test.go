package cli

import (
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ingot-build/ingot/pkg/store"
)

// readConfig loads the config of the single-arch image name:tag from a data directory's layout store.
func readConfig(t *testing.T, dataDir, name, tag string) *v1.ConfigFile {
	t.Helper()
	a, err := store.Store{Root: dataDir}.Layouts().Read(name, tag)
	if err != nil {
		t.Fatal(err)
	}
	if a.Image == nil {
		t.Fatal("expected a single image")
	}
	cfg, err := a.Image.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
