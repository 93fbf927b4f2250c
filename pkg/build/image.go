package build

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Annotation keys the manifest always carries.
const (
	AnnotationCreated    = "org.opencontainers.image.created"
	AnnotationBaseDigest = "org.opencontainers.image.base.digest"
)

// defaultPath is the PATH distroless and Debian's login.defs give root.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Image unpacks opt.Packages (without running maintainer scripts), adds the distroless package database,
// accounts, /tmp, os-release, the CA bundle, opt.Files and opt.Paths, and returns the image. Nothing is
// read from the network or disk: Base, if set, is read through its v1.Image methods.
func Image(ctx context.Context, opt Options) (v1.Image, error) {
	if err := opt.validate(); err != nil {
		return nil, err
	}
	users, groups, err := accountTables(opt.Accounts)
	if err != nil {
		return nil, err
	}
	user, err := runAs(opt.Accounts.RunAs, users)
	if err != nil {
		return nil, err
	}
	pkgs, err := unpackAll(ctx, opt.Packages, opt.Arch)
	if err != nil {
		return nil, err
	}
	epoch := opt.Epoch
	if epoch.IsZero() {
		epoch = time.Unix(0, 0)
		for _, u := range pkgs {
			if u.newest.After(epoch) {
				epoch = u.newest
			}
		}
	}
	epoch = time.Unix(epoch.Unix(), 0).UTC()

	plan := planLayers(pkgs, opt.Layers)
	last := len(plan.layers) - 1
	hint := 64
	for _, u := range pkgs {
		hint += len(u.entries)
	}
	t := newTree(hint)
	if opt.Base != nil {
		if err := t.seedBase(ctx, opt.Base); err != nil {
			return nil, err
		}
	}
	caCerts := false
	for i, u := range pkgs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := t.merge(u, plan.of[i]); err != nil {
			return nil, err
		}
		caCerts = caCerts || u.name == "ca-certificates"
	}
	if err := t.writeStatus(pkgs, last); err != nil {
		return nil, err
	}
	if err := t.writeAccounts(users, groups, last); err != nil {
		return nil, err
	}
	if err := t.writeTmp(last); err != nil {
		return nil, err
	}
	if err := t.writeOSRelease(opt.OSRelease, last); err != nil {
		return nil, err
	}
	if err := t.applyFiles(opt.Files, last); err != nil {
		return nil, err
	}
	if caCerts && !filesProvide(opt.Files, caBundle) {
		if err := t.writeCABundle(last); err != nil {
			return nil, err
		}
	}
	if err := t.applyPaths(opt.Paths, last); err != nil {
		return nil, err
	}
	layers, err := t.buildLayers(ctx, t.layerPaths(len(plan.layers)), epoch)
	if err != nil {
		return nil, err
	}
	return assemble(opt, pkgs, plan, layers, epoch, user, caCerts)
}

func filesProvide(files []File, p string) bool {
	for _, f := range files {
		if cleanAbs(f.Path) == p {
			return true
		}
	}
	return false
}

// layerPlan says which layer carries each package.
type layerPlan struct {
	of     []int   // package index -> layer
	layers [][]int // layer -> package indices, in package order
}

// planLayers gives the budget-1 largest source groups (by bytes of regular files; ties by source name)
// a layer each, in the order their first package appears, and everything else the last layer. The
// grouping depends only on each package's own content, so images that share a source package share its
// layer.
func planLayers(pkgs []*unpacked, budget int) layerPlan {
	plan := layerPlan{of: make([]int, len(pkgs))}
	if budget <= 1 {
		all := make([]int, len(pkgs))
		for i := range pkgs {
			all[i] = i
		}
		plan.layers = [][]int{all}
		return plan
	}
	type group struct {
		source  string
		size    int64
		members []int
	}
	bySource := map[string]*group{}
	var groups []*group
	for i, u := range pkgs {
		g := bySource[u.source]
		if g == nil {
			g = &group{source: u.source}
			bySource[u.source] = g
			groups = append(groups, g)
		}
		g.size += u.size
		g.members = append(g.members, i)
	}
	ranked := append([]*group(nil), groups...)
	sort.SliceStable(ranked, func(i, j int) bool {
		if ranked[i].size != ranked[j].size {
			return ranked[i].size > ranked[j].size
		}
		return ranked[i].source < ranked[j].source
	})
	if len(ranked) > budget-1 {
		ranked = ranked[:budget-1]
	}
	chosen := map[*group]bool{}
	for _, g := range ranked {
		chosen[g] = true
	}
	var rest []int
	for _, g := range groups { // package order
		if chosen[g] {
			plan.layers = append(plan.layers, g.members)
		}
	}
	for i, l := range plan.layers {
		for _, m := range l {
			plan.of[m] = i
		}
	}
	for i := range pkgs {
		if !chosen[bySource[pkgs[i].source]] {
			plan.of[i] = len(plan.layers)
			rest = append(rest, i)
		}
	}
	sort.Ints(rest)
	plan.layers = append(plan.layers, rest)
	return plan
}

// history describes one of our layers deterministically.
func history(pkgs []*unpacked, members []int, last bool, epoch time.Time) v1.History {
	names := make([]string, len(members))
	var comment []string
	for i, m := range members {
		u := pkgs[m]
		names[i] = u.name
		// "name version", not "name=version": an assignment to a package named passwd would read as a
		// credential to every secret scanner.
		c := u.name + " " + u.version
		if u.sha256 != "" {
			c += " sha256:" + u.sha256
		}
		comment = append(comment, c)
	}
	count := fmt.Sprintf("%d packages (%s)", len(members), strings.Join(names, ", "))
	if len(members) == 1 {
		count = fmt.Sprintf("1 package (%s)", names[0])
	}
	var by string
	switch {
	case len(members) == 0:
		by = "ingot: package database, accounts and files"
	case last:
		by = "ingot: " + count + ", package database, accounts and files"
	default:
		by = "ingot: source " + pkgs[members[0]].source + ": " + count
	}
	return v1.History{Created: v1.Time{Time: epoch}, CreatedBy: by, Comment: strings.Join(comment, "; ")}
}

// mergeEnv applies env over base by variable name, keeping first-seen order, then adds the defaults.
func mergeEnv(base, env []string, caCerts bool) []string {
	out := append([]string(nil), base...)
	index := map[string]int{}
	for i, kv := range out {
		k, _, _ := strings.Cut(kv, "=")
		index[k] = i
	}
	set := func(kv string, replace bool) {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := index[k]; ok {
			if replace {
				out[i] = kv
			}
			return
		}
		index[k] = len(out)
		out = append(out, kv)
	}
	for _, kv := range env {
		set(kv, true)
	}
	set(defaultPath, false)
	if caCerts {
		set("SSL_CERT_FILE=/"+caBundle, false)
	}
	return out
}

// ociLayerType maps a base layer's Docker media type to its OCI equivalent: the bytes are the same.
func ociLayerType(mt types.MediaType) types.MediaType {
	switch mt {
	case types.DockerLayer:
		return types.OCILayer
	case types.DockerUncompressedLayer:
		return types.OCIUncompressedLayer
	}
	return mt
}

func assemble(opt Options, pkgs []*unpacked, plan layerPlan, layers []*layer, epoch time.Time, user string, caCerts bool) (v1.Image, error) {
	img := &image{layers: make(map[v1.Hash]v1.Layer, len(layers))}
	cf := &v1.ConfigFile{}
	var manifestLayers []v1.Descriptor
	annotations := map[string]string{AnnotationCreated: epoch.Format(time.RFC3339)}
	if opt.Base != nil {
		bcf, err := opt.Base.ConfigFile()
		if err != nil {
			return nil, fmt.Errorf("reading base image config: %w", err)
		}
		cf = bcf.DeepCopy()
		bm, err := opt.Base.Manifest()
		if err != nil {
			return nil, fmt.Errorf("reading base image manifest: %w", err)
		}
		bd, err := opt.Base.Digest()
		if err != nil {
			return nil, fmt.Errorf("reading base image digest: %w", err)
		}
		annotations[AnnotationBaseDigest] = bd.String()
		img.base = opt.Base
		img.baseTypes = map[v1.Hash]types.MediaType{}
		for _, d := range bm.Layers {
			d.MediaType = ociLayerType(d.MediaType)
			d.Annotations, d.Platform = nil, nil
			img.baseTypes[d.Digest] = d.MediaType
			manifestLayers = append(manifestLayers, d)
		}
		// Tools pair history entries that are not empty_layer with layers in order; pad a base whose
		// history is short so that ours lines up with our layers.
		nonEmpty := 0
		for _, h := range cf.History {
			if !h.EmptyLayer {
				nonEmpty++
			}
		}
		for ; nonEmpty < len(bm.Layers); nonEmpty++ {
			cf.History = append(cf.History, v1.History{Created: bcf.Created, CreatedBy: "base image layer"})
		}
	}
	arch, variant, _ := platform(opt.Arch)
	cf.Architecture, cf.Variant, cf.OS = arch, variant, "linux"
	cf.Created = v1.Time{Time: epoch}
	// A base built by Docker names its builder's container and version; neither describes our image.
	cf.Container, cf.DockerVersion = "", "" //nolint:staticcheck // SA1019: clearing the deprecated field is the point
	cf.RootFS.Type = "layers"
	c := &cf.Config
	c.Env = mergeEnv(c.Env, opt.Config.Env, caCerts)
	if opt.Config.Entrypoint != nil {
		c.Entrypoint, c.Cmd = opt.Config.Entrypoint, opt.Config.Cmd
	} else if opt.Config.Cmd != nil {
		c.Cmd = opt.Config.Cmd
	}
	if opt.Config.WorkDir != "" {
		c.WorkingDir = opt.Config.WorkDir
	}
	if opt.Config.StopSignal != "" {
		c.StopSignal = opt.Config.StopSignal
	}
	if user != "" {
		c.User = user
	}
	if len(opt.Config.Labels) > 0 {
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		maps.Copy(c.Labels, opt.Config.Labels)
	}
	for i, l := range layers {
		cf.RootFS.DiffIDs = append(cf.RootFS.DiffIDs, l.diffID)
		cf.History = append(cf.History, history(pkgs, plan.layers[i], i == len(layers)-1, epoch))
		manifestLayers = append(manifestLayers, v1.Descriptor{MediaType: types.OCILayer, Size: l.size, Digest: l.digest})
		img.layers[l.digest] = l
	}
	rawConfig, err := json.Marshal(cf)
	if err != nil {
		return nil, fmt.Errorf("encoding image config: %w", err)
	}
	cfgDigest, cfgSize, err := v1.SHA256(bytes.NewReader(rawConfig))
	if err != nil {
		return nil, err
	}
	maps.Copy(annotations, opt.Annotations)
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config:        v1.Descriptor{MediaType: types.OCIConfigJSON, Size: cfgSize, Digest: cfgDigest},
		Layers:        manifestLayers,
		Annotations:   annotations,
	}
	rawManifest, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding image manifest: %w", err)
	}
	img.rawConfig, img.rawManifest = rawConfig, rawManifest
	img.config, img.manifest = cf, &m
	img.digest, _, err = v1.SHA256(bytes.NewReader(rawManifest))
	if err != nil {
		return nil, err
	}
	return img, nil
}
