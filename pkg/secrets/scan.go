package secrets

import (
	"bytes"
	"math"
	"slices"
	"sort"
	"strconv"
	"unicode/utf8"
)

// Match is one secret found in a text.
type Match struct {
	Rule *Rule
	Path string
	// Line is 1-based; Start and End are the secret's byte offsets in the text.
	Line, Start, End int
	// Secret is the whole secret. Never print it: show Redacted.
	Secret string
}

// Redacted is the secret cut to a short prefix, safe to show.
func (m Match) Redacted() string { return Redact(m.Secret) }

// String describes the match without the secret, so a stray %v cannot leak it.
func (m Match) String() string {
	return m.Rule.ID + " " + m.Path + ":" + strconv.Itoa(m.Line) + " " + m.Redacted()
}

// Redact keeps the first four characters of a secret (fewer when it is shorter than 16, so at most a
// quarter shows) and replaces the rest with "****".
func Redact(secret string) string {
	n := 4
	if len(secret) < 16 {
		n = len(secret) / 4
	}
	for n > 0 && !utf8.RuneStart(secret[n]) {
		n--
	}
	return secret[:n] + "****"
}

// entropy is the Shannon entropy of s in bits per byte.
func entropy(s string) float64 {
	if s == "" {
		return 0
	}
	var counts [256]int
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	var h float64
	n := float64(len(s))
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}

// ScanBytes finds the secrets rules describe in one text; nil rules means DefaultRules. A binary
// (ELF, or a NUL byte in the first 8 KiB) yields nothing. Matches are in text order.
func ScanBytes(path string, data []byte, rules []Rule) []Match {
	if rules == nil {
		rules = DefaultRules()
	}
	if isBinary(data[:min(len(data), binarySniff)]) {
		return nil
	}
	return newScanner(rules).scan(path, data, nil)
}

// binarySniff is how much of a file is read to tell text from binary.
const binarySniff = 8 << 10

// Limits that keep a hostile or degenerate file from costing more than a few passes over it.
const (
	maxHitsPerKeyword = 4096
	maxMatchesPerRule = 256
	window            = 1024 // bytes either side of a keyword hit that a match may span
)

// scanner is a set of rules with their keywords gathered, so that one pass over a text finds every
// keyword of every rule.
type scanner struct {
	rules    []Rule
	ruleSkip [][]glob // per rule, the paths it does not apply to
	keywords [][]byte
	ruleKW   [][]int // indices into keywords, per rule
	// starts has a bit set for each pair of bytes a keyword starts with, and byStart lists the
	// keywords starting with each pair: a text is searched in one pass, testing one bit per byte.
	starts    [1 << 16 / 64]uint64
	startKeys []uint16 // sorted
	byStart   [][]int  // keywords per entry of startKeys
}

func newScanner(rules []Rule) *scanner {
	s := &scanner{rules: rules, ruleKW: make([][]int, len(rules)), ruleSkip: make([][]glob, len(rules))}
	byStart := map[uint16][]int{}
	index := map[string]int{}
	for i, r := range rules {
		for _, p := range r.SkipPaths {
			s.ruleSkip[i] = append(s.ruleSkip[i], compileGlob(p))
		}
		for _, k := range r.Keywords {
			j, ok := index[k]
			if !ok {
				j = len(s.keywords)
				index[k] = j
				s.keywords = append(s.keywords, []byte(k))
				if len(k) >= 2 {
					b := bigram(k[0], k[1])
					s.starts[b/64] |= 1 << (b % 64)
					byStart[b] = append(byStart[b], j)
				}
			}
			s.ruleKW[i] = append(s.ruleKW[i], j)
		}
	}
	for b := range byStart {
		s.startKeys = append(s.startKeys, b)
	}
	slices.Sort(s.startKeys)
	for _, b := range s.startKeys {
		s.byStart = append(s.byStart, byStart[b])
	}
	return s
}

func bigram(a, b byte) uint16 { return uint16(a)<<8 | uint16(b) }

// findKeywords returns the offsets of each keyword in the lower-cased text.
func (s *scanner) findKeywords(lower []byte) [][]int {
	hits := make([][]int, len(s.keywords))
	for i := 0; i+1 < len(lower); i++ {
		b := bigram(lower[i], lower[i+1])
		if s.starts[b/64]&(1<<(b%64)) == 0 {
			continue
		}
		j, _ := slices.BinarySearch(s.startKeys, b)
		for _, k := range s.byStart[j] {
			if len(hits[k]) < maxHitsPerKeyword && bytes.HasPrefix(lower[i:], s.keywords[k]) {
				hits[k] = append(hits[k], i)
			}
		}
	}
	for k, kw := range s.keywords {
		if len(kw) == 1 {
			for off := 0; len(hits[k]) < maxHitsPerKeyword; {
				i := bytes.IndexByte(lower[off:], kw[0])
				if i < 0 {
					break
				}
				hits[k] = append(hits[k], off+i)
				off += i + 1
			}
		}
	}
	return hits
}

type span struct{ start, end int }

// scan runs every rule over data. scratch, when not nil, is reused for the lower-cased text.
func (s *scanner) scan(path string, data []byte, scratch *[]byte) []Match {
	var lower []byte
	if scratch != nil {
		*scratch = lowerInto(*scratch, data)
		lower = *scratch
	} else {
		lower = lowerInto(nil, data)
	}
	hits := s.findKeywords(lower)
	var out []Match
	var taken []span
	var segs []string
	for ri := range s.rules {
		r := &s.rules[ri]
		if len(s.ruleSkip[ri]) > 0 {
			if segs == nil {
				segs = splitPath(path)
			}
			if matchAny(s.ruleSkip[ri], segs) {
				continue
			}
		}
		var ruleHits []int
		for _, k := range s.ruleKW[ri] {
			for _, h := range hits[k] {
				if r.Hit == nil || r.WholeFile || r.Hit(data, h) {
					ruleHits = append(ruleHits, h)
				}
			}
		}
		if len(ruleHits) == 0 && len(r.Keywords) > 0 {
			continue
		}
		for _, c := range s.candidates(r, data, ruleHits) {
			if overlaps(taken, c) {
				continue
			}
			taken = append(taken, c)
			out = append(out, Match{Rule: r, Path: path, Line: 1 + bytes.Count(data[:c.start], []byte{'\n'}), Start: c.start, End: c.end, Secret: string(data[c.start:c.end])})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	return out
}

func overlaps(taken []span, c span) bool {
	for _, t := range taken {
		if c.start < t.end && t.start < c.end {
			return true
		}
	}
	return false
}

// candidates returns the spans of r's secrets in data that pass its checks.
func (s *scanner) candidates(r *Rule, data []byte, hits []int) []span {
	if r.WholeFile || len(r.Keywords) == 0 {
		return s.check(r, data, 0, r.Regex.FindAllSubmatchIndex(data, maxMatchesPerRule))
	}
	sort.Ints(hits)
	var out []span
	// Run the expression from the start of the word holding each hit to the end of its line, and
	// keep the first match if it holds the hit. Starting at the word means the match, when there is
	// one, is found at once rather than after trying every position of the line.
	end := -1
	for _, h := range hits {
		if h < end || len(out) >= maxMatchesPerRule {
			continue // inside a match already found
		}
		ws, we := wordStart(data, h), lineEnd(data, h)
		m := r.Regex.FindSubmatchIndex(data[ws:we])
		if m == nil || ws+m[0] > h || ws+m[1] <= h {
			continue
		}
		end = ws + m[1]
		out = append(out, s.check(r, data, ws, [][]int{m})...)
	}
	return out
}

// wordStart is where the run of identifier characters holding offset i begins, looking back at most
// window bytes.
func wordStart(data []byte, i int) int {
	lo := max(0, i-window)
	for i > lo && identByte(data[i-1]) {
		i--
	}
	return i
}

// lineEnd is the end of the line holding offset i, or i+window on a longer line.
func lineEnd(data []byte, i int) int {
	hi := min(len(data), i+window)
	if k := bytes.IndexByte(data[i:hi], '\n'); k >= 0 {
		return i + k
	}
	return hi
}

// check turns the submatch indices of matches found at offset base into secret spans, keeping those
// that pass the entropy floor, the placeholder test and the rule's own check.
func (s *scanner) check(r *Rule, data []byte, base int, ms [][]int) []span {
	var out []span
	names := r.Regex.SubexpNames()
	for _, m := range ms {
		ss, se := m[0], m[1]
		for g := 1; g < len(names); g++ {
			if names[g] == "secret" && m[2*g] >= 0 && m[2*g+1] > m[2*g] {
				ss, se = m[2*g], m[2*g+1]
				break
			}
		}
		ss, se = trimSpace(data[base:], ss, se)
		secret := string(data[base+ss : base+se])
		// The rule's own check goes first: for the generic rule it is the one that rejects most.
		if r.Valid != nil {
			groups := make([]string, len(names))
			for g := range names {
				if m[2*g] >= 0 {
					groups[g] = string(data[base+m[2*g] : base+m[2*g+1]])
				}
			}
			if !r.Valid(Candidate{Text: data, Groups: groups, Start: base + m[0], End: base + m[1], Secret: secret}) {
				continue
			}
		}
		if r.Entropy > 0 && entropy(secret) < r.Entropy || placeholder(secret) || knownExample(secret) {
			continue
		}
		out = append(out, span{base + ss, base + se})
	}
	return out
}

// trimSpace narrows [start, end) of b to leave out white space and "\n" escapes at either end.
func trimSpace(b []byte, start, end int) (int, int) {
	for start < end {
		switch {
		case b[start] == ' ' || b[start] == '\t' || b[start] == '\n' || b[start] == '\r':
			start++
		case b[start] == '\\' && start+1 < end && (b[start+1] == 'n' || b[start+1] == 'r'):
			start += 2
		default:
			goto tail
		}
	}
tail:
	for end > start {
		switch {
		case b[end-1] == ' ' || b[end-1] == '\t' || b[end-1] == '\n' || b[end-1] == '\r':
			end--
		case end-2 >= start && b[end-2] == '\\' && (b[end-1] == 'n' || b[end-1] == 'r'):
			end -= 2
		default:
			return start, end
		}
	}
	return start, end
}
