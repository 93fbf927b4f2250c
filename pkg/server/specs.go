package server

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/lock"
	"github.com/ingot-build/ingot/pkg/spec"
)

// specRegistration is the body of POST /v1/specs: what ingot catalog add stores.
type specRegistration struct {
	// Spec is the ingot.yaml text.
	Spec string `json:"spec"`
	// Files is the tar of the local files the spec names (spec.LocalFiles.Archive), base64 in JSON;
	// empty when it names none.
	Files []byte `json:"files,omitempty"`
	// Lock is the ingot.lock text the last build used, if any.
	Lock string `json:"lock,omitempty"`
}

// specView is a registered spec; Spec (the YAML text) only when one is shown.
type specView struct {
	ID     int64     `json:"id"`
	Name   string    `json:"name"`
	Digest string    `json:"digest"`
	Added  time.Time `json:"added"`
	// FilesSize is the size of the files' tar; Locked says a lock is registered with the spec.
	FilesSize int    `json:"filesSize"`
	Locked    bool   `json:"locked"`
	Spec      string `json:"spec,omitempty"`
}

func viewSpec(rs catalog.RegisteredSpec, withText bool) specView {
	v := specView{ID: rs.ID, Name: rs.Name, Digest: rs.Digest, Added: rs.Added, FilesSize: len(rs.Files), Locked: len(rs.Lock) > 0}
	if withText {
		v.Spec = string(rs.Spec)
	}
	return v
}

func (s *Server) listSpecs(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryOf(r); err != nil {
		return err
	}
	specs, err := s.cat.ListSpecs(r.Context())
	if err != nil {
		return err
	}
	out := make([]specView, 0, len(specs))
	for _, rs := range specs {
		out = append(out, viewSpec(rs, false))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) showSpec(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryOf(r); err != nil {
		return err
	}
	name, err := specName(r)
	if err != nil {
		return err
	}
	rs, err := s.cat.Spec(r.Context(), name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewSpec(rs, true))
	return nil
}

// addSpec registers a spec for continuous rebuild, as ingot catalog add does, after the checks a
// rebuild would otherwise fail on: the spec decodes and validates, the lock decodes, and every local
// file the spec names is in the archive, inside the spec's directory.
func (s *Server) addSpec(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryOf(r); err != nil {
		return err
	}
	var req specRegistration
	if err := decodeJSON(w, r, s.cfg.Limits.MaxSpecBytes, false, &req); err != nil {
		return err
	}
	sp, err := spec.Parse([]byte(req.Spec))
	if err != nil {
		return fmt.Errorf("spec: %w", err)
	}
	if req.Lock != "" {
		if _, err := lock.Parse([]byte(req.Lock)); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
	}
	if err := checkFiles(sp, req.Files); err != nil {
		return err
	}
	rs := catalog.RegisteredSpec{Name: sp.Name, Spec: []byte(req.Spec), Files: req.Files, Added: s.now()}
	if req.Lock != "" {
		rs.Lock = []byte(req.Lock)
	}
	rs, err = s.cat.AddSpec(r.Context(), rs)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/specs/"+rs.Name)
	writeJSON(w, http.StatusCreated, viewSpec(rs, false))
	return nil
}

// checkFiles unpacks the archive beside the spec, in a temporary directory, and checks that every
// local file the spec names is there, as a rebuild will look for it.
func checkFiles(sp *spec.Spec, files []byte) error {
	dir, err := os.MkdirTemp("", "ingot-spec-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }() // only read to check
	if len(files) > 0 {
		if err := spec.Unarchive(files, dir); err != nil {
			return fmt.Errorf("files: %w", err)
		}
	}
	sp.Dir = dir
	local, err := sp.Local()
	if err != nil {
		return err
	}
	if err := local.CheckExist(); err != nil {
		return fmt.Errorf("%w (files: send the spec's files as ingot catalog add archives them)", err)
	}
	return nil
}

func (s *Server) removeSpec(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryOf(r); err != nil {
		return err
	}
	name, err := specName(r)
	if err != nil {
		return err
	}
	if err := s.cat.RemoveSpec(r.Context(), name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// rebuildRequest is the body of POST /v1/specs/{name}/rebuild (optional).
type rebuildRequest struct {
	Reason string `json:"reason,omitempty"`
}

// rebuild enqueues a rebuild of a registered spec through the Rebuild hook.
func (s *Server) rebuild(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryOf(r); err != nil {
		return err
	}
	name, err := specName(r)
	if err != nil {
		return err
	}
	var req rebuildRequest
	if err := decodeJSON(w, r, s.cfg.Limits.MaxBodyBytes, true, &req); err != nil {
		return err
	}
	if _, err := s.cat.Spec(r.Context(), name); err != nil {
		return err
	}
	if s.cfg.Hooks.Rebuild == nil {
		return notWired("requesting a rebuild")
	}
	if strings.TrimSpace(req.Reason) == "" {
		req.Reason = "requested through the API"
	}
	job, err := s.cfg.Hooks.Rebuild(r.Context(), RebuildRequest{Name: name, Reason: req.Reason, Actor: actor(r)})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, job)
	return nil
}

// sla is the patch SLA report, from the SLA hook.
func (s *Server) sla(w http.ResponseWriter, r *http.Request) error {
	q, err := queryOf(r, "image")
	if err != nil {
		return err
	}
	var sq SLAQuery
	if sq.Image, err = q.str("image"); err != nil {
		return err
	}
	if sq.Image != "" {
		if err := catalog.ValidName(sq.Image); err != nil {
			return err
		}
	}
	if s.cfg.Hooks.SLA == nil {
		return notWired("the patch SLA report")
	}
	rep, err := s.cfg.Hooks.SLA(r.Context(), sq)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

func specName(r *http.Request) (string, error) {
	name := r.PathValue("name")
	return name, catalog.ValidName(name)
}
