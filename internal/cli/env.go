package cli

import (
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ingot-build/ingot/pkg/store"
)

// Env is everything ingot takes from the process environment, read in one place.
type Env struct {
	// DataDir holds the OCI layouts, the package cache and (later) the catalog.
	DataDir string
	// SourceDateEpoch clamps timestamps, as reproducible-builds.org specifies; nil when unset.
	SourceDateEpoch *time.Time
	// AptSources overrides the host apt source files (colon-separated) for host repositories.
	AptSources []string
	// VulnDBURL is where ingot db update downloads OSV data (<url>/<Ecosystem>/all.zip) when --url
	// is not given; OSV's public bucket when empty (vuln.DefaultUpdateURL).
	VulnDBURL string
	// Catalog is the catalog's database (INGOT_CATALOG): empty for SQLite in the data directory,
	// postgres://… for PostgreSQL.
	Catalog string
	// RevokeAt and RevokeAction are the re-scan policy (INGOT_REVOKE_AT: a severity or none;
	// INGOT_REVOKE_ACTION: revoke, flag or none); the flags of the verbs that re-scan override them.
	RevokeAt, RevokeAction string
	// KeyPassword is the private key's password from COSIGN_PASSWORD: nil when unset, empty when set
	// empty (no password).
	KeyPassword []byte
}

// passwordEnv is cosign's variable for the private key's password; ingot honours it so the same
// scripts drive both tools.
const passwordEnv = "COSIGN_PASSWORD"

// Store is the data directory, with the catalog it names.
func (e Env) Store() store.Store { return store.Store{Root: e.DataDir, CatalogDSN: e.Catalog} }

// ReadEnv reads INGOT_DATA_DIR, XDG_DATA_HOME, HOME, SOURCE_DATE_EPOCH, INGOT_APT_SOURCES,
// INGOT_VULNDB_URL, INGOT_CATALOG, INGOT_REVOKE_AT, INGOT_REVOKE_ACTION and COSIGN_PASSWORD.
func ReadEnv() (Env, error) {
	var e Env
	switch {
	case os.Getenv("INGOT_DATA_DIR") != "":
		e.DataDir = os.Getenv("INGOT_DATA_DIR")
	case os.Getenv("XDG_DATA_HOME") != "":
		e.DataDir = filepath.Join(os.Getenv("XDG_DATA_HOME"), "ingot")
	default:
		home, err := os.UserHomeDir()
		if err != nil {
			return e, err
		}
		e.DataDir = filepath.Join(home, ".local", "share", "ingot")
	}
	if v := os.Getenv("SOURCE_DATE_EPOCH"); v != "" {
		sec, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return e, usageErrorf("SOURCE_DATE_EPOCH=%q is not a number of seconds", v)
		}
		t := time.Unix(sec, 0).UTC()
		e.SourceDateEpoch = &t
	}
	if v := os.Getenv("INGOT_APT_SOURCES"); v != "" {
		e.AptSources = filepath.SplitList(v)
	}
	e.VulnDBURL = os.Getenv("INGOT_VULNDB_URL")
	e.Catalog = os.Getenv("INGOT_CATALOG")
	e.RevokeAt, e.RevokeAction = os.Getenv("INGOT_REVOKE_AT"), os.Getenv("INGOT_REVOKE_ACTION")
	if pw, ok := os.LookupEnv(passwordEnv); ok {
		e.KeyPassword = []byte(pw)
	}
	return e, nil
}
