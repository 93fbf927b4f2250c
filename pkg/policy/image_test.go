package policy

import (
	"errors"
	"strings"
	"testing"
)

const dgst = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestParseImageNormalises(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"nginx", "docker.io/library/nginx:latest"},
		{"nginx:1.27", "docker.io/library/nginx:1.27"},
		{"library/nginx", "docker.io/library/nginx:latest"},
		{"docker.io/nginx", "docker.io/library/nginx:latest"},
		{"index.docker.io/nginx", "docker.io/library/nginx:latest"},
		{"registry-1.docker.io/library/nginx", "docker.io/library/nginx:latest"},
		{"DOCKER.IO/nginx", "docker.io/library/nginx:latest"},
		{"docker.io:443/nginx", "docker.io/library/nginx:latest"},
		{"Index.Docker.IO:443/bitnami/redis:7", "docker.io/bitnami/redis:7"},
		{"bitnami/redis", "docker.io/bitnami/redis:latest"},
		{"Registry.Example.com/gold/app:1.0", "registry.example.com/gold/app:1.0"},
		{"registry.example.com:443/gold/app", "registry.example.com/gold/app:latest"},
		{"registry.example.com:5000/gold/app", "registry.example.com:5000/gold/app:latest"},
		{"localhost/app", "localhost/app:latest"},
		{"LOCALHOST:5000/app", "localhost:5000/app:latest"},
		{"127.0.0.1:5000/a/b/c:v1", "127.0.0.1:5000/a/b/c:v1"},
		{"[::1]:5000/app", "[::1]:5000/app:latest"},
		{"app@" + dgst, "docker.io/library/app@" + dgst},
		{"registry.example.com/app:1.0@" + dgst, "registry.example.com/app:1.0@" + dgst},
		// An upper case first component is a registry, as distribution reads it (so it is never
		// Docker Hub's "Gold/app", which is not a valid name anyway).
		{"Gold/app", "gold/app:latest"},
	} {
		got, err := ParseImage(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if got.String() != tc.want {
			t.Errorf("%q normalised to %q, want %q", tc.in, got, tc.want)
		}
		if got.Written != tc.in {
			t.Errorf("%q: Written = %q", tc.in, got.Written)
		}
	}
}

func TestParseImageRefuses(t *testing.T) {
	for _, in := range []string{
		"", " nginx", "nginx ", "ngi nx",
		"registry.example.com/Gold/app", // repository paths are lower case
		"nginx@sha256:abc",
		"nginx@sha512:" + strings.Repeat("a", 128),
		"nginx:" + strings.Repeat("t", 129),
		"nginx:bad/tag",
		"registry.example.com//app",
		"registry.example.com/app/",
		"-bad.example.com/app",
	} {
		if img, err := ParseImage(in); !errors.Is(err, ErrReference) {
			t.Errorf("%q: got %v, %v; want ErrReference", in, img, err)
		}
	}
}

func TestImagePatterns(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		image   string
		want    bool
	}{
		{"registry.example.com/gold/**", "registry.example.com/gold/app:1", true},
		{"registry.example.com/gold/**", "registry.example.com/gold/team/app@" + dgst, true},
		{"registry.example.com/gold/*", "registry.example.com/gold/team/app", false},
		{"registry.example.com/gold/*", "REGISTRY.EXAMPLE.COM:443/gold/app", true},
		{"Registry.Example.com:443/gold/*", "registry.example.com/gold/app", true},
		{"registry.example.com/gold/*", "registry.example.com:5000/gold/app", false},
		{"registry.example.com/gold/*", "registry.example.com/goldx/app", false},
		{"registry.example.com/gold/*", "registry.example.com.evil.io/gold/app", false},
		{"*.example.com/**", "a.b.example.com/x", true},
		{"docker.io/nginx", "nginx", true},
		{"docker.io/nginx", "index.docker.io/library/nginx:1", true},
		{"index.docker.io/library/nginx", "registry-1.docker.io/nginx", true},
		{"docker.io/library/*", "DOCKER.IO/redis", true},
		{"docker.io/*", "redis", false}, // "*" stays in one component: library/redis has two
		{"registry.example.com/app:1.*", "registry.example.com/app:1.2", true},
		{"registry.example.com/app:1.*", "registry.example.com/app:2.0", false},
		{"registry.example.com/app:1.*", "registry.example.com/app@" + dgst, false},
		{"registry.example.com/app", "registry.example.com/app:anything@" + dgst, true},
		{"registry.example.com/ap?", "registry.example.com/app", true},
	} {
		p, err := CompileImagePattern(tc.pattern)
		if err != nil {
			t.Fatalf("%q: %v", tc.pattern, err)
		}
		img, err := ParseImage(tc.image)
		if err != nil {
			t.Fatalf("%q: %v", tc.image, err)
		}
		if got := p.Match(img); got != tc.want {
			t.Errorf("%q matches %q (%s): %v, want %v", tc.pattern, tc.image, img, got, tc.want)
		}
	}
	for _, bad := range []string{"", "nginx", "registry.example.com/", "registry.example.com/app@" + dgst} {
		if _, err := CompileImagePattern(bad); err == nil {
			t.Errorf("pattern %q accepted", bad)
		}
	}
}
