package rebuild

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/ingot-build/ingot/internal/safefile"
	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/lock"
	"github.com/ingot-build/ingot/pkg/spec"
	"github.com/ingot-build/ingot/pkg/store"
)

// specFile is the name a registered spec is unpacked under.
const specFile = "ingot.yaml"

// unpack writes a registered spec and its files into a directory of its own under the data
// directory's work area and loads it from there, as `ingot build` would load it from its own
// directory. The cleanup removes the directory (a killed worker's is swept by the next run).
func unpack(st store.Store, rs catalog.RegisteredSpec) (*spec.Spec, func(), error) {
	if err := os.MkdirAll(st.Work(), 0o755); err != nil {
		return nil, nil, err
	}
	dir, err := safefile.MkdirTemp(st.Work(), "spec-"+rs.Name)
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() { _ = os.RemoveAll(dir) } // scratch: the sweep removes what this leaves
	path := filepath.Join(dir, specFile)
	if err := os.WriteFile(path, rs.Spec, 0o644); err != nil { //nolint:gosec // G306: a spec is not secret, as in its own directory
		cleanup()
		return nil, nil, err
	}
	if len(rs.Files) > 0 {
		if err := spec.Unarchive(rs.Files, dir); err != nil {
			cleanup()
			return nil, nil, fmt.Errorf("registered spec %s: %w", rs.Name, err)
		}
	}
	s, err := spec.Load(path)
	if err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("registered spec %s: %w", rs.Name, err)
	}
	if s.Name != rs.Name {
		cleanup()
		return nil, nil, fmt.Errorf("%w: registered spec %s names the image %s", catalog.ErrInvalid, rs.Name, s.Name)
	}
	return s, cleanup, nil
}

// registeredLock is the lock registered with a spec, when there is one that still matches it.
func registeredLock(rs catalog.RegisteredSpec, s *spec.Spec) *lock.Lock {
	if len(rs.Lock) == 0 {
		return nil
	}
	l, err := lock.Parse(rs.Lock)
	if err != nil || l.Check(s) != nil {
		return nil
	}
	return l
}
