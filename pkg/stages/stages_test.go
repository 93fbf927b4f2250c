package stages_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"

	"github.com/ingot-build/ingot/pkg/harden"
	"github.com/ingot-build/ingot/pkg/imagetest"
	"github.com/ingot-build/ingot/pkg/secrets"
	"github.com/ingot-build/ingot/pkg/stages"
)

// TestRunRefusesBadOptions: a stage's invalid options fail the run before any layer is read, with
// the stage's own error. (The walk itself, one read per layer for every stage, and results equal to
// each stage's own entry are tested in pkg/layers, beside the fixture images.)
func TestRunRefusesBadOptions(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		opt  stages.Options
		want error
	}{
		{"secrets", stages.Options{Secrets: &secrets.Options{Allow: []secrets.Allow{{Rule: "x"}}}}, secrets.ErrInvalid},
		{"lint", stages.Options{Lint: &harden.Options{Profile: "nope"}}, harden.ErrUnknownProfile},
		{"tests", stages.Options{Tests: &imagetest.Suite{FileExistenceTests: []imagetest.FileExistenceTest{{Name: ""}}}}, imagetest.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := stages.Run(ctx, empty.Image, tc.opt); !errors.Is(err, tc.want) {
				t.Errorf("Run = %v, want %v", err, tc.want)
			}
		})
	}
	res, err := stages.Run(ctx, empty.Image, stages.Options{})
	if err != nil || res.Inventory != nil || res.Secrets != nil || res.Lint != nil || res.Tests != nil {
		t.Errorf("no stage: %+v, %v", res, err)
	}
}
