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

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/ingot-build/ingot/pkg/deb"
	"github.com/ingot-build/ingot/pkg/evidence"
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

// Limits of the values that become names on a file system or in a registry. A value past them is
// refused when the spec is read, instead of failing after a lock and a cache entry were written.
const (
	// MaxNameLength caps name. The name is one directory of the data directory (<data-dir>/oci/<name>,
	// evidence/<name>) and the repository part of the image's references; file systems take 255 bytes
	// per directory name and the distribution spec 255 characters per repository name including the
	// registry host and namespace it is pushed under, so half of that leaves room for both.
	MaxNameLength = 128
	// maxComponent and maxPath are Linux's NAME_MAX and PATH_MAX, which every image path and symlink
	// target must fit when the image is unpacked.
	maxComponent = 255
	maxPath      = 4096
	// maxID is the largest uid or gid: Linux ids are 32 bits and 4294967295 means "no id".
	maxID = 1<<32 - 2
)

var (
	// Debian policy §5.6.1: lowercase letters, digits, + - . ; at least two characters.
	packageName = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
	imageName   = regexp.MustCompile(`^[a-z0-9]+([._-][a-z0-9]+)*$`)
	// The OCI distribution spec's tag grammar.
	tagName     = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)
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
	} else if len(s.Name) > MaxNameLength {
		bad("name", "%q is %d characters long, more than %d", abbrev(s.Name), len(s.Name), MaxNameLength)
	} else if !imageName.MatchString(s.Name) {
		bad("name", "%q must be lowercase letters and digits separated by '.', '_' or '-'", abbrev(s.Name))
	}
	if s.Version != "" && !tagName.MatchString(s.Version) {
		bad("version", "%q is not a valid image tag (letters, digits, '_', '.', '-', not starting with '.' or '-', at most 128)", abbrev(s.Version))
	}
	if len(s.Packages) > 0 && len(s.Repositories) == 0 {
		bad("repositories", "packages need at least one repository (a URL, or host: true)")
	}
	for i, r := range s.Repositories {
		r.validate(fmt.Sprintf("repositories[%d]", i), bad)
	}
	seen := map[string]bool{}
	for i, p := range s.Packages {
		pkg, version, pinned := strings.Cut(p, "=")
		f := fmt.Sprintf("packages[%d]", i)
		switch {
		case !packageName.MatchString(pkg):
			bad(f, "%q is not a Debian package name", abbrev(pkg))
		case pinned && version == "":
			bad(f, "%q has an empty version after '='", p)
		case pinned && !validVersion(version):
			bad(f, "%q is not a Debian version (deb-version(7))", abbrev(version))
		case seen[pkg]:
			bad(f, "%q is listed twice", pkg)
		case slices.Contains(s.Exclude, pkg):
			bad(f, "%q is both requested and excluded", pkg)
		}
		seen[pkg] = true
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
		validLocalPath(field+".source", f.Source, bad)
		validImagePath(field+".path", f.Path, bad)
		validIDs(field, f.UID, f.GID, bad)
	}
	for i, p := range s.Paths {
		field := fmt.Sprintf("paths[%d]", i)
		validImagePath(field+".path", p.Path, bad)
		if p.Target != "" {
			// A target may be relative (../lib/x), as symlinks in packages are; the build resolves it
			// inside the image. It must still fit a file system.
			validPathLimits(field+".target", p.Target, bad)
		}
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
		validIDs(field, p.UID, p.GID, bad)
	}
	for k, v := range s.Env {
		if !envName.MatchString(k) {
			bad("env."+k, "is not a valid environment variable name")
		}
		if strings.ContainsRune(v, 0) {
			bad("env."+k, "contains a NUL byte")
		}
	}
	if s.WorkDir != "" {
		if !path.IsAbs(s.WorkDir) {
			bad("workdir", "%q must be an absolute path", abbrev(s.WorkDir))
		} else {
			validPathLimits("workdir", s.WorkDir, bad)
		}
	}
	// The kernel passes arguments as NUL-terminated strings: one holding a NUL cannot be run.
	for i, a := range s.Entrypoint {
		if strings.ContainsRune(a, 0) {
			bad(fmt.Sprintf("entrypoint[%d]", i), "contains a NUL byte")
		}
	}
	for i, a := range s.Cmd {
		if strings.ContainsRune(a, 0) {
			bad(fmt.Sprintf("cmd[%d]", i), "contains a NUL byte")
		}
	}
	for k := range s.Labels {
		if k == "" {
			bad("labels", "a label needs a non-empty key")
		}
	}
	for k := range s.Annotations {
		if k == "" {
			bad("annotations", "an annotation needs a non-empty key")
		}
	}
	if s.StopSignal != "" && !validSignal(s.StopSignal) {
		bad("stop-signal", "%q is not a signal name (SIGTERM) or number", s.StopSignal)
	}
	switch {
	case s.Base == "":
	case digestRef.MatchString(s.Base):
		if _, err := name.NewDigest(s.Base); err != nil {
			bad("base", "%q is not an image reference: %s", abbrev(s.Base), abbrev(err.Error()))
		}
	case !strings.Contains(s.Base[strings.LastIndex(s.Base, "/")+1:], ":"):
		// No implicit latest: the tag a rebuild watches is the one the spec names.
		bad("base", "%q must name a tag or a digest (IMAGE:TAG or IMAGE@sha256:...)", abbrev(s.Base))
	default:
		if _, err := name.NewTag(s.Base); err != nil {
			bad("base", "%q is not an image reference: %s", abbrev(s.Base), abbrev(err.Error()))
		}
	}
	if e := s.Evidence; e != nil {
		if e.FailOn != "" {
			if _, err := evidence.ParseFailOn(e.FailOn); err != nil {
				bad("evidence.fail-on", "%v", err)
			}
		}
		if e.UnknownAs != "" {
			if _, err := evidence.ParseLevel(e.UnknownAs); err != nil {
				bad("evidence.unknown-as", "%v", err)
			}
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
		if e.Tests != "" {
			validLocalPath("evidence.tests", e.Tests, bad)
		}
		for i, v := range e.VEX {
			validLocalPath(fmt.Sprintf("evidence.vex[%d]", i), v, bad)
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
		for i, su := range r.Suites {
			if !validArchiveName(su) {
				bad(fmt.Sprintf("%s.suites[%d]", field, i), "%q is not a suite name", abbrev(su))
			}
		}
		return
	}
	if len(r.Suites) > 0 {
		bad(field+".suites", "only host repositories take suites; give one suite")
	}
	if strings.ContainsRune(r.Keyring, 0) {
		bad(field+".keyring", "contains a NUL byte")
	}
	u, err := url.Parse(r.URL)
	switch {
	case r.URL == "":
		bad(field+".url", "is required unless host: true")
	case err != nil:
		bad(field+".url", "%v", err)
	case u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "file":
		bad(field+".url", "%q must be http, https or file", r.URL)
	case u.Scheme != "file" && u.Host == "":
		bad(field+".url", "%q has no host", r.URL)
	case u.Scheme == "file" && u.Path == "":
		bad(field+".url", "%q has no path", r.URL)
	}
	if r.Suite == "" {
		bad(field+".suite", "is required")
	} else if !validArchiveName(r.Suite) {
		bad(field+".suite", "%q is not a suite name", abbrev(r.Suite))
	}
	if r.Keyring == "" {
		bad(field+".keyring", "is required: ingot only uses repositories whose signature it can verify")
	}
	for i, c := range r.Components {
		if !validArchiveName(c) {
			bad(fmt.Sprintf("%s.components[%d]", field, i), "%q is not a component name", abbrev(c))
		}
	}
}

func (a *Accounts) validate(bad func(string, string, ...any)) {
	groups := map[string]bool{}
	gids := map[uint32]bool{}
	for i, g := range a.Groups {
		f := fmt.Sprintf("accounts.groups[%d]", i)
		for j, m := range g.Members {
			if !accountName.MatchString(m) {
				bad(fmt.Sprintf("%s.members[%d]", f, j), "%q is not a valid user name", abbrev(m))
			}
		}
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
		// /etc/passwd separates fields with ':' and entries with newlines.
		switch {
		case u.Home == "":
		case !path.IsAbs(u.Home):
			bad(f+".home", "%q must be absolute", abbrev(u.Home))
		case !validAccountField(u.Home):
			bad(f+".home", "%q must not contain ':', a newline or a NUL byte", abbrev(u.Home))
		default:
			validPathLimits(f+".home", u.Home, bad)
		}
		switch {
		case u.Shell == "":
		case !path.IsAbs(u.Shell):
			bad(f+".shell", "%q must be absolute", abbrev(u.Shell))
		case !validAccountField(u.Shell):
			bad(f+".shell", "%q must not contain ':', a newline or a NUL byte", abbrev(u.Shell))
		default:
			validPathLimits(f+".shell", u.Shell, bad)
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
		bad(field, "%q must be an absolute path in the image", abbrev(p))
	case slices.Contains(strings.Split(p, "/"), ".."):
		bad(field, "%q must not contain '..'", abbrev(p))
	case path.Clean(p) == "/":
		bad(field, "cannot be the root directory")
	default:
		validPathLimits(field, p, bad)
	}
}

// validPathLimits refuses a path that no file system could hold: a NUL byte, a component longer than
// NAME_MAX, or more than PATH_MAX in all.
func validPathLimits(field, p string, bad func(string, string, ...any)) {
	if strings.ContainsRune(p, 0) {
		bad(field, "%q contains a NUL byte", abbrev(p))
		return
	}
	if len(p) >= maxPath {
		bad(field, "is %d bytes long, more than a path may be (%d)", len(p), maxPath-1)
		return
	}
	for c := range strings.SplitSeq(p, "/") {
		if len(c) > maxComponent {
			bad(field, "has a component of %d bytes (%q), more than a file name may be (%d)", len(c), abbrev(c), maxComponent)
			return
		}
	}
}

// validLocalPath checks the syntax of a path the spec names on the building machine; where it
// leads is checked by Local, which needs the file system.
func validLocalPath(field, p string, bad func(string, string, ...any)) {
	switch {
	case p == "":
		bad(field, "is required")
	case strings.ContainsRune(p, 0):
		bad(field, "%q contains a NUL byte", abbrev(p))
	case len(p) >= maxPath:
		bad(field, "is %d bytes long, more than a path may be (%d)", len(p), maxPath-1)
	}
}

func validIDs(field string, uid, gid int, bad func(string, string, ...any)) {
	if uid < 0 || gid < 0 || uid > maxID || gid > maxID {
		bad(field, "uid and gid must be between 0 and %d", maxID)
	}
}

func validAccountField(s string) bool { return !strings.ContainsAny(s, ":\n\r\x00") }

// validArchiveName accepts a suite or component as Debian archives name them (bookworm,
// bookworm-security, updates/main): it becomes part of a URL and of cache file names, so no "..",
// no leading '/', no spaces or control characters.
func validArchiveName(s string) bool {
	if s == "" || len(s) > maxComponent || strings.HasPrefix(s, "/") || strings.Contains(s, "..") {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f })
}

func validVersion(v string) bool {
	_, err := deb.ParseVersion(v)
	return err == nil && strings.TrimSpace(v) == v
}

// abbrev shortens a long value for an error message: the message should name the value, not repeat
// five thousand characters of it.
func abbrev(s string) string {
	const keep = 80
	if len(s) <= keep {
		return s
	}
	return s[:keep] + "..."
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
