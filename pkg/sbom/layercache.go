package sbom

import (
	"encoding/json"

	"github.com/ingot-build/ingot/pkg/evidence"
)

// The inventory's record of a layer, for the layer walker's cache (layers.Cacheable): the files of
// interest it found, which a later image sharing the layer takes back instead of reading it.

// CacheKey names the inventory's layer records; it changes when what they hold does.
func (v *Visitor) CacheKey() string { return "sbom.records/1" }

// cachedRecord is a record as the cache keeps it.
type cachedRecord struct {
	Kind      int                `json:"k"`
	Index     int                `json:"i"`
	Path      string             `json:"p"`
	Packages  []evidence.Package `json:"pkgs,omitempty"`
	Err       string             `json:"err,omitempty"`
	Data      []byte             `json:"data,omitempty"`
	Link      string             `json:"link,omitempty"`
	Owner     string             `json:"owner,omitempty"`
	OwnerArch string             `json:"arch,omitempty"`
	Licenses  []string           `json:"lics,omitempty"`
}

// SaveLayer is the layer's records.
func (v *Visitor) SaveLayer(layer int) ([]byte, error) {
	rs := v.scans[layer].records
	out := make([]cachedRecord, len(rs))
	for i, r := range rs {
		out[i] = cachedRecord{Kind: r.kind, Index: r.index, Path: r.path, Packages: r.pkgs, Data: r.data, Link: r.link, Owner: r.owner, OwnerArch: r.ownerArch, Licenses: r.licenses}
		if r.err != nil {
			out[i].Err = r.err.Error()
		}
	}
	return json.Marshal(out)
}

// LoadLayer takes back the layer's records.
func (v *Visitor) LoadLayer(layer int, data []byte) error {
	var in []cachedRecord
	if err := json.Unmarshal(data, &in); err != nil {
		return err
	}
	rs := make([]record, len(in))
	for i, c := range in {
		rs[i] = record{kind: c.Kind, index: c.Index, path: c.Path, pkgs: c.Packages, data: c.Data, link: c.Link, owner: c.Owner, ownerArch: c.OwnerArch, licenses: c.Licenses}
		if c.Err != "" {
			rs[i].err = evidenceError(c.Err)
		}
	}
	v.scans[layer].records = rs
	return nil
}

// evidenceError is a malformed file's error as the cache kept it: its message, and ErrEvidence.
type evidenceError string

func (e evidenceError) Error() string { return string(e) }
func (e evidenceError) Unwrap() error { return ErrEvidence }
