package cloud_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/cloud"
	"github.com/ingot-build/ingot/pkg/fault"
)

// The listings are files users copy from anywhere: whatever they hold, parsing returns an error of
// bad input or results, and the fleet check over those results does not fail.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"Reservations": [{"Instances": [{"LaunchTime": "x"}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, p := range catalog.Providers() {
			if _, err := cloud.ParseImages(p, data, "eu-west-1"); err != nil && fault.Of(err) != fault.Invalid {
				t.Fatalf("%s images: %v is not a bad-input error", p, err)
			}
			in, err := cloud.ParseInstances(p, data, data)
			if err != nil {
				if fault.Of(err) != fault.Invalid {
					t.Fatalf("%s instances: %v is not a bad-input error", p, err)
				}
				continue
			}
			cloud.Fleet(in, nil, time.Now(), cloud.DefaultTTL)
		}
	})
}
