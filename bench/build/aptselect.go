package main

import (
	"bufio"
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/ingot-build/ingot/pkg/apt"
)

// aptSelect asks apt which packages it installs for the package list from the mirror, configured as
// mmdebstrap configures it for --variant=extract: an empty dpkg status, no recommends, one
// architecture, nothing forced as essential. dir is apt's scratch root, rebuilt on each call.
func aptSelect(ctx context.Context, dir string, m *mirror, arch string, packages []string, index []*apt.Package) ([]*apt.Package, error) {
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("clearing %s: %w", dir, err)
	}
	for _, d := range []string{
		"etc/apt/apt.conf.d", "etc/apt/preferences.d", "etc/apt/sources.list.d", "etc/apt/trusted.gpg.d",
		"var/lib/apt/lists/partial", "var/cache/apt/archives/partial", "var/lib/dpkg",
	} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, fmt.Errorf("preparing apt's root: %w", err)
		}
	}
	conf := filepath.Join(dir, "apt.conf")
	files := map[string]string{
		"var/lib/dpkg/status":  "",
		"etc/apt/sources.list": m.aptLine() + "\n",
		"apt.conf": strings.Join([]string{
			fmt.Sprintf("Apt::Architecture %q;", arch),
			fmt.Sprintf("Apt::Architectures %q;", arch),
			fmt.Sprintf("Dir %q;", dir+"/"),
			fmt.Sprintf("Dir::State::Status %q;", filepath.Join(dir, "var/lib/dpkg/status")),
			`Apt::Install-Recommends "false";`,
			`Acquire::Languages "none";`,
			`pkgCacheGen::ForceEssential ",";`,
			// the mirror lives in a directory apt's sandbox user may not read
			`APT::Sandbox::User "root";`,
		}, "\n") + "\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return nil, fmt.Errorf("preparing apt's root: %w", err)
		}
	}
	env := []string{"APT_CONFIG=" + conf}
	if _, err := output(ctx, dir, env, "apt-get", "update", "-q"); err != nil {
		return nil, fmt.Errorf("apt reading the mirror: %w", err)
	}
	out, err := output(ctx, dir, env, "apt-get", append([]string{"install", "--print-uris", "-qq", "--yes"}, packages...)...)
	if err != nil {
		return nil, fmt.Errorf("asking apt what it installs: %w", err)
	}
	filenames, err := parsePrintURIs(out, m.dir)
	if err != nil {
		return nil, err
	}
	byFilename := map[string]*apt.Package{}
	for _, p := range index {
		byFilename[p.Filename] = p
	}
	var selected []*apt.Package
	for _, f := range filenames {
		p, ok := byFilename[f]
		if !ok {
			return nil, fmt.Errorf("apt wants %s, which the mirrored index does not list", f)
		}
		selected = append(selected, p)
	}
	if len(selected) == 0 {
		return nil, fmt.Errorf("apt selected nothing for %v", packages)
	}
	return selected, nil
}

// parsePrintURIs reads apt-get --print-uris output, lines of the form
// 'copy:/dir/pool/main/n/netbase/netbase_6.4_all.deb' netbase_6.4_all.deb 22324 SHA256:..., and returns
// each URI's path relative to root, the mirror directory.
func parsePrintURIs(out, root string) ([]string, error) {
	var paths []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		quoted, _, _ := strings.Cut(line, " ")
		if len(quoted) < 2 || quoted[0] != '\'' || quoted[len(quoted)-1] != '\'' {
			return nil, fmt.Errorf("unexpected apt-get --print-uris line %q", line)
		}
		u, err := url.Parse(quoted[1 : len(quoted)-1])
		if err != nil || (u.Scheme != "copy" && u.Scheme != "file") {
			return nil, fmt.Errorf("apt-get --print-uris gave %s, not a local URI", quoted)
		}
		rel, err := filepath.Rel(root, u.Path)
		if err != nil || !filepath.IsLocal(rel) {
			return nil, fmt.Errorf("apt-get --print-uris gave %s, outside the mirror %s", quoted, root)
		}
		paths = append(paths, filepath.ToSlash(rel))
	}
	return paths, sc.Err()
}
