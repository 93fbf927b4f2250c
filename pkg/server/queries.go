package server

import (
	"fmt"
	"math"
	"net/http"
	"strconv"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/evidence"
)

// Pages of the cross-version queries: a package every version ships is in tens of thousands of
// platform images, the active versions' critical findings are tens of thousands of rows, and an
// answer of them all is megabytes of JSON (gigabytes of a server's memory at 100,000 versions).
const (
	pageDefault = 1000
	pageMax     = 10000
)

// pageOf reads the limit (default pageDefault) and offset query parameters.
func pageOf(q query) (catalog.Page, error) {
	limit, err := q.int("limit", pageDefault, 1, pageMax)
	if err != nil {
		return catalog.Page{}, err
	}
	offset, err := q.int("offset", 0, 0, math.MaxInt32)
	if err != nil {
		return catalog.Page{}, err
	}
	return catalog.Page{Limit: int(limit), Offset: int(offset)}, nil
}

// writePage answers a page of n items of a total: the page's array, X-Total-Count, and a Link header
// (rel="next") naming the next page while there is one.
func writePage[T any](w http.ResponseWriter, r *http.Request, p catalog.Page, total int, items []T) {
	w.Header().Set("X-Total-Count", strconv.Itoa(total))
	if next := p.Offset + len(items); len(items) > 0 && next < total {
		v := r.URL.Query()
		v.Set("offset", strconv.Itoa(next))
		v.Set("limit", strconv.Itoa(p.Limit))
		w.Header().Set("Link", fmt.Sprintf("<%s?%s>; rel=\"next\"", r.URL.Path, v.Encode()))
	}
	writeJSON(w, http.StatusOK, nonNil(items))
}

// exposure answers "which of our versions ship this package", a page at a time (see writePage), in
// the catalog's order.
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
	p, err := pageOf(q)
	if err != nil {
		return err
	}
	page, err := s.cat.QueryPackagePage(r.Context(), pq, p)
	if err != nil {
		return err
	}
	writePage(w, r, p, page.Total, page.Exposures)
	return nil
}

// findings answers "which versions have a finding at or above a severity", such as the active
// versions with a critical finding, a page at a time (see writePage), most severe first.
func (s *Server) findings(w http.ResponseWriter, r *http.Request) error {
	q, err := queryOf(r, "severity", "status", "image", "fixed", "limit", "offset")
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
	p, err := pageOf(q)
	if err != nil {
		return err
	}
	fs, err := s.cat.QueryFindings(r.Context(), fq)
	if err != nil {
		return err
	}
	total := len(fs)
	fs = fs[min(p.Offset, total):min(p.Offset+p.Limit, total)]
	writePage(w, r, p, total, fs)
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
