package steal

import "testing"

func TestBetween(t *testing.T) {
	a := parse("cpu  100 0 50 800 0 0 0 50 0 0\ncpu0 1 2 3\n")
	b := parse("cpu  150 0 70 900 0 0 0 80 0 0\n")
	if got := between(a, b); got != "15%" {
		t.Errorf("between = %s, want 15%% (30 of 200 ticks stolen)", got)
	}
	if got := between(Mark{}, b); got != "?" {
		t.Errorf("from a zero mark: %s, want ?", got)
	}
	if got := parse("intr 1 2 3\n"); got != (Mark{}) {
		t.Errorf("a stat without a cpu line: %+v", got)
	}
}
