package admission

import (
	"fmt"
	"strings"

	"github.com/ingot-build/ingot/pkg/fault"
)

// ErrUnknownKind: a request for a kind whose pod template ingot does not know where to find. It is
// denied: the webhook cannot say what it would run.
var ErrUnknownKind = fault.New(fault.Invalid, "admission: unknown kind of workload")

// podSpecPaths are where each kind keeps its pod spec (the v1 versions the webhook registers for; the
// API server converts other versions to them).
var podSpecPaths = map[GroupVersionKind][]string{
	{Group: "", Version: "v1", Kind: "Pod"}:                   {"spec"},
	{Group: "", Version: "v1", Kind: "ReplicationController"}: {"spec", "template", "spec"},
	{Group: "apps", Version: "v1", Kind: "Deployment"}:        {"spec", "template", "spec"},
	{Group: "apps", Version: "v1", Kind: "ReplicaSet"}:        {"spec", "template", "spec"},
	{Group: "apps", Version: "v1", Kind: "StatefulSet"}:       {"spec", "template", "spec"},
	{Group: "apps", Version: "v1", Kind: "DaemonSet"}:         {"spec", "template", "spec"},
	{Group: "batch", Version: "v1", Kind: "Job"}:              {"spec", "template", "spec"},
	{Group: "batch", Version: "v1", Kind: "CronJob"}:          {"spec", "jobTemplate", "spec", "template", "spec"},
}

// Kinds lists the kinds whose images the webhook checks, for the webhook configuration.
func Kinds() []GroupVersionKind {
	out := make([]GroupVersionKind, 0, len(podSpecPaths))
	for k := range podSpecPaths {
		out = append(out, k)
	}
	return out
}

// ImageRef is one image a workload names, and where.
type ImageRef struct {
	// Field is the field in Kubernetes' notation: spec.template.spec.containers[0].image.
	Field string `json:"field"`
	// Pointer is the JSON pointer to the field, for a patch: /spec/template/spec/containers/0/image.
	Pointer string `json:"-"`
	// Container is the container's (or volume's) name.
	Container string `json:"container,omitempty"`
	Image     string `json:"image"`
}

// The image fields of a pod spec: containers, init and ephemeral containers, and image volumes.
type podSpec struct {
	Containers          []container `json:"containers"`
	InitContainers      []container `json:"initContainers"`
	EphemeralContainers []container `json:"ephemeralContainers"`
	Volumes             []volume    `json:"volumes"`
}

type container struct {
	Name  string `json:"name"`
	Image string `json:"image"`
}

type volume struct {
	Name  string `json:"name"`
	Image *struct {
		Reference string `json:"reference"`
	} `json:"image"`
}

// Object is what the webhook reads of a workload: its pod spec, wherever its kind keeps it (spec for a
// Pod, spec.template.spec for most kinds, spec.jobTemplate.spec.template.spec for a CronJob). Every
// other field is skipped while decoding, so a review is read in one pass.
type Object struct {
	Spec *objectSpec `json:"spec"`
}

type objectSpec struct {
	podSpec
	Template    *podTemplate `json:"template"`
	JobTemplate *struct {
		Spec struct {
			Template *podTemplate `json:"template"`
		} `json:"spec"`
	} `json:"jobTemplate"`
}

type podTemplate struct {
	Spec *podSpec `json:"spec"`
}

// DecodeObject reads a workload as the webhook does (case-sensitive, duplicate keys refused).
func DecodeObject(data []byte) (*Object, error) {
	var o Object
	if err := strictUnmarshal(data, &o); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrReview, err)
	}
	return &o, nil
}

// Images lists every image an object of the given kind would run: its pod spec's containers, init
// containers, ephemeral containers and image volumes. A kind without a known pod spec is
// ErrUnknownKind; an object whose pod spec is missing (a template left out) names no image.
func Images(kind GroupVersionKind, o *Object) ([]ImageRef, error) {
	path, ok := podSpecPaths[kind]
	if !ok {
		return nil, fmt.Errorf("%w: %s (ingot checks Pods, ReplicationControllers, Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs and CronJobs)", ErrUnknownKind, kind)
	}
	if o == nil {
		return nil, fmt.Errorf("%w: the request has no object", ErrReview)
	}
	var spec *podSpec
	if o.Spec != nil {
		switch len(path) {
		case 1:
			spec = &o.Spec.podSpec
		case 3:
			if t := o.Spec.Template; t != nil {
				spec = t.Spec
			}
		default:
			if j := o.Spec.JobTemplate; j != nil && j.Spec.Template != nil {
				spec = j.Spec.Template.Spec
			}
		}
	}
	if spec == nil {
		return nil, nil
	}
	field := strings.Join(path, ".")
	pointer := "/" + strings.Join(path, "/")
	var out []ImageRef
	add := func(list string, cs []container) {
		for i, c := range cs {
			out = append(out, ImageRef{
				Field:     fmt.Sprintf("%s.%s[%d].image", field, list, i),
				Pointer:   fmt.Sprintf("%s/%s/%d/image", pointer, list, i),
				Container: c.Name, Image: c.Image,
			})
		}
	}
	add("initContainers", spec.InitContainers)
	add("containers", spec.Containers)
	add("ephemeralContainers", spec.EphemeralContainers)
	for i, v := range spec.Volumes {
		if v.Image != nil {
			out = append(out, ImageRef{
				Field:     fmt.Sprintf("%s.volumes[%d].image.reference", field, i),
				Pointer:   fmt.Sprintf("%s/volumes/%d/image/reference", pointer, i),
				Container: v.Name, Image: v.Image.Reference,
			})
		}
	}
	return out, nil
}
