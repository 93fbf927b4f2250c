package evidence

// Package types, as in package URLs.
const (
	TypeDeb    = "deb"
	TypeAPK    = "apk"
	TypeGolang = "golang"
	TypeNPM    = "npm"
	TypePyPI   = "pypi"
)

// Image identifies the image evidence is about.
type Image struct {
	// Ref is how the user named it; Digest the manifest digest ("sha256:...").
	Ref    string `json:"ref,omitempty"`
	Digest string `json:"digest,omitempty"`
	OS     string `json:"os,omitempty"`
	Arch   string `json:"arch,omitempty"`
}

// Distro is the operating system release found in the image (from os-release).
type Distro struct {
	ID        string `json:"id"`                  // "debian", "alpine"
	VersionID string `json:"versionID,omitempty"` // "12", "3.19.1"
	Codename  string `json:"codename,omitempty"`  // "bookworm"
	Name      string `json:"name,omitempty"`      // PRETTY_NAME
}

// Package is one installed package of any ecosystem.
type Package struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Type is one of the Type* constants.
	Type string `json:"type"`
	// PURL is the package URL, following syft's conventions so grype, trivy and osv-scanner read it.
	PURL string `json:"purl"`
	Arch string `json:"arch,omitempty"`
	// Source and SourceVersion name a Debian binary package's source package (vulnerability data is
	// keyed by it), or an Alpine package's origin.
	Source        string   `json:"source,omitempty"`
	SourceVersion string   `json:"sourceVersion,omitempty"`
	Licenses      []string `json:"licenses,omitempty"`
	// Layer is the diff ID of the layer the package came from (the topmost one that wrote its record).
	Layer string `json:"layer,omitempty"`
	// Locations are the files that record the package: a status file, a binary, a package.json.
	Locations []string `json:"locations,omitempty"`
	// SHA256 is the digest of the artifact installed (a .deb), when known exactly (ingot's own builds).
	SHA256 string `json:"sha256,omitempty"`
	// Ecosystem is the OSV ecosystem the package is matched in: "Debian:12", "Alpine:v3.19", "Go",
	// "npm", "PyPI".
	Ecosystem string `json:"ecosystem,omitempty"`
}

// Exclusion is a dependency the spec cut from resolution, recorded so the SBOM says what is absent.
type Exclusion struct {
	Name       string   `json:"name"`
	RequiredBy []string `json:"requiredBy,omitempty"`
}

// Inventory is everything installed in one image.
type Inventory struct {
	Image    Image       `json:"image"`
	Distro   *Distro     `json:"distro,omitempty"`
	Packages []Package   `json:"packages"`
	Excluded []Exclusion `json:"excluded,omitempty"`
}
