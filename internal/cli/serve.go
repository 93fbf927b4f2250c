package cli

import (
	"context"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/spf13/cobra"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/fault"
	"github.com/ingot-build/ingot/pkg/rebuild"
	"github.com/ingot-build/ingot/pkg/server"
)

func newServeCmd(g *globalFlags) *cobra.Command {
	var listen, tlsCert, tlsKey, logFormat string
	var metricsToken bool
	var shutdown, every time.Duration
	var rf rebuildFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the catalog API over HTTP: versions, evidence, queries, status changes, events",
		Long: `Serve the catalog (the data directory's, or the one --catalog names) as a JSON API: images and
versions with their evidence, SBOMs and provenance, history, diffs, the exposure and findings
queries, status changes, the event sequence followers poll (GET /v1/events?after=N&wait=30s) and
spec registration. The routes are described by the OpenAPI document at /openapi.yaml.

Every /v1 route needs a bearer token made with ingot token create: read scope for every GET, write
scope to change anything (the token's name is the actor in the history). /healthz, /readyz,
/metrics (Prometheus) and /openapi.yaml are open; --metrics-token puts /metrics behind a token too.

One JSON log line per request goes to stderr (--log-format text for people). On SIGTERM or
interrupt the server stops accepting connections and lets the requests in flight finish, for up to
--shutdown-timeout. --tls-cert and --tls-key serve HTTPS.

The same process runs the rebuild workers and the scheduler, as ingot worker does (see ingot worker
--help): a cycle every --every, rebuild requests (POST /v1/specs/{name}/rebuild) and re-scans; GET
/v1/sla serves the patch SLA report (as ingot sla -o json). At shutdown the running jobs are handed
back to the queue within --shutdown-timeout.

` + publishHelp,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := newLogger(cmd.ErrOrStderr(), logFormat)
			if err != nil {
				return err
			}
			if (tlsCert == "") != (tlsKey == "") {
				return usageErrorf("--tls-cert and --tls-key go together")
			}
			if shutdown <= 0 {
				return usageErrorf("--shutdown-timeout %s: want a positive duration", shutdown)
			}
			if every <= 0 {
				return usageErrorf("--every %s: want a positive duration", every)
			}
			ctx := cmd.Context()
			env, err := g.writeEnv(cmd)
			if err != nil {
				return err
			}
			return g.withCatalog(ctx, func(c catalog.Catalog) error {
				cfg, err := rf.config(g, cmd, env, c)
				if err != nil {
					return err
				}
				cfg.Log, cfg.Schedule, cfg.Every = logger, true, every
				// Running jobs are handed back before the server's own shutdown budget ends.
				cfg.StopTimeout = max(shutdown-5*time.Second, shutdown/2)
				queue, err := rebuild.OpenQueue(ctx, env.Store())
				if err != nil {
					return err
				}
				defer func() { _ = queue.Close() }() // the server has stopped
				srv, err := server.New(server.Config{
					Catalog:         c,
					Logger:          logger,
					MetricsAuth:     metricsToken,
					TLS:             server.TLSFiles{CertFile: tlsCert, KeyFile: tlsKey},
					ShutdownTimeout: shutdown,
					Hooks:           rebuildHooks(cfg, queue),
				})
				if err != nil {
					return err
				}
				if tokens, err := c.ListTokens(ctx); err == nil && !anyActive(tokens) {
					logger.Warn("no tokens: every /v1 request will be refused; create one with ingot token create NAME --scope read|write")
				}
				ln, err := net.Listen("tcp", listen)
				if err != nil {
					return fault.Errorf(fault.Unavailable, "listening on %s: %w", listen, err)
				}
				return srv.Serve(ctx, ln)
			})
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "address to listen on (:8080 for every interface)")
	cmd.Flags().StringVar(&tlsCert, "tls-cert", "", "serve HTTPS with this PEM certificate (chain) file")
	cmd.Flags().StringVar(&tlsKey, "tls-key", "", "the PEM private key of --tls-cert")
	cmd.Flags().BoolVar(&metricsToken, "metrics-token", false, "require a token (any scope) for /metrics")
	cmd.Flags().DurationVar(&shutdown, "shutdown-timeout", server.DefaultShutdownTimeout, "how long requests in flight may take to finish at shutdown")
	cmd.Flags().StringVar(&logFormat, "log-format", "json", "log lines as json or text")
	cmd.Flags().DurationVar(&every, "every", rebuild.DefaultEvery, "how often the scheduled rebuild cycle runs")
	rf.add(cmd, true)
	return cmd
}

// rebuildHooks plug pkg/rebuild into the server: its scheduler and workers run beside the API,
// rebuild requests go to its queue, and the SLA report is its.
func rebuildHooks(cfg rebuild.Config, queue *rebuild.Queue) server.Hooks {
	return server.Hooks{
		Background: func(ctx context.Context) error { return rebuild.Run(ctx, cfg) },
		Rebuild: func(ctx context.Context, r server.RebuildRequest) (server.RebuildJob, error) {
			reason := r.Reason
			if r.Actor != "" {
				reason = "requested by " + r.Actor + ": " + reason
			}
			q, err := queue.RequestRebuild(ctx, cfg.Catalog, r.Name, reason)
			return server.RebuildJob{ID: q.JobID, Name: r.Name, Duplicate: q.Duplicate}, err
		},
		SLA: func(ctx context.Context, q server.SLAQuery) (any, error) {
			return rebuild.SLA(ctx, cfg.Catalog, rebuild.SLAOptions{Image: q.Image})
		},
	}
}

// newLogger writes structured log lines to w.
func newLogger(w io.Writer, format string) (*slog.Logger, error) {
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, nil)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, nil)), nil
	}
	return nil, usageErrorf("--log-format %q: want json or text", format)
}

func anyActive(tokens []catalog.Token) bool {
	for _, t := range tokens {
		if !t.Revoked {
			return true
		}
	}
	return false
}
