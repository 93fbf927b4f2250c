package vuln

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ingot-build/ingot/pkg/fault"
)

// ErrInvalidRecord is wrapped by every error about an OSV record that cannot be used.
var ErrInvalidRecord = fault.New(fault.Invalid, "vuln: invalid OSV record")

// The OSV schema (https://ossf.github.io/osv-schema/), reduced to the fields matching and reports use.
// The official Go bindings are protobuf messages read through protojson, which is slower and rejects
// enum values newer than the bindings; OSV grows, so unknown fields and values are ignored here.

type osvRecord struct {
	ID               string          `json:"id"`
	Modified         string          `json:"modified"`
	Published        string          `json:"published"`
	Withdrawn        string          `json:"withdrawn"`
	Aliases          []string        `json:"aliases"`
	Summary          string          `json:"summary"`
	Details          string          `json:"details"`
	Severity         []osvSeverity   `json:"severity"`
	Affected         []osvAffected   `json:"affected"`
	References       []osvReference  `json:"references"`
	DatabaseSpecific json.RawMessage `json:"database_specific"`
}

type osvSeverity struct {
	Type  string `json:"type"`
	Score string `json:"score"`
}

type osvReference struct {
	Type string `json:"type"`
	URL  string `json:"url"`
}

type osvAffected struct {
	Package           *osvPackage     `json:"package"`
	Severity          []osvSeverity   `json:"severity"`
	Ranges            []osvRange      `json:"ranges"`
	Versions          []string        `json:"versions"`
	EcosystemSpecific json.RawMessage `json:"ecosystem_specific"`
	DatabaseSpecific  json.RawMessage `json:"database_specific"`
}

type osvPackage struct {
	Ecosystem string `json:"ecosystem"`
	Name      string `json:"name"`
}

type osvRange struct {
	Type   string     `json:"type"`
	Events []osvEvent `json:"events"`
}

// osvEvent holds exactly one of its fields.
type osvEvent struct {
	Introduced   *string `json:"introduced"`
	Fixed        *string `json:"fixed"`
	LastAffected *string `json:"last_affected"`
	Limit        *string `json:"limit"`
}

// Event kinds, as stored in the index.
const (
	eventIntroduced byte = iota + 1
	eventFixed
	eventLastAffected
	eventLimit
)

func (e osvEvent) kind() (byte, string, error) {
	var kind byte
	var value string
	n := 0
	for _, f := range [...]struct {
		k byte
		v *string
	}{{eventIntroduced, e.Introduced}, {eventFixed, e.Fixed}, {eventLastAffected, e.LastAffected}, {eventLimit, e.Limit}} {
		if f.v != nil {
			kind, value = f.k, *f.v
			n++
		}
	}
	switch {
	case n != 1:
		return 0, "", errors.New("an event must have exactly one of introduced, fixed, last_affected, limit")
	case strings.TrimSpace(value) == "":
		return 0, "", errors.New("an event has an empty version")
	}
	return kind, value, nil
}

// parseRecord reads and validates one OSV record; name says where it came from.
func parseRecord(name string, data []byte) (*osvRecord, error) {
	var r osvRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrInvalidRecord, name, err)
	}
	if err := r.validate(); err != nil {
		id := ""
		if r.ID != "" {
			id = " (" + r.ID + ")"
		}
		return nil, fmt.Errorf("%w %s%s: %w", ErrInvalidRecord, name, id, err)
	}
	return &r, nil
}

func (r *osvRecord) validate() error {
	if strings.TrimSpace(r.ID) == "" {
		return errors.New("no id")
	}
	if r.ID != strings.TrimSpace(r.ID) || strings.ContainsAny(r.ID, "\x00\n\t") {
		return fmt.Errorf("id %q has spaces or control characters", r.ID)
	}
	if len(r.Affected) == 0 && r.Withdrawn == "" {
		return errors.New("no affected packages")
	}
	for i, a := range r.Affected {
		if a.Package != nil && (a.Package.Ecosystem == "" || a.Package.Name == "") {
			return fmt.Errorf("affected[%d]: package without ecosystem or name", i)
		}
		for j, rg := range a.Ranges {
			if rg.Type == "" {
				return fmt.Errorf("affected[%d].ranges[%d]: no type", i, j)
			}
			if len(rg.Events) == 0 {
				return fmt.Errorf("affected[%d].ranges[%d]: no events", i, j)
			}
			for k, e := range rg.Events {
				if _, _, err := e.kind(); err != nil {
					return fmt.Errorf("affected[%d].ranges[%d].events[%d]: %w", i, j, k, err)
				}
			}
		}
	}
	return nil
}

// modifiedTime is the record's "modified" time, zero when absent or unreadable.
func (r *osvRecord) modifiedTime() time.Time {
	t, err := time.Parse(time.RFC3339Nano, r.Modified)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t.UTC()
}

// publishedTime is when the record says it was published, else its modified time: the date patch
// SLAs fall back on when ingot never saw the fixed version upstream. Zero when neither is readable
// (or is year 1, as some exports write for "unknown").
func (r *osvRecord) publishedTime() time.Time {
	t, err := time.Parse(time.RFC3339Nano, r.Published)
	if err != nil || t.Year() <= 1 {
		return r.modifiedTime()
	}
	return t.UTC()
}

// specificString returns the string value of key in a database_specific or ecosystem_specific
// object, or "".
func specificString(raw json.RawMessage, key string) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return ""
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return ""
	}
	var s string
	if json.Unmarshal(m[key], &s) != nil {
		return ""
	}
	return s
}
