package server

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/ingot-build/ingot/pkg/catalog"
)

// imageSummary is one image of the catalog.
type imageSummary struct {
	Name string `json:"name"`
	// Versions counts the published versions; Statuses counts them by status.
	Versions int                    `json:"versions"`
	Statuses map[catalog.Status]int `json:"statuses"`
	// Lines are the release lines, newest version's first.
	Lines []string `json:"lines"`
	// Latest is the newest active version (what IMAGE and IMAGE@latest name); absent when none is
	// active.
	Latest *versionRef `json:"latest,omitempty"`
	// Registered says a spec is registered for continuous rebuild under the image's name.
	Registered bool `json:"registered"`
}

// versionRef names a version.
type versionRef struct {
	Tag    string `json:"tag"`
	Digest string `json:"digest"`
}

func (s *Server) listImages(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryOf(r); err != nil {
		return err
	}
	vs, err := s.cat.List(r.Context(), catalog.ListOptions{})
	if err != nil {
		return err
	}
	specs, err := s.cat.ListSpecs(r.Context())
	if err != nil {
		return err
	}
	byName := map[string]*imageSummary{}
	out := []*imageSummary{}
	for _, v := range vs { // newest first
		im := byName[v.Image]
		if im == nil {
			im = &imageSummary{Name: v.Image, Statuses: map[catalog.Status]int{}, Lines: []string{}}
			byName[v.Image] = im
			out = append(out, im)
		}
		im.Versions++
		im.Statuses[v.Status.Status]++
		if !slices.Contains(im.Lines, v.Line) {
			im.Lines = append(im.Lines, v.Line)
		}
		if im.Latest == nil && v.Status.Status == catalog.StatusActive {
			im.Latest = &versionRef{Tag: v.Tag(), Digest: v.Digest}
		}
	}
	for _, sp := range specs {
		if im := byName[sp.Name]; im != nil {
			im.Registered = true
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	writeJSON(w, http.StatusOK, out)
	return nil
}

// versionSummary is a version as List returns it, with its tag.
type versionSummary struct {
	*catalog.Version
	Tag string `json:"tag"`
}

func (s *Server) listVersions(w http.ResponseWriter, r *http.Request) error {
	q, err := queryOf(r, "image", "line", "status", "pending", "limit")
	if err != nil {
		return err
	}
	var o catalog.ListOptions
	if o.Image, err = q.str("image"); err != nil {
		return err
	}
	if o.Image != "" {
		if err := catalog.ValidName(o.Image); err != nil {
			return err
		}
	}
	if o.Line, err = q.str("line"); err != nil {
		return err
	}
	if o.Line != "" && o.Image == "" {
		return invalidf("query parameter line needs image: a release line is an image's")
	}
	if o.Statuses, err = q.statuses(); err != nil {
		return err
	}
	if o.Pending, err = q.bool("pending"); err != nil {
		return err
	}
	limit, err := q.int("limit", 0, 0, 1_000_000)
	if err != nil {
		return err
	}
	o.Limit = int(limit)
	vs, err := s.cat.List(r.Context(), o)
	if err != nil {
		return err
	}
	out := make([]versionSummary, 0, len(vs))
	for _, v := range vs {
		out = append(out, versionSummary{Version: v, Tag: v.Tag()})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// Documents a version has besides its record: the large ones, each behind its own route.
const (
	docSPDX       = "spdx"
	docCycloneDX  = "cyclonedx"
	docProvenance = "provenance"
	docSpec       = "spec"
	docLock       = "lock"
)

// documentTypes are the media types of the documents, by name.
var documentTypes = map[string]string{
	docSPDX:       "application/spdx+json",
	docCycloneDX:  "application/vnd.cyclonedx+json",
	docProvenance: "application/json",
	docSpec:       "application/yaml",
	docLock:       "application/json",
}

func documentNames() []string {
	return []string{docSPDX, docCycloneDX, docProvenance, docSpec, docLock}
}

// versionDetail is one version with its evidence, less the large documents, which it links.
type versionDetail struct {
	*catalog.Version
	Tag       string         `json:"tag"`
	Documents []documentLink `json:"documents"`
}

// documentLink points at one document of a version.
type documentLink struct {
	Name string `json:"name"`
	// Platform is the platform image's os/arch[/variant]; empty for the spec and the lock, which are
	// the version's.
	Platform  string `json:"platform,omitempty"`
	MediaType string `json:"mediaType"`
	Size      int    `json:"size"`
	Href      string `json:"href"`
}

func (s *Server) showVersion(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryOf(r); err != nil {
		return err
	}
	ref, err := refOf(r)
	if err != nil {
		return err
	}
	v, err := s.cat.Get(r.Context(), ref)
	if err != nil {
		return err
	}
	d := versionDetail{Version: v, Tag: v.Tag(), Documents: []documentLink{}}
	base := "/v1/images/" + url.PathEscape(v.Image) + "/versions/" + url.PathEscape(v.Tag()) + "/documents/"
	link := func(name, platform string, body []byte) {
		if len(body) == 0 {
			return
		}
		href := base + name
		if platform != "" {
			href += "?platform=" + url.QueryEscape(platform)
		}
		d.Documents = append(d.Documents, documentLink{Name: name, Platform: platform, MediaType: documentTypes[name], Size: len(body), Href: href})
	}
	link(docSpec, "", v.Spec)
	link(docLock, "", v.Lock)
	v.Spec, v.Lock = nil, nil
	for i, p := range v.Platforms {
		if p.Evidence == nil {
			continue
		}
		set := *p.Evidence
		link(docSPDX, p.Name(), set.SPDX)
		link(docCycloneDX, p.Name(), set.CycloneDX)
		link(docProvenance, p.Name(), set.Provenance)
		set.SPDX, set.CycloneDX, set.Provenance = nil, nil, nil
		v.Platforms[i].Evidence = &set
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

func (s *Server) document(w http.ResponseWriter, r *http.Request) error {
	q, err := queryOf(r, "platform")
	if err != nil {
		return err
	}
	ref, err := refOf(r)
	if err != nil {
		return err
	}
	name := r.PathValue("document")
	mt, ok := documentTypes[name]
	if !ok {
		return notFoundf("no document %q: a version's documents are %s", name, strings.Join(documentNames(), ", "))
	}
	platform, err := q.str("platform")
	if err != nil {
		return err
	}
	if (name == docSpec || name == docLock) && platform != "" {
		return invalidf("the %s is the version's, not a platform image's: leave out platform", name)
	}
	v, err := s.cat.Get(r.Context(), ref)
	if err != nil {
		return err
	}
	var body []byte
	switch name {
	case docSpec:
		body = v.Spec
	case docLock:
		body = v.Lock
	default:
		p, err := pickPlatform(v, platform)
		if err != nil {
			return err
		}
		if p.Evidence != nil {
			body = map[string]json.RawMessage{docSPDX: p.Evidence.SPDX, docCycloneDX: p.Evidence.CycloneDX, docProvenance: p.Evidence.Provenance}[name]
		}
	}
	if len(body) == 0 {
		return notFoundf("%s has no %s document", v.Ref(), name)
	}
	w.Header().Set("Content-Type", mt)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	// The recorded document, with its own media type and nosniff: never rendered as HTML.
	_, _ = w.Write(body) //nolint:gosec // G705: see above; a client that left is only logged
	return nil
}

// pickPlatform finds the platform image named os/arch[/variant] or by digest; the only one when
// name is empty.
func pickPlatform(v *catalog.Version, name string) (catalog.Platform, error) {
	var names []string
	for _, p := range v.Platforms {
		if name != "" && (p.Name() == name || p.Digest == name) {
			return p, nil
		}
		names = append(names, p.Name())
	}
	if name == "" {
		if len(v.Platforms) == 1 {
			return v.Platforms[0], nil
		}
		return catalog.Platform{}, invalidf("%s has several platform images: name one with platform (%s)", v.Ref(), strings.Join(names, ", "))
	}
	return catalog.Platform{}, notFoundf("%s has no platform image %q (it has %s)", v.Ref(), name, strings.Join(names, ", "))
}

func (s *Server) history(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryOf(r); err != nil {
		return err
	}
	ref, err := refOf(r)
	if err != nil {
		return err
	}
	evs, err := s.cat.History(r.Context(), ref)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nonNil(evs))
	return nil
}

func (s *Server) versionFindings(w http.ResponseWriter, r *http.Request) error {
	q, err := queryOf(r, "open")
	if err != nil {
		return err
	}
	open, err := q.bool("open")
	if err != nil {
		return err
	}
	ref, err := refOf(r)
	if err != nil {
		return err
	}
	fs, err := s.cat.FindingHistory(r.Context(), ref)
	if err != nil {
		return err
	}
	out := []catalog.TrackedFinding{}
	for _, f := range fs {
		if !open || f.Open {
			out = append(out, f)
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) diff(w http.ResponseWriter, r *http.Request) error {
	q, err := queryOf(r, "from", "to")
	if err != nil {
		return err
	}
	var vs [2]*catalog.Version
	for i, name := range []string{"from", "to"} {
		arg, err := q.required(name, "a version, IMAGE@VERSION")
		if err != nil {
			return err
		}
		ref, err := catalog.ParseRef(arg)
		if err != nil {
			return err
		}
		if vs[i], err = catalog.GetCurrent(r.Context(), s.cat, ref); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, catalog.Diff(vs[0], vs[1]))
	return nil
}

// nonNil makes an empty list [] in JSON, not null.
func nonNil[T any](xs []T) []T {
	if xs == nil {
		return []T{}
	}
	return xs
}
