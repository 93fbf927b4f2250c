package fault_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/ingot-build/ingot/pkg/fault"
)

func TestKinds(t *testing.T) {
	errBadSpec := fault.New(fault.Invalid, "invalid spec")
	errOther := fault.New(fault.Invalid, "invalid lock")
	errDamaged := fault.New(fault.Integrity, "damaged blob")
	for _, tc := range []struct {
		name string
		err  error
		want fault.Kind
	}{
		{"nil", nil, fault.Internal},
		{"plain", errors.New("boom"), fault.Internal},
		{"sentinel", errBadSpec, fault.Invalid},
		{"wrapped sentinel", fmt.Errorf("reading x: %w", errBadSpec), fault.Invalid},
		{"Wrap", fault.Wrap(fault.NotFound, errors.New("no such file")), fault.NotFound},
		{"Errorf", fault.Errorf(fault.Unavailable, "registry: %w", errors.New("503")), fault.Unavailable},
		{"integrity wins over unavailable", errors.Join(fault.Wrap(fault.Unavailable, errors.New("x")), errDamaged), fault.Integrity},
	} {
		if got := fault.Of(tc.err); got != tc.want {
			t.Errorf("%s: Of = %v, want %v", tc.name, got, tc.want)
		}
	}
	wrapped := fmt.Errorf("ctx: %w", errBadSpec)
	if !errors.Is(wrapped, errBadSpec) || errors.Is(wrapped, errOther) {
		t.Error("sentinels of one kind must stay distinct")
	}
	if errors.Is(errBadSpec, fault.Integrity) {
		t.Error("a sentinel is only of its own kind")
	}
	if fault.Wrap(fault.Invalid, nil) != nil {
		t.Error("Wrap(nil) must be nil")
	}
	if got := fault.Wrap(fault.Invalid, errors.New("msg")).Error(); got != "msg" {
		t.Errorf("Wrap changed the message: %q", got)
	}
}
