package imagetest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ingot-build/ingot/pkg/evidence"
)

const (
	// maxOutput is how much of each of stdout and stderr a command test keeps.
	maxOutput = 1 << 20
	// excerpt is how much output a failed test's Detail carries.
	excerpt = 2048
	// killGrace is how long a killed container gets to go away before runc itself is killed.
	killGrace = 10 * time.Second
	// defaultPath is what runtimes set when the image has no PATH.
	defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

// The parts of the OCI runtime spec (config.json) ingot writes.
type (
	rtSpec struct {
		OCIVersion string    `json:"ociVersion"`
		Process    rtProcess `json:"process"`
		Root       rtRoot    `json:"root"`
		Hostname   string    `json:"hostname"`
		Mounts     []rtMount `json:"mounts"`
		Linux      rtLinux   `json:"linux"`
	}
	rtProcess struct {
		Terminal        bool       `json:"terminal"`
		User            rtUser     `json:"user"`
		Args            []string   `json:"args"`
		Env             []string   `json:"env"`
		Cwd             string     `json:"cwd"`
		Capabilities    rtCaps     `json:"capabilities"`
		Rlimits         []rtRlimit `json:"rlimits"`
		NoNewPrivileges bool       `json:"noNewPrivileges"`
	}
	rtUser struct {
		UID            uint32   `json:"uid"`
		GID            uint32   `json:"gid"`
		AdditionalGids []uint32 `json:"additionalGids,omitempty"`
	}
	rtCaps struct {
		Bounding  []string `json:"bounding"`
		Effective []string `json:"effective"`
		Permitted []string `json:"permitted"`
	}
	rtRlimit struct {
		Type string `json:"type"`
		Hard uint64 `json:"hard"`
		Soft uint64 `json:"soft"`
	}
	rtRoot struct {
		Path     string `json:"path"`
		Readonly bool   `json:"readonly"`
	}
	rtMount struct {
		Destination string   `json:"destination"`
		Type        string   `json:"type"`
		Source      string   `json:"source"`
		Options     []string `json:"options,omitempty"`
	}
	rtLinux struct {
		Resources     rtResources   `json:"resources"`
		Namespaces    []rtNamespace `json:"namespaces"`
		MaskedPaths   []string      `json:"maskedPaths"`
		ReadonlyPaths []string      `json:"readonlyPaths"`
	}
	rtResources struct {
		Devices []rtDevice `json:"devices"`
	}
	rtDevice struct {
		Allow  bool   `json:"allow"`
		Access string `json:"access"`
	}
	rtNamespace struct {
		Type string `json:"type"`
	}
)

// runtimeSpec is the container a command test runs in: a read-only root, a tmpfs /tmp, new pid, ipc,
// uts, mount and network namespaces (a new network namespace holds only its loopback, which runc
// brings up: a command reaches nothing outside the container), runc's default unprivileged capabilities (none for a non-root user), no new
// privileges, no devices beyond runc's defaults, and rlimits on open files and core dumps.
func runtimeSpec(rootfs string, id identity, args, env []string, cwd string) rtSpec {
	caps := []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
	return rtSpec{
		OCIVersion: "1.0.2",
		Process: rtProcess{
			User:            rtUser{UID: id.uid, GID: id.gid, AdditionalGids: id.groups},
			Args:            args,
			Env:             env,
			Cwd:             cwd,
			Capabilities:    rtCaps{Bounding: caps, Effective: caps, Permitted: caps},
			Rlimits:         []rtRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}, {Type: "RLIMIT_CORE"}},
			NoNewPrivileges: true,
		},
		Root:     rtRoot{Path: rootfs, Readonly: true},
		Hostname: "ingot-test",
		Mounts: []rtMount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777", "size=65536k"}},
		},
		Linux: rtLinux{
			Resources:  rtResources{Devices: []rtDevice{{Allow: false, Access: "rwm"}}},
			Namespaces: []rtNamespace{{"pid"}, {"network"}, {"ipc"}, {"uts"}, {"mount"}},
			MaskedPaths: []string{"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
				"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"},
			ReadonlyPaths: []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
		},
	}
}

// commandRunner runs command tests in containers over one unpacked rootfs.
type commandRunner struct {
	runc   string
	work   string // holds the runc state directory and one bundle per test
	rootfs string
	id     identity
	env    []string // the image's environment, with PATH and HOME filled in
	cwd    string
}

// setEnv sets key in env, replacing an earlier value.
func setEnv(env []string, key, value string) []string {
	env = slices.DeleteFunc(env, func(kv string) bool { return strings.HasPrefix(kv, key+"=") })
	return append(env, key+"="+value)
}

func hasEnv(env []string, key string) bool {
	return slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, key+"=") })
}

// run runs one command test; i numbers its bundle.
func (r *commandRunner) run(ctx context.Context, i int, t CommandTest) evidence.Finding {
	f := newFinding(t.Name, TypeCommand, t.Command)
	var why failures
	res, err := r.exec(ctx, i, t)
	switch {
	case err != nil:
		why.add("%v", err)
	case res.startErr != "":
		why.add("runc could not start the command: %s", res.startErr)
	case res.timedOut:
		why.add("timed out after %s and was killed", res.timeout)
	default:
		if res.exitCode != t.ExitCode && res.execErr != "" {
			why.add("exit code %d (%s), want %d", res.exitCode, res.execErr, t.ExitCode)
		} else if res.exitCode != t.ExitCode {
			why.add("exit code %d, want %d", res.exitCode, t.ExitCode)
		}
		matchAll(&why, "stdout", res.stdout.String(), t.ExpectedOutput, t.ExcludedOutput)
		matchAll(&why, "stderr", res.stderr.String(), t.ExpectedError, t.ExcludedError)
	}
	why.settle(&f)
	if f.Status == evidence.StatusFailed {
		f.Detail["exitCode"] = fmt.Sprint(res.exitCode)
		f.Detail["stdout"] = res.stdout.excerpt()
		f.Detail["stderr"] = res.stderr.excerpt()
	}
	return f
}

type result struct {
	stdout, stderr capture
	exitCode       int
	timedOut       bool
	timeout        time.Duration
	startErr       string // what runc logged when it could not start the process
	// execErr is why the command itself could not be executed (not found, not executable), which
	// exitCode reports as a shell would (127, 126) instead of a start failure.
	execErr string
}

// exec runs t under runc and waits for it, killing it at its timeout. err is for failures of the
// harness (writing the bundle, starting runc), not of the command.
func (r *commandRunner) exec(ctx context.Context, i int, t CommandTest) (*result, error) {
	res := &result{stdout: capture{max: maxOutput}, stderr: capture{max: maxOutput}, exitCode: -1, timeout: time.Duration(t.Timeout)}
	if res.timeout == 0 {
		res.timeout = DefaultTimeout
	}
	env := slices.Clone(r.env)
	for _, k := range sortedKeys(t.Env) {
		env = setEnv(env, k, t.Env[k])
	}
	for _, e := range t.EnvVars {
		env = setEnv(env, e.Key, e.Value)
	}
	bundle := filepath.Join(r.work, fmt.Sprintf("bundle-%d", i))
	if err := os.Mkdir(bundle, 0o700); err != nil {
		return res, fmt.Errorf("writing the runc bundle: %w", err)
	}
	cfg, err := json.MarshalIndent(runtimeSpec(r.rootfs, r.id, append([]string{t.Command}, t.Args...), env, r.cwd), "", "\t")
	if err != nil {
		return res, fmt.Errorf("writing the runc bundle: %w", err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), cfg, 0o600); err != nil {
		return res, fmt.Errorf("writing the runc bundle: %w", err)
	}
	id, err := containerID(i)
	if err != nil {
		return res, err
	}
	state := filepath.Join(r.work, "state")
	logPath := filepath.Join(bundle, "runc.log")
	cmd := exec.Command(r.runc, "--root", state, "--log", logPath, "--log-format", "json", "run", "--bundle", bundle, id) //nolint:gosec // G204: the configured runtime, with arguments we made
	cmd.Stdout, cmd.Stderr = &res.stdout, &res.stderr
	cmd.WaitDelay = killGrace
	if err := cmd.Start(); err != nil {
		return res, fmt.Errorf("starting runc: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	timer := time.NewTimer(res.timeout)
	defer timer.Stop()
	var waitErr error
	select {
	case waitErr = <-done:
	case <-timer.C:
		res.timedOut = true
		waitErr = r.kill(cmd, id, done)
	case <-ctx.Done():
		_ = r.kill(cmd, id, done)
		r.remove(id)
		return res, ctx.Err()
	}
	r.remove(id)
	var exitErr *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &exitErr) {
		return res, fmt.Errorf("running runc: %w", waitErr)
	}
	res.exitCode = cmd.ProcessState.ExitCode()
	if !res.timedOut && res.exitCode != 0 {
		res.startErr = runcErrors(logPath)
		if code, why, ok := execFailure(res.startErr); ok {
			res.exitCode, res.execErr, res.startErr = code, why, ""
		}
	}
	return res, nil
}

// runcExec finds the failure of the container's execve in what runc logged: `exec: "CMD": REASON`
// when the lookup failed (runc uses Go's exec.LookPath), `exec CMD: REASON` when execve did.
var runcExec = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?:^|: )exec(?:: "[^"]*"| [^:]+): (.+)$`) })

// execFailure maps a command that runc could not execute to the exit code a shell gives it, as
// docker does and so container-structure-test reports it: 127 when the command is not there (not in
// PATH, no such file, or a script's interpreter missing), 126 when it is there but cannot be
// executed (permission denied, a directory, not an executable format). Any other start failure of
// runc (a mount, the working directory) is not the command's and stays an error.
func execFailure(startErr string) (code int, why string, ok bool) {
	m := runcExec().FindStringSubmatch(startErr)
	if m == nil {
		return 0, "", false
	}
	why = m[1]
	switch {
	case strings.Contains(why, "executable file not found"), strings.Contains(why, syscall.ENOENT.Error()):
		return 127, "command not found: " + why, true
	case strings.Contains(why, syscall.EACCES.Error()), strings.Contains(why, syscall.EISDIR.Error()), strings.Contains(why, syscall.ENOEXEC.Error()):
		return 126, "command not executable: " + why, true
	}
	return 0, "", false
}

// kill stops a container that overran: SIGKILL to its init (which takes the whole pid namespace with
// it), retried until runc run returns, since the container may not exist yet; runc itself last.
func (r *commandRunner) kill(cmd *exec.Cmd, id string, done <-chan error) error {
	deadline := time.After(killGrace)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		// An error here means the container is not there (yet, or any more); the loop decides.
		_ = exec.Command(r.runc, "--root", filepath.Join(r.work, "state"), "kill", id, "KILL").Run() //nolint:gosec // G204: as in exec
		select {
		case err := <-done:
			return err
		case <-tick.C:
		case <-deadline:
			_ = cmd.Process.Kill()
			return <-done
		}
	}
}

// remove deletes what is left of a container; after a normal exit runc run has done it already.
func (r *commandRunner) remove(id string) {
	_ = exec.Command(r.runc, "--root", filepath.Join(r.work, "state"), "delete", "--force", id).Run() //nolint:gosec // G204: as in exec
}

func containerID(i int) (string, error) {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("naming the container: %w", err)
	}
	return fmt.Sprintf("ingot-test-%s-%d", hex.EncodeToString(b), i), nil
}

// runcErrors returns the errors runc logged, which it does only when it failed itself (the process
// could not be started), not when the process exited non-zero.
func runcErrors(logPath string) string {
	data, err := os.ReadFile(logPath)
	if err != nil {
		return ""
	}
	var msgs []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var e struct{ Level, Msg string }
		if json.Unmarshal(sc.Bytes(), &e) == nil && (e.Level == "error" || e.Level == "fatal") {
			msgs = append(msgs, e.Msg)
		}
	}
	return strings.Join(msgs, "; ")
}

// capture keeps the first max bytes written to it and counts the rest.
type capture struct {
	buf     bytes.Buffer
	max     int
	dropped int64
}

func (c *capture) Write(p []byte) (int, error) {
	room := min(c.max-c.buf.Len(), len(p))
	if room > 0 {
		c.buf.Write(p[:room])
	} else {
		room = 0
	}
	c.dropped += int64(len(p) - room)
	return len(p), nil
}

func (c *capture) String() string { return c.buf.String() }

// excerpt is the head and tail of the output, for a report.
func (c *capture) excerpt() string {
	s := c.buf.String()
	if len(s) > excerpt {
		s = strings.ToValidUTF8(s[:excerpt/2], "") + "\n[…]\n" + strings.ToValidUTF8(s[len(s)-excerpt/2:], "")
	}
	if c.dropped > 0 {
		s += fmt.Sprintf("\n[%d more bytes not kept]", c.dropped)
	}
	return s
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
