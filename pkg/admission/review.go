package admission

import (
	"errors"
	"fmt"

	kjson "sigs.k8s.io/json"

	"github.com/ingot-build/ingot/pkg/fault"
)

// The AdmissionReview of admission.k8s.io/v1, with only the fields ingot reads and writes. They are
// written by hand rather than imported from k8s.io/api, which would link the Kubernetes type system
// into ingot for a dozen fields; tests decode the same documents with k8s.io/api and compare.
const (
	ReviewAPIVersion = "admission.k8s.io/v1"
	ReviewKind       = "AdmissionReview"
)

// ErrReview: a request that is not an admission.k8s.io/v1 AdmissionReview ingot can read.
var ErrReview = fault.New(fault.Invalid, "admission: malformed AdmissionReview")

// Review is an AdmissionReview: the API server sends the request, the webhook returns the response.
type Review struct {
	APIVersion string    `json:"apiVersion"`
	Kind       string    `json:"kind"`
	Request    *Request  `json:"request,omitempty"`
	Response   *Response `json:"response,omitempty"`
}

// GroupVersionKind names a kind.
type GroupVersionKind struct {
	Group   string `json:"group"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
}

func (g GroupVersionKind) String() string {
	if g.Group == "" {
		return g.Version + "/" + g.Kind
	}
	return g.Group + "/" + g.Version + "/" + g.Kind
}

// GroupVersionResource names a resource.
type GroupVersionResource struct {
	Group    string `json:"group"`
	Version  string `json:"version"`
	Resource string `json:"resource"`
}

// UserInfo is who made the request (for the decision log).
type UserInfo struct {
	Username string   `json:"username,omitempty"`
	UID      string   `json:"uid,omitempty"`
	Groups   []string `json:"groups,omitempty"`
}

// Operations a review can be for.
const (
	OpCreate = "CREATE"
	OpUpdate = "UPDATE"
)

// Request is the AdmissionRequest.
type Request struct {
	UID         string               `json:"uid"`
	Kind        GroupVersionKind     `json:"kind"`
	Resource    GroupVersionResource `json:"resource"`
	SubResource string               `json:"subResource,omitempty"`
	// RequestKind and RequestSubResource are what the client asked for, before the API server
	// converted it to the version the webhook registered for.
	RequestKind        *GroupVersionKind `json:"requestKind,omitempty"`
	RequestSubResource string            `json:"requestSubResource,omitempty"`
	Name               string            `json:"name,omitempty"`
	Namespace          string            `json:"namespace,omitempty"`
	Operation          string            `json:"operation"`
	UserInfo           UserInfo          `json:"userInfo"`
	// Object and OldObject are read only where they keep pod specs (see Object): the review is
	// decoded in one pass, everything else skipped. OldObject is nil on CREATE.
	Object    *Object `json:"object,omitempty"`
	OldObject *Object `json:"oldObject,omitempty"`
	DryRun    *bool   `json:"dryRun,omitempty"`
}

// Response is the AdmissionResponse.
type Response struct {
	UID     string  `json:"uid"`
	Allowed bool    `json:"allowed"`
	Status  *Status `json:"status,omitempty"`
	// Patch is a JSON Patch (RFC 6902); encoding/json writes it base64, as the API expects.
	Patch            []byte            `json:"patch,omitempty"`
	PatchType        string            `json:"patchType,omitempty"`
	AuditAnnotations map[string]string `json:"auditAnnotations,omitempty"`
	Warnings         []string          `json:"warnings,omitempty"`
}

// Status is the metav1.Status of a denial: the API server returns its code and message to the client.
type Status struct {
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Code    int32  `json:"code,omitempty"`
}

// PatchTypeJSONPatch is the only patch type the API server takes.
const PatchTypeJSONPatch = "JSONPatch"

// DecodeReview reads an AdmissionReview as the API server sends it. Keys are matched case-sensitively
// (encoding/json would take "Image" for "image", which the API server does not) and a key given twice
// is refused: the webhook must read a document the way the API server does.
func DecodeReview(data []byte) (*Review, error) {
	var r Review
	if err := strictUnmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrReview, err)
	}
	switch {
	case r.APIVersion != ReviewAPIVersion || r.Kind != ReviewKind:
		return nil, fmt.Errorf("%w: %s %s, want %s %s", ErrReview, r.APIVersion, r.Kind, ReviewAPIVersion, ReviewKind)
	case r.Request == nil:
		return nil, fmt.Errorf("%w: no request", ErrReview)
	case r.Request.UID == "":
		return nil, fmt.Errorf("%w: the request has no uid", ErrReview)
	}
	return &r, nil
}

// strictUnmarshal decodes case-sensitively and refuses duplicate keys.
func strictUnmarshal(data []byte, v any) error {
	strict, err := kjson.UnmarshalStrict(data, v, kjson.DisallowDuplicateFields)
	if err != nil {
		return err
	}
	if len(strict) > 0 {
		return errors.Join(strict...)
	}
	return nil
}

// reply wraps a response in a review.
func reply(resp *Response) *Review {
	return &Review{APIVersion: ReviewAPIVersion, Kind: ReviewKind, Response: resp}
}
