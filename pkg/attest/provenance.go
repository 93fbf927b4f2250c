package attest

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	slsa "github.com/in-toto/attestation/go/predicates/provenance/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ingot-build/ingot/internal/selfid"
	"github.com/ingot-build/ingot/pkg/lock"
	"github.com/ingot-build/ingot/pkg/spec"
	"github.com/ingot-build/ingot/pkg/vuln"
)

// BuildType is the SLSA buildType of an ingot image build. Its externalParameters are:
//
//	spec:  {path, digest: {sha256}, canonicalDigest: {sha256}}  the spec file as read (path and
//	       digest when the file is known) and the digest of its decoded, canonical form
//	lock:  {path, digest: {sha256}, canonicalDigest: {sha256}}  the same for the lock
//	image: {name, tag}
//	archs: [debian architecture...]
//
// Its internalParameters are arch (the image's architecture), SOURCE_DATE_EPOCH (decimal seconds, when
// set) and vulnerabilityData (the sources the scan used: name, origin, imported, records), which
// change the evidence but never the image. resolvedDependencies hold every .deb of the arch (uri,
// name "name_version_arch", sha256), the base image ("oci://REPO" and its digest), each repository's
// signed Release (by its dists directory) and Packages indexes, and the local files copied in and the
// evidence inputs (structure tests, VEX), by path with the annotation "ingot.input".
const BuildType = "https://ingot.build/buildtypes/image/v1"

// BuilderID is the SLSA builder id of the ingot command line run by whoever holds the machine; the
// builder version map holds "ingot" (selfid.Version: the same string ingot version prints and the
// SBOMs and the vuln predicate name ingot with), "buildID" (the Go build ID of the binary, which
// tells two builds of one version apart) and "go" (the toolchain).
const BuilderID = "https://ingot.build/builder/cli/v1"

// ErrProvenance means the provenance input is incomplete or the predicate would not validate.
var ErrProvenance = errors.New("attest: invalid provenance")

// ProvenanceInput is what a build knows about itself.
type ProvenanceInput struct {
	Spec *spec.Spec
	// SpecFile is the spec's path as it was given, SpecDigest the sha256 (hex) of its bytes as read;
	// both empty when the spec did not come from a file.
	SpecFile, SpecDigest string
	Lock                 *lock.Lock
	// LockFile and LockDigest are the same for the lock.
	LockFile, LockDigest string
	// Arch is the architecture of the image this provenance is for.
	Arch string
	// Files are the local files copied into the image, by their path in the image.
	Files []File
	// EvidenceInputs are the files the evidence stages read (structure tests, VEX), by spec path.
	EvidenceInputs  []File
	SourceDateEpoch *time.Time
	// VulnData is the vulnerability data the scan used; empty when the image was not scanned.
	VulnData []vuln.SourceStatus
	// Builder is runDetails.builder.version (see BuilderVersion).
	Builder map[string]string
	// InvocationID is unique per build (see NewInvocationID); Started and Finished are its real times.
	InvocationID      string
	Started, Finished time.Time
}

// File is one input file by name and sha256 (hex).
type File struct {
	Path, SHA256 string
}

// BuilderVersion identifies the running ingot for runDetails.builder.version.
func BuilderVersion() (map[string]string, error) {
	id, err := selfid.ID()
	if err != nil {
		return nil, fmt.Errorf("identifying the ingot binary: %w", err)
	}
	return map[string]string{"ingot": selfid.Version(), "buildID": id, "go": runtime.Version()}, nil
}

// NewInvocationID returns a random identifier for one build.
func NewInvocationID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("invocation id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

type fileRef struct {
	Path            string            `json:"path,omitempty"`
	Digest          map[string]string `json:"digest,omitempty"`
	CanonicalDigest map[string]string `json:"canonicalDigest"`
}

type externalParameters struct {
	Spec  fileRef `json:"spec"`
	Lock  fileRef `json:"lock"`
	Image struct {
		Name string `json:"name"`
		Tag  string `json:"tag"`
	} `json:"image"`
	Archs []string `json:"archs"`
}

type vulnSource struct {
	Name     string    `json:"name"`
	Origin   string    `json:"origin,omitempty"`
	Imported time.Time `json:"imported"`
	Records  int       `json:"records"`
}

type internalParameters struct {
	Arch              string       `json:"arch"`
	SourceDateEpoch   string       `json:"SOURCE_DATE_EPOCH,omitempty"`
	VulnerabilityData []vulnSource `json:"vulnerabilityData,omitempty"`
}

// Provenance builds the SLSA provenance v1 predicate of one image of a build (see BuildType), checks
// it with the in-toto library's Validate and returns it as indented JSON.
func Provenance(in ProvenanceInput) ([]byte, error) {
	if err := in.check(); err != nil {
		return nil, err
	}
	lb, err := in.Lock.Marshal()
	if err != nil {
		return nil, fmt.Errorf("encoding lock: %w", err)
	}
	var ext externalParameters
	ext.Spec = fileRef{Path: in.SpecFile, Digest: sha256Set(in.SpecDigest), CanonicalDigest: sha256Set(strings.TrimPrefix(in.Spec.Digest(), "sha256:"))}
	lsum := sha256.Sum256(lb)
	ext.Lock = fileRef{Path: in.LockFile, Digest: sha256Set(in.LockDigest), CanonicalDigest: sha256Set(hex.EncodeToString(lsum[:]))}
	ext.Image.Name, ext.Image.Tag = in.Spec.Name, in.Spec.Tag()
	ext.Archs = in.Spec.Archs
	extS, err := toStruct(ext)
	if err != nil {
		return nil, err
	}
	internal := internalParameters{Arch: in.Arch}
	if in.SourceDateEpoch != nil {
		internal.SourceDateEpoch = strconv.FormatInt(in.SourceDateEpoch.Unix(), 10)
	}
	for _, s := range in.VulnData {
		internal.VulnerabilityData = append(internal.VulnerabilityData, vulnSource{Name: s.Name, Origin: s.Origin, Imported: s.Imported.UTC(), Records: s.Records})
	}
	intS, err := toStruct(internal)
	if err != nil {
		return nil, err
	}
	deps, err := in.dependencies()
	if err != nil {
		return nil, err
	}
	p := &slsa.Provenance{
		BuildDefinition: &slsa.BuildDefinition{
			BuildType:            BuildType,
			ExternalParameters:   extS,
			InternalParameters:   intS,
			ResolvedDependencies: deps,
		},
		RunDetails: &slsa.RunDetails{
			Builder: &slsa.Builder{Id: BuilderID, Version: in.Builder},
			Metadata: &slsa.BuildMetadata{
				InvocationId: in.InvocationID,
				StartedOn:    timestamppb.New(in.Started),
				FinishedOn:   timestamppb.New(in.Finished),
			},
		},
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrProvenance, err)
	}
	data, err := protojson.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encoding provenance: %w", err)
	}
	// protojson varies its spacing on purpose; indenting gives one stable, readable form.
	var out bytes.Buffer
	if err := json.Indent(&out, data, "", "  "); err != nil {
		return nil, fmt.Errorf("encoding provenance: %w", err)
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

func (in *ProvenanceInput) check() error {
	var missing []string
	if in.Spec == nil {
		missing = append(missing, "spec")
	}
	if in.Lock == nil {
		missing = append(missing, "lock")
	} else if in.Lock.Archs[in.Arch] == nil {
		missing = append(missing, fmt.Sprintf("arch %q in the lock", in.Arch))
	}
	if in.InvocationID == "" {
		missing = append(missing, "invocation id")
	}
	if in.Started.IsZero() || in.Finished.IsZero() {
		missing = append(missing, "start and finish times")
	}
	if len(in.Builder) == 0 {
		missing = append(missing, "builder version")
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: no %s", ErrProvenance, strings.Join(missing, ", "))
	}
	for what, d := range map[string]string{"spec": in.SpecDigest, "lock": in.LockDigest} {
		if d != "" && (len(d) != 64 || strings.Trim(d, "0123456789abcdef") != "") {
			return fmt.Errorf("%w: the %s digest %q is not a sha256 in hex", ErrProvenance, what, d)
		}
	}
	if in.Finished.Before(in.Started) {
		return fmt.Errorf("%w: finished %s before it started %s", ErrProvenance, in.Finished, in.Started)
	}
	return nil
}

// dependencies lists what the build used, in a stable order: repositories, packages, base, files,
// evidence inputs.
func (in *ProvenanceInput) dependencies() ([]*intoto.ResourceDescriptor, error) {
	var out []*intoto.ResourceDescriptor
	for _, r := range in.Lock.Repositories {
		dists := strings.TrimRight(r.URL, "/") + "/dists/" + r.Suite + "/"
		ann, err := annotations("codename", r.Codename, "version", r.Version, "signer", r.Signer, "date", r.Date)
		if err != nil {
			return nil, err
		}
		if d := strings.TrimPrefix(r.Release, "sha256:"); d != "" {
			// The lock does not say whether the archive served InRelease or Release; the digest is of
			// the one it served, found under this dists directory.
			out = append(out, &intoto.ResourceDescriptor{Uri: dists, Name: "InRelease or Release", Digest: sha256Set(d), Annotations: ann})
		}
		for _, x := range r.Indexes {
			// Another arch's index resolved none of this image's packages.
			if strings.Contains(x.Path, "/binary-") && !strings.Contains(x.Path, "/binary-"+in.Arch+"/") {
				continue
			}
			out = append(out, &intoto.ResourceDescriptor{Uri: dists + x.Path, Digest: sha256Set(x.SHA256)})
		}
	}
	for _, p := range in.Lock.Archs[in.Arch].Packages {
		out = append(out, &intoto.ResourceDescriptor{Uri: p.URL, Name: p.Name + "_" + p.Version + "_" + p.Architecture, Digest: sha256Set(p.SHA256)})
	}
	if b := in.Lock.Base; b != nil {
		repo, _, _ := strings.Cut(b.Ref, "@")
		d := b.Digest
		if pd := b.Platforms[in.Arch]; pd != "" {
			d = pd
		}
		alg, hexd, ok := strings.Cut(d, ":")
		if !ok {
			return nil, fmt.Errorf("%w: base digest %q", ErrProvenance, d)
		}
		rd := &intoto.ResourceDescriptor{Uri: "oci://" + repo, Name: "base", Digest: map[string]string{alg: hexd}}
		if d != b.Digest {
			// The base is an index; the image's own base is its platform manifest.
			ann, err := annotations("index", b.Digest)
			if err != nil {
				return nil, err
			}
			rd.Annotations = ann
		}
		out = append(out, rd)
	}
	for _, group := range []struct {
		use   string
		files []File
	}{{"file", in.Files}, {"evidence", in.EvidenceInputs}} {
		files := slices.Clone(group.files)
		slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
		for _, f := range files {
			ann, err := annotations("ingot.input", group.use)
			if err != nil {
				return nil, err
			}
			out = append(out, &intoto.ResourceDescriptor{Name: f.Path, Digest: sha256Set(f.SHA256), Annotations: ann})
		}
	}
	return out, nil
}

// annotations makes a descriptor's annotations from key, value pairs, leaving out empty values.
func annotations(kv ...string) (*structpb.Struct, error) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			m[kv[i]] = kv[i+1]
		}
	}
	if len(m) == 0 {
		return nil, nil
	}
	return toStruct(m)
}

func sha256Set(hexd string) map[string]string {
	if hexd == "" {
		return nil
	}
	return map[string]string{"sha256": hexd}
}

// toStruct converts a JSON-encodable value to the protobuf Struct the provenance fields are made of.
func toStruct(v any) (*structpb.Struct, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding provenance parameters: %w", err)
	}
	s := &structpb.Struct{}
	if err := protojson.Unmarshal(data, s); err != nil {
		return nil, fmt.Errorf("encoding provenance parameters: %w", err)
	}
	return s, nil
}
