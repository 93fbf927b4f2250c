package stages

import (
	"context"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/harden"
	"github.com/ingot-build/ingot/pkg/imageref"
	"github.com/ingot-build/ingot/pkg/imagetest"
	"github.com/ingot-build/ingot/pkg/layers"
	"github.com/ingot-build/ingot/pkg/sbom"
	"github.com/ingot-build/ingot/pkg/secrets"
)

// Options say which stages run, each with its options; a nil stage is not run.
type Options struct {
	// SBOM reads the inventory. With Cache set, an inventory already cached for the image is
	// taken from it (and the stage is left out of the walk), and a new one is recorded there.
	SBOM  *sbom.Options
	Cache *sbom.Cache
	// Secrets scans for secrets.
	Secrets *secrets.Options
	// Lint evaluates the hardening rules. When Secrets runs too, its findings feed the secrets rule
	// (Lint.Secrets is not called); otherwise Lint.Secrets, if set, does.
	Lint *harden.Options
	// Tests runs a structure test suite, with TestOptions.
	Tests       *imagetest.Suite
	TestOptions imagetest.Options
	// Limits bound how much the image's layers may decompress to, for the whole walk; they replace
	// each stage's own.
	Limits imageref.Limits
}

// Result is what each stage that ran found.
type Result struct {
	Inventory            *evidence.Inventory
	Secrets, Lint, Tests []evidence.Finding
}

// Run runs the stages opt names on img in one walk of its layers.
func Run(ctx context.Context, img v1.Image, opt Options) (*Result, error) {
	res := &Result{}
	if opt.SBOM != nil && opt.Cache != nil {
		inv, ok, err := opt.Cache.Cached(ctx, img, *opt.SBOM)
		if err != nil {
			return nil, fmt.Errorf("sbom: %w", err)
		}
		if ok {
			res.Inventory = inv
		}
	}
	if opt.Secrets != nil {
		if err := opt.Secrets.Validate(); err != nil {
			return nil, fmt.Errorf("secrets: %w", err)
		}
	}
	if opt.Tests != nil {
		if err := opt.Tests.Validate(); err != nil {
			return nil, fmt.Errorf("structure tests: %w", err)
		}
	}
	li, err := layers.Open(img)
	if err != nil {
		return nil, err
	}
	var (
		vs  []layers.Visitor
		inv *sbom.Visitor
		sec *secrets.Visitor
		lnt *harden.Visitor
		tst *imagetest.Visitor
	)
	if opt.SBOM != nil && res.Inventory == nil {
		if inv, err = sbom.NewVisitor(img, li, *opt.SBOM); err != nil {
			return nil, fmt.Errorf("sbom: %w", err)
		}
		vs = append(vs, inv)
	}
	if opt.Secrets != nil {
		sec = secrets.NewVisitor(li, *opt.Secrets)
		defer sec.Close()
		vs = append(vs, sec)
	}
	if opt.Lint != nil {
		lo := *opt.Lint
		if sec != nil {
			// The secrets rule takes the findings of this walk's secrets stage, which is done
			// before the rules are evaluated.
			lo.Secrets = func(context.Context, v1.Image) ([]evidence.Finding, error) { return sec.Findings() }
		}
		if lnt, err = harden.NewVisitor(img, li, lo); err != nil {
			return nil, fmt.Errorf("lint: %w", err)
		}
		vs = append(vs, lnt)
	}
	if opt.Tests != nil {
		to := opt.TestOptions
		to.Limits = opt.Limits
		if tst, err = imagetest.NewVisitor(li, opt.Tests, to); err != nil {
			return nil, fmt.Errorf("structure tests: %w", err)
		}
		defer tst.Close()
		vs = append(vs, tst)
	}
	if len(vs) > 0 {
		wo := layers.Options{Limits: opt.Limits, Sequential: tst != nil && tst.Sequential()}
		if err := layers.Walk(ctx, li, wo, vs...); err != nil {
			return nil, fmt.Errorf("reading the image's layers: %w", err)
		}
	}
	if inv != nil {
		if res.Inventory, err = inv.Inventory(); err != nil {
			return nil, err
		}
		if opt.Cache != nil {
			opt.Cache.Put(img, res.Inventory)
		}
	}
	if sec != nil {
		if res.Secrets, err = sec.Findings(); err != nil {
			return nil, err
		}
	}
	if lnt != nil {
		if res.Lint, err = lnt.Findings(ctx); err != nil {
			return nil, fmt.Errorf("lint: %w", err)
		}
	}
	if tst != nil {
		if res.Tests, err = tst.Findings(ctx); err != nil {
			return nil, fmt.Errorf("structure tests: %w", err)
		}
	}
	return res, nil
}
