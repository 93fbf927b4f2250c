package spec

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Spec is one ingot.yaml: a golden image as code.
type Spec struct {
	// Name of the image; it names the image in the OCI layout and the catalog (at most 128 characters).
	Name string `yaml:"name" json:"name" jsonschema:"pattern=^[a-z0-9]+([._-][a-z0-9]+)*$,maxLength=128"`
	// Version is the image's version tag (an OCI tag); "latest" when empty.
	Version string `yaml:"version,omitempty" json:"version,omitempty" jsonschema:"pattern=^[A-Za-z0-9_][A-Za-z0-9._-]{0\\,127}$"`
	// Repositories the packages come from, each verified against its keyring.
	Repositories []Repository `yaml:"repositories,omitempty" json:"repositories,omitempty"`
	// Packages to install, by name or as name=version.
	Packages []string `yaml:"packages,omitempty" json:"packages,omitempty"`
	// Exclude names packages (or virtual packages) that dependencies may not pull in: they count as
	// satisfied and are recorded in the lock and the SBOM.
	Exclude []string `yaml:"exclude,omitempty" json:"exclude,omitempty"`
	// Archs to build; one gives an image, several an image index. Default: amd64.
	Archs []string `yaml:"archs,omitempty" json:"archs,omitempty" jsonschema:"uniqueItems=true"`
	// Accounts in /etc/passwd and /etc/group, and the user the image runs as.
	Accounts *Accounts `yaml:"accounts,omitempty" json:"accounts,omitempty"`
	// Files are local files or directories copied into the image. Each source must lie, after
	// symlinks, inside the spec's directory or a directory the builder allows.
	Files []File `yaml:"files,omitempty" json:"files,omitempty"`
	// Paths creates directories and symlinks, or changes permissions, after packages and files.
	Paths []Path `yaml:"paths,omitempty" json:"paths,omitempty"`

	Env         map[string]string `yaml:"env,omitempty" json:"env,omitempty"`
	Entrypoint  []string          `yaml:"entrypoint,omitempty" json:"entrypoint,omitempty"`
	Cmd         []string          `yaml:"cmd,omitempty" json:"cmd,omitempty"`
	WorkDir     string            `yaml:"workdir,omitempty" json:"workdir,omitempty"`
	StopSignal  string            `yaml:"stop-signal,omitempty" json:"stop-signal,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty" json:"annotations,omitempty"`

	// Base is an image on top of which packages and files are laid: IMAGE@sha256:... (pinned), or
	// IMAGE:TAG, which the lock pins by digest and continuous rebuild watches (a moved tag rebuilds).
	Base string `yaml:"base,omitempty" json:"base,omitempty"`
	// Evidence configures the checks every build runs: tests, waivers and the failure threshold.
	Evidence *Evidence `yaml:"evidence,omitempty" json:"evidence,omitempty"`

	// Layers is the layer budget: 1 (default) puts everything in one layer; N groups the largest
	// source packages into their own layers so that images share them.
	Layers int `yaml:"layers,omitempty" json:"layers,omitempty" jsonschema:"minimum=1,maximum=127"`

	// Dir is the directory the spec was read from; relative file sources resolve against it, and local
	// files must lie inside it (see Local). Empty for a spec not read from a file: then only the
	// directories the builder allows hold its files, named by absolute paths.
	Dir string `yaml:"-" json:"-"`
}

// Repository is a Debian repository, or the host's own apt sources.
type Repository struct {
	// Host uses the host's apt sources (/etc/apt/sources.list{,.d}) with their keyrings.
	Host bool `yaml:"host,omitempty" json:"host,omitempty"`
	// URL of the archive root (the directory holding dists/ and pool/): http, https or file.
	URL        string   `yaml:"url,omitempty" json:"url,omitempty"`
	Suite      string   `yaml:"suite,omitempty" json:"suite,omitempty"`
	Components []string `yaml:"components,omitempty" json:"components,omitempty"`
	// Keyring is the OpenPGP keyring file that signs the repository's Release.
	Keyring string `yaml:"keyring,omitempty" json:"keyring,omitempty"`
	// Suites filters host sources to these suites; empty keeps them all.
	Suites []string `yaml:"suites,omitempty" json:"suites,omitempty"`
}

// Evidence configures the evidence stages that run inside ingot build.
type Evidence struct {
	// FailOn is the vulnerability and secret severity at or above which the build fails: unknown (any
	// vulnerability or secret), negligible, low, medium, high, critical, or none (neither fails the
	// build, nor does the secrets hardening rule INGOT-H011, which is then reported waived). Default:
	// critical.
	FailOn string `yaml:"fail-on,omitempty" json:"fail-on,omitempty" jsonschema:"enum=none,enum=unknown,enum=negligible,enum=low,enum=medium,enum=high,enum=critical"`
	// UnknownAs is the level fail-on counts a vulnerability of unknown severity at (an advisory nobody
	// rated, in the advisory or the records it aliases). Default: high.
	UnknownAs string `yaml:"unknown-as,omitempty" json:"unknown-as,omitempty" jsonschema:"enum=unknown,enum=negligible,enum=low,enum=medium,enum=high,enum=critical"`
	// RequireData fails the build when an ecosystem of the image's packages (Debian:12, Go, npm...) has
	// no imported vulnerability data to be checked against, or none is imported at all.
	RequireData bool `yaml:"require-data,omitempty" json:"require-data,omitempty"`
	// Profile is the hardening profile: minimal (default, strict) or cis.
	Profile string `yaml:"profile,omitempty" json:"profile,omitempty" jsonschema:"enum=minimal,enum=cis"`
	// Waivers accept a failing hardening rule for this image, with a reason that shows in reports.
	Waivers []Waiver `yaml:"waivers,omitempty" json:"waivers,omitempty"`
	// Allow accepts secret findings by rule and/or path, with a reason.
	Allow []SecretAllow `yaml:"allow-secrets,omitempty" json:"allow-secrets,omitempty"`
	// Tests is a structure-test file (relative to the spec, and inside its directory or one the builder
	// allows) run against the image under runc.
	Tests string `yaml:"tests,omitempty" json:"tests,omitempty"`
	// VEX are OpenVEX documents (relative to the spec, and inside its directory or one the builder
	// allows) applied to vulnerability findings.
	VEX []string `yaml:"vex,omitempty" json:"vex,omitempty"`
}

// Waiver accepts a failing hardening rule.
type Waiver struct {
	Rule   string `yaml:"rule" json:"rule"`
	Reason string `yaml:"reason" json:"reason"`
}

// SecretAllow accepts secret findings of a rule, under a path glob, or both.
type SecretAllow struct {
	Rule   string `yaml:"rule,omitempty" json:"rule,omitempty"`
	Path   string `yaml:"path,omitempty" json:"path,omitempty"`
	Reason string `yaml:"reason" json:"reason"`
}

// Accounts describes /etc/passwd, /etc/group and the user the image runs as.
type Accounts struct {
	Groups []Group `yaml:"groups,omitempty" json:"groups,omitempty"`
	Users  []User  `yaml:"users,omitempty" json:"users,omitempty"`
	// RunAs is a user name from Users, or a numeric uid[:gid].
	RunAs string `yaml:"run-as,omitempty" json:"run-as,omitempty"`
}

// Group is an /etc/group entry.
type Group struct {
	Name    string   `yaml:"name" json:"name"`
	GID     uint32   `yaml:"gid" json:"gid"`
	Members []string `yaml:"members,omitempty" json:"members,omitempty"`
}

// User is an /etc/passwd entry.
type User struct {
	Name  string `yaml:"name" json:"name"`
	UID   uint32 `yaml:"uid" json:"uid"`
	GID   uint32 `yaml:"gid" json:"gid"`
	Home  string `yaml:"home,omitempty" json:"home,omitempty"`
	Shell string `yaml:"shell,omitempty" json:"shell,omitempty"`
}

// File copies a local file or directory into the image.
type File struct {
	// Source is a local path, relative to the spec's directory. It must lie, after symlinks, inside
	// that directory or one the builder allows (ingot build --allow-files-from). A source that is a
	// symlink is copied as what it points to; symlinks inside a copied directory are copied as links,
	// never followed.
	Source string `yaml:"source" json:"source"`
	// Path is the absolute destination in the image.
	Path string `yaml:"path" json:"path"`
	// Mode of the file (directories: of every file below; directories themselves get 0755).
	Mode *Mode `yaml:"mode,omitempty" json:"mode,omitempty"`
	UID  int   `yaml:"uid,omitempty" json:"uid,omitempty" jsonschema:"minimum=0,maximum=4294967294"`
	GID  int   `yaml:"gid,omitempty" json:"gid,omitempty" jsonschema:"minimum=0,maximum=4294967294"`
}

// Path types.
const (
	PathDirectory   = "directory"
	PathSymlink     = "symlink"
	PathPermissions = "permissions"
)

// Path creates a directory or symlink, or sets permissions and owner on an existing path. The owner is
// always set: uid and gid default to 0 (root), as for every other entry.
type Path struct {
	Path      string `yaml:"path" json:"path"`
	Type      string `yaml:"type" json:"type" jsonschema:"enum=directory,enum=symlink,enum=permissions"`
	Target    string `yaml:"target,omitempty" json:"target,omitempty"`
	Mode      *Mode  `yaml:"mode,omitempty" json:"mode,omitempty"`
	UID       int    `yaml:"uid,omitempty" json:"uid,omitempty" jsonschema:"minimum=0,maximum=4294967294"`
	GID       int    `yaml:"gid,omitempty" json:"gid,omitempty" jsonschema:"minimum=0,maximum=4294967294"`
	Recursive bool   `yaml:"recursive,omitempty" json:"recursive,omitempty"`
}

// Mode is a permission mode, written in YAML as an octal string ("0755") or an integer (0o755).
type Mode uint32

// UnmarshalYAML accepts "0755", "755", 0755 (YAML 1.1 octal) and 0o755.
func (m *Mode) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: mode must be an octal number such as \"0755\"", n.Line)
	}
	s := strings.TrimPrefix(strings.TrimPrefix(n.Value, "0o"), "0O")
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v > 0o7777 {
		return fmt.Errorf("line %d: mode %q is not an octal permission between 0000 and 7777", n.Line, n.Value)
	}
	*m = Mode(v)
	return nil
}

// MarshalYAML writes the mode as an octal string.
func (m Mode) MarshalYAML() (any, error) { return fmt.Sprintf("%04o", uint32(m)), nil }

// Load reads and decodes a spec file strictly, then validates it.
func Load(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading spec: %w", err)
	}
	s, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	abs, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	s.Dir = abs
	return s, nil
}

// Parse decodes one YAML document strictly (unknown fields are errors) and validates it.
func Parse(data []byte) (*Spec, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var s Spec
	if err := dec.Decode(&s); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: the spec is empty", ErrInvalid)
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: a spec holds exactly one YAML document", ErrInvalid)
	}
	s.SetDefaults()
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Default accounts: the distroless "nonroot" user.
const (
	NonrootName = "nonroot"
	NonrootID   = 65532
	NonrootHome = "/home/nonroot"
)

// SetDefaults fills what a spec may leave out: amd64, one layer, and the nonroot account.
func (s *Spec) SetDefaults() {
	if len(s.Archs) == 0 {
		s.Archs = []string{"amd64"}
	}
	if s.Layers == 0 {
		s.Layers = 1
	}
	if s.Accounts == nil {
		s.Accounts = &Accounts{
			Groups: []Group{{Name: NonrootName, GID: NonrootID}},
			Users:  []User{{Name: NonrootName, UID: NonrootID, GID: NonrootID, Home: NonrootHome}},
			RunAs:  NonrootName,
		}
	}
	for i := range s.Accounts.Users {
		if s.Accounts.Users[i].Home == "" {
			s.Accounts.Users[i].Home = "/home/" + s.Accounts.Users[i].Name
		}
	}
	for i := range s.Repositories {
		r := &s.Repositories[i]
		if !r.Host && len(r.Components) == 0 {
			r.Components = []string{"main"}
		}
	}
}

// BaseTag reports whether the base is named by a tag (IMAGE:TAG) rather than pinned by digest.
func (s *Spec) BaseTag() bool { return s.Base != "" && !digestRef.MatchString(s.Base) }

// Tag is the image's tag in the layout and registries: its version, or "latest".
func (s *Spec) Tag() string {
	if s.Version == "" {
		return "latest"
	}
	return s.Version
}

// Digest is the sha256 of the spec's canonical encoding: two specs that decode to the same
// values have the same digest whatever their formatting.
func (s *Spec) Digest() string {
	sum := sha256.Sum256(s.Canonical())
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Canonical is the spec's canonical encoding, with its defaults filled in: a YAML document that
// Parse reads back to the same spec. The catalog records it as the bytes a version was built from.
func (s *Spec) Canonical() []byte {
	data, err := yaml.Marshal(s)
	if err != nil {
		// Marshalling plain structs of strings, maps and numbers cannot fail.
		panic(fmt.Sprintf("encoding spec: %v", err))
	}
	return data
}
