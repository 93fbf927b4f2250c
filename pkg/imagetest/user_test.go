package imagetest

import (
	"errors"
	"slices"
	"testing"
)

func TestResolveUser(t *testing.T) {
	passwd := []byte("# accounts\nroot:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532::/home/nonroot:/sbin/nologin\nbroken:x:abc:1::/:\nshort:x:1\n")
	group := []byte("root:x:0:\naudio:x:29:nonroot,other\nvideo:x:44:other\nnonroot:x:65532:nonroot\n")
	for _, tc := range []struct {
		spec string
		want identity
		err  bool
	}{
		{"", identity{uid: 0, gid: 0, home: "/root"}, false},
		{"root", identity{uid: 0, gid: 0, home: "/root"}, false},
		{"nonroot", identity{uid: 65532, gid: 65532, groups: []uint32{29}, home: "/home/nonroot"}, false},
		{"65532", identity{uid: 65532, gid: 65532, groups: []uint32{29}, home: "/home/nonroot"}, false},
		{"nonroot:video", identity{uid: 65532, gid: 44, groups: []uint32{29, 65532}, home: "/home/nonroot"}, false},
		{"1000", identity{uid: 1000}, false}, // a uid without an entry runs with gid 0, as runtimes do
		{"1000:7", identity{uid: 1000, gid: 7}, false},
		{"ghost", identity{}, true},
		{"nonroot:ghosts", identity{}, true},
		{"broken", identity{}, true},
	} {
		got, err := resolveUser(tc.spec, passwd, group)
		if tc.err {
			if !errors.Is(err, ErrUnknownUser) {
				t.Errorf("resolveUser(%q) = %+v, %v, want ErrUnknownUser", tc.spec, got, err)
			}
			continue
		}
		if err != nil || got.uid != tc.want.uid || got.gid != tc.want.gid || got.home != tc.want.home || !slices.Equal(got.groups, tc.want.groups) {
			t.Errorf("resolveUser(%q) = %+v, %v, want %+v", tc.spec, got, err, tc.want)
		}
	}
}
