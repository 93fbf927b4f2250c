package cli

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ingot-build/ingot/internal/testrepo"
	"github.com/ingot-build/ingot/pkg/attest"
	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/harden"
	"github.com/ingot-build/ingot/pkg/report"
	"github.com/ingot-build/ingot/pkg/sbom"
	"github.com/ingot-build/ingot/pkg/sign"
)

// TestEveryValueListed: each flag that takes one of a fixed set of values lists every value it accepts,
// in its help and in the error for a value it does not (exit 2), so that a newcomer who mistypes one
// learns all the others. The accepted values come from the packages that parse them; for --fail-on,
// from asking the parser about every severity pkg/evidence defines.
func TestEveryValueListed(t *testing.T) {
	t.Setenv(passwordEnv, "correct horse")
	tmp := t.TempDir()
	prefix := filepath.Join(tmp, "k")
	if _, stderr, err := run(t, "key", "generate", "--output-key-prefix", prefix); err != nil {
		t.Fatalf("key generate: %v\n%s", err, stderr)
	}
	key, pub := prefix+".key", prefix+".pub"
	garbage := writeFile(t, tmp, "garbage", "not a document")
	tests := writeFile(t, tmp, "tests.yaml", "fileExistenceTests:\n  - {name: no shell, path: /bin/sh, shouldExist: false}\n")
	repo := testrepo.New(t, testrepo.Options{Packages: fixturePackages()})
	spec := writeSpec(t, repo, specTemplate)
	const ref = "127.0.0.1:1/golden/app:1.0" // never reached

	var levels []string
	for _, s := range evidence.Severities() {
		if _, err := parseFailOn(s.String()); err == nil {
			levels = append(levels, s.String())
		}
	}
	if _, err := parseFailOn("none"); err != nil {
		t.Fatalf("--fail-on none: %v", err)
	}
	levels = append(levels, "none")
	var profileNames []string
	for _, p := range harden.Profiles() {
		profileNames = append(profileNames, string(p))
	}
	formats := sign.FormatNames()
	types := attest.TypeNames()

	for _, tc := range []struct {
		verb   []string // the command whose flag it is
		flag   string
		values []string
		bad    []string // a run with a value the flag does not take
	}{
		{[]string{"scan"}, "output", append(report.Formats(), "cosign-vuln"), []string{"-o", "xml", "--sbom", garbage}},
		{[]string{"scan"}, "fail-on", levels, []string{"--fail-on", "severe", "--sbom", garbage}},
		{[]string{"secrets"}, "output", report.Formats(), []string{"-o", "xml", "./x.tar"}},
		{[]string{"secrets"}, "fail-on", levels, []string{"--fail-on", "severe", "./x.tar"}},
		{[]string{"lint"}, "output", report.Formats(), []string{"-o", "xml", "./x.tar"}},
		{[]string{"lint"}, "fail-on", levels, []string{"--fail-on", "severe", "./x.tar"}},
		{[]string{"lint"}, "profile", profileNames, []string{"--profile", "strictest", "./x.tar"}},
		{[]string{"test"}, "output", report.Formats(), []string{"-o", "xml", "--tests", tests, "./x.tar"}},
		{[]string{"sbom"}, "output", sbom.Formats(), []string{"-o", "xml", "./x.tar"}},
		{[]string{"fsck"}, "output", []string{"table", "json"}, []string{"-o", "xml"}},
		{[]string{"db", "status"}, "output", []string{"table", "json"}, []string{"-o", "xml"}},
		{[]string{"verify"}, "output", []string{"text", "json"}, []string{"-o", "xml", "--key", pub, ref}},
		{[]string{"verify"}, "format", formats, []string{"--format", "pgp", "--key", pub, ref}},
		{[]string{"verify"}, "attestation", types, []string{"--attestation", "slsa", "--key", pub, ref}},
		{[]string{"sign"}, "format", formats, []string{"--format", "pgp", "--key", key, ref}},
		{[]string{"attest"}, "format", formats, []string{"--format", "pgp", "--key", key, ref}},
		{[]string{"attest"}, "type", types, []string{"--type", "slsa", "--predicate", garbage, "--key", key, ref}},
		{[]string{"build"}, "sign-format", formats, []string{"--sign", "--sign-format", "pgp", "--key", key, "--push", ref, spec}},
	} {
		name := strings.Join(tc.verb, " ") + " --" + tc.flag
		t.Run(name, func(t *testing.T) {
			if len(tc.values) < 2 {
				t.Fatalf("accepted values %q: the owner lists too few", tc.values)
			}
			cmd, _, err := New().Find(tc.verb)
			if err != nil {
				t.Fatal(err)
			}
			fl := cmd.Flags().Lookup(tc.flag)
			if fl == nil {
				t.Fatalf("ingot %s has no --%s", strings.Join(tc.verb, " "), tc.flag)
			}
			if missing := unlisted(fl.Usage, tc.values); len(missing) > 0 {
				t.Errorf("help %q does not list %q", fl.Usage, missing)
			}
			g, _, _ := offlineFlags()
			_, _, err = runWith(t, g, append(append([]string{"--data-dir", filepath.Join(tmp, "data")}, tc.verb...), tc.bad...)...)
			if ExitCode(err) != ExitUsage || err == nil {
				t.Fatalf("ingot %s %s: exit %d, %v; want 2", strings.Join(tc.verb, " "), strings.Join(tc.bad, " "), ExitCode(err), err)
			}
			if missing := unlisted(err.Error(), tc.values); len(missing) > 0 {
				t.Errorf("error %q does not list %q", err, missing)
			}
		})
	}
}

// unlisted are the values text does not name as words of their own ("json" is not named by
// "spdx-json", nor "spdx" by "spdxjson").
func unlisted(text string, values []string) []string {
	var out []string
	for _, v := range values {
		if !regexp.MustCompile(`(^|[^\w-])` + regexp.QuoteMeta(v) + `($|[^\w-])`).MatchString(text) {
			out = append(out, v)
		}
	}
	return out
}
