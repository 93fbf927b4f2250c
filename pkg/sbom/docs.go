package sbom

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/package-url/packageurl-go"

	"github.com/ingot-build/ingot/pkg/evidence"
)

// DocOptions shape the documents SPDX and CycloneDX write. Both are deterministic: the same inventory
// and options give the same bytes.
type DocOptions struct {
	// Created is the creation time written into the document; the zero value writes the Unix epoch,
	// so that the document depends on the inventory alone. The CLI passes SOURCE_DATE_EPOCH or the
	// image's own creation time.
	Created time.Time
	// ToolVersion is ingot's version, recorded as the creating tool.
	ToolVersion string
}

// Property and annotation names ingot writes into documents, and reads back.
const (
	propLayer    = "ingot:layer"
	propSource   = "ingot:source"
	propLocation = "ingot:location"
	propExcluded = "ingot:excluded"
	toolName     = "ingot"
)

func (o DocOptions) created() string {
	t := o.Created
	if t.IsZero() {
		t = time.Unix(0, 0)
	}
	return t.UTC().Format(time.RFC3339)
}

func (o DocOptions) tool() string {
	if o.ToolVersion == "" {
		return toolName
	}
	return toolName + "-" + o.ToolVersion
}

// documentID derives a document's identity from its content: the inventory (which holds the image
// digest) and the options. Two different documents never share it; the same one always does.
func documentID(inv *evidence.Inventory, opt DocOptions) ([]byte, error) {
	b, err := json.Marshal(struct {
		Inv     *evidence.Inventory
		Created string
		Tool    string
	}{inv, opt.created(), opt.tool()})
	if err != nil {
		return nil, fmt.Errorf("hashing the inventory: %w", err)
	}
	sum := sha256.Sum256(b)
	return sum[:], nil
}

// uuidFrom formats 16 bytes of a digest as an RFC 9562 version 8 (name-based, custom hash) UUID.
func uuidFrom(sum []byte) string {
	u := make([]byte, 16)
	copy(u, sum)
	u[6] = u[6]&0x0f | 0x80
	u[8] = u[8]&0x3f | 0x80
	h := hex.EncodeToString(u)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// imageName is the image's short name from the reference the user gave: the last path element
// without tag or digest, lower-cased.
func imageName(ref string) string {
	r := ref
	for _, p := range []string{"oci:", "docker-archive:"} {
		r = strings.TrimPrefix(r, p)
	}
	if i := strings.IndexByte(r, '@'); i >= 0 {
		r = r[:i]
	}
	r = strings.TrimSuffix(strings.TrimSuffix(r, "/"), ".tar")
	if i := strings.LastIndexByte(r, '/'); i >= 0 {
		r = r[i+1:]
	}
	if i := strings.IndexByte(r, ':'); i >= 0 {
		r = r[:i]
	}
	r = strings.ToLower(r)
	if r == "" {
		return "image"
	}
	return r
}

// repositoryURL is the registry repository of a registry reference, "" for files and store names.
func repositoryURL(ref string) string {
	if ref == "" || strings.HasPrefix(ref, "oci:") || strings.HasPrefix(ref, "docker-archive:") ||
		strings.HasPrefix(ref, "/") || strings.HasPrefix(ref, ".") || strings.HasSuffix(ref, ".tar") {
		return ""
	}
	r := ref
	if i := strings.IndexByte(r, '@'); i >= 0 {
		r = r[:i]
	}
	slash := strings.LastIndexByte(r, '/')
	if slash < 0 {
		return ""
	}
	if i := strings.LastIndexByte(r, ':'); i > slash {
		r = r[:i]
	}
	return r
}

// imagePURL is the image as an OCI package URL: pkg:oci/name@sha256:...?arch=amd64&repository_url=...
func imagePURL(img evidence.Image) string {
	var q packageurl.Qualifiers
	if img.Arch != "" {
		q = append(q, packageurl.Qualifier{Key: "arch", Value: img.Arch})
	}
	if u := repositoryURL(img.Ref); u != "" {
		q = append(q, packageurl.Qualifier{Key: "repository_url", Value: u})
	}
	return packageurl.NewPackageURL("oci", "", imageName(img.Ref), img.Digest, q, "").ToString()
}

// exclusionText is how an exclusion reads in a document: "debconf (required by tzdata, x)".
func exclusionText(e evidence.Exclusion) string {
	if len(e.RequiredBy) == 0 {
		return e.Name
	}
	return e.Name + " (required by " + strings.Join(e.RequiredBy, ", ") + ")"
}

func parseExclusion(s string) evidence.Exclusion {
	name, rest, ok := strings.Cut(strings.TrimSpace(s), " (required by ")
	if !ok || !strings.HasSuffix(rest, ")") {
		return evidence.Exclusion{Name: name}
	}
	return evidence.Exclusion{Name: name, RequiredBy: strings.Split(strings.TrimSuffix(rest, ")"), ", ")}
}

// sourceText is a Debian or Alpine package's source as one string, "glibc 2.36-9".
func sourceText(p evidence.Package) string {
	if p.Source == "" {
		return ""
	}
	if p.SourceVersion == "" {
		return p.Source
	}
	return p.Source + " " + p.SourceVersion
}

// indexDocumentID is documentID for an index's document: the index and every platform inventory.
func indexDocumentID(index evidence.Image, invs []*evidence.Inventory, opt DocOptions) ([]byte, error) {
	b, err := json.Marshal(struct {
		Index   evidence.Image
		Invs    []*evidence.Inventory
		Created string
		Tool    string
	}{index, invs, opt.created(), opt.tool()})
	if err != nil {
		return nil, fmt.Errorf("hashing the inventories: %w", err)
	}
	sum := sha256.Sum256(b)
	return sum[:], nil
}
