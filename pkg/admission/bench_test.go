package admission

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"testing"
)

// BenchmarkValidateWarm is the webhook's own work on a review of a cached image: decoding, the
// decision from the caches, the response, the metrics and the decision log.
func BenchmarkValidateWarm(b *testing.B) {
	w := newWorld(b)
	s := w.service(b, Options{Metrics: NewMetrics(), Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	body := []byte(fixtureBytes(b, "Deployment-create.json", w.digests["signed"].String()))
	ctx := context.Background()
	rev, _ := DecodeReview(body)
	if !s.Webhook.Validate(ctx, rev.Request).Allowed() {
		b.Fatal("denied")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rev, err := DecodeReview(body)
		if err != nil {
			b.Fatal(err)
		}
		out := s.Webhook.Validate(ctx, rev.Request)
		if _, err := json.Marshal(out.Review); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkServeWarm is a warm review through the HTTPS server, client and server in one process.
func BenchmarkServeWarm(b *testing.B) {
	w := newWorld(b)
	m := NewMetrics()
	s := w.service(b, Options{Metrics: m, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	url, ca := tlsServer(b, (&Server{Webhook: s.Webhook, Metrics: m}).Handler())
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, MaxIdleConnsPerHost: 64}}
	body := []byte(fixtureBytes(b, "Deployment-create.json", w.digests["signed"].String()))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Post(url+"/validate?timeout=10s", "application/json", bytes.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
		}
	})
}
