package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/ingot-build/ingot/pkg/apt"
)

// debianImage makes the ordinary Debian image once (kept in work): `mmdebstrap --variant=minbase
// SUITE` from the host's apt source for the suite, its tarball appended as one gzip layer to an empty
// image, as `crane append -f ROOTFS.tar` does, and written as a docker archive.
func debianImage(ctx context.Context, work, suite string) (string, error) {
	archive := filepath.Join(work, "debian-"+suite+"-minbase.tar")
	if _, err := os.Stat(archive); err == nil {
		return archive, nil
	}
	src, err := hostSource(suite)
	if err != nil {
		return "", err
	}
	rootfs := filepath.Join(work, "debian-"+suite+"-rootfs.tar")
	if _, err := os.Stat(rootfs); err != nil {
		tmp := rootfs + ".tmp"
		if _, err := exec1(ctx, nil, []string{"mmdebstrap", "--variant=minbase", "--format=tar", suite, tmp, "deb " + src.URL + " " + suite + " main"}); err != nil {
			return "", err
		}
		if err := os.Rename(tmp, rootfs); err != nil {
			return "", err
		}
	}
	layer, err := tarball.LayerFromFile(rootfs)
	if err != nil {
		return "", err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return "", err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return "", err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Config.Cmd = []string{"bash"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return "", err
	}
	tag, err := name.NewTag("debian:" + suite + "-minbase")
	if err != nil {
		return "", err
	}
	tmp := archive + ".tmp"
	if err := tarball.MultiRefWriteToFile(tmp, map[name.Reference]v1.Image{tag: img}); err != nil {
		return "", err
	}
	return archive, os.Rename(tmp, archive)
}

// hostSource finds the host's apt source for suite with the main component: the benchmark names no
// mirror of its own.
func hostSource(suite string) (apt.Source, error) {
	sources, err := apt.HostSources()
	if err != nil {
		return apt.Source{}, fmt.Errorf("reading the host's apt sources: %w", err)
	}
	for _, s := range sources {
		s = s.WithDefaults()
		if s.Suite == suite && slices.Contains(s.Components, "main") {
			return s, nil
		}
	}
	return apt.Source{}, fmt.Errorf("the host's apt sources have no suite %s with component main", suite)
}
