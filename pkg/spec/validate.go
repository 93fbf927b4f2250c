package spec

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/ingot-build/ingot/pkg/fault"
)

// ErrInvalid is wrapped by every decoding and validation error.
var ErrInvalid = fault.New(fault.Invalid, "invalid spec")

// FieldError names the field that is wrong and why.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap lets errors.Is(err, ErrInvalid) hold.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// SupportedArchs are the Debian architectures ingot builds for.
var SupportedArchs = []string{"amd64", "arm64"}

var (
	// Debian policy §5.6.1: lowercase letters, digits, + - . ; at least two characters.
	packageName = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
	imageName   = regexp.MustCompile(`^[a-z0-9]+([._-][a-z0-9]+)*$`)
	tagName     = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	accountName = regexp.MustCompile(`^[a-z_][a-z0-9_-]*[$]?$`)
	envName     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	digestRef   = regexp.MustCompile(`@sha256:[0-9a-f]{64}$`)
)

// Validate checks every field and reports all problems at once, each naming its field.
func (s *Spec) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	if s.Name == "" {
		bad("name", "is required")
	} else if !imageName.MatchString(s.Name) {
		bad("name", "%q must be lowercase letters and digits separated by '.', '_' or '-'", s.Name)
	}
	if s.Version != "" && !tagName.MatchString(s.Version) {
		bad("version", "%q is not a valid image tag (letters, digits, '_', '.', '-', at most 128)", s.Version)
	}
	if len(s.Packages) > 0 && len(s.Repositories) == 0 {
		bad("repositories", "packages need at least one repository (a URL, or host: true)")
	}
	for i, r := range s.Repositories {
		r.validate(fmt.Sprintf("repositories[%d]", i), bad)
	}
	seen := map[string]bool{}
	for i, p := range s.Packages {
		name, version, pinned := strings.Cut(p, "=")
		f := fmt.Sprintf("packages[%d]", i)
		switch {
		case !packageName.MatchString(name):
			bad(f, "%q is not a Debian package name", name)
		case pinned && version == "":
			bad(f, "%q has an empty version after '='", p)
		case seen[name]:
			bad(f, "%q is listed twice", name)
		case slices.Contains(s.Exclude, name):
			bad(f, "%q is both requested and excluded", name)
		}
		seen[name] = true
	}
	for i, e := range s.Exclude {
		if !packageName.MatchString(e) {
			bad(fmt.Sprintf("exclude[%d]", i), "%q is not a Debian package name", e)
		}
	}
	for i, a := range s.Archs {
		if !slices.Contains(SupportedArchs, a) {
			bad(fmt.Sprintf("archs[%d]", i), "%q is not supported (want one of %s)", a, strings.Join(SupportedArchs, ", "))
		}
		if slices.Index(s.Archs, a) != i {
			bad(fmt.Sprintf("archs[%d]", i), "%q is listed twice", a)
		}
	}
	if s.Accounts != nil {
		s.Accounts.validate(bad)
	}
	for i, f := range s.Files {
		field := fmt.Sprintf("files[%d]", i)
		if f.Source == "" {
			bad(field+".source", "is required")
		}
		validImagePath(field+".path", f.Path, bad)
		if f.UID < 0 || f.GID < 0 {
			bad(field, "uid and gid must not be negative")
		}
	}
	for i, p := range s.Paths {
		field := fmt.Sprintf("paths[%d]", i)
		validImagePath(field+".path", p.Path, bad)
		switch p.Type {
		case PathDirectory, PathPermissions:
			if p.Target != "" {
				bad(field+".target", "only symlinks have a target")
			}
		case PathSymlink:
			if p.Target == "" {
				bad(field+".target", "a symlink needs a target")
			}
		case "":
			bad(field+".type", "is required (directory, symlink or permissions)")
		default:
			bad(field+".type", "%q is not one of directory, symlink, permissions", p.Type)
		}
		if p.Type == PathPermissions && p.Mode == nil {
			bad(field+".mode", "is required for permissions")
		}
		if p.UID < 0 || p.GID < 0 {
			bad(field, "uid and gid must not be negative")
		}
	}
	for k, v := range s.Env {
		if !envName.MatchString(k) {
			bad("env."+k, "is not a valid environment variable name")
		}
		if strings.ContainsRune(v, 0) {
			bad("env."+k, "contains a NUL byte")
		}
	}
	if s.WorkDir != "" && !path.IsAbs(s.WorkDir) {
		bad("workdir", "%q must be an absolute path", s.WorkDir)
	}
	if s.StopSignal != "" && !validSignal(s.StopSignal) {
		bad("stop-signal", "%q is not a signal name (SIGTERM) or number", s.StopSignal)
	}
	if s.Base != "" && !digestRef.MatchString(s.Base) {
		bad("base", "%q must be pinned by digest (IMAGE@sha256:...)", s.Base)
	}
	if e := s.Evidence; e != nil {
		switch e.FailOn {
		case "", "none", "negligible", "low", "medium", "high", "critical":
		default:
			bad("evidence.fail-on", "%q is not none, negligible, low, medium, high or critical", e.FailOn)
		}
		if e.Profile != "" && e.Profile != "minimal" && e.Profile != "cis" {
			bad("evidence.profile", "%q is not minimal or cis", e.Profile)
		}
		for i, w := range e.Waivers {
			if w.Rule == "" || strings.TrimSpace(w.Reason) == "" {
				bad(fmt.Sprintf("evidence.waivers[%d]", i), "a waiver needs a rule and a reason")
			}
		}
		for i, a := range e.Allow {
			if (a.Rule == "" && a.Path == "") || strings.TrimSpace(a.Reason) == "" {
				bad(fmt.Sprintf("evidence.allow-secrets[%d]", i), "an allow entry needs a rule or a path, and a reason")
			}
		}
	}
	if s.Layers < 0 || s.Layers > 127 {
		bad("layers", "%d is outside 1..127", s.Layers)
	}
	if len(s.Packages) == 0 && len(s.Files) == 0 && s.Base == "" {
		bad("packages", "an image needs packages, files or a base")
	}
	return errors.Join(errs...)
}

func (r Repository) validate(field string, bad func(string, string, ...any)) {
	if r.Host {
		if r.URL != "" || r.Suite != "" || r.Keyring != "" || len(r.Components) > 0 {
			bad(field, "host: true takes its URL, suite, components and keyring from the host; set only suites")
		}
		return
	}
	if len(r.Suites) > 0 {
		bad(field+".suites", "only host repositories take suites; give one suite")
	}
	u, err := url.Parse(r.URL)
	switch {
	case r.URL == "":
		bad(field+".url", "is required unless host: true")
	case err != nil:
		bad(field+".url", "%v", err)
	case u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "file":
		bad(field+".url", "%q must be http, https or file", r.URL)
	}
	if r.Suite == "" {
		bad(field+".suite", "is required")
	} else if strings.Contains(r.Suite, "..") || strings.HasPrefix(r.Suite, "/") {
		bad(field+".suite", "%q is not a suite name", r.Suite)
	}
	if r.Keyring == "" {
		bad(field+".keyring", "is required: ingot only uses repositories whose signature it can verify")
	}
	for i, c := range r.Components {
		if c == "" || strings.Contains(c, "..") || strings.HasPrefix(c, "/") {
			bad(fmt.Sprintf("%s.components[%d]", field, i), "%q is not a component name", c)
		}
	}
}

func (a *Accounts) validate(bad func(string, string, ...any)) {
	groups := map[string]bool{}
	gids := map[uint32]bool{}
	for i, g := range a.Groups {
		f := fmt.Sprintf("accounts.groups[%d]", i)
		switch {
		case !accountName.MatchString(g.Name):
			bad(f+".name", "%q is not a valid group name", g.Name)
		case groups[g.Name] || g.Name == "root" || g.Name == "nogroup":
			bad(f+".name", "%q is defined twice (root and nogroup are built in)", g.Name)
		case gids[g.GID] || g.GID == 0 || g.GID == 65534:
			bad(f+".gid", "%d is used twice (0 and 65534 are built in)", g.GID)
		}
		groups[g.Name], gids[g.GID] = true, true
	}
	users := map[string]bool{}
	uids := map[uint32]bool{}
	for i, u := range a.Users {
		f := fmt.Sprintf("accounts.users[%d]", i)
		switch {
		case !accountName.MatchString(u.Name):
			bad(f+".name", "%q is not a valid user name", u.Name)
		case users[u.Name] || u.Name == "root" || u.Name == "nobody":
			bad(f+".name", "%q is defined twice (root and nobody are built in)", u.Name)
		case uids[u.UID] || u.UID == 0 || u.UID == 65534:
			bad(f+".uid", "%d is used twice (0 and 65534 are built in)", u.UID)
		}
		if u.Home != "" && !path.IsAbs(u.Home) {
			bad(f+".home", "%q must be absolute", u.Home)
		}
		users[u.Name], uids[u.UID] = true, true
	}
	if a.RunAs == "" {
		return
	}
	if users[a.RunAs] || a.RunAs == "root" || a.RunAs == "nobody" {
		return
	}
	uid, gid, hasGID := strings.Cut(a.RunAs, ":")
	if _, err := strconv.ParseUint(uid, 10, 32); err != nil {
		bad("accounts.run-as", "%q is neither a user defined here nor a numeric uid[:gid]", a.RunAs)
		return
	}
	if _, err := strconv.ParseUint(gid, 10, 32); hasGID && err != nil {
		bad("accounts.run-as", "%q has a gid that is not a number", a.RunAs)
	}
}

func validImagePath(field, p string, bad func(string, string, ...any)) {
	switch {
	case p == "":
		bad(field, "is required")
	case !path.IsAbs(p):
		bad(field, "%q must be an absolute path in the image", p)
	case slices.Contains(strings.Split(p, "/"), ".."):
		bad(field, "%q must not contain '..'", p)
	case p == "/":
		bad(field, "cannot be the root directory")
	}
}

func validSignal(s string) bool {
	if n, err := strconv.Atoi(s); err == nil {
		return n > 0 && n < 65
	}
	switch strings.TrimPrefix(s, "SIG") {
	case "HUP", "INT", "QUIT", "KILL", "USR1", "USR2", "TERM", "STOP", "TSTP", "WINCH", "PWR", "ABRT", "ALRM", "CONT":
		return true
	}
	return false
}
