package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"github.com/ingot-build/ingot/internal/safefile"
	"github.com/ingot-build/ingot/pkg/admission"
	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/fault"
	"github.com/ingot-build/ingot/pkg/policy"
)

// deniedError is what the offline admission tools return when the webhook would deny: exit code 3,
// like findings at --fail-on, so CI can tell "denied" from "could not decide".
type deniedError struct{ msg string }

func (e *deniedError) Error() string { return e.msg }

func newAdmissionCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "admission",
		Short: "Kubernetes admission webhook: only signed, current, unrevoked gold runs",
		Long: `A Kubernetes validating admission webhook, and optionally a mutating one, that decides every image a
workload would run (containers, init and ephemeral containers, image volumes; Pods and the pod
templates of Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs, CronJobs and
ReplicationControllers) under admission policies (see ingot policy).`,
	}
	cmd.AddCommand(newAdmissionServeCmd(g), newAdmissionManifestsCmd(), newAdmissionCertsCmd(), newAdmissionReviewCmd(g))
	return cmd
}

// webhookFlags are what serve and review share: the policies and the cache.
type webhookFlags struct {
	policies                          []string
	cacheTTL, negativeTTL, catalogTTL time.Duration
	poll                              time.Duration
}

func (f *webhookFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&f.policies, "policy", nil, "policy file (repeat for several: each decides in its own mode)")
}

func (f *webhookFlags) addCache(cmd *cobra.Command) {
	cmd.Flags().DurationVar(&f.cacheTTL, "cache-ttl", admission.DefaultTTL, "how long a passing registry verdict is kept (and served while the registry is down)")
	cmd.Flags().DurationVar(&f.negativeTTL, "negative-ttl", admission.DefaultNegativeTTL, "how long a failing registry verdict is kept")
	cmd.Flags().DurationVar(&f.catalogTTL, "catalog-ttl", admission.DefaultCatalogTTL, "how long a catalog record is kept (status changes are followed at once)")
	cmd.Flags().DurationVar(&f.poll, "poll", time.Second, "how often the catalog's events are read")
}

// load reads the policies.
func (f *webhookFlags) load() ([]*policy.Policy, error) {
	if len(f.policies) == 0 {
		return nil, usageErrorf("--policy is required")
	}
	var out []*policy.Policy
	for _, file := range f.policies {
		p, err := policy.Load(file)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// openCatalog opens the data directory's catalog when a policy reads it; closer releases it.
func openCatalog(ctx context.Context, g *globalFlags, ps []*policy.Policy) (catalog.Catalog, func(), error) {
	needed := false
	for _, p := range ps {
		needed = needed || p.NeedsCatalog()
	}
	if !needed {
		return nil, func() {}, nil
	}
	env, err := g.env()
	if err != nil {
		return nil, nil, err
	}
	cat, err := env.Store().Catalog(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("opening the catalog (a policy requires it): %w", err)
	}
	return cat, func() { _ = cat.Close() }, nil
}

func newAdmissionServeCmd(g *globalFlags) *cobra.Command {
	var (
		wf                webhookFlags
		addr, metricsAddr string
		certFile, keyFile string
		mutate, noCache   bool
		maxWait           time.Duration
	)
	cmd := &cobra.Command{
		Use:   "serve --policy FILE --tls-cert FILE --tls-key FILE",
		Short: "Serve the admission webhook over HTTPS",
		Long: `Serves POST /validate (and /mutate with --mutate) for admission.k8s.io/v1 AdmissionReviews over
HTTPS, with GET /healthz, /readyz and /metrics (Prometheus). Every review is logged as one JSON line
on standard error: the request, each image with its digest and each policy's decision and reasons.

Validation: every image a CREATE or UPDATE would start (on UPDATE, the images it adds or changes) is
decided by every policy that governs the namespace. A failed requirement of an enforcing policy
denies the request, naming the image, the field and the requirement; a warning policy's becomes a
warning; an auditing policy's an audit annotation. Tags are resolved on every review; verdicts are
kept by digest (--cache-ttl, --negative-ttl), and concurrent reviews of one image verify it once.
A registry that fails or throttles leaves nothing known: the image is denied saying so, unless its
verdict is still cached. Work is bounded by the API server's timeout, retries included.

Mutation (--mutate): each governed image named by a tag only is pinned to the digest it points to
now (registry/app:1.0 becomes registry/app:1.0@sha256:...), so the kubelet runs what was checked.

When a policy reads the catalog, its events are followed (--poll): a revoked version is denied by
every replica within seconds, without a restart; /readyz fails while they cannot be read.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if certFile == "" || keyFile == "" {
				return usageErrorf("--tls-cert and --tls-key are required (ingot admission certs makes development ones)")
			}
			ps, err := wf.load()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			cat, closeCat, err := openCatalog(ctx, g, ps)
			if err != nil {
				return err
			}
			defer closeCat()
			tuneGC()
			logger := slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), nil))
			metrics := admission.NewMetrics()
			o := admission.Options{
				Policies: ps, Logger: logger, Metrics: metrics, PollInterval: wf.poll, NoCache: noCache,
				Remote: remoteFor(g),
				Cache:  admission.CacheOptions{TTL: wf.cacheTTL, NegativeTTL: wf.negativeTTL, CatalogTTL: wf.catalogTTL},
			}
			if cat != nil {
				o.Catalog, o.Events = policy.CatalogRecords{Versions: cat}, cat
			}
			svc, err := admission.New(ctx, o)
			if err != nil {
				return err
			}
			srv := &admission.Server{Webhook: svc.Webhook, Mutate: mutate, Ready: svc.Ready, Metrics: metrics, Logger: logger, MaxWait: maxWait}
			l, err := listen(ctx, addr)
			if err != nil {
				return err
			}
			go svc.Run(ctx)
			errs := make(chan error, 2)
			go func() { errs <- srv.ServeTLS(ctx, l, certFile, keyFile) }()
			if metricsAddr != "" {
				ml, err := listen(ctx, metricsAddr)
				if err != nil {
					return err
				}
				go func() { errs <- srv.ServeMetrics(ctx, ml) }()
			}
			attrs := []any{"addr", l.Addr().String(), "policies", wf.policies, "mutate", mutate}
			if svc.Follower != nil {
				attrs = append(attrs, "catalogEventSeq", svc.Follower.Seq())
			}
			logger.Info("serving", attrs...)
			err = <-errs
			if ctx.Err() != nil {
				return nil // stopped by a signal: the server drained
			}
			return err
		},
	}
	wf.add(cmd)
	wf.addCache(cmd)
	cmd.Flags().StringVar(&addr, "addr", ":8443", "address to serve HTTPS on")
	cmd.Flags().StringVar(&metricsAddr, "metrics-addr", "", "also serve /metrics, /healthz and /readyz over plain HTTP here")
	cmd.Flags().StringVar(&certFile, "tls-cert", "", "serving certificate (PEM; read again when it changes)")
	cmd.Flags().StringVar(&keyFile, "tls-key", "", "serving certificate's private key (PEM)")
	cmd.Flags().BoolVar(&mutate, "mutate", false, "also serve /mutate, which pins tags to digests")
	cmd.Flags().BoolVar(&noCache, "no-cache", false, "verify every review from scratch: no verdict or catalog cache (for measurements)")
	cmd.Flags().DurationVar(&maxWait, "max-wait", admission.DefaultMaxWait, "the most a review may take (the API server's timeout lowers it)")
	return cmd
}

// tuneGC trades memory for latency, unless GOGC says otherwise: the webhook keeps little (its caches)
// and makes a few kilobytes of garbage per review, so with Go's default the collector runs hundreds
// of times a second at a thousand reviews per second, and its pauses and assists are the tail of the
// latency. A larger target heap, bounded by a soft memory limit (GOMEMLIMIT when set), collects less
// often.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(384 << 20)
	}
}

func listen(ctx context.Context, addr string) (net.Listener, error) {
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fault.Errorf(fault.Invalid, "listening on %s: %w", addr, err)
	}
	return l, nil
}

func newAdmissionReviewCmd(g *globalFlags) *cobra.Command {
	var (
		wf     webhookFlags
		mutate bool
	)
	cmd := &cobra.Command{
		Use:   "review REVIEW.json --policy FILE",
		Short: "Answer an AdmissionReview as the webhook would",
		Long: `Reads an admission.k8s.io/v1 AdmissionReview (as kube-apiserver sends it; "-" for standard input) and
prints the AdmissionReview the webhook would answer, deciding exactly as ingot admission serve does
(the same policies, registries and catalog; nothing cached). With --mutate, the mutating webhook's
answer. Exit code 3 when the request would be denied.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ps, err := wf.load()
			if err != nil {
				return err
			}
			data, err := readInput(cmd, args[0])
			if err != nil {
				return err
			}
			rev, err := admission.DecodeReview(data)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			cat, closeCat, err := openCatalog(ctx, g, ps)
			if err != nil {
				return err
			}
			defer closeCat()
			svc, err := offlineService(ctx, g, ps, cat)
			if err != nil {
				return err
			}
			out := svc.Webhook.Validate(ctx, rev.Request)
			if mutate {
				out = svc.Webhook.Mutate(ctx, rev.Request)
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			if err := enc.Encode(out.Review); err != nil {
				return err
			}
			if r := out.Review.Response; !r.Allowed {
				return &deniedError{msg: r.Status.Message}
			}
			return nil
		},
	}
	wf.add(cmd)
	cmd.Flags().BoolVar(&mutate, "mutate", false, "answer as the mutating webhook (pinning tags to digests)")
	return cmd
}

// offlineService is the webhook the offline tools run: the same decisions, nothing cached, the
// catalog read for every image.
func offlineService(ctx context.Context, g *globalFlags, ps []*policy.Policy, cat catalog.Catalog) (*admission.Service, error) {
	o := admission.Options{Policies: ps, Remote: remoteFor(g), NoCache: true}
	if cat != nil {
		o.Catalog = policy.CatalogRecords{Versions: cat}
	}
	return admission.New(ctx, o)
}

func readInput(cmd *cobra.Command, file string) ([]byte, error) {
	if file == "-" {
		return io.ReadAll(cmd.InOrStdin())
	}
	data, err := os.ReadFile(file) //nolint:gosec // G304: the file the user named
	if err != nil {
		return nil, fault.Errorf(fault.Invalid, "reading %s: %w", file, err)
	}
	return data, nil
}

func newAdmissionManifestsCmd() *cobra.Command {
	var (
		o               admission.ManifestOptions
		caFile          string
		tlsCert, tlsKey string
	)
	cmd := &cobra.Command{
		Use:   "manifests --image IMAGE --ca FILE --policy FILE",
		Short: "Print the Kubernetes manifests that run and register the webhook",
		Long: `Prints YAML for the Namespace, ServiceAccount, a ConfigMap per policy (with the key files it names,
which must lie in its directory), the TLS Secret (with --tls-cert and --tls-key), the Deployment
(--replicas, 2 by default), the Service, and the ValidatingWebhookConfiguration (and, with --mutate,
the MutatingWebhookConfiguration): caBundle from --ca, failurePolicy Fail, timeoutSeconds at most 10,
CREATE and UPDATE of every workload kind and of pods/ephemeralcontainers, and a namespaceSelector on
the kubernetes.io/metadata.name label (set by the API server, so no one can forge it) that skips the
webhook's own namespace and any --skip-namespace. With --url the webhook configurations call a webhook
outside the cluster and nothing else is printed.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if caFile == "" {
				return usageErrorf("--ca is required: the CA that signed the serving certificate (ingot admission certs writes ca.crt)")
			}
			if o.CABundle, err = readInput(cmd, caFile); err != nil {
				return err
			}
			if tlsCert != "" || tlsKey != "" {
				if o.TLSCert, err = readInput(cmd, tlsCert); err != nil {
					return err
				}
				if o.TLSKey, err = readInput(cmd, tlsKey); err != nil {
					return err
				}
			}
			data, err := admission.Manifests(o)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(data)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Image, "image", "", "the ingot image to run (its entrypoint must be ingot)")
	f.StringVar(&o.Name, "name", "ingot-admission", "name of every object")
	f.StringVarP(&o.Namespace, "namespace", "n", "ingot-system", "namespace the webhook runs in (never checked by it)")
	f.IntVar(&o.Replicas, "replicas", 2, "webhook replicas")
	f.StringVar(&caFile, "ca", "", "PEM CA certificate that signed the serving certificate (the caBundle)")
	f.StringVar(&tlsCert, "tls-cert", "", "serving certificate, rendered as the TLS Secret")
	f.StringVar(&tlsKey, "tls-key", "", "its private key")
	f.StringArrayVar(&o.Policies, "policy", nil, "policy file (repeat for several)")
	f.BoolVar(&o.Mutate, "mutate", false, "add the mutating webhook that pins tags to digests")
	f.IntVar(&o.TimeoutSeconds, "timeout", 10, "seconds the API server waits for the webhook (1 to 10)")
	f.StringArrayVar(&o.SkipNamespaces, "skip-namespace", nil, "another namespace the webhook is not called for, e.g. kube-system (repeat)")
	f.StringVar(&o.CatalogSecret, "catalog-secret", "", "Secret whose key dsn is the catalog's DSN (INGOT_CATALOG), for policies that read the catalog")
	f.StringVar(&o.URL, "url", "", "base URL of a webhook outside the cluster: only the webhook configurations are printed")
	f.StringArrayVar(&o.Args, "arg", nil, "another argument for ingot admission serve (repeat)")
	return cmd
}

func newAdmissionCertsCmd() *cobra.Command {
	var (
		o     admission.CertOptions
		dir   string
		force bool
	)
	cmd := &cobra.Command{
		Use:   "certs --dir DIR",
		Short: "Write a development CA and serving certificate for the webhook",
		Long: `Writes ca.crt, ca.key, tls.crt and tls.key (ECDSA P-256) to --dir: a CA, and a serving certificate
it signs for the Service SERVICE.NAMESPACE.svc (and its other cluster names) and any --host (a DNS
name or an IP address, such as 127.0.0.1 for a webhook called by URL). Give ca.crt to ingot admission
manifests --ca and tls.crt and tls.key to ingot admission serve. For production, use the cluster's CA
or cert-manager: the webhook reloads its certificate files when they change.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return usageErrorf("--dir is required")
			}
			files := []string{"ca.crt", "ca.key", "tls.crt", "tls.key"}
			if !force {
				for _, f := range files {
					if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
						return usageErrorf("%s exists (--force replaces it)", filepath.Join(dir, f))
					}
				}
			}
			c, err := admission.NewCerts(o)
			if err != nil {
				return fault.Wrap(fault.Invalid, err)
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			for i, data := range [][]byte{c.CACert, c.CAKey, c.Cert, c.Key} {
				if err := safefile.Write(filepath.Join(dir, files[i]), data, 0o600); err != nil {
					return err
				}
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s: a CA and a serving certificate for %v\n", dir, append(o.DNSNames(), o.Hosts...))
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "directory to write the files to")
	cmd.Flags().StringVar(&o.Service, "service", "ingot-admission", "the webhook's Service")
	cmd.Flags().StringVarP(&o.Namespace, "namespace", "n", "ingot-system", "the Service's namespace")
	cmd.Flags().StringArrayVar(&o.Hosts, "host", nil, "another DNS name or IP address the certificate is for (repeat)")
	cmd.Flags().DurationVar(&o.Validity, "validity", 365*24*time.Hour, "how long the certificates are valid")
	cmd.Flags().BoolVar(&force, "force", false, "replace existing files")
	return cmd
}
