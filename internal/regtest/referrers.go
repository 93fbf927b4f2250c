package regtest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// specReferrers makes ggcr's referrers API answer as the OCI distribution spec (1.1) says, as real
// registries do. ggcr v0.22.1 reports every referrer's artifactType as its config media type, even
// when the manifest sets artifactType (so cosign v3's bundles show up as
// application/vnd.oci.empty.v1+json), and ignores the ?artifactType= filter. This wrapper reads each
// listed manifest back from the same handler, takes its artifactType field when set, and applies the
// filter, announcing it with the OCI-Filters-Applied header.
func specReferrers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || KindOf(r.URL.Path) != KindReferrers {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		var idx v1.IndexManifest
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &idx) != nil {
			copyResponse(w, rec)
			return
		}
		repoPath := r.URL.Path[:strings.LastIndex(strings.TrimSuffix(r.URL.Path, "/"), "/referrers/")]
		filter := r.URL.Query().Get("artifactType")
		kept := idx.Manifests[:0]
		for _, d := range idx.Manifests {
			if at := artifactType(next, r, repoPath+"/manifests/"+d.Digest.String()); at != "" {
				d.ArtifactType = at
			}
			if filter == "" || d.ArtifactType == filter {
				kept = append(kept, d)
			}
		}
		idx.Manifests = kept
		body, err := json.Marshal(&idx)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		if filter != "" {
			w.Header().Set("OCI-Filters-Applied", "artifactType")
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	})
}

// artifactType reads the artifactType field of the manifest at path, "" when it has none.
func artifactType(h http.Handler, orig *http.Request, path string) string {
	req := httptest.NewRequestWithContext(orig.Context(), http.MethodGet, path, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var m struct {
		ArtifactType string `json:"artifactType"`
	}
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &m) != nil {
		return ""
	}
	return m.ArtifactType
}

func copyResponse(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}
