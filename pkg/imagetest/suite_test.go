package imagetest

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestLoadFull(t *testing.T) {
	s, err := Load("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 5 {
		t.Errorf("Len = %d, want 5", s.Len())
	}
	c := s.CommandTests[0]
	if c.Command != "/usr/local/bin/hello" || strings.Join(c.Args, " ") != "--name x" || c.Env["K"] != "V" ||
		c.EnvVars[0] != (EnvVar{"L", "W"}) || time.Duration(c.Timeout) != 10*time.Second {
		t.Errorf("command test decoded as %+v", c)
	}
	fe := s.FileExistenceTests[1]
	if fe.UID == nil || *fe.UID != 0 || fe.GID == nil || fe.Permissions != "-rwxr-xr-x" || fe.IsExecutableBy != ExecAny {
		t.Errorf("file existence test decoded as %+v", fe)
	}
	if s.FileExistenceTests[0].UID != nil {
		t.Error("an absent uid decoded as set")
	}
	m := s.MetadataTest
	if m == nil || m.Cmd == nil || len(*m.Cmd) != 0 || m.Entrypoint == nil || (*m.Entrypoint)[0] != "/usr/local/bin/hello" || !m.EnvVars[0].IsRegex {
		t.Errorf("metadata test decoded as %+v", m)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string // every one must appear in the error
	}{
		{"unknown top-level field", "commandTest: []\n", []string{"field commandTest not found"}},
		{"unknown field in a test", "commandTests:\n  - {name: a, command: /a, setup: [[x]]}\n", []string{"field setup not found"}},
		{"unknown field in metadata", "metadataTest: {user: x, entryPoint: [a]}\n", []string{"field entryPoint not found"}},
		{"empty", "", []string{"no tests"}},
		{"no tests", "schemaVersion: '2.0.0'\n", []string{"commandTests: the file holds no tests"}},
		{"two documents", "metadataTest: {user: a}\n---\nmetadataTest: {user: b}\n", []string{"exactly one YAML document"}},
		{"bad schema version", "schemaVersion: '1.0.0'\nmetadataTest: {user: a}\n", []string{"schemaVersion"}},
		{"missing name and command", "commandTests:\n  - {args: [x]}\n", []string{"commandTests[0].name: is required", "commandTests[0].command: is required"}},
		{"duplicate names", "commandTests:\n  - {name: a, command: /a}\nfileExistenceTests:\n  - {name: a, path: /a, shouldExist: true}\n",
			[]string{`fileExistenceTests[0].name: "a" is also the name of commandTests[0]`}},
		{"reserved name", "fileExistenceTests:\n  - {name: metadata, path: /a, shouldExist: true}\n", []string{"fileExistenceTests[0].name"}},
		{"bad regex", "commandTests:\n  - {name: a, command: /a, expectedOutput: [ok, '(']}\n", []string{"commandTests[0].expectedOutput[1]"}},
		{"bad timeout", "commandTests:\n  - {name: a, command: /a, timeout: soon}\n", []string{`"soon" is not a duration`}},
		{"bad exit code", "commandTests:\n  - {name: a, command: /a, exitCode: 300}\n", []string{"commandTests[0].exitCode"}},
		{"bad env name", "commandTests:\n  - {name: a, command: /a, env: {'A=B': c}}\n", []string{"commandTests[0].env"}},
		{"relative path", "fileExistenceTests:\n  - {name: a, path: etc/passwd, shouldExist: true}\n", []string{"fileExistenceTests[0].path"}},
		{"bad permissions", "fileExistenceTests:\n  - {name: a, path: /a, shouldExist: true, permissions: '0755'}\n", []string{"fileExistenceTests[0].permissions"}},
		{"bad executable class", "fileExistenceTests:\n  - {name: a, path: /a, shouldExist: true, isExecutableBy: everyone}\n", []string{"fileExistenceTests[0].isExecutableBy"}},
		{"checks on an absent file", "fileExistenceTests:\n  - {name: a, path: /a, shouldExist: false, uid: 0}\n", []string{"fileExistenceTests[0].shouldExist"}},
		{"content test without patterns", "fileContentTests:\n  - {name: a, path: /a}\n", []string{"fileContentTests[0]: needs expectedContents"}},
		{"bad metadata regex", "metadataTest:\n  labels: [{key: a, value: '[', isRegex: true}]\n", []string{"metadataTest.labels[0].value[0]"}},
		{"missing metadata key", "metadataTest:\n  envVars: [{value: a}]\n", []string{"metadataTest.envVars[0].key: is required"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil {
				t.Fatal("Parse accepted it")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	if _, err := Load("testdata/missing.yaml"); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("Load of a missing file: %v", err)
	}
}
