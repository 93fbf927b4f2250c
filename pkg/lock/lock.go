package lock

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/ingot-build/ingot/internal/safefile"
	"github.com/ingot-build/ingot/pkg/fault"
	"github.com/ingot-build/ingot/pkg/spec"
)

// Version is the lock format this code writes and reads.
const Version = 1

var (
	// ErrStale means the lock was made for a different spec: run ingot lock --update.
	ErrStale = fault.New(fault.Invalid, "lock does not match the spec")
	// ErrMalformed means the lock file cannot be decoded.
	ErrMalformed = fault.New(fault.Invalid, "malformed lock")
)

// Lock is the content of ingot.lock.
type Lock struct {
	LockVersion int `json:"lockVersion"`
	// Inputs are the spec fields the resolution depended on; Check compares them.
	Inputs       Inputs       `json:"inputs"`
	Repositories []Repository `json:"repositories,omitempty"`
	Base         *Base        `json:"base,omitempty"`
	// Archs maps a Debian architecture to what was resolved for it.
	Archs map[string]*Contents `json:"archs"`
}

// Inputs are the parts of a spec that decide what gets resolved.
type Inputs struct {
	Repositories []spec.Repository `json:"repositories,omitempty"`
	Packages     []string          `json:"packages,omitempty"`
	Exclude      []string          `json:"exclude,omitempty"`
	Archs        []string          `json:"archs"`
	Base         string            `json:"base,omitempty"`
}

// Repository records a verified repository as it was when locked.
type Repository struct {
	Name       string   `json:"name"`
	URL        string   `json:"url"`
	Suite      string   `json:"suite"`
	Components []string `json:"components"`
	Codename   string   `json:"codename,omitempty"`
	Version    string   `json:"version,omitempty"`
	// Release is the sha256 digest of the verified InRelease (or Release) file.
	Release string  `json:"release"`
	Date    string  `json:"date,omitempty"`
	Signer  string  `json:"signer,omitempty"`
	Indexes []Index `json:"indexes"`
}

// Index is one Packages index file, by its path under dists/<suite>/.
type Index struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Base pins the base image.
type Base struct {
	Ref    string `json:"ref"`
	Digest string `json:"digest"`
	// Platforms maps an architecture to its image manifest digest, when the base is an index.
	Platforms map[string]string `json:"platforms,omitempty"`
}

// Contents is what one architecture resolved to.
type Contents struct {
	Packages []Package   `json:"packages"`
	Excluded []Exclusion `json:"excluded,omitempty"`
}

// Package is one .deb, pinned by its sha256.
type Package struct {
	Name          string `json:"name"`
	Version       string `json:"version"`
	Architecture  string `json:"architecture"`
	Source        string `json:"source"`
	SourceVersion string `json:"sourceVersion"`
	Repository    string `json:"repository"`
	Filename      string `json:"filename"`
	URL           string `json:"url"`
	Size          int64  `json:"size"`
	SHA256        string `json:"sha256"`
}

// Exclusion records a dependency the spec cut, and which packages asked for it.
type Exclusion struct {
	Name       string   `json:"name"`
	RequiredBy []string `json:"requiredBy,omitempty"`
}

// InputsOf extracts the resolution inputs of a spec.
func InputsOf(s *spec.Spec) Inputs {
	return Inputs{
		Repositories: slices.Clone(s.Repositories),
		Packages:     slices.Clone(s.Packages),
		Exclude:      slices.Clone(s.Exclude),
		Archs:        slices.Clone(s.Archs),
		Base:         s.Base,
	}
}

// Check reports, wrapping ErrStale, every way in which the lock no longer matches the spec.
func (l *Lock) Check(s *spec.Spec) error {
	want := InputsOf(s)
	have := l.Inputs
	var diffs []string
	for _, p := range want.Packages {
		if !slices.Contains(have.Packages, p) {
			diffs = append(diffs, fmt.Sprintf("package %q is in the spec but not the lock", p))
		}
	}
	for _, p := range have.Packages {
		if !slices.Contains(want.Packages, p) {
			diffs = append(diffs, fmt.Sprintf("package %q is in the lock but not the spec", p))
		}
	}
	if !sameSet(want.Exclude, have.Exclude) {
		diffs = append(diffs, fmt.Sprintf("exclude changed from %v to %v", have.Exclude, want.Exclude))
	}
	if !sameSet(want.Archs, have.Archs) {
		diffs = append(diffs, fmt.Sprintf("archs changed from %v to %v", have.Archs, want.Archs))
	}
	if want.Base != have.Base {
		diffs = append(diffs, fmt.Sprintf("base changed from %q to %q", have.Base, want.Base))
	}
	if !reflect.DeepEqual(normRepos(want.Repositories), normRepos(have.Repositories)) {
		diffs = append(diffs, "repositories changed")
	}
	for _, a := range want.Archs {
		if l.Archs[a] == nil {
			diffs = append(diffs, fmt.Sprintf("nothing is locked for arch %s", a))
		}
	}
	if len(diffs) > 0 {
		return fmt.Errorf("%w (run ingot lock --update): %s", ErrStale, strings.Join(diffs, "; "))
	}
	return nil
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func normRepos(rs []spec.Repository) []spec.Repository {
	out := make([]spec.Repository, len(rs))
	for i, r := range rs {
		if len(r.Components) == 0 {
			r.Components = nil
		}
		if len(r.Suites) == 0 {
			r.Suites = nil
		}
		out[i] = r
	}
	return out
}

// Read decodes a lock file strictly.
func Read(path string) (*Lock, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fault.Errorf(fault.Invalid, "reading lock: %w", err)
	}
	l, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return l, nil
}

// Parse decodes a lock strictly and checks that every package is pinned by a sha256.
func Parse(data []byte) (*Lock, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var l Lock
	if err := dec.Decode(&l); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if l.LockVersion != Version {
		return nil, fmt.Errorf("%w: lockVersion %d, this ingot reads %d", ErrMalformed, l.LockVersion, Version)
	}
	for arch, c := range l.Archs {
		if c == nil {
			return nil, fmt.Errorf("%w: arch %s has no contents", ErrMalformed, arch)
		}
		for _, p := range c.Packages {
			if len(p.SHA256) != 64 || strings.Trim(p.SHA256, "0123456789abcdef") != "" {
				return nil, fmt.Errorf("%w: package %s (%s) has no valid sha256", ErrMalformed, p.Name, arch)
			}
			if p.URL == "" || p.Size <= 0 {
				return nil, fmt.Errorf("%w: package %s (%s) has no URL or size", ErrMalformed, p.Name, arch)
			}
		}
	}
	return &l, nil
}

// Marshal encodes the lock deterministically.
func (l *Lock) Marshal() ([]byte, error) {
	data, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// Write replaces path with the lock atomically: a temporary file in the same directory, renamed.
func (l *Lock) Write(path string) error {
	data, err := l.Marshal()
	if err != nil {
		return fmt.Errorf("encoding lock: %w", err)
	}
	return safefile.Write(path, data, 0o644)
}

// Packages returns every distinct package across architectures, by sha256, in a stable order.
func (l *Lock) Packages() []Package {
	seen := map[string]bool{}
	var out []Package
	archs := make([]string, 0, len(l.Archs))
	for a := range l.Archs {
		archs = append(archs, a)
	}
	slices.Sort(archs)
	for _, a := range archs {
		for _, p := range l.Archs[a].Packages {
			if !seen[p.SHA256] {
				seen[p.SHA256] = true
				out = append(out, p)
			}
		}
	}
	return out
}
