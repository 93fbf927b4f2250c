package pipeline

import (
	"errors"
	"fmt"

	"github.com/ingot-build/ingot/pkg/secrets"
	"github.com/ingot-build/ingot/pkg/spec"
)

// Check refuses, before anything is fetched or written, a spec that Lock or Build would refuse late:
// a local file (files[].source, evidence.tests, evidence.vex) that resolves outside the spec's
// directory and opt.AllowFilesFrom, or a secrets allow entry the scanner cannot use. Lock and Build
// call it first; a server calls it when a spec is registered, with the directories it allows.
// Errors are of kind fault.Invalid and name the field.
func Check(s *spec.Spec, opt Options) error {
	_, err := check(s, opt)
	return err
}

// check is Check, returning the resolved local files for Build to read through.
func check(s *spec.Spec, opt Options) (*spec.LocalFiles, error) {
	local, err := s.Local(opt.AllowFilesFrom...)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	if e := s.Evidence; e != nil {
		// The glob syntax is the scanner's to define: ask it, one entry at a time to name the entry.
		for i, a := range e.Allow {
			err := secrets.Options{Allow: []secrets.Allow{{Rule: a.Rule, Path: a.Path, Reason: a.Reason}}}.Validate()
			if err != nil {
				errs = append(errs, &spec.FieldError{Field: fmt.Sprintf("evidence.allow-secrets[%d]", i), Reason: err.Error()})
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return local, nil
}
