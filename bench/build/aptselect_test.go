package main

import (
	"os"
	"slices"
	"testing"
	"time"
)

func TestParsePrintURIs(t *testing.T) {
	real, err := os.ReadFile("testdata/print-uris.txt")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		out     string
		want    []string // nil with wantErr
		wantErr bool
	}{
		{name: "apt-get output, escaped + and ~", out: string(real), want: []string{
			"pool/main/g/gcc-12/gcc-12-base_12.2.0-14+deb12u1_amd64.deb",
			"pool/main/g/gcc-12/libgcc-s1_12.2.0-14+deb12u1_amd64.deb",
			"pool/main/g/glibc/libc6_2.36-9+deb12u14_amd64.deb",
			"pool/main/m/mawk/mawk_1.3.4.20200120-3.1_amd64.deb",
			"pool/main/b/base-files/base-files_12.4+deb12u15_amd64.deb",
			"pool/main/d/debconf/debconf_1.5.82_all.deb",
			"pool/main/t/tzdata/tzdata_2026b-0+deb12u1_all.deb",
			"pool/main/n/netbase/netbase_6.4_all.deb",
			"pool/main/o/openssl/libssl3_3.0.20-1~deb12u2_amd64.deb",
			"pool/main/o/openssl/openssl_3.0.20-1~deb12u2_amd64.deb",
			"pool/main/c/ca-certificates/ca-certificates_20230311+deb12u1_all.deb",
		}},
		{name: "nothing to install", out: "\n", want: nil},
		{name: "file scheme", out: "'file:/srv/mirror/pool/a.deb' a.deb 1 SHA256:00\n", want: []string{"pool/a.deb"}},
		{name: "unquoted", out: "copy:/srv/mirror/pool/a.deb a.deb 1 SHA256:00\n", wantErr: true},
		{name: "remote scheme", out: "'http://example.com/pool/a.deb' a.deb 1 SHA256:00\n", wantErr: true},
		{name: "outside the mirror", out: "'copy:/srv/other/pool/a.deb' a.deb 1 SHA256:00\n", wantErr: true},
		{name: "escapes the mirror", out: "'copy:/srv/mirror/../etc/a.deb' a.deb 1 SHA256:00\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parsePrintURIs(tt.out, "/srv/mirror")
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []time.Duration
		want time.Duration
	}{
		{[]time.Duration{5}, 5},
		{[]time.Duration{9, 1, 5}, 5},
		{[]time.Duration{4, 1, 3, 10}, 3}, // (3+4)/2 rounds down in integer nanoseconds
		{[]time.Duration{2, 8}, 5},
	}
	for _, tt := range tests {
		in := slices.Clone(tt.in)
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
		if !slices.Equal(in, tt.in) {
			t.Errorf("median reordered its argument: %v", tt.in)
		}
	}
}
