package selfid

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
)

// ID returns the running executable's Go build ID, or, where the binary has none (not ELF, or the
// note stripped), the sha256 of the whole file.
func ID() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	if id, err := buildID(exe); err == nil {
		return "go:" + id, nil
	}
	f, err := os.Open(exe)
	if err != nil {
		return "", err
	}
	defer func() { _ = f.Close() }() // read-only: closing cannot lose data
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// buildID reads the Go build ID from the ELF note .note.go.buildid (name "Go", type 4).
func buildID(path string) (string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", err
	}
	defer func() { _ = f.Close() }()
	s := f.Section(".note.go.buildid")
	if s == nil {
		return "", errors.New("no Go build ID note")
	}
	data, err := s.Data()
	if err != nil {
		return "", err
	}
	// An ELF note: namesz, descsz, type (4 bytes each), name padded to 4, then desc.
	if len(data) < 16 {
		return "", errors.New("short Go build ID note")
	}
	order := f.ByteOrder
	namesz, descsz := order.Uint32(data[0:4]), order.Uint32(data[4:8])
	nameEnd := 12 + int((namesz+3)&^3)
	if int(namesz) > len(data)-12 || nameEnd+int(descsz) > len(data) || !bytes.HasPrefix(data[12:], []byte("Go\x00")) {
		return "", fmt.Errorf("malformed Go build ID note")
	}
	id := data[nameEnd : nameEnd+int(descsz)]
	if len(id) == 0 {
		return "", errors.New("empty Go build ID")
	}
	return string(id), nil
}
