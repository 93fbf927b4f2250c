package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ingot-build/ingot/pkg/attest"
	"github.com/ingot-build/ingot/pkg/build"
	"github.com/ingot-build/ingot/pkg/lock"
	"github.com/ingot-build/ingot/pkg/spec"
)

// readInputFiles reads the spec and lock files named in opt, before anything is built, and returns
// the provenance input that names them.
func readInputFiles(s *spec.Spec, l *lock.Lock, opt Options) (attest.ProvenanceInput, error) {
	in := attest.ProvenanceInput{Spec: s, Lock: l}
	var err error
	if in.SpecFile, in.SpecDigest, err = inputFile(opt.SpecFile, func(data []byte) (bool, error) {
		read, err := spec.Parse(data)
		return err == nil && read.Digest() == s.Digest(), err
	}); err != nil {
		return in, fmt.Errorf("spec: %w", err)
	}
	if in.LockFile, in.LockDigest, err = inputFile(opt.LockFile, func(data []byte) (bool, error) {
		read, err := lock.Parse(data)
		if err != nil {
			return false, err
		}
		a, err := read.Marshal()
		if err != nil {
			return false, err
		}
		b, err := l.Marshal()
		return err == nil && string(a) == string(b), err
	}); err != nil {
		return in, fmt.Errorf("lock: %w", err)
	}
	return in, nil
}

// addProvenance records the SLSA provenance of each image of a build in its evidence. It lives beside
// the image, never in it, so the image stays reproducible.
func addProvenance(in attest.ProvenanceInput, files []build.File, local *spec.LocalFiles, evs []*collected, opt Options, started, finished time.Time) error {
	in.SourceDateEpoch, in.Started, in.Finished = opt.SourceDateEpoch, started, finished
	var err error
	for _, f := range files {
		if f.Mode.Type() == 0 {
			in.Files = append(in.Files, attest.File{Path: f.Path, SHA256: sha256Hex(f.Data)})
		}
	}
	if in.EvidenceInputs, err = evidenceInputs(local); err != nil {
		return fmt.Errorf("provenance: %w", err)
	}
	if in.Builder, err = attest.BuilderVersion(); err != nil {
		return fmt.Errorf("provenance: %w", err)
	}
	if in.InvocationID, err = attest.NewInvocationID(); err != nil {
		return fmt.Errorf("provenance: %w", err)
	}
	for i, ev := range evs {
		in.Arch, in.VulnData = in.Spec.Archs[i], ev.vulnData
		if ev.set.Provenance, err = attest.Provenance(in); err != nil {
			return fmt.Errorf("provenance for %s: %w", in.Arch, err)
		}
	}
	return nil
}

// inputFile reads a spec or lock file for the provenance: its path as given and the sha256 of its
// bytes, after same confirms it holds what is being built.
func inputFile(path string, same func([]byte) (bool, error)) (string, string, error) {
	if path == "" {
		return "", "", nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", "", fmt.Errorf("reading %s: %w", path, err)
	}
	ok, err := same(data)
	if err != nil {
		return "", "", fmt.Errorf("%w: %s: %w", ErrInputChanged, path, err)
	}
	if !ok {
		return "", "", fmt.Errorf("%w: %s no longer holds what is being built", ErrInputChanged, path)
	}
	return filepath.ToSlash(path), sha256Hex(data), nil
}

// evidenceInputs are the files the evidence stages read (structure tests, VEX), by spec path, read
// through the roots they were found in.
func evidenceInputs(local *spec.LocalFiles) ([]attest.File, error) {
	var in []spec.LocalFile
	if local.Tests != nil {
		in = append(in, *local.Tests)
	}
	var out []attest.File
	for _, f := range append(in, local.VEX...) {
		data, err := f.ReadFile()
		if err != nil {
			return nil, fmt.Errorf("evidence input: %w", err)
		}
		out = append(out, attest.File{Path: f.Name, SHA256: sha256Hex(data)})
	}
	return out, nil
}

func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
