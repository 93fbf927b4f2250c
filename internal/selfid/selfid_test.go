package selfid

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestIDMatchesGoTool(t *testing.T) {
	id, err := ID()
	if err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool to cross-check with")
	}
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
