package admission

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
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
