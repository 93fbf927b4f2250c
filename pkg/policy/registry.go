package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"golang.org/x/sync/errgroup"

	"github.com/ingot-build/ingot/pkg/sign"
)

// SessionRegistry checks rules against registries through a sign.Session: the one Registry ingot
// has; the webhook puts its cache in front of it.
type SessionRegistry struct {
	Session *sign.Session
	// Now is the clock conditions see as now (nil: time.Now). A condition is evaluated when the
	// image is checked, and its verdict is as old as the check.
	Now func() time.Time
}

// NewSessionRegistry checks through s.
func NewSessionRegistry(s *sign.Session) *SessionRegistry { return &SessionRegistry{Session: s} }

// Resolve reads the digest a tag points to now.
func (s *SessionRegistry) Resolve(ctx context.Context, t name.Tag) (string, error) {
	r, err := s.Session.Resolve(ctx, t)
	if err != nil {
		return "", err
	}
	return r.Digest.DigestStr(), nil
}

// Confirm reads the digest the tag points to now: the session remembers nothing.
func (s *SessionRegistry) Confirm(ctx context.Context, t name.Tag, _ string) (string, error) {
	return s.Resolve(ctx, t)
}

// unavailable marks what leaves the answer unknown: a registry that failed or did not answer in time.
func unavailable(err error) bool {
	return errors.Is(err, sign.ErrRegistry) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// Check verifies the rule's signature and attestation requirements on the image at d: the signature
// on d itself, the attestations on each of its platform images. A registry failure anywhere is the
// error (nothing is known); everything else is a Failure in the verdict.
func (s *SessionRegistry) Check(ctx context.Context, d name.Digest, rr RuleRef) (Verdict, error) {
	r := rr.r
	resolved, err := s.Session.Resolve(ctx, d)
	if err != nil {
		if unavailable(err) {
			return Verdict{}, err
		}
		return Verdict{Failures: []Failure{{Rule: r.rule.Name, Requirement: ReqSignature, Message: err.Error()}}}, nil
	}
	var (
		mu       sync.Mutex
		failures []Failure
	)
	fail := func(req, format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		failures = append(failures, Failure{Rule: r.rule.Name, Requirement: req, Message: fmt.Sprintf(format, args...)})
	}
	g, gctx := errgroup.WithContext(ctx)
	if r.sigKeys != nil {
		g.Go(func() error {
			_, err := s.Session.WithFormats(r.sigFormats).VerifySignatures(gctx, d, r.sigKeys)
			switch {
			case err == nil:
				return nil
			case unavailable(err):
				return err
			}
			fail(ReqSignature, "no signature by %s: %s", keyNames(r.sigNames), r.keyText.Replace(err.Error()))
			return nil
		})
	}
	if len(r.atts) > 0 && r.attKeys != nil {
		g.Go(func() error {
			checks, err := s.Session.VerifyAttestations(gctx, resolved, r.attKeys, r.attTypes...)
			if err != nil {
				if unavailable(err) {
					return err
				}
				fail(ReqAttestation, "%v", err)
				return nil
			}
			for _, ca := range r.atts {
				for _, c := range checks {
					msg, err := ca.check(gctx, c, d, s.now(), r.keyText)
					if err != nil {
						return err
					}
					if msg != "" {
						fail(ReqAttestation, "%s", msg)
					}
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return Verdict{}, err
	}
	slices.SortFunc(failures, func(a, b Failure) int { return strings.Compare(a.Message, b.Message) })
	return Verdict{Failures: failures}, nil
}

// check says why one platform image does not meet the requirement ("" when it does): no attestation
// of the type by the requirement's keys, or none whose predicate meets the condition. An error is a
// registry failure.
func (ca compiledAttestation) check(ctx context.Context, c sign.AttestationCheck, d name.Digest, now time.Time, keyText *strings.Replacer) (string, error) {
	what := fmt.Sprintf("%s attestation of %s", ca.req.Type, c.Manifest)
	var mine []sign.Attestation
	for _, a := range c.Attestations {
		if a.Statement.PredicateType == ca.uri && slices.Contains(ca.keyHints, a.Key) {
			mine = append(mine, a)
		}
	}
	if len(mine) == 0 {
		err := c.Errors[ca.uri]
		if err != nil && unavailable(err) {
			return "", err
		}
		if err == nil {
			err = fmt.Errorf("%w: none by %s", sign.ErrNoAttestations, keyNames(ca.keyNames))
		}
		return fmt.Sprintf("%s: %s", what, keyText.Replace(err.Error())), nil
	}
	if ca.condition == nil {
		return "", nil
	}
	subject := Subject{Digest: c.Digest.DigestStr(), Image: d.String()}
	if c.Platform != nil {
		subject.Platform = c.Platform.String()
	}
	var last error
	for _, a := range mine {
		ok, err := ca.condition.Eval(ctx, a.Statement.PredicateType, a.Statement.Predicate, subject, now)
		if ok {
			return "", nil
		}
		if err != nil {
			last = err
		}
	}
	if last != nil {
		return fmt.Sprintf("%s: the condition %q could not be evaluated: %v", what, ca.condition, last), nil
	}
	return fmt.Sprintf("%s: the condition %q is not met", what, ca.condition), nil
}

func (s *SessionRegistry) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

func keyNames(names []string) string {
	if len(names) == 1 {
		return "the key " + names[0]
	}
	return "any of the keys " + strings.Join(names, ", ")
}
