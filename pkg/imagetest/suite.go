package imagetest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ingot-build/ingot/pkg/fault"
)

// ErrInvalid is wrapped by every decoding and validation error of a test file.
var ErrInvalid = fault.New(fault.Invalid, "imagetest: invalid test file")

// FieldError names the field of a test file that is wrong and why.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap lets errors.Is(err, ErrInvalid) hold.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// DefaultTimeout bounds a command test that sets no timeout.
const DefaultTimeout = 30 * time.Second

// Suite is one test file. Its field names are container-structure-test's, so existing files port over.
type Suite struct {
	// SchemaVersion is accepted for container-structure-test files; only "2.0.0" is known.
	SchemaVersion      string              `yaml:"schemaVersion,omitempty" json:"schemaVersion,omitempty"`
	CommandTests       []CommandTest       `yaml:"commandTests,omitempty" json:"commandTests,omitempty"`
	FileExistenceTests []FileExistenceTest `yaml:"fileExistenceTests,omitempty" json:"fileExistenceTests,omitempty"`
	FileContentTests   []FileContentTest   `yaml:"fileContentTests,omitempty" json:"fileContentTests,omitempty"`
	MetadataTest       *MetadataTest       `yaml:"metadataTest,omitempty" json:"metadataTest,omitempty"`
}

// CommandTest runs Command with Args inside the image and checks its output and exit code. The image's
// entrypoint and cmd are not used: Command is argv[0], resolved against PATH when not absolute.
type CommandTest struct {
	Name    string   `yaml:"name" json:"name"`
	Command string   `yaml:"command" json:"command"`
	Args    []string `yaml:"args,omitempty" json:"args,omitempty"`
	// Env is added to (and overrides) the image's environment; EnvVars is container-structure-test's
	// spelling of the same thing, applied after Env.
	Env     map[string]string `yaml:"env,omitempty" json:"env,omitempty"`
	EnvVars []EnvVar          `yaml:"envVars,omitempty" json:"envVars,omitempty"`
	// ExpectedOutput and ExcludedOutput are regular expressions (Go syntax) that stdout must and must
	// not match; ExpectedError and ExcludedError the same for stderr.
	ExpectedOutput []string `yaml:"expectedOutput,omitempty" json:"expectedOutput,omitempty"`
	ExcludedOutput []string `yaml:"excludedOutput,omitempty" json:"excludedOutput,omitempty"`
	ExpectedError  []string `yaml:"expectedError,omitempty" json:"expectedError,omitempty"`
	ExcludedError  []string `yaml:"excludedError,omitempty" json:"excludedError,omitempty"`
	ExitCode       int      `yaml:"exitCode,omitempty" json:"exitCode,omitempty"`
	// Timeout kills the command when it runs longer; DefaultTimeout when zero.
	Timeout Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
}

// EnvVar is one environment variable, as container-structure-test writes them.
type EnvVar struct {
	Key   string `yaml:"key" json:"key"`
	Value string `yaml:"value" json:"value"`
}

// Executable-by classes of a FileExistenceTest.
const (
	ExecOwner = "owner"
	ExecGroup = "group"
	ExecOther = "other"
	ExecAny   = "any"
)

// FileExistenceTest checks that a path exists (or not) and, optionally, its permissions and owner.
// Symbolic links in the directories leading to Path are followed (within the image); the last element
// is not, so a symlink is tested as a symlink ("Lrwxrwxrwx").
type FileExistenceTest struct {
	Name        string `yaml:"name" json:"name"`
	Path        string `yaml:"path" json:"path"`
	ShouldExist bool   `yaml:"shouldExist" json:"shouldExist"`
	// Permissions is the mode string, as Go's fs.FileMode prints it ("-rwxr-xr-x", "urwxr-xr-x" for
	// setuid, as container-structure-test compares) or as ls prints it ("-rwsr-xr-x").
	Permissions string `yaml:"permissions,omitempty" json:"permissions,omitempty"`
	UID         *int   `yaml:"uid,omitempty" json:"uid,omitempty"`
	GID         *int   `yaml:"gid,omitempty" json:"gid,omitempty"`
	// IsExecutableBy is owner, group, other or any (any of the three execute bits).
	IsExecutableBy string `yaml:"isExecutableBy,omitempty" json:"isExecutableBy,omitempty"`
}

// FileContentTest checks a file's contents against regular expressions. Symbolic links are followed,
// within the image.
type FileContentTest struct {
	Name             string   `yaml:"name" json:"name"`
	Path             string   `yaml:"path" json:"path"`
	ExpectedContents []string `yaml:"expectedContents,omitempty" json:"expectedContents,omitempty"`
	ExcludedContents []string `yaml:"excludedContents,omitempty" json:"excludedContents,omitempty"`
}

// MetadataTest checks the image config. A field left out is not checked; "cmd: []" checks that the
// image has no cmd.
type MetadataTest struct {
	User       string    `yaml:"user,omitempty" json:"user,omitempty"`
	EnvVars    []Match   `yaml:"envVars,omitempty" json:"envVars,omitempty"`
	Entrypoint *[]string `yaml:"entrypoint,omitempty" json:"entrypoint,omitempty"`
	Cmd        *[]string `yaml:"cmd,omitempty" json:"cmd,omitempty"`
	Workdir    string    `yaml:"workdir,omitempty" json:"workdir,omitempty"`
	Labels     []Match   `yaml:"labels,omitempty" json:"labels,omitempty"`
	// ExposedPorts must be exposed ("8080/tcp", or "8080" for tcp), UnexposedPorts must not; Volumes
	// and UnmountedVolumes the same for volumes.
	ExposedPorts     []string `yaml:"exposedPorts,omitempty" json:"exposedPorts,omitempty"`
	UnexposedPorts   []string `yaml:"unexposedPorts,omitempty" json:"unexposedPorts,omitempty"`
	Volumes          []string `yaml:"volumes,omitempty" json:"volumes,omitempty"`
	UnmountedVolumes []string `yaml:"unmountedVolumes,omitempty" json:"unmountedVolumes,omitempty"`
}

// Match is a key that must be present with a value: equal, or matching when IsRegex.
type Match struct {
	Key     string `yaml:"key" json:"key"`
	Value   string `yaml:"value" json:"value"`
	IsRegex bool   `yaml:"isRegex,omitempty" json:"isRegex,omitempty"`
}

// MetadataTestName is the ID of the finding a MetadataTest gives.
const MetadataTestName = "metadata"

// Duration is a time.Duration written as "10s", "1m30s".
type Duration time.Duration

// UnmarshalYAML reads a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil {
		return fmt.Errorf("line %d: %q is not a duration such as \"10s\"", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// MarshalText writes the duration string (for JSON).
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Load reads and decodes a test file strictly, then validates it.
func Load(path string) (*Suite, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		// The file was given as input: one that cannot be read is bad input too.
		return nil, fault.Errorf(fault.Invalid, "reading test file: %w", err)
	}
	s, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Parse decodes one YAML document strictly (an unknown field is an error naming it) and validates it.
func Parse(data []byte) (*Suite, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var s Suite
	if err := dec.Decode(&s); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: the file holds no tests", ErrInvalid)
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: a test file holds exactly one YAML document", ErrInvalid)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Len is the number of tests in the suite (the metadata test counts as one).
func (s *Suite) Len() int {
	n := len(s.CommandTests) + len(s.FileExistenceTests) + len(s.FileContentTests)
	if s.MetadataTest != nil {
		n++
	}
	return n
}

// Validate checks every test and reports all problems at once, each naming its field.
func (s *Suite) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	if s.SchemaVersion != "" && s.SchemaVersion != "2.0.0" {
		bad("schemaVersion", "%q is not supported (only 2.0.0)", s.SchemaVersion)
	}
	if s.Len() == 0 {
		bad("commandTests", "the file holds no tests")
	}
	names := map[string]string{}
	name := func(field, n string) {
		switch {
		case strings.TrimSpace(n) == "":
			bad(field+".name", "is required")
		case n == MetadataTestName:
			bad(field+".name", "%q is the name of the metadata test", n)
		case names[n] != "":
			bad(field+".name", "%q is also the name of %s", n, names[n])
		default:
			names[n] = field
		}
	}
	regexes := func(field string, res []string) {
		for i, re := range res {
			if _, err := regexp.Compile(re); err != nil {
				bad(fmt.Sprintf("%s[%d]", field, i), "%q is not a regular expression: %v", re, err)
			}
		}
	}
	for i, t := range s.CommandTests {
		f := fmt.Sprintf("commandTests[%d]", i)
		name(f, t.Name)
		if t.Command == "" {
			bad(f+".command", "is required")
		}
		for k := range t.Env {
			if k == "" || strings.ContainsAny(k, "=\x00") {
				bad(f+".env", "%q is not an environment variable name", k)
			}
		}
		for j, e := range t.EnvVars {
			if e.Key == "" || strings.ContainsAny(e.Key, "=\x00") {
				bad(fmt.Sprintf("%s.envVars[%d].key", f, j), "%q is not an environment variable name", e.Key)
			}
		}
		regexes(f+".expectedOutput", t.ExpectedOutput)
		regexes(f+".excludedOutput", t.ExcludedOutput)
		regexes(f+".expectedError", t.ExpectedError)
		regexes(f+".excludedError", t.ExcludedError)
		if t.ExitCode < 0 || t.ExitCode > 255 {
			bad(f+".exitCode", "%d is not an exit code (0-255)", t.ExitCode)
		}
		if t.Timeout < 0 {
			bad(f+".timeout", "must be positive")
		}
	}
	for i, t := range s.FileExistenceTests {
		f := fmt.Sprintf("fileExistenceTests[%d]", i)
		name(f, t.Name)
		imagePath(f+".path", t.Path, bad)
		if t.Permissions != "" && !modeString().MatchString(t.Permissions) {
			bad(f+".permissions", "%q is not a mode string such as \"-rwxr-xr-x\"", t.Permissions)
		}
		switch t.IsExecutableBy {
		case "", ExecOwner, ExecGroup, ExecOther, ExecAny:
		default:
			bad(f+".isExecutableBy", "%q is not owner, group, other or any", t.IsExecutableBy)
		}
		if !t.ShouldExist && (t.Permissions != "" || t.UID != nil || t.GID != nil || t.IsExecutableBy != "") {
			bad(f+".shouldExist", "is false, so permissions, uid, gid and isExecutableBy cannot be checked")
		}
		for _, id := range []struct {
			name string
			v    *int
		}{{"uid", t.UID}, {"gid", t.GID}} {
			if id.v != nil && *id.v < 0 {
				bad(f+"."+id.name, "%d is negative", *id.v)
			}
		}
	}
	for i, t := range s.FileContentTests {
		f := fmt.Sprintf("fileContentTests[%d]", i)
		name(f, t.Name)
		imagePath(f+".path", t.Path, bad)
		regexes(f+".expectedContents", t.ExpectedContents)
		regexes(f+".excludedContents", t.ExcludedContents)
		if len(t.ExpectedContents)+len(t.ExcludedContents) == 0 {
			bad(f, "needs expectedContents or excludedContents")
		}
	}
	if m := s.MetadataTest; m != nil {
		for _, list := range []struct {
			field string
			ms    []Match
		}{{"metadataTest.envVars", m.EnvVars}, {"metadataTest.labels", m.Labels}} {
			for i, kv := range list.ms {
				f := fmt.Sprintf("%s[%d]", list.field, i)
				if kv.Key == "" {
					bad(f+".key", "is required")
				}
				if kv.IsRegex {
					regexes(f+".value", []string{kv.Value})
				}
			}
		}
	}
	return errors.Join(errs...)
}

// modeString is what fs.FileMode.String or ls print: type and special letters, then rwx three times.
var modeString = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[-a-zA-Z?]{1,12}[-r][-w][-xsS][-r][-w][-xsS][-r][-w][-xtT]$`)
})

func imagePath(field, p string, bad func(string, string, ...any)) {
	switch {
	case p == "":
		bad(field, "is required")
	case !strings.HasPrefix(p, "/"):
		bad(field, "%q must be absolute", p)
	case strings.ContainsRune(p, 0):
		bad(field, "contains a NUL byte")
	}
}
