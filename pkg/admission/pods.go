package admission

import (
	"encoding/json"
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

// Images lists every image an object of the given kind would run: its pod spec's containers, init
// containers, ephemeral containers and image volumes. A kind without a known pod spec is
// ErrUnknownKind; an object whose pod spec is missing (a template left out) names no image.
func Images(kind GroupVersionKind, object json.RawMessage) ([]ImageRef, error) {
	path, ok := podSpecPaths[kind]
	if !ok {
		return nil, fmt.Errorf("%w: %s (ingot checks Pods, ReplicationControllers, Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs and CronJobs)", ErrUnknownKind, kind)
	}
	if len(object) == 0 || string(object) == "null" {
		return nil, fmt.Errorf("%w: the request has no object", ErrReview)
	}
	raw := object
	for _, key := range path {
		var m map[string]json.RawMessage
		if err := strictUnmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrReview, strings.Join(path, "."), err)
		}
		next, ok := m[key]
		if !ok || string(next) == "null" {
			return nil, nil
		}
		raw = next
	}
	var spec podSpec
	if err := strictUnmarshal(raw, &spec); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrReview, strings.Join(path, "."), err)
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
