package deb

import (
	"errors"
	"reflect"
	"testing"
)

func TestParseRelations(t *testing.T) {
	v := MustParseVersion
	tests := []struct {
		in   string
		want []Alternatives
		str  []string // String of each element
	}{
		{"", nil, nil},
		{" \n ", nil, nil},
		{"libc6", []Alternatives{{{Name: "libc6"}}}, []string{"libc6"}},
		{
			"libc6 (>= 2.36), libgcc-s1 (>= 3.0)",
			[]Alternatives{
				{{Name: "libc6", Op: OpGreaterEqual, Version: v("2.36")}},
				{{Name: "libgcc-s1", Op: OpGreaterEqual, Version: v("3.0")}},
			},
			[]string{"libc6 (>= 2.36)", "libgcc-s1 (>= 3.0)"},
		},
		{
			"default-mta | mail-transport-agent, python3:any (<< 3.12)",
			[]Alternatives{
				{{Name: "default-mta"}, {Name: "mail-transport-agent"}},
				{{Name: "python3", ArchQual: "any", Op: OpLess, Version: v("3.12")}},
			},
			[]string{"default-mta | mail-transport-agent", "python3:any (<< 3.12)"},
		},
		{
			"foo(<<1:2.0-1)[amd64 !i386]<!nocheck> <stage1 cross>,\n bar ( = 1 ) ,baz (>>0~)",
			[]Alternatives{
				{{Name: "foo", Op: OpLess, Version: v("1:2.0-1"), Archs: []string{"amd64", "!i386"}}},
				{{Name: "bar", Op: OpEqual, Version: v("1")}},
				{{Name: "baz", Op: OpGreater, Version: v("0~")}},
			},
			[]string{"foo (<< 1:2.0-1) [amd64 !i386]", "bar (= 1)", "baz (>> 0~)"},
		},
		{
			"old (< 1.0), older (> 2), libfoo:amd64 (<= 3)",
			[]Alternatives{
				{{Name: "old", Op: OpLessEqual, Version: v("1.0")}},
				{{Name: "older", Op: OpGreaterEqual, Version: v("2")}},
				{{Name: "libfoo", ArchQual: "amd64", Op: OpLessEqual, Version: v("3")}},
			},
			[]string{"old (<= 1.0)", "older (>= 2)", "libfoo:amd64 (<= 3)"},
		},
		{"a,, b,", []Alternatives{{{Name: "a"}}, {{Name: "b"}}}, []string{"a", "b"}},
	}
	for _, tt := range tests {
		got, err := ParseRelations(tt.in)
		if err != nil {
			t.Errorf("ParseRelations(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseRelations(%q) =\n %#v\nwant\n %#v", tt.in, got, tt.want)
			continue
		}
		for i, a := range got {
			if a.String() != tt.str[i] {
				t.Errorf("ParseRelations(%q)[%d].String() = %q, want %q", tt.in, i, a.String(), tt.str[i])
			}
		}
	}
}

func TestParseRelationsErrors(t *testing.T) {
	for _, in := range []string{
		"a | ", "| a", "a (>= 1", "a (~ 1)", "a (>= )", "a (>=< 1)", "a (>= x1)", "a [amd64",
		"a []", "a [amd64 ?]", "a <!nocheck", "a b", "a (>= 1) x", "A_ (1)", ":any", "a:", "-a",
		"a (>= 1) (<< 2)", "a [amd64] (>= 1)",
	} {
		if got, err := ParseRelations(in); !errors.Is(err, ErrRelation) {
			t.Errorf("ParseRelations(%q) = %v, %v; want ErrRelation", in, got, err)
		}
	}
}

func TestSatisfiedBy(t *testing.T) {
	tests := []struct {
		rel, version string
		want         bool
	}{
		{"a", "1", true},
		{"a (>= 2.36)", "2.36-9", true},
		{"a (>= 2.36)", "2.36~rc1", false},
		{"a (<< 2)", "1.9", true},
		{"a (<< 2)", "2", false},
		{"a (<= 2)", "2", true},
		{"a (<= 2)", "2-0.1", false},
		{"a (= 1.0-1)", "1.0-1", true},
		{"a (= 1.0-1)", "1:1.0-1", false},
		{"a (= 1.0)", "1.0-0", true},
		{"a (>> 1)", "1", false},
		{"a (>> 1)", "1+b1", true},
		{"a (> 1)", "1", true}, // obsolete ">" means ">="
	}
	for _, tt := range tests {
		rels, err := ParseRelations(tt.rel)
		if err != nil {
			t.Fatal(err)
		}
		if got := rels[0][0].SatisfiedBy(MustParseVersion(tt.version)); got != tt.want {
			t.Errorf("%q satisfied by %s = %v, want %v", tt.rel, tt.version, got, tt.want)
		}
	}
}
