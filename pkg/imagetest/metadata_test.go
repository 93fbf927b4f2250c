package imagetest

import (
	"context"
	"runtime"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func strs(s ...string) *[]string { return &s }

func TestMetadataTest(t *testing.T) {
	cfg := v1.Config{
		User:         "65532:65532",
		Env:          []string{"PATH=/usr/local/bin:/usr/bin", "TZ=UTC", "EMPTY="},
		Entrypoint:   []string{"/usr/local/bin/hello"},
		WorkingDir:   "/home/nonroot",
		Labels:       map[string]string{"team": "platform", "version": "1.2.3"},
		ExposedPorts: map[string]struct{}{"8080/tcp": {}, "53/udp": {}},
		Volumes:      map[string]struct{}{"/data": {}},
	}
	img := imageOf(t, runtime.GOARCH, cfg, layerOf(t, baseEntries()...))
	for _, tc := range []struct {
		name string
		test MetadataTest
		want string
	}{
		{"all match", MetadataTest{
			User:             "65532:65532",
			EnvVars:          []Match{{Key: "PATH", Value: "^/usr/local/bin:", IsRegex: true}, {Key: "TZ", Value: "UTC"}, {Key: "EMPTY"}},
			Entrypoint:       strs("/usr/local/bin/hello"),
			Cmd:              strs(),
			Workdir:          "/home/nonroot",
			Labels:           []Match{{Key: "team", Value: "platform"}, {Key: "version", Value: `^1\.`, IsRegex: true}},
			ExposedPorts:     []string{"8080", "53/udp"},
			UnexposedPorts:   []string{"22", "8080/udp"},
			Volumes:          []string{"/data"},
			UnmountedVolumes: []string{"/var/lib/data"},
		}, ""},
		{"nothing asked", MetadataTest{}, ""},
		{"user", MetadataTest{User: "root"}, `user is "65532:65532", want "root"`},
		{"env missing", MetadataTest{EnvVars: []Match{{Key: "HOME", Value: "/"}}}, "env HOME is not set"},
		{"env value", MetadataTest{EnvVars: []Match{{Key: "TZ", Value: "Europe/Paris"}}}, `env TZ="UTC", want "Europe/Paris"`},
		{"env regex", MetadataTest{EnvVars: []Match{{Key: "PATH", Value: "^/bin", IsRegex: true}}}, `does not match "^/bin"`},
		{"entrypoint", MetadataTest{Entrypoint: strs("/bin/sh", "-c")}, "entrypoint is"},
		{"cmd must be empty", MetadataTest{Cmd: strs("--serve")}, `cmd is [], want ["--serve"]`},
		{"workdir", MetadataTest{Workdir: "/"}, `workdir is "/home/nonroot", want "/"`},
		{"label", MetadataTest{Labels: []Match{{Key: "team", Value: "security"}}}, `label team="platform", want "security"`},
		{"label missing", MetadataTest{Labels: []Match{{Key: "owner", Value: "x"}}}, "label owner is not set"},
		{"port not exposed", MetadataTest{ExposedPorts: []string{"443"}}, "port 443/tcp is not exposed"},
		{"port exposed", MetadataTest{UnexposedPorts: []string{"53/udp"}}, "port 53/udp is exposed"},
		{"volume", MetadataTest{Volumes: []string{"/cache"}, UnmountedVolumes: []string{"/data"}}, "volume /cache is not declared; volume /data is declared"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, err := Run(context.Background(), img, &Suite{MetadataTest: &tc.test}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(fs) != 1 || fs[0].ID != MetadataTestName {
				t.Fatalf("findings %+v, want the metadata test's", fs)
			}
			checkFinding(t, fs[0], tc.want)
		})
	}
}

func TestMetadataWorkdirDefault(t *testing.T) {
	img := imageOf(t, runtime.GOARCH, v1.Config{}, layerOf(t, baseEntries()...))
	fs, err := Run(context.Background(), img, &Suite{MetadataTest: &MetadataTest{Workdir: "/", Entrypoint: strs(), Cmd: strs()}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkFinding(t, fs[0], "") // no WorkingDir runs in /; no entrypoint equals []
}

// TestMetadataUserByNameOrID: metadataTest.user names the account whichever spelling the config and
// the test chose, through the image's /etc/passwd and /etc/group; a different account still fails.
func TestMetadataUserByNameOrID(t *testing.T) {
	for _, tc := range []struct {
		config, test, want string // want: failure reason, "" for a pass
	}{
		{"65532", "nonroot", ""},
		{"nonroot", "65532", ""},
		{"65532:65532", "nonroot:nonroot", ""},
		{"nonroot:audio", "65532:29", ""},
		{"nonroot:audio", "nonroot:29", ""},
		{"0", "root", ""},
		{"65532", "root", `user is "65532", want "root"`},
		{"nonroot", "0", `user is "nonroot", want "0"`},
		{"65532:65532", "nonroot", `user is "65532:65532", want "nonroot"`}, // a group on one side only
		{"nonroot:audio", "nonroot:nonroot", `want "nonroot:nonroot"`},      // another group
		{"65532", "ghost", `user is "65532", want "ghost"`},                 // not in /etc/passwd
		{"1234", "nonroot", `user is "1234", want "nonroot"`},               // a uid without an entry
	} {
		t.Run(tc.config+" as "+tc.test, func(t *testing.T) {
			img := imageOf(t, runtime.GOARCH, v1.Config{User: tc.config}, layerOf(t, baseEntries()...))
			fs, err := Run(context.Background(), img, &Suite{MetadataTest: &MetadataTest{User: tc.test}}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			checkFinding(t, fs[0], tc.want)
		})
	}
	// Without /etc/passwd only the same spelling matches.
	img := imageOf(t, runtime.GOARCH, v1.Config{User: "65532"}, layerOf(t, dirE("etc", 0o755)))
	fs, err := Run(context.Background(), img, &Suite{MetadataTest: &MetadataTest{User: "nonroot"}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkFinding(t, fs[0], `user is "65532", want "nonroot"`)
}
