package safefile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Every temporary file or directory ingot makes in the data directory is named
// ".<prefix>.tmp-<pid>-<random>": hidden from readers, and owned by the process that made it, so a
// later run can tell a killed run's leftover from a temporary file that a live process is still
// filling.
var tempName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^\..*\.tmp-([0-9]+)-[^/]*$`) })

// legacyTemp matches the temporary names of ingot versions before the owner pid was recorded.
var legacyTemp = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^\.(tmp-|fetch-|evidence-|import-.*\.tmp$|update-|.*\.tmp-)`)
})

// MaxTempAge bounds how long a temporary file may live even when its pid names a live process (pids
// are reused, and a data directory may be shared by machines whose pids mean nothing here).
const MaxTempAge = 24 * time.Hour

// legacyAge is how old a temporary file without an owner must be before it is removed.
const legacyAge = time.Hour

func pattern(prefix string) string {
	return "." + prefix + ".tmp-" + strconv.Itoa(os.Getpid()) + "-*"
}

// CreateTemp creates a temporary file in dir, named as this process's (see Sweep).
func CreateTemp(dir, prefix string) (*os.File, error) {
	return os.CreateTemp(dir, pattern(prefix))
}

// MkdirTemp creates a temporary directory in dir, named as this process's (see Sweep).
func MkdirTemp(dir, prefix string) (string, error) {
	return os.MkdirTemp(dir, pattern(prefix))
}

// IsTemp reports whether a directory entry's name is one of ingot's temporary names.
func IsTemp(name string) bool { return tempName().MatchString(name) || legacyTemp().MatchString(name) }

// Stale reports whether a temporary entry was left by a run that is gone: its owner pid is not a
// live process, or it is older than MaxTempAge; an entry of an older ingot (no pid) when it is older
// than an hour. Entries that are not temporary names are never stale.
func Stale(name string, modTime, now time.Time) bool {
	if m := tempName().FindStringSubmatch(name); m != nil {
		pid, err := strconv.Atoi(m[1])
		if err != nil || pid <= 0 || !alive(pid) {
			return true
		}
		return now.Sub(modTime) > MaxTempAge
	}
	if legacyTemp().MatchString(name) {
		return now.Sub(modTime) > legacyAge
	}
	return false
}

func alive(pid int) bool {
	if pid == os.Getpid() {
		return true
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Sweep removes the stale temporary entries directly inside dir (see Stale) and returns their paths.
// A missing dir has nothing to sweep. Entries being removed by another sweep at the same time are not
// an error.
func Sweep(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sweeping %s: %w", dir, err)
	}
	now := time.Now()
	var removed []string
	var errs []error
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") || !IsTemp(e.Name()) {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // gone meanwhile
		}
		if !Stale(e.Name(), fi.ModTime(), now) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if err := os.RemoveAll(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, p)
	}
	return removed, errors.Join(errs...)
}
