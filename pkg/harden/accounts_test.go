package harden

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseAccounts(t *testing.T) {
	tests := []struct {
		file   string
		fields int
		// want is name:password:id:line for every account, in order.
		want string
	}{
		{"passwd", passwdFields, "root:x:0:1 daemon:x:1:2 games:x:5:7 nopass::1000:8 weird:x:-1:9"},
		{"shadow", shadowFields, "root:*:-1:1 guest::-1:2 locked:!:-1:3"},
		{"group", groupFields, "root:x:0:1 adm:x:4:2 staff:x:50:3 users:x:100:5"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "accounts", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, a := range parseAccounts(data, tt.fields) {
				got = append(got, fmt.Sprintf("%s:%s:%d:%d", a.Name, a.Password, a.ID, a.Line))
			}
			if g := strings.Join(got, " "); g != tt.want {
				t.Errorf("got  %s\nwant %s", g, tt.want)
			}
		})
	}
}

// FuzzParseAccounts feeds account databases from untrusted images to the parser: it must not panic,
// and every account it returns must be a real line of the input with the name as its first field.
func FuzzParseAccounts(f *testing.F) {
	for _, name := range []string{"passwd", "shadow", "group"} {
		data, err := os.ReadFile(filepath.Join("testdata", "accounts", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		lines := strings.Split(string(data), "\n")
		for _, fields := range []int{passwdFields, shadowFields, groupFields} {
			for _, a := range parseAccounts(data, fields) {
				if a.Line < 1 || a.Line > len(lines) || !strings.HasPrefix(lines[a.Line-1], a.Name+":"+a.Password) {
					t.Fatalf("account %+v is not line %d of the input", a, a.Line)
				}
				if a.ID < -1 || a.ID > 1<<32-1 {
					t.Fatalf("id %d out of range", a.ID)
				}
			}
		}
	})
}
