package store

import (
	"context"
	"os"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/catalog/sqlite"
)

// Catalog opens the data directory's catalog: SQLite in catalog.db.
//
// Interim: the catalog helper's Store.Catalog (with --catalog and PostgreSQL) replaces this file.
func (s Store) Catalog(ctx context.Context) (catalog.Catalog, error) {
	if err := os.MkdirAll(s.Root, 0o755); err != nil {
		return nil, err
	}
	return sqlite.Open(ctx, s.path("catalog.db"))
}
