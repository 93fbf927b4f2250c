package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/ext"
)

// celCostLimit bounds one condition's evaluation, so a condition over a huge predicate (an SBOM) or a
// careless comprehension cannot hold a review past its deadline. It is far above what a condition over
// a vulnerability report of thousands of findings costs.
const celCostLimit = 50_000_000

// Condition is a compiled CEL condition on an attestation.
type Condition struct {
	source string
	prg    cel.Program
}

// conditionEnv declares what a condition sees.
func conditionEnv() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("predicate", cel.DynType),
		cel.Variable("predicateType", cel.StringType),
		cel.Variable("subject", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("now", cel.TimestampType),
		ext.Strings(), ext.Lists(), ext.Sets(),
	)
}

// CompileCondition compiles a CEL expression that must evaluate to a bool.
func CompileCondition(src string) (*Condition, error) {
	env, err := conditionEnv()
	if err != nil {
		return nil, err
	}
	ast, iss := env.Compile(src)
	if iss.Err() != nil {
		return nil, fmt.Errorf("does not compile: %s", strings.ReplaceAll(iss.Err().Error(), "\n", " "))
	}
	if ast.OutputType() != cel.BoolType && ast.OutputType() != cel.DynType {
		return nil, fmt.Errorf("evaluates to %s, want bool", ast.OutputType())
	}
	prg, err := env.Program(ast, cel.CostLimit(celCostLimit), cel.InterruptCheckFrequency(100), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, fmt.Errorf("does not compile: %w", err)
	}
	return &Condition{source: src, prg: prg}, nil
}

func (c *Condition) String() string { return strings.TrimSpace(c.source) }

// Subject is what a condition's subject variable holds.
type Subject struct {
	// Digest is the platform image's digest, Platform its os/arch[/variant] ("" for a single image),
	// Image the normalised reference as the pod gave it.
	Digest, Platform, Image string
}

// Eval evaluates the condition on one predicate. An evaluation error (a field the predicate lacks, a
// wrong type) is an error: the condition is not met.
func (c *Condition) Eval(ctx context.Context, predicateType string, predicate json.RawMessage, s Subject, now time.Time) (bool, error) {
	var pred any
	if len(predicate) > 0 {
		if err := json.Unmarshal(predicate, &pred); err != nil {
			return false, fmt.Errorf("the predicate is not JSON: %w", err)
		}
	}
	out, _, err := c.prg.ContextEval(ctx, map[string]any{
		"predicate":     pred,
		"predicateType": predicateType,
		"subject":       map[string]string{"digest": s.Digest, "platform": s.Platform, "image": s.Image},
		"now":           now,
	})
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("evaluated to %v, not a bool", out.Value())
	}
	return b, nil
}
