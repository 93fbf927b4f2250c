package pipeline

import (
	"io"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ingot-build/ingot/pkg/apt"
	"github.com/ingot-build/ingot/pkg/imageref"
	"github.com/ingot-build/ingot/pkg/store"
)

// Options are the machine-side settings of a pipeline run (the spec says what to build).
type Options struct {
	// DataDir holds the package cache, the OCI layout store and the build cache.
	DataDir string
	// HTTP fetches repositories and packages; nil uses apt's default client (which also reads file://).
	HTTP *http.Client
	// Progress receives a progress display; nil keeps quiet.
	Progress io.Writer
	// AptSources are the apt source files behind "host: true"; nil reads the host's.
	AptSources []string
	// SourceDateEpoch, when set, clamps every timestamp in the image.
	SourceDateEpoch *time.Time
	// Now is the clock for Release validity; nil is time.Now.
	Now func() time.Time
	// Remote are options for fetching base images from registries.
	Remote []remote.Option
	// SpecFile and LockFile are the files the spec and lock were read from, as the user named them.
	// The provenance records each with the sha256 of its bytes; Build refuses a file that no longer
	// holds what it is building. Empty leaves them out (the provenance still records the canonical
	// digests of the spec and lock being built).
	SpecFile, LockFile string
	// Limits bound what reading one image's layers may cost in the evidence stages.
	Limits imageref.Limits
	// AllowFilesFrom are directories, besides the spec's own, that the spec's local files
	// (files[].source, evidence.tests, evidence.vex) may lie in. A server building specs that others
	// wrote leaves it empty unless it means to share a directory with all of them.
	AllowFilesFrom []string
	// Indexes, when set, are the repositories' indexes shared by several locks (a rebuild cycle's):
	// each Release and Packages index is fetched once for all of them. Nil fetches afresh.
	Indexes *Indexes
}

// Store is the data directory.
func (o Options) Store() store.Store { return store.Store{Root: o.DataDir} }

func (o Options) client() *apt.Client {
	st := o.Store()
	return &apt.Client{HTTP: o.HTTP, Now: o.Now, Cache: st.Indexes(), Texts: st.IndexTexts()}
}
