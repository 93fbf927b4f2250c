package main

import (
	"archive/zip"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/semver"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/evidence"
)

// The synthetic catalog. Images are built on a few base flavours of Debian 12 (a core every flavour
// shares, libc6 among it, and packages of its own), add Debian packages of their own and a Go
// program of ~50 modules (the standard library among them); each image has release lines and ~20
// versions over two years. Packages move over the two years as Debian's did: the ones with security
// updates (version +deb12uN) go through u1..uN, Go modules through the versions the advisories
// name. Version i of the catalog belongs to image i mod images, at time i/n of the two years, so
// every image's versions spread over the whole period.

// debPkg is a Debian binary package with the versions it went through, oldest first.
type debPkg struct {
	name, source   string
	versions, srcs []string // the binary's and its source's versions, in step
	common         bool     // installed on the host that made the list: in the core or a flavour
}

// goMod is a Go module with versions named by its advisories, oldest first.
type goMod struct {
	name       string
	versions   []string // with "v", as inventories write them (the standard library's without: "1.22.1")
	advisories int
}

// model is everything the versions are made from.
type model struct {
	n, images  int
	debs       []debPkg
	core       []int   // indexes in debs every image ships
	flavours   [][]int // each flavour's own packages
	pool       []int   // packages images add of their own
	gomods     []goMod
	commonMods []int // modules most Go programs link (golang.org/x/..., google.golang.org/...)
	libs       []int // the other modules a program may link: libraries, not applications
	start      time.Time
	span       time.Duration
}

// maxLibAdvisories is the most advisories a module the model links as a library has.
const maxLibAdvisories = 6

var debSuffix = regexp.MustCompile(`^(.*)\+deb12u([0-9]+)$`)

// history is the versions a Debian version went through: +deb12uN after u1..u(N-1) and the release.
func history(v string) []string {
	m := debSuffix.FindStringSubmatch(v)
	if m == nil {
		return []string{v}
	}
	n, _ := strconv.Atoi(m[2])
	out := []string{m[1]}
	for i := 1; i <= n; i++ {
		out = append(out, fmt.Sprintf("%s+deb12u%d", m[1], i))
	}
	return out
}

// loadDebian reads testdata/debian-bookworm.tsv.
func loadDebian(path string) ([]debPkg, error) {
	f, err := os.Open(path) //nolint:gosec // G304: the bench's own data file
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	var out []debPkg
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fs := strings.Split(line, "\t")
		if len(fs) != 5 {
			return nil, fmt.Errorf("%s: %q: want 5 fields", path, line)
		}
		vs, ss := history(fs[1]), history(fs[3])
		if len(ss) != len(vs) {
			ss = slices.Repeat([]string{fs[3]}, len(vs))
		}
		out = append(out, debPkg{name: fs[0], source: fs[2], versions: vs, srcs: ss, common: fs[4] == "1"})
	}
	return out, sc.Err()
}

// osvRecord is what the bench reads of an OSV record.
type osvRecord struct {
	ID        string `json:"id"`
	Withdrawn string `json:"withdrawn"`
	Affected  []struct {
		Package struct {
			Name      string `json:"name"`
			Ecosystem string `json:"ecosystem"`
		} `json:"package"`
		Ranges []struct {
			Type   string              `json:"type"`
			Events []map[string]string `json:"events"`
		} `json:"ranges"`
	} `json:"affected"`
}

// loadGoModules reads the Go modules and versions the OSV data names: every version an advisory's
// range starts or ends at, which is a version the module had.
func loadGoModules(zipPath string) ([]goMod, error) {
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		return nil, err
	}
	defer func() { _ = zr.Close() }()
	versions := map[string]map[string]bool{}
	advisories := map[string]int{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(rc)
		_ = rc.Close()
		if err != nil {
			return nil, err
		}
		var r osvRecord
		if err := json.Unmarshal(data, &r); err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
		for _, a := range r.Affected {
			name := a.Package.Name
			if name == "toolchain" {
				continue
			}
			advisories[name]++
			for _, rg := range a.Ranges {
				for _, ev := range rg.Events {
					for k, v := range ev {
						if (k == "introduced" || k == "fixed" || k == "last_affected") && v != "0" && semver.IsValid("v"+v) {
							if versions[name] == nil {
								versions[name] = map[string]bool{}
							}
							versions[name][v] = true
						}
					}
				}
			}
		}
	}
	var out []goMod
	for name, vs := range versions {
		if len(vs) < 2 {
			continue
		}
		m := goMod{name: name, advisories: advisories[name]}
		for v := range vs {
			if name == "stdlib" {
				m.versions = append(m.versions, v)
			} else {
				m.versions = append(m.versions, "v"+v)
			}
		}
		sort.Slice(m.versions, func(i, j int) bool {
			a, b := m.versions[i], m.versions[j]
			if name == "stdlib" {
				a, b = "v"+a, "v"+b
			}
			return semver.Compare(a, b) < 0
		})
		out = append(out, m)
	}
	// Most advised first (the libraries programs link), then by name: the same order every run.
	sort.Slice(out, func(i, j int) bool {
		if advisories[out[i].name] != advisories[out[j].name] {
			return advisories[out[i].name] > advisories[out[j].name]
		}
		return out[i].name < out[j].name
	})
	return out, nil
}

// newModel lays out n versions over images images.
func newModel(n, images int, debs []debPkg, mods []goMod) *model {
	m := &model{n: n, images: images, debs: debs, gomods: mods,
		start: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), span: 2 * 365 * 24 * time.Hour}
	r := rand.New(rand.NewPCG(10, 1)) //nolint:gosec // G404: a reproducible synthetic catalog
	var common, rest []int
	for i, d := range debs {
		if d.common {
			common = append(common, i)
		} else {
			rest = append(rest, i)
		}
	}
	// The core every image ships: the essentials by name (libc6 first among them), then common
	// packages drawn at random up to 150.
	essential := map[string]bool{}
	for _, name := range []string{"libc6", "libc-bin", "libssl3", "zlib1g", "tzdata", "base-files", "libgcc-s1", "libstdc++6",
		"libzstd1", "liblzma5", "libbz2-1.0", "libcrypt1", "libgnutls30", "libsystemd0", "libudev1", "ca-certificates",
		"debian-archive-keyring", "dpkg", "bash", "coreutils", "libselinux1", "libpcre2-8-0", "libacl1", "libattr1"} {
		essential[name] = true
	}
	for _, i := range common {
		if essential[debs[i].name] {
			m.core = append(m.core, i)
		}
	}
	r.Shuffle(len(common), func(a, b int) { common[a], common[b] = common[b], common[a] })
	for _, i := range common {
		if len(m.core) >= 150 {
			break
		}
		if !essential[debs[i].name] {
			m.core = append(m.core, i)
		}
	}
	inCore := map[int]bool{}
	for _, i := range m.core {
		inCore[i] = true
	}
	var others []int
	for _, i := range common {
		if !inCore[i] {
			others = append(others, i)
		}
	}
	others = append(others, rest...)
	// Eight flavours of 70 packages each, drawn from what the core left, and a pool for the rest.
	for range 8 {
		r.Shuffle(len(others), func(a, b int) { others[a], others[b] = others[b], others[a] })
		m.flavours = append(m.flavours, slices.Clone(others[:70]))
	}
	m.pool = others
	for i, g := range mods {
		switch {
		case strings.HasPrefix(g.name, "golang.org/x/") || strings.HasPrefix(g.name, "google.golang.org/"):
			m.commonMods = append(m.commonMods, i)
		case g.name != "stdlib" && g.advisories <= maxLibAdvisories:
			// The most advised modules are applications (servers, dashboards) that programs do
			// not link; libraries have a few advisories each.
			m.libs = append(m.libs, i)
		}
	}
	return m
}

// digest is a made-up sha256 digest named by the parts.
func digest(parts ...any) string {
	sum := sha256.Sum256(fmt.Append(nil, parts...))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// at picks the version of a package's history at time tau (0..1), a little before or after it
// depending on the image (images are rebuilt at their own pace).
func at(n int, tau, jitter float64) int {
	i := int((tau + jitter) * float64(n))
	return max(0, min(n-1, i))
}

// imageName is image j's name.
func imageName(j int) string { return fmt.Sprintf("app%04d", j) }

// version is catalog version i: its image, line and inventory (the rest of its evidence is added by
// the loader).
func (m *model) version(i int) *catalog.Version {
	j := i % m.images
	k := i / m.images // the image's k-th version
	perImage := (m.n + m.images - 1) / m.images
	tau := float64(i) / float64(m.n)
	r := rand.New(rand.NewPCG(uint64(j), 7)) //nolint:gosec // G404: the image's fixed traits
	flavour := m.flavours[j%len(m.flavours)]
	jitter := (r.Float64() - 0.5) * 0.1
	lines := 1 + j%3
	line := fmt.Sprintf("%d.%d", 1+j%5, min(lines-1, k*lines/max(1, perImage)))
	own := make([]int, 0, 30)
	for _, p := range r.Perm(len(m.pool))[:30] {
		own = append(own, m.pool[p])
	}
	var mods []int
	mods = append(mods, m.commonMods[:min(8, len(m.commonMods))]...)
	for _, p := range r.Perm(len(m.libs))[:min(41, len(m.libs))] {
		mods = append(mods, m.libs[p])
	}
	baseLayer := digest("base", j%len(m.flavours), int(tau*40))
	ownLayer := digest("deps", j, k/5)
	appLayer := digest("app", j, k)
	var pkgs []evidence.Package
	addDeb := func(d debPkg, layer string) {
		x := at(len(d.versions), tau, jitter)
		pkgs = append(pkgs, evidence.Package{Name: d.name, Version: d.versions[x], Type: evidence.TypeDeb, Arch: "amd64",
			Source: d.source, SourceVersion: d.srcs[x], Ecosystem: "Debian:12", Layer: layer,
			PURL: "pkg:deb/debian/" + d.name + "@" + d.versions[x] + "?arch=amd64&distro=debian-12"})
	}
	for _, x := range m.core {
		addDeb(m.debs[x], baseLayer)
	}
	for _, x := range flavour {
		addDeb(m.debs[x], baseLayer)
	}
	for _, x := range own {
		addDeb(m.debs[x], ownLayer)
	}
	stdlib := -1
	for x, g := range m.gomods {
		if g.name == "stdlib" {
			stdlib = x
		}
	}
	if stdlib >= 0 && !slices.Contains(mods, stdlib) {
		mods = append(mods, stdlib)
	}
	for _, x := range mods {
		g := m.gomods[x]
		// The newest third of the versions the advisories name: the catalog's two years are the
		// export's last, so a build links a recent release, not one of a decade ago.
		recent := g.versions[len(g.versions)*2/3:]
		v := recent[at(len(recent), tau, jitter)]
		pkgs = append(pkgs, evidence.Package{Name: g.name, Version: v, Type: evidence.TypeGolang, Ecosystem: "Go",
			Layer: appLayer, PURL: "pkg:golang/" + g.name + "@" + v, Locations: []string{"usr/local/bin/" + imageName(j)}})
	}
	d := digest("version", i)
	built := m.start.Add(time.Duration(tau * float64(m.span)))
	inv := &evidence.Inventory{Image: evidence.Image{Digest: d, OS: "linux", Arch: "amd64"},
		Distro: &evidence.Distro{ID: "debian", VersionID: "12"}, Packages: pkgs}
	return &catalog.Version{
		Image: imageName(j), Line: line, Kind: catalog.KindContainer, Digest: d,
		Platforms: []catalog.Platform{{OS: "linux", Arch: "amd64", Digest: d, Evidence: &evidence.Set{Inventory: inv}}},
		Spec:      fmt.Appendf(nil, "name: %s\nversion: %s\nbase: debian:12\n", imageName(j), line),
		Lock:      fmt.Appendf(nil, "# lock of version %d\n", i),
		Reason:    "ingot build",
		Built:     built,
	}
}

// provenance is an SLSA provenance predicate the size of a real one: every package as a resolved
// dependency with a digest.
func provenance(v *catalog.Version) json.RawMessage {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"buildDefinition":{"buildType":"https://ingot.build/buildtypes/image/v1","externalParameters":{"spec":"%s"},"resolvedDependencies":[`, v.Image)
	for i, p := range v.Platforms[0].Evidence.Inventory.Packages {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"uri":%q,"digest":{"sha256":%q}}`, p.PURL, digest(p.PURL)[7:])
	}
	fmt.Fprintf(&b, `]},"runDetails":{"builder":{"id":"https://ingot.build/builder"},"metadata":{"invocationId":%q,"startedOn":%q}}}`,
		v.Digest, v.Built.Format(time.RFC3339))
	return b.Bytes()
}
