package vuln

import (
	"context"

	"github.com/ingot-build/ingot/pkg/evidence"
)

// rateByAliases gives each finding that none of its own records rates the worst rating among the
// records related to it, in every source: with the finding's names N (its ID, the IDs of the records
// merged into it, and all their aliases), a record is related when its own ID is in N (a record the
// finding aliases: the GHSA a GO record names) or one of its aliases is (a record that aliases the
// finding, or shares an alias with it: a GHSA naming the same CVE, whatever package it affects). One
// step only: what the related records alias in turn is not followed. A withdrawn or unrated record
// rates nothing. Ties go to the smallest record ID, so the result does not depend on source order.
// SeveritySource names the record and the vector or rating it was rated by; a finding with no related
// rated record stays unknown.
//
// Each name is one lookup in each source's ratings table, so the cost follows the findings without a
// rating, not the size of the data.
func rateByAliases(ctx context.Context, paths []string, findings []evidence.Finding) error {
	var todo []int
	for i, f := range findings {
		if f.Severity == evidence.SeverityUnknown {
			todo = append(todo, i)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	best := map[int]rated{}
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := rateFromSource(p, findings, todo, best); err != nil {
			return err
		}
	}
	for i, r := range best {
		findings[i].Severity = r.Severity
		findings[i].SeveritySource = r.ID + " (" + r.Basis + ")"
	}
	return nil
}

func rateFromSource(path string, findings []evidence.Finding, todo []int, best map[int]rated) error {
	x, err := openIndex(path)
	if err != nil {
		return err
	}
	defer x.Close()
	table, err := x.ratings()
	if err != nil || table == nil {
		return err
	}
	seen := map[string][]rated{}
	for _, i := range todo {
		f := &findings[i]
		for _, name := range append([]string{f.ID}, f.Aliases...) {
			rs, ok := seen[name]
			if !ok {
				if rs, err = table.rated(name); err != nil {
					return err
				}
				seen[name] = rs
			}
			for _, r := range rs {
				if r.Severity == evidence.SeverityUnknown {
					continue // never written so; a damaged table rates nothing
				}
				if b, ok := best[i]; !ok || r.Severity > b.Severity || (r.Severity == b.Severity && r.ID < b.ID) {
					best[i] = r
				}
			}
		}
	}
	return nil
}
