package build

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Package is one verified .deb to unpack into the image.
type Package struct {
	Name, Version string
	// Source is the source package name; packages of one source share a layer when Options.Layers > 1.
	// Empty means the control file's Source field, or Name.
	Source string
	// SHA256 of the .deb, recorded in the layer history; the caller has verified it.
	SHA256 string
	// Deb is the whole .deb archive.
	Deb []byte
}

// Group is an /etc/group entry.
type Group struct {
	Name    string
	GID     uint32
	Members []string
}

// User is an /etc/passwd entry. An empty Shell means /sbin/nologin, an empty Home /home/<name>, an empty
// Gecos the user's name.
type User struct {
	Name     string
	UID, GID uint32
	Home     string
	Shell    string
	Gecos    string
}

// Accounts are written to /etc/passwd and /etc/group next to root and nobody, which are always present.
// They replace any passwd and group files of packages or a base image; Files can override them.
type Accounts struct {
	Groups []Group
	Users  []User
	// RunAs is a user name from Users (or "root", "nobody"), or a numeric "uid[:gid]". The image config
	// always gets the numeric form; empty leaves the base image's user (root without a base).
	RunAs string
}

// File is a local file, directory or symlink the caller read from disk.
type File struct {
	// Path is absolute in the image, e.g. "/usr/local/bin/hello".
	Path string
	// Mode holds the permission bits and fs.ModeDir or fs.ModeSymlink for those types. Setuid, setgid
	// and sticky may be given as fs.ModeSetuid etc. or in octal (fs.FileMode(0o4755)).
	Mode     fs.FileMode
	UID, GID int
	// Data is the content of a regular file.
	Data []byte
	// Linkname is the target of a symlink, stored verbatim.
	Linkname string
}

// Path operation types.
const (
	PathDirectory   = "directory"
	PathSymlink     = "symlink"
	PathPermissions = "permissions"
)

// PathOp creates a directory or symlink, or changes the permissions and owner of an existing path.
type PathOp struct {
	Path string
	Type string // PathDirectory, PathSymlink or PathPermissions
	// Mode: for directories, zero means 0755; for permissions, zero leaves the mode alone and changes only
	// the owner. Ignored for symlinks.
	Mode     fs.FileMode
	UID, GID int
	// Target of a symlink, stored verbatim.
	Target string
	// Recursive applies permissions to everything below a directory too.
	Recursive bool
}

// Config is the runtime part of the image configuration.
type Config struct {
	// Env holds "K=V" entries in the order they should appear. PATH is added when absent, and
	// SSL_CERT_FILE when ca-certificates is installed.
	Env             []string
	Entrypoint, Cmd []string
	WorkDir         string
	StopSignal      string
	Labels          map[string]string
}

// OSRelease describes /etc/os-release for images in which no package ships one.
type OSRelease struct {
	ID, Name, VersionID, VersionCodename string
}

// Options describe one single-architecture image.
type Options struct {
	// Arch is the Debian architecture: amd64, arm64 (variant v8), armhf, armel, i386, ppc64el, s390x,
	// riscv64 or mips64el.
	Arch string
	// Packages are unpacked in this order; later packages overwrite files of earlier ones.
	Packages []Package
	Accounts Accounts
	// Files are applied after packages and generated files, and override them.
	Files []File
	// Paths are applied last.
	Paths  []PathOp
	Config Config
	// Base is an optional image whose layers go below ours and whose config is the starting point.
	Base v1.Image
	// Epoch is SOURCE_DATE_EPOCH: every timestamp is clamped to it and it is the creation time. The zero
	// value means the newest modification time found in any package's data.
	Epoch time.Time
	// Layers is the budget for our layers: <= 1 gives one layer, N > 1 gives the N-1 largest source
	// packages a layer each and everything else one more.
	Layers int
	// Annotations are added to the manifest after org.opencontainers.image.created (and
	// org.opencontainers.image.base.digest when Base is set), and override them.
	Annotations map[string]string
	// OSRelease is written to /etc/os-release when no package or base image provides etc/os-release or
	// usr/lib/os-release and ID is set.
	OSRelease OSRelease
}

// Sentinel errors, wrapped with the package, entry or field they are about.
var (
	// ErrInvalidOptions reports Options the caller should have rejected earlier.
	ErrInvalidOptions = errors.New("build: invalid options")
	// ErrInvalidPackage reports a .deb that cannot be unpacked into an image.
	ErrInvalidPackage = errors.New("build: invalid package")
	// ErrEscape reports a path whose resolution through symlinks leaves the image root.
	ErrEscape = errors.New("path resolution escapes the image root")
	// ErrSymlinkLoop reports more than 40 symlinks followed while resolving one path.
	ErrSymlinkLoop = errors.New("too many levels of symbolic links")
	// ErrConflict reports an entry whose type clashes with what is already in the tree, such as a file
	// over a directory or a path below a regular file.
	ErrConflict = errors.New("conflicting file types")
	// ErrHardlink reports a hardlink whose target is not a regular file in the tree.
	ErrHardlink = errors.New("hardlink target is not a regular file in the image")
	// ErrInvalidPath reports a name or symlink target that a tar archive cannot hold (a NUL byte).
	ErrInvalidPath = errors.New("path cannot be stored in a layer")
	// ErrNotFound reports a path operation on a path that does not exist.
	ErrNotFound = errors.New("no such file or directory in the image")
	// ErrBaseContent reports an operation that needs the content of a base image file, which is not
	// kept in memory.
	ErrBaseContent = errors.New("needs the content of a base image file")
	// ErrAccounts reports invalid or duplicate users and groups.
	ErrAccounts = errors.New("build: invalid accounts")
)

// platform maps Debian architecture names to OCI architecture and variant.
func platform(debArch string) (arch, variant string, ok bool) {
	switch debArch {
	case "amd64", "s390x", "riscv64":
		return debArch, "", true
	case "arm64":
		return "arm64", "v8", true
	case "armhf":
		return "arm", "v7", true
	case "armel":
		return "arm", "v5", true
	case "i386":
		return "386", "", true
	case "ppc64el":
		return "ppc64le", "", true
	case "mips64el":
		return "mips64le", "", true
	}
	return "", "", false
}

func (o *Options) validate() error {
	if _, _, ok := platform(o.Arch); !ok {
		return fmt.Errorf("%w: Arch %q is not a supported Debian architecture", ErrInvalidOptions, o.Arch)
	}
	seen := make(map[string]bool, len(o.Packages))
	for i, p := range o.Packages {
		if len(p.Deb) == 0 {
			return fmt.Errorf("%w: Packages[%d] (%s): empty Deb", ErrInvalidOptions, i, p.Name)
		}
		if p.Name != "" {
			if seen[p.Name] {
				return fmt.Errorf("%w: Packages[%d]: package %s listed twice", ErrInvalidOptions, i, p.Name)
			}
			seen[p.Name] = true
		}
	}
	for i, f := range o.Files {
		if !strings.HasPrefix(f.Path, "/") || cleanAbs(f.Path) == "" {
			return fmt.Errorf("%w: Files[%d]: path %q must be absolute and not the root", ErrInvalidOptions, i, f.Path)
		}
		switch {
		case f.Mode&fs.ModeSymlink != 0:
			if f.Linkname == "" {
				return fmt.Errorf("%w: Files[%d] (%s): symlink without a target", ErrInvalidOptions, i, f.Path)
			}
		case f.Mode.IsDir(), f.Mode.IsRegular():
		default:
			return fmt.Errorf("%w: Files[%d] (%s): unsupported file type %s", ErrInvalidOptions, i, f.Path, f.Mode.Type())
		}
		if f.UID < 0 || f.GID < 0 {
			return fmt.Errorf("%w: Files[%d] (%s): negative uid or gid", ErrInvalidOptions, i, f.Path)
		}
	}
	for i, p := range o.Paths {
		if !strings.HasPrefix(p.Path, "/") {
			return fmt.Errorf("%w: Paths[%d]: path %q must be absolute", ErrInvalidOptions, i, p.Path)
		}
		switch p.Type {
		case PathDirectory, PathPermissions:
		case PathSymlink:
			if p.Target == "" {
				return fmt.Errorf("%w: Paths[%d] (%s): symlink without a target", ErrInvalidOptions, i, p.Path)
			}
		default:
			return fmt.Errorf("%w: Paths[%d] (%s): unknown type %q", ErrInvalidOptions, i, p.Path, p.Type)
		}
		if p.Type != PathPermissions && cleanAbs(p.Path) == "" {
			return fmt.Errorf("%w: Paths[%d]: cannot create the root", ErrInvalidOptions, i)
		}
		if p.UID < 0 || p.GID < 0 {
			return fmt.Errorf("%w: Paths[%d] (%s): negative uid or gid", ErrInvalidOptions, i, p.Path)
		}
	}
	return nil
}
