package pipeline

import (
	"errors"
	"fmt"

	"github.com/openvex/go-vex/pkg/vex"

	"github.com/ingot-build/ingot/pkg/harden"
	"github.com/ingot-build/ingot/pkg/imagetest"
	"github.com/ingot-build/ingot/pkg/secrets"
	"github.com/ingot-build/ingot/pkg/spec"
	"github.com/ingot-build/ingot/pkg/vuln"
)

// Check refuses, before anything is fetched or written, a spec that Lock or Build would refuse late:
// a local file (files[].source, evidence.tests, evidence.vex) that resolves outside the spec's
// directory and opt.AllowFilesFrom, a secrets allow entry the scanner cannot use, a waiver of a rule
// the hardening stage does not know, and a structure-test or VEX file that is missing or does not
// parse (with imagetest's and vuln's own readers). Unlike files[].source, which a build may produce
// after the lock, the evidence files are the spec's own input and must exist whenever it is checked.
// Lock and Build call it first; a server calls it when a spec is registered, with the directories it
// allows. Errors are of kind fault.Invalid and name the field.
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
		errs = append(errs, checkWaivers(e.Waivers)...)
	}
	if local != nil {
		errs = append(errs, checkEvidenceFiles(local)...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return local, nil
}

// checkWaivers asks the hardening stage about each waiver, so that a typo in a rule ID cannot leave
// the rule enforced while the spec's author believes it waived, and then about all of them together
// (a rule waived twice).
func checkWaivers(ws []spec.Waiver) []error {
	var errs []error
	all := make([]harden.Waiver, len(ws))
	for i, w := range ws {
		all[i] = harden.Waiver{Rule: w.Rule, Reason: w.Reason}
		err := harden.Options{Waivers: all[i : i+1]}.Validate()
		switch {
		case errors.Is(err, harden.ErrUnknownRule):
			errs = append(errs, &spec.FieldError{Field: fmt.Sprintf("evidence.waivers[%d].rule", i), Reason: fmt.Sprintf("%q is not a hardening rule (ingot lint --help lists them)", w.Rule)})
		case err != nil:
			errs = append(errs, &spec.FieldError{Field: fmt.Sprintf("evidence.waivers[%d]", i), Reason: err.Error()})
		}
	}
	if len(errs) == 0 {
		if err := (harden.Options{Waivers: all}).Validate(); err != nil {
			errs = append(errs, &spec.FieldError{Field: "evidence.waivers", Reason: err.Error()})
		}
	}
	return errs
}

// checkEvidenceFiles reads the structure tests and VEX documents the spec names, as the build will.
func checkEvidenceFiles(local *spec.LocalFiles) []error {
	var errs []error
	if t := local.Tests; t != nil {
		if _, err := readTests(*t); err != nil {
			errs = append(errs, err)
		}
	}
	for _, f := range local.VEX {
		if _, err := readVEX(f); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// readTests reads and parses the structure-test file; every error names the field.
func readTests(f spec.LocalFile) (*imagetest.Suite, error) {
	if !f.Exists {
		return nil, f.Missing()
	}
	root, err := f.OpenRoot()
	if err != nil {
		return nil, &spec.FieldError{Field: f.Field, Reason: err.Error()}
	}
	defer func() { _ = root.Close() }() // read-only
	data, err := spec.ReadRegular(root, f.Rel)
	if err != nil {
		return nil, &spec.FieldError{Field: f.Field, Reason: err.Error()}
	}
	suite, err := imagetest.Parse(data)
	if err != nil {
		return nil, &spec.FieldError{Field: f.Field, Reason: fmt.Sprintf("%s: %v", f.Name, err)}
	}
	return suite, nil
}

// readVEX reads one VEX document through vuln's reader; every error names the field. vuln.LoadVEX
// takes a path (the document's format is detected as it is opened), so the file is resolved again
// just before.
func readVEX(f spec.LocalFile) (*vex.VEX, error) {
	if !f.Exists {
		return nil, f.Missing()
	}
	p, err := f.Recheck()
	if err != nil {
		return nil, err
	}
	docs, err := vuln.LoadVEX(p)
	if err != nil {
		return nil, &spec.FieldError{Field: f.Field, Reason: fmt.Sprintf("%s: %v", f.Name, err)}
	}
	return docs[0], nil
}
