package imagetest

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ingot-build/ingot/pkg/evidence"
)

// toolImage is a distroless-like image holding examples/hello and the probe, run as nonroot.
func toolImage(t *testing.T, cfg v1.Config) v1.Image {
	t.Helper()
	hello, probe := buildTools(t)
	tools := layerOf(t,
		dirE("usr/local", 0o755), dirE("usr/local/bin", 0o755),
		entry{name: "usr/local/bin/hello", typ: '0', mode: 0o755, body: hello},
		entry{name: "usr/local/bin/probe", typ: '0', mode: 0o755, body: probe},
	)
	return imageOf(t, runtime.GOARCH, cfg, layerOf(t, baseEntries()...), tools)
}

// hostAddr is a TCP listener on every host interface and a non-loopback address of this host, so a
// command test can show it cannot reach the host's network; "" when the host has none.
func hostAddr(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		ip, ok := a.(*net.IPNet)
		if !ok || ip.IP.IsLoopback() || ip.IP.To4() == nil {
			continue
		}
		l, err := net.Listen("tcp", ip.IP.String()+":0")
		if err != nil {
			continue
		}
		t.Cleanup(func() { _ = l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				_ = c.Close()
			}
		}()
		// The host itself reaches it, so a failure from inside the container is the sandbox's doing.
		c, err := net.DialTimeout("tcp", l.Addr().String(), time.Second)
		if err != nil {
			t.Fatalf("the host cannot reach its own listener: %v", err)
		}
		_ = c.Close()
		return l.Addr().String()
	}
	return ""
}

func TestCommandTests(t *testing.T) {
	runc := needRunc(t)
	img := toolImage(t, v1.Config{
		User:       "nonroot",
		Env:        []string{"PATH=/usr/local/bin:/usr/bin:/bin", "GREETING=image"},
		WorkingDir: "/home/nonroot",
	})
	cases := []struct {
		test CommandTest
		want string // failure reason, "" for a pass
	}{
		{CommandTest{Name: "hello greets", Command: "/usr/local/bin/hello",
			ExpectedOutput: []string{`^Hello from a golden image! \(uid 65532\)\n$`}, ExcludedError: []string{"."}}, ""},
		{CommandTest{Name: "command found through PATH", Command: "hello", ExpectedOutput: []string{"Hello"}}, ""},
		{CommandTest{Name: "wrong regex", Command: "/usr/local/bin/hello", ExpectedOutput: []string{"Goodbye"}},
			`stdout do not match "Goodbye"`},
		{CommandTest{Name: "excluded output", Command: "/usr/local/bin/hello", ExcludedOutput: []string{"golden"}},
			`stdout match excluded "golden"`},
		{CommandTest{Name: "wrong exit code", Command: "/usr/local/bin/probe", Args: []string{"exit", "3"}},
			"exit code 3, want 0"},
		{CommandTest{Name: "expected exit code and stderr", Command: "/usr/local/bin/probe", Args: []string{"exit", "3"},
			ExitCode: 3, ExpectedError: []string{"^exiting 3\n$"}}, ""},
		{CommandTest{Name: "stderr", Command: "/usr/local/bin/probe", Args: []string{"exit", "1"}, ExitCode: 1,
			ExpectedError: []string{"panic"}}, `stderr do not match "panic"`},
		{CommandTest{Name: "timeout", Command: "/usr/local/bin/probe", Args: []string{"sleep", "60s"},
			Timeout: Duration(time.Second)}, "timed out after 1s"},
		// A command that cannot be executed has the exit code a shell (and docker, so
		// container-structure-test) gives it: 127 not found, 126 not executable.
		{CommandTest{Name: "missing command", Command: "/usr/bin/nope"}, "exit code 127 (command not found"},
		{CommandTest{Name: "missing command expected", Command: "/usr/bin/nope", ExitCode: 127}, ""},
		{CommandTest{Name: "not in PATH expected", Command: "nope", ExitCode: 127}, ""},
		{CommandTest{Name: "not executable", Command: "/etc/passwd"}, "exit code 126 (command not executable"},
		{CommandTest{Name: "not executable expected", Command: "/etc/passwd", ExitCode: 126}, ""},
		{CommandTest{Name: "a directory expected", Command: "/usr", ExitCode: 126}, ""},
		// runc brings the new namespace's loopback up; there is no other interface.
		{CommandTest{Name: "no network", Command: "/usr/local/bin/probe", Args: []string{"net"},
			ExpectedOutput: []string{`^interfaces: lo\[(up|down)\]\n$`}}, ""},
		{CommandTest{Name: "user and groups", Command: "/usr/local/bin/probe", Args: []string{"id"},
			ExpectedOutput: []string{`^uid=65532 gid=65532 groups=\[29\]\n$`}}, ""},
		{CommandTest{Name: "no capabilities", Command: "/usr/local/bin/probe", Args: []string{"caps"},
			ExpectedOutput: []string{`CapEff:\s+0+\n`, `CapPrm:\s+0+\n`}}, ""},
		{CommandTest{Name: "read-only root", Command: "/usr/local/bin/probe", Args: []string{"write", "/home/nonroot/x"},
			ExpectedOutput: []string{"read-only file system"}}, ""},
		{CommandTest{Name: "writable tmp", Command: "/usr/local/bin/probe", Args: []string{"write", "/tmp/x"},
			ExpectedOutput: []string{"^wrote /tmp/x\n$"}}, ""},
		{CommandTest{Name: "env", Command: "/usr/local/bin/probe", Args: []string{"env", "GREETING"},
			Env: map[string]string{"GREETING": "test"}, ExpectedOutput: []string{"^GREETING=test\n$"}}, ""},
		{CommandTest{Name: "envVars after env", Command: "/usr/local/bin/probe", Args: []string{"env", "GREETING"},
			Env: map[string]string{"GREETING": "test"}, EnvVars: []EnvVar{{"GREETING", "cst"}}, ExpectedOutput: []string{"^GREETING=cst\n$"}}, ""},
		{CommandTest{Name: "image env", Command: "/usr/local/bin/probe", Args: []string{"env", "GREETING"},
			ExpectedOutput: []string{"^GREETING=image\n$"}}, ""},
		{CommandTest{Name: "home from passwd", Command: "/usr/local/bin/probe", Args: []string{"env", "HOME"},
			ExpectedOutput: []string{"^HOME=/home/nonroot\n$"}}, ""},
	}
	if addr := hostAddr(t); addr == "" {
		t.Log("this host has no non-loopback address: not testing that the container cannot reach it")
	} else {
		cases = append(cases, struct {
			test CommandTest
			want string
		}{CommandTest{Name: "host unreachable", Command: "/usr/local/bin/probe", Args: []string{"dial", addr},
			ExpectedOutput: []string{"^error: "}, ExcludedOutput: []string{"connected"}}, ""})
	}
	s := &Suite{}
	want := map[string]string{}
	for _, tc := range cases {
		s.CommandTests = append(s.CommandTests, tc.test)
		want[tc.test.Name] = tc.want
	}
	work := t.TempDir()
	start := time.Now()
	fs, err := Run(context.Background(), img, s, Options{Runc: runc, WorkDir: work})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 50*time.Second { // the sleeper asks for 60s
		t.Errorf("the suite took %s: the timed-out command was not killed", d)
	}
	if len(fs) != len(cases) {
		t.Fatalf("%d findings for %d tests", len(fs), len(cases))
	}
	for i, f := range fs {
		if f.ID != cases[i].test.Name {
			t.Errorf("finding %d is %q, want the order of the file (%q)", i, f.ID, cases[i].test.Name)
		}
		checkFinding(t, f, want[f.ID])
		if f.Status == evidence.StatusFailed && f.Detail["exitCode"] == "" {
			t.Errorf("%s: a failed command test has no exit code in its detail: %v", f.ID, f.Detail)
		}
	}
	for _, f := range fs {
		if f.ID == "wrong regex" && !strings.Contains(f.Detail["stdout"], "Hello from a golden image!") {
			t.Errorf("a failed test's detail lacks its stdout: %q", f.Detail["stdout"])
		}
	}
	// Nothing is left behind: no containers in the state directory, no unpacked rootfs.
	if entries, err := os.ReadDir(work); err != nil || len(entries) != 0 {
		t.Errorf("work directory not cleaned: %v", entries)
	}
}

func TestCommandTestsRunAsImageUser(t *testing.T) {
	runc := needRunc(t)
	for _, tc := range []struct {
		user, want string
	}{
		{"", `^uid=0 gid=0 groups=\[\]\n$`},
		{"65532", `^uid=65532 gid=65532 groups=\[29\]\n$`},
		{"1234:5678", `^uid=1234 gid=5678 groups=\[\]\n$`},
		{"nonroot:audio", `^uid=65532 gid=29 groups=\[\]\n$`},
	} {
		t.Run(fmt.Sprintf("user %q", tc.user), func(t *testing.T) {
			img := toolImage(t, v1.Config{User: tc.user})
			s := &Suite{CommandTests: []CommandTest{{Name: "id", Command: "/usr/local/bin/probe", Args: []string{"id"}, ExpectedOutput: []string{tc.want}}}}
			fs, err := Run(context.Background(), img, s, Options{Runc: runc})
			if err != nil {
				t.Fatal(err)
			}
			checkFinding(t, fs[0], "")
		})
	}
	img := toolImage(t, v1.Config{User: "ghost"})
	s := &Suite{CommandTests: []CommandTest{{Name: "id", Command: "/usr/local/bin/probe", Args: []string{"id"}}}}
	fs, err := Run(context.Background(), img, s, Options{Runc: runc})
	if err != nil {
		t.Fatal(err)
	}
	checkFinding(t, fs[0], `"ghost" is not in the image's /etc/passwd`)
}

// TestCommandTestsSkipped: where runc cannot run the image, command tests say why instead of passing.
func TestCommandTestsSkipped(t *testing.T) {
	s := &Suite{
		CommandTests:       []CommandTest{{Name: "hello", Command: "/hello"}},
		FileExistenceTests: []FileExistenceTest{{Name: "passwd", Path: "/etc/passwd", ShouldExist: true}},
	}
	other := "arm64"
	if runtime.GOARCH == "arm64" {
		other = "amd64"
	}
	for _, tc := range []struct {
		name string
		img  v1.Image
		opt  Options
		want string
	}{
		{"no runc", imageOf(t, runtime.GOARCH, v1.Config{}, layerOf(t, baseEntries()...)), Options{Runc: "/nonexistent/runc"}, "runc is not available"},
		{"other platform", imageOf(t, other, v1.Config{}, layerOf(t, baseEntries()...)), Options{}, "the image is for linux/" + other},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, err := Run(context.Background(), tc.img, s, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			if len(fs) != 2 {
				t.Fatalf("findings: %+v", fs)
			}
			if fs[0].Status != evidence.StatusSkipped || !strings.Contains(fs[0].Reason, tc.want) || fs[0].Counts() {
				t.Errorf("command test: %s (%s), want skipped because %q", fs[0].Status, fs[0].Reason, tc.want)
			}
			checkFinding(t, fs[1], "")
		})
	}
}

// TestExecFailure: what runc logs when the command cannot be executed, in the wordings of runc 1.1
// and later, gives the shell's exit code; runc's own failures do not.
func TestExecFailure(t *testing.T) {
	for _, tc := range []struct {
		log  string
		code int // 0: not the command's failure
	}{
		{`runc run failed: unable to start container process: exec: "/usr/bin/nope": stat /usr/bin/nope: no such file or directory`, 127},
		{`runc run failed: unable to start container process: exec: "nope": executable file not found in $PATH`, 127},
		{`runc run failed: unable to start container process: error during container init: exec: "nope": executable file not found in $PATH`, 127},
		{`runc run failed: unable to start container process: exec /app/run.sh: no such file or directory`, 127}, // its interpreter is missing
		{`runc run failed: unable to start container process: exec: "/etc/passwd": permission denied`, 126},
		{`runc run failed: unable to start container process: error during container init: exec /etc/passwd: permission denied`, 126},
		{`runc run failed: unable to start container process: exec /bin/app: exec format error`, 126},
		{`runc run failed: unable to start container process: exec: "/usr": is a directory`, 126},
		{`runc run failed: unable to start container process: chdir to cwd ("/nowhere") set in config.json failed: no such file or directory`, 0},
		{`runc run failed: unable to start container process: error during container init: error mounting "proc" to rootfs at "/proc": permission denied`, 0},
		{``, 0},
	} {
		code, why, ok := execFailure(tc.log)
		if code != tc.code || ok != (tc.code != 0) || (ok && why == "") {
			t.Errorf("execFailure(%q) = %d, %q, %v; want %d", tc.log, code, why, ok, tc.code)
		}
	}
}
