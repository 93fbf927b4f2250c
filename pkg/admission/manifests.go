package admission

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"sigs.k8s.io/yaml"

	"github.com/ingot-build/ingot/pkg/fault"
	"github.com/ingot-build/ingot/pkg/policy"
)

// ManifestOptions describe a deployment of the webhook.
type ManifestOptions struct {
	// Name names every object (default ingot-admission); Namespace is where the webhook runs (default
	// ingot-system). The webhook configurations skip that namespace, so the webhook never has to admit
	// its own pods.
	Name, Namespace string
	// Image is the ingot image to run; its entrypoint must be ingot.
	Image string
	// Replicas of the webhook (default 2: a webhook that fails closed must not have one point of
	// failure).
	Replicas int
	// CABundle is the PEM certificate of the CA that signed the serving certificate: the API server
	// checks the webhook with it.
	CABundle []byte
	// TLSCert and TLSKey, when given, are rendered as the Secret the webhook mounts; without them the
	// Secret (NAME-tls, keys tls.crt and tls.key) is expected to exist (cert-manager, or kubectl create
	// secret tls).
	TLSCert, TLSKey []byte
	// Policies are the policy files, rendered as ConfigMaps with the key files they name.
	Policies []string
	// Mutate adds the mutating webhook that pins tags to digests.
	Mutate bool
	// TimeoutSeconds the API server waits for an answer (default 10, the most it allows).
	TimeoutSeconds int
	// SkipNamespaces are more namespaces neither webhook is called for (besides its own), such as
	// kube-system, so a webhook that is down cannot stop the cluster's own components. Pods there are
	// not checked at all: list only namespaces whose writers are trusted.
	SkipNamespaces []string
	// CatalogSecret names a Secret whose key "dsn" is the catalog's PostgreSQL DSN (INGOT_CATALOG);
	// needed when a policy reads the catalog, since every replica must read the same one.
	CatalogSecret string
	// URL, for a webhook outside the cluster (tests, development), is its base URL: the webhook
	// configurations call URL/validate and URL/mutate instead of the Service, and no Deployment,
	// Service or Secret is rendered.
	URL string
	// Args are more arguments for ingot admission serve.
	Args []string
}

var dnsLabel = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`) })

// ErrManifests: options manifests cannot be rendered from.
var ErrManifests = fault.New(fault.Invalid, "admission: cannot render manifests")

// WebhookNames are the names of the validating and mutating webhooks in their configurations.
const (
	ValidateWebhookName = "validate.admission.ingot.build"
	MutateWebhookName   = "mutate.admission.ingot.build"
)

const (
	policyMount = "/etc/ingot/policies"
	tlsMount    = "/etc/ingot/tls"
	servePort   = 8443
)

func (o *ManifestOptions) defaults() error {
	if o.Name == "" {
		o.Name = "ingot-admission"
	}
	if o.Namespace == "" {
		o.Namespace = "ingot-system"
	}
	if o.Replicas == 0 {
		o.Replicas = 2
	}
	if o.TimeoutSeconds == 0 {
		o.TimeoutSeconds = 10
	}
	switch {
	case !dnsLabel().MatchString(o.Name) || !dnsLabel().MatchString(o.Namespace):
		return fmt.Errorf("%w: name %q and namespace %q must be DNS labels", ErrManifests, o.Name, o.Namespace)
	case o.TimeoutSeconds < 1 || o.TimeoutSeconds > 10:
		return fmt.Errorf("%w: timeoutSeconds %d: the API server takes 1 to 10", ErrManifests, o.TimeoutSeconds)
	case len(o.CABundle) == 0:
		return fmt.Errorf("%w: the CA bundle is required (ingot admission certs makes one)", ErrManifests)
	case o.URL == "" && o.Image == "":
		return fmt.Errorf("%w: the ingot image to run is required", ErrManifests)
	case o.URL == "" && len(o.Policies) == 0:
		return fmt.Errorf("%w: at least one policy is required", ErrManifests)
	case (len(o.TLSCert) == 0) != (len(o.TLSKey) == 0):
		return fmt.Errorf("%w: give both the serving certificate and its key, or neither", ErrManifests)
	}
	return nil
}

// Manifests renders the objects that run the webhook and register it, as YAML documents: Namespace,
// ServiceAccount, a ConfigMap per policy, the TLS Secret (when the certificate is given),
// Deployment, Service, and the ValidatingWebhookConfiguration (and MutatingWebhookConfiguration):
// failurePolicy Fail, timeoutSeconds at most 10, and a namespaceSelector on the API server's own
// kubernetes.io/metadata.name label that skips the webhook's namespace (no label a workload's author
// sets can exempt anything).
func Manifests(o ManifestOptions) ([]byte, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	labels := map[string]any{"app.kubernetes.io/name": o.Name, "app.kubernetes.io/part-of": "ingot"}
	meta := func(name string, namespaced bool) map[string]any {
		m := map[string]any{"name": name, "labels": labels}
		if namespaced {
			m["namespace"] = o.Namespace
		}
		return m
	}
	var objs []any
	if o.URL == "" {
		cms, mounts, vols, args, err := policyConfigMaps(o, meta)
		if err != nil {
			return nil, err
		}
		objs = append(objs,
			map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": o.Namespace}},
			map[string]any{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(o.Name, true), "automountServiceAccountToken": false},
		)
		objs = append(objs, cms...)
		tlsSecret := o.Name + "-tls"
		if len(o.TLSCert) > 0 {
			objs = append(objs, map[string]any{"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls", "metadata": meta(tlsSecret, true),
				"data": map[string]any{"tls.crt": base64.StdEncoding.EncodeToString(o.TLSCert), "tls.key": base64.StdEncoding.EncodeToString(o.TLSKey)}})
		}
		objs = append(objs, deployment(o, meta, labels, tlsSecret, mounts, vols, args), map[string]any{
			"apiVersion": "v1", "kind": "Service", "metadata": meta(o.Name, true),
			"spec": map[string]any{"selector": map[string]any{"app.kubernetes.io/name": o.Name},
				"ports": []any{map[string]any{"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"}}},
		})
	}
	objs = append(objs, webhookConfiguration(o, meta, "ValidatingWebhookConfiguration", ValidateWebhookName, "/validate"))
	if o.Mutate {
		objs = append(objs, webhookConfiguration(o, meta, "MutatingWebhookConfiguration", MutateWebhookName, "/mutate"))
	}
	var b bytes.Buffer
	for i, obj := range objs {
		data, err := yaml.Marshal(obj)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(data)
	}
	return b.Bytes(), nil
}

// policyConfigMaps renders each policy file, and the key files it names (relative to it), as a
// ConfigMap mounted at /etc/ingot/policies/NAME/, keeping the relative paths.
func policyConfigMaps(o ManifestOptions, meta func(string, bool) map[string]any) (cms, mounts, vols []any, args []string, err error) {
	seen := map[string]bool{}
	cmsOut := []any{}
	for _, file := range o.Policies {
		p, err := policy.Load(file)
		if err != nil {
			return nil, nil, nil, nil, err
		}
		if seen[p.Name] {
			return nil, nil, nil, nil, fmt.Errorf("%w: two policies are named %s", ErrManifests, p.Name)
		}
		if p.NeedsCatalog() && o.CatalogSecret == "" {
			return nil, nil, nil, nil, fmt.Errorf("%w: policy %s reads the catalog, which every replica must share: give the Secret holding its PostgreSQL DSN (--catalog-secret)", ErrManifests, p.Name)
		}
		seen[p.Name] = true
		data := map[string]any{}
		var items []any
		add := func(rel string, content []byte) {
			key := strings.NewReplacer("/", "--").Replace(rel)
			data[key] = string(content)
			items = append(items, map[string]any{"key": key, "path": rel})
		}
		body, err := os.ReadFile(file) //nolint:gosec // G304: the policy the user named
		if err != nil {
			return nil, nil, nil, nil, err
		}
		base := filepath.Base(file)
		add(base, body)
		for _, k := range p.Keys {
			if k.File == "" {
				continue
			}
			rel := filepath.ToSlash(filepath.Clean(k.File))
			if filepath.IsAbs(k.File) || rel == ".." || strings.HasPrefix(rel, "../") {
				return nil, nil, nil, nil, fmt.Errorf("%w: policy %s: the key file %s must be inside the policy's directory to be shipped with it", ErrManifests, p.Name, k.File)
			}
			content, err := os.ReadFile(filepath.Join(p.Dir, rel)) //nolint:gosec // G304: a key the policy names
			if err != nil {
				return nil, nil, nil, nil, err
			}
			add(rel, content)
		}
		name := o.Name + "-policy-" + p.Name
		cmsOut = append(cmsOut, map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(name, true), "data": data})
		vol := "policy-" + p.Name
		sort.Slice(items, func(i, j int) bool {
			return items[i].(map[string]any)["path"].(string) < items[j].(map[string]any)["path"].(string)
		})
		vols = append(vols, map[string]any{"name": vol, "configMap": map[string]any{"name": name, "items": items}})
		dir := policyMount + "/" + p.Name
		mounts = append(mounts, map[string]any{"name": vol, "mountPath": dir, "readOnly": true})
		args = append(args, "--policy="+dir+"/"+base)
	}
	objs := make([]any, 0, len(cmsOut))
	objs = append(objs, cmsOut...)
	return objs, mounts, vols, args, nil
}

func deployment(o ManifestOptions, meta func(string, bool) map[string]any, labels map[string]any, tlsSecret string, mounts, vols []any, policyArgs []string) map[string]any {
	args := []any{"admission", "serve", fmt.Sprintf("--addr=:%d", servePort), "--tls-cert=" + tlsMount + "/tls.crt", "--tls-key=" + tlsMount + "/tls.key"}
	for _, a := range policyArgs {
		args = append(args, a)
	}
	if o.Mutate {
		args = append(args, "--mutate")
	}
	for _, a := range o.Args {
		args = append(args, a)
	}
	probe := func(path string) map[string]any {
		return map[string]any{"httpGet": map[string]any{"path": path, "port": "https", "scheme": "HTTPS"}, "periodSeconds": 5}
	}
	c := map[string]any{
		"name": "webhook", "image": o.Image, "args": args,
		"ports":          []any{map[string]any{"name": "https", "containerPort": servePort, "protocol": "TCP"}},
		"readinessProbe": probe("/readyz"),
		"livenessProbe":  probe("/healthz"),
		"resources": map[string]any{
			"requests": map[string]any{"cpu": "100m", "memory": "64Mi"},
			"limits":   map[string]any{"memory": "512Mi"},
		},
		"securityContext": map[string]any{"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
			"capabilities": map[string]any{"drop": []any{"ALL"}}},
		"volumeMounts": append([]any{map[string]any{"name": "tls", "mountPath": tlsMount, "readOnly": true}}, mounts...),
	}
	if o.CatalogSecret != "" {
		c["env"] = []any{map[string]any{"name": "INGOT_CATALOG", "valueFrom": map[string]any{
			"secretKeyRef": map[string]any{"name": o.CatalogSecret, "key": "dsn"}}}}
	}
	return map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(o.Name, true),
		"spec": map[string]any{
			"replicas": o.Replicas,
			"selector": map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/name": o.Name}},
			"template": map[string]any{
				"metadata": map[string]any{"labels": labels},
				"spec": map[string]any{
					"serviceAccountName": o.Name,
					"securityContext": map[string]any{"runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532,
						"seccompProfile": map[string]any{"type": "RuntimeDefault"}},
					"containers": []any{c},
					"volumes":    append([]any{map[string]any{"name": "tls", "secret": map[string]any{"secretName": tlsSecret}}}, vols...),
				},
			},
		},
	}
}

// webhookRules are the resources whose images the webhook checks, on CREATE and UPDATE: what Images
// knows how to read, and the ephemeral containers subresource, through which a container is added to
// a running Pod.
func webhookRules() []any {
	byGroup := map[string][]string{}
	for _, k := range Kinds() {
		byGroup[k.Group] = append(byGroup[k.Group], strings.ToLower(k.Kind)+"s")
	}
	byGroup[""] = append(byGroup[""], "pods/ephemeralcontainers")
	groups := make([]string, 0, len(byGroup))
	for g := range byGroup {
		groups = append(groups, g)
	}
	slices.Sort(groups)
	var rules []any
	for _, g := range groups {
		res := byGroup[g]
		slices.Sort(res)
		rules = append(rules, map[string]any{"apiGroups": []any{g}, "apiVersions": []any{"v1"}, "operations": []any{"CREATE", "UPDATE"},
			"resources": toAny(res), "scope": "Namespaced"})
	}
	return rules
}

func webhookConfiguration(o ManifestOptions, meta func(string, bool) map[string]any, kind, name, path string) map[string]any {
	client := map[string]any{"caBundle": base64.StdEncoding.EncodeToString(o.CABundle)}
	if o.URL != "" {
		client["url"] = strings.TrimSuffix(o.URL, "/") + path
	} else {
		client["service"] = map[string]any{"namespace": o.Namespace, "name": o.Name, "path": path, "port": 443}
	}
	skip := append([]string{o.Namespace}, o.SkipNamespaces...)
	wh := map[string]any{
		"name":                    name,
		"admissionReviewVersions": []any{"v1"},
		"sideEffects":             "None",
		"failurePolicy":           "Fail",
		"matchPolicy":             "Equivalent",
		"timeoutSeconds":          o.TimeoutSeconds,
		"clientConfig":            client,
		"rules":                   webhookRules(),
		// kubernetes.io/metadata.name is set by the API server to the namespace's name and cannot be
		// changed: unlike any other label, no one can use it to exempt a namespace.
		"namespaceSelector": map[string]any{"matchExpressions": []any{map[string]any{
			"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": toAny(skip)}}},
	}
	if kind == "MutatingWebhookConfiguration" {
		wh["reinvocationPolicy"] = "IfNeeded"
	}
	return map[string]any{"apiVersion": "admissionregistration.k8s.io/v1", "kind": kind, "metadata": meta(o.Name, false), "webhooks": []any{wh}}
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
