package host

import (
	"bytes"
	"crypto/sha256"
	"testing"
	"time"
)

// TestHashSink: what the sink hashes behind the walk is what was written, in order, whether the
// writes are copied, handed over or pooled, and a write larger than its in-flight bound still goes
// through (the bound waits for the hashing, it must not wait forever).
func TestHashSink(t *testing.T) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		s := newHashSink()
		var all bytes.Buffer
		write := func(p []byte) {
			all.Write(p)
			if _, err := s.Write(p); err != nil {
				t.Error(err)
			}
		}
		scratch := []byte("header block")
		write(scratch)
		copy(scratch, "overwritten!") // a copied write must not see this
		big := bytes.Repeat([]byte("owned "), (maxInflight+1<<20)/6)
		s.owned = true
		write(big)
		write(big[:100])
		s.owned = false
		for i := range 3 * sinkBuffers {
			buf := s.buffer()
			n := copy(buf, bytes.Repeat([]byte{byte('a' + i)}, 1000+i))
			s.pooled = true
			write(buf[:n])
			s.pooled = false
		}
		if got, want := s.sum(), sha256.Sum256(all.Bytes()); !bytes.Equal(got, want[:]) {
			t.Errorf("sink hashed %x, the bytes written hash to %x", got, want)
		}
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("the hash sink is stuck")
	}
}
