package selfid

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/ingot-build/ingot/internal/regtest"
)

func TestIDMatchesGoTool(t *testing.T) {
	id, err := ID()
	if err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	goBin := regtest.Peer(t, "go")
	out, err := exec.Command(goBin, "tool", "buildid", exe).Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := "go:" + strings.TrimSpace(string(out)); id != want {
		t.Errorf("ID() = %q, go tool buildid says %q", id, want)
	}
	again, _ := ID()
	if again != id {
		t.Errorf("ID changed between calls: %q, %q", id, again)
	}
}
