package server

import (
	"fmt"
	"math"
	"net/http"
	"strconv"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/evidence"
)

// Pages of the exposure query: a package every version ships is in tens of thousands of platform
// images, and an answer of them all is megabytes of JSON.
const (
	exposurePageDefault = 1000
	exposurePageMax     = 10000
)

// exposure answers "which of our versions ship this package", a page at a time: limit exposures
// (default exposurePageDefault) from offset, in the catalog's order. The answer is the page's array;
// X-Total-Count says how many the whole answer has, and a Link header (rel="next") names the next
// page while there is one.
func (s *Server) exposure(w http.ResponseWriter, r *http.Request) error {
	q, err := queryOf(r, "package", "ecosystem", "range", "status", "limit", "offset")
	if err != nil {
		return err
	}
	var pq catalog.PackageQuery
	if pq.Name, err = q.required("package", "the package (or Debian source package) to look for"); err != nil {
		return err
	}
	if pq.Ecosystem, err = q.str("ecosystem"); err != nil {
		return err
	}
	if pq.Range, err = q.str("range"); err != nil {
		return err
	}
	if _, err := catalog.ParseRange(pq.Range); err != nil {
		return err
	}
	if pq.Statuses, err = q.statuses(); err != nil {
		return err
	}
	limit, err := q.int("limit", exposurePageDefault, 1, exposurePageMax)
	if err != nil {
		return err
	}
	offset, err := q.int("offset", 0, 0, math.MaxInt32)
	if err != nil {
		return err
	}
	page, err := s.cat.QueryPackagePage(r.Context(), pq, catalog.Page{Limit: int(limit), Offset: int(offset)})
	if err != nil {
		return err
	}
	w.Header().Set("X-Total-Count", strconv.Itoa(page.Total))
	if next := int(offset) + len(page.Exposures); len(page.Exposures) > 0 && next < page.Total {
		v := r.URL.Query()
		v.Set("offset", strconv.Itoa(next))
		v.Set("limit", strconv.FormatInt(limit, 10))
		w.Header().Set("Link", fmt.Sprintf("<%s?%s>; rel=\"next\"", r.URL.Path, v.Encode()))
	}
	writeJSON(w, http.StatusOK, nonNil(page.Exposures))
	return nil
}

// findings answers "which versions have a finding at or above a severity", such as the active
// versions with a critical finding.
func (s *Server) findings(w http.ResponseWriter, r *http.Request) error {
	q, err := queryOf(r, "severity", "status", "image", "fixed")
	if err != nil {
		return err
	}
	var fq catalog.FindingQuery
	if sev, err := q.str("severity"); err != nil {
		return err
	} else if sev != "" {
		if fq.MinSeverity, err = evidence.ParseLevel(sev); err != nil {
			return invalidf("query parameter severity: %v", err)
		}
	}
	if fq.Statuses, err = q.statuses(); err != nil {
		return err
	}
	if fq.Image, err = q.str("image"); err != nil {
		return err
	}
	if fq.Image != "" {
		if err := catalog.ValidName(fq.Image); err != nil {
			return err
		}
	}
	if fq.WithFix, err = q.bool("fixed"); err != nil {
		return err
	}
	fs, err := s.cat.QueryFindings(r.Context(), fq)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nonNil(fs))
	return nil
}

// statusRequest changes a version's status.
type statusRequest struct {
	Status catalog.Status `json:"status"`
	Reason string         `json:"reason"`
}

// setStatus revokes, deprecates, restores or retires a version; the actor is the token's name.
func (s *Server) setStatus(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryOf(r); err != nil {
		return err
	}
	ref, err := refOf(r)
	if err != nil {
		return err
	}
	var req statusRequest
	if err := decodeJSON(w, r, s.cfg.Limits.MaxBodyBytes, false, &req); err != nil {
		return err
	}
	c := catalog.StatusChange{Status: req.Status, Reason: req.Reason, Actor: actor(r), At: s.now()}
	if err := c.Validate(); err != nil {
		return err
	}
	ev, err := s.cat.SetStatus(r.Context(), ref, c)
	if err != nil {
		return err
	}
	s.events.notify()
	writeJSON(w, http.StatusOK, ev)
	return nil
}
