package report

import (
	"bytes"
	"encoding/json"
	"io"

	"github.com/owenrumney/go-sarif/v2/sarif"
)

// writeSARIF writes a SARIF log without null members. go-sarif declares some optional properties
// without omitempty (a suppression's status, location and guid), so they come out as null, which the
// SARIF 2.1.0 schema does not allow and consumers such as GitHub code scanning reject. No SARIF
// property takes null, so dropping every null member leaves exactly what was set.
func writeSARIF(w io.Writer, log *sarif.Report) error {
	raw, err := json.Marshal(log)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // numbers pass through as written
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(dropNulls(doc))
}

func dropNulls(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if e == nil {
				delete(x, k)
				continue
			}
			x[k] = dropNulls(e)
		}
	case []any:
		for i, e := range x {
			x[i] = dropNulls(e)
		}
	}
	return v
}
