package admission

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// manifestsFor renders the manifests of a deployment with the world's policy.
func manifestsFor(t *testing.T, w *world, mutate bool) ([]byte, *Certs) {
	t.Helper()
	certs, err := NewCerts(CertOptions{Service: "ingot-admission", Namespace: "ingot-system"})
	if err != nil {
		t.Fatal(err)
	}
	data, err := Manifests(ManifestOptions{Image: "registry.example.com/ingot:1.0", CABundle: certs.CACert, TLSCert: certs.Cert, TLSKey: certs.Key,
		Policies: []string{w.policy}, Mutate: mutate, CatalogSecret: "ingot-catalog", SkipNamespaces: []string{"kube-system"}})
	if err != nil {
		t.Fatal(err)
	}
	return data, certs
}

// TestManifests: every rendered object decodes strictly into k8s.io/api's type for its kind, and the
// webhook configurations fail closed, within the API server's timeout, for every kind and the
// ephemeral containers subresource, skipping only the webhook's namespace (and those asked) by the
// label the API server sets; the Deployment mounts the policy with its key where its arguments say.
func TestManifests(t *testing.T) {
	w := newWorld(t)
	data, certs := manifestsFor(t, w, true)
	kinds := map[string]int{}
	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	var mwc admissionregistrationv1.MutatingWebhookConfiguration
	var dep appsv1.Deployment
	var cm corev1.ConfigMap
	var secret corev1.Secret
	for _, doc := range bytes.Split(data, []byte("\n---\n")) {
		var meta struct{ Kind string }
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatal(err)
		}
		kinds[meta.Kind]++
		var into any
		switch meta.Kind {
		case "Namespace":
			into = &corev1.Namespace{}
		case "ServiceAccount":
			into = &corev1.ServiceAccount{}
		case "ConfigMap":
			into = &cm
		case "Secret":
			into = &secret
		case "Deployment":
			into = &dep
		case "Service":
			into = &corev1.Service{}
		case "ValidatingWebhookConfiguration":
			into = &vwc
		case "MutatingWebhookConfiguration":
			into = &mwc
		default:
			t.Fatalf("unexpected kind %q", meta.Kind)
		}
		if err := yaml.UnmarshalStrict(doc, into); err != nil {
			t.Errorf("%s does not decode strictly: %v\n%s", meta.Kind, err, doc)
		}
	}
	for _, k := range []string{"Namespace", "ServiceAccount", "ConfigMap", "Secret", "Deployment", "Service", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"} {
		if kinds[k] != 1 {
			t.Errorf("%d %s objects, want 1", kinds[k], k)
		}
	}
	check := func(name string, wh admissionregistrationv1.ValidatingWebhook, path string) {
		switch {
		case wh.FailurePolicy == nil || *wh.FailurePolicy != admissionregistrationv1.Fail:
			t.Errorf("%s: failurePolicy %v", name, wh.FailurePolicy)
		case wh.TimeoutSeconds == nil || *wh.TimeoutSeconds > 10:
			t.Errorf("%s: timeoutSeconds %v", name, wh.TimeoutSeconds)
		case wh.SideEffects == nil || *wh.SideEffects != admissionregistrationv1.SideEffectClassNone:
			t.Errorf("%s: sideEffects %v", name, wh.SideEffects)
		case !bytes.Equal(wh.ClientConfig.CABundle, certs.CACert):
			t.Errorf("%s: caBundle is not the CA", name)
		case wh.ClientConfig.Service == nil || wh.ClientConfig.Service.Namespace != "ingot-system" || *wh.ClientConfig.Service.Path != path:
			t.Errorf("%s: clientConfig %+v", name, wh.ClientConfig)
		}
		sel := wh.NamespaceSelector
		if sel == nil || len(sel.MatchLabels) != 0 || len(sel.MatchExpressions) != 1 || sel.MatchExpressions[0].Key != "kubernetes.io/metadata.name" ||
			sel.MatchExpressions[0].Operator != "NotIn" || !slices.Equal(sel.MatchExpressions[0].Values, []string{"ingot-system", "kube-system"}) {
			t.Errorf("%s: namespaceSelector %+v", name, sel)
		}
		var resources []string
		for _, r := range wh.Rules {
			if !slices.Equal(r.Operations, []admissionregistrationv1.OperationType{"CREATE", "UPDATE"}) {
				t.Errorf("%s: operations %v", name, r.Operations)
			}
			for _, res := range r.Resources {
				resources = append(resources, r.APIGroups[0]+"/"+res)
			}
		}
		slices.Sort(resources)
		want := []string{"/pods", "/pods/ephemeralcontainers", "/replicationcontrollers", "apps/daemonsets", "apps/deployments",
			"apps/replicasets", "apps/statefulsets", "batch/cronjobs", "batch/jobs"}
		if !slices.Equal(resources, want) {
			t.Errorf("%s: resources %v, want %v", name, resources, want)
		}
	}
	check("validating", vwc.Webhooks[0], "/validate")
	m := mwc.Webhooks[0]
	check("mutating", admissionregistrationv1.ValidatingWebhook{FailurePolicy: m.FailurePolicy, TimeoutSeconds: m.TimeoutSeconds, SideEffects: m.SideEffects,
		ClientConfig: m.ClientConfig, NamespaceSelector: m.NamespaceSelector, Rules: m.Rules}, "/mutate")

	// The Deployment runs the policy it ships, with its key, and the serving certificate.
	c := dep.Spec.Template.Spec.Containers[0]
	args := strings.Join(c.Args, " ")
	for _, want := range []string{"admission serve", "--policy=/etc/ingot/policies/gold/gold.yaml", "--tls-cert=/etc/ingot/tls/tls.crt", "--mutate"} {
		if !strings.Contains(args, want) {
			t.Errorf("args %q lack %q", args, want)
		}
	}
	if cm.Data["gold.pub"] != string(w.gold.PEM) || !strings.Contains(cm.Data["gold.yaml"], "name: gold") {
		t.Errorf("policy ConfigMap %v", cm.Data)
	}
	if string(secret.Data["tls.crt"]) != string(certs.Cert) || secret.Type != corev1.SecretTypeTLS {
		t.Error("TLS secret")
	}
	if *dep.Spec.Replicas < 2 || c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.Env[0].ValueFrom.SecretKeyRef.Name != "ingot-catalog" {
		t.Errorf("deployment %+v", dep.Spec)
	}
	if sc := c.SecurityContext; sc == nil || *sc.ReadOnlyRootFilesystem != true || *sc.AllowPrivilegeEscalation {
		t.Errorf("security context %+v", sc)
	}

	// Bad options are refused.
	for _, o := range []ManifestOptions{
		{Image: "x", Policies: []string{w.policy}, CatalogSecret: "c"},                                             // no CA
		{CABundle: certs.CACert, Policies: []string{w.policy}, CatalogSecret: "c"},                                 // no image
		{Image: "x", CABundle: certs.CACert, Policies: []string{w.policy}, TimeoutSeconds: 30, CatalogSecret: "c"}, // timeout over 10
		{Image: "x", CABundle: certs.CACert, Policies: []string{w.policy}, TLSCert: certs.Cert, CatalogSecret: "c"},
	} {
		if _, err := Manifests(o); err == nil {
			t.Errorf("%+v rendered", o)
		}
	}
	outside := filepath.Join(t.TempDir(), "p.yaml")
	if err := writeFile(outside, strings.Replace(readFile(t, w.policy), "file: gold.pub", "file: "+filepath.Join(w.dir, "gold.pub"), 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := Manifests(ManifestOptions{Image: "x", CABundle: certs.CACert, Policies: []string{w.policy}}); err == nil || !strings.Contains(err.Error(), "--catalog-secret") {
		t.Errorf("a policy that reads the catalog without a shared catalog: %v", err)
	}
	if _, err := Manifests(ManifestOptions{Image: "x", CABundle: certs.CACert, Policies: []string{outside}, CatalogSecret: "c"}); err == nil {
		t.Error("a policy whose key is outside its directory rendered: the key would not be shipped")
	}
}

// TestCerts: the serving certificate is valid for the Service's names and the extra hosts, and chains
// to the CA.
func TestCerts(t *testing.T) {
	c, err := NewCerts(CertOptions{Service: "ingot-admission", Namespace: "ingot-system", Hosts: []string{"127.0.0.1", "webhook.example.com"}, Validity: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(c.CACert) {
		t.Fatal("CA")
	}
	block, _ := pem.Decode(c.Cert)
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"ingot-admission.ingot-system.svc", "ingot-admission.ingot-system.svc.cluster.local", "127.0.0.1", "webhook.example.com"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: pool}); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "other.example.com", Roots: pool}); err == nil {
		t.Error("valid for a name it was not made for")
	}
	if _, err := tls.X509KeyPair(c.Cert, c.Key); err != nil {
		t.Error(err)
	}
	if leaf.NotAfter.Sub(leaf.NotBefore) > 25*time.Hour {
		t.Errorf("validity %s", leaf.NotAfter.Sub(leaf.NotBefore))
	}
}

// TestBinaryLinksNoKubernetesLibraries: k8s.io/api is for tests only; the ingot binary links no
// Kubernetes library (client-go, apimachinery, controller-runtime).
func TestBinaryLinksNoKubernetesLibraries(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/ingot-build/ingot/cmd/ingot").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "k8s.io/") || strings.HasPrefix(pkg, "sigs.k8s.io/controller-runtime") {
			t.Errorf("the binary links %s", pkg)
		}
	}
	if !strings.Contains(string(out), "github.com/ingot-build/ingot/pkg/admission") {
		t.Error("the binary does not link pkg/admission: the check proves nothing")
	}
}
