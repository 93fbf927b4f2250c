package server

import (
	"context"
	"time"

	"github.com/ingot-build/ingot/pkg/catalog"
)

// timed is the catalog with the latency of every operation the server asks for recorded in the
// metrics (ingot_catalog_operation_duration_seconds). The operations the server does not use pass
// through untimed.
type timed struct {
	catalog.Catalog
	m *metrics
}

func (t timed) Get(ctx context.Context, r catalog.Ref) (v *catalog.Version, err error) {
	defer func(start time.Time) { t.m.observeCatalog("get", start, err) }(time.Now())
	return t.Catalog.Get(ctx, r)
}

func (t timed) List(ctx context.Context, o catalog.ListOptions) (vs []*catalog.Version, err error) {
	defer func(start time.Time) { t.m.observeCatalog("list", start, err) }(time.Now())
	return t.Catalog.List(ctx, o)
}

func (t timed) SetStatus(ctx context.Context, r catalog.Ref, c catalog.StatusChange) (ev catalog.Event, err error) {
	defer func(start time.Time) { t.m.observeCatalog("set_status", start, err) }(time.Now())
	return t.Catalog.SetStatus(ctx, r, c)
}

func (t timed) History(ctx context.Context, r catalog.Ref) (evs []catalog.Event, err error) {
	defer func(start time.Time) { t.m.observeCatalog("history", start, err) }(time.Now())
	return t.Catalog.History(ctx, r)
}

func (t timed) Events(ctx context.Context, after int64, limit int) (evs []catalog.Event, err error) {
	defer func(start time.Time) { t.m.observeCatalog("events", start, err) }(time.Now())
	return t.Catalog.Events(ctx, after, limit)
}

func (t timed) QueryPackage(ctx context.Context, q catalog.PackageQuery) (es []catalog.Exposure, err error) {
	defer func(start time.Time) { t.m.observeCatalog("query_package", start, err) }(time.Now())
	return t.Catalog.QueryPackage(ctx, q)
}

func (t timed) QueryPackagePage(ctx context.Context, q catalog.PackageQuery, p catalog.Page) (page catalog.ExposurePage, err error) {
	defer func(start time.Time) { t.m.observeCatalog("query_package", start, err) }(time.Now())
	return t.Catalog.QueryPackagePage(ctx, q, p)
}

func (t timed) QueryFindings(ctx context.Context, q catalog.FindingQuery) (fs []catalog.VersionFinding, err error) {
	defer func(start time.Time) { t.m.observeCatalog("query_findings", start, err) }(time.Now())
	return t.Catalog.QueryFindings(ctx, q)
}

func (t timed) FindingHistory(ctx context.Context, r catalog.Ref) (fs []catalog.TrackedFinding, err error) {
	defer func(start time.Time) { t.m.observeCatalog("finding_history", start, err) }(time.Now())
	return t.Catalog.FindingHistory(ctx, r)
}

func (t timed) AddSpec(ctx context.Context, s catalog.RegisteredSpec) (rs catalog.RegisteredSpec, err error) {
	defer func(start time.Time) { t.m.observeCatalog("add_spec", start, err) }(time.Now())
	return t.Catalog.AddSpec(ctx, s)
}

func (t timed) Spec(ctx context.Context, name string) (rs catalog.RegisteredSpec, err error) {
	defer func(start time.Time) { t.m.observeCatalog("spec", start, err) }(time.Now())
	return t.Catalog.Spec(ctx, name)
}

func (t timed) ListSpecs(ctx context.Context) (rs []catalog.RegisteredSpec, err error) {
	defer func(start time.Time) { t.m.observeCatalog("list_specs", start, err) }(time.Now())
	return t.Catalog.ListSpecs(ctx)
}

func (t timed) RemoveSpec(ctx context.Context, name string) (err error) {
	defer func(start time.Time) { t.m.observeCatalog("remove_spec", start, err) }(time.Now())
	return t.Catalog.RemoveSpec(ctx, name)
}

func (t timed) TokenByHash(ctx context.Context, hash string) (tok catalog.Token, err error) {
	defer func(start time.Time) { t.m.observeCatalog("token_by_hash", start, err) }(time.Now())
	return t.Catalog.TokenByHash(ctx, hash)
}
