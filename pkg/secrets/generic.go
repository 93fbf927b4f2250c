package secrets

import (
	"bytes"
	"encoding/base64"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ingot-build/ingot/pkg/evidence"
)

// generic finds `password = "..."`-style assignments in any syntax (shell, env files, INI, YAML, JSON,
// TOML, Python, Go, JS, Ruby, PHP, command-line flags) whose value looks like a real secret. Most of
// the rule is in what it refuses: the regular expression only finds "a secret-sounding name is given
// a value", and the checks throw out commented-out lines, names that describe a secret rather than
// hold one (token_url, password_file) and values that are references, templates, paths, URLs,
// hashes, IDs, identifiers or prose.
//
// It does not look into third-party code and data (what distribution packages install in /usr/lib
// and /usr/share, language runtimes in /usr/local, site-packages, node_modules, vendor and
// third_party trees): their docstrings and examples are full of sample passwords, and what they hold
// was published by their authors anyway. The rules for real credential formats still apply there.
func generic() Rule {
	re := regexp.MustCompile(`(?:^|[^A-Za-z0-9_])(?P<key>[A-Za-z0-9_.-]*?(?:` + fold("pass") + `|` + fold("pwd") + `|` + fold("secret") + `|` + fold("token") + `|` +
		fold("api") + `[_.-]?` + fold("key") + `|` + fold("access") + `[_.-]?` + fold("key") + `|` + fold("auth") + `[_.-]?` + fold("key") + `|` +
		fold("private") + `[_.-]?` + fold("key") + `|` + fold("credential") + `)[A-Za-z0-9_.-]*)["']?\]?[ \t]*(?::=|=>|=|:)[ \t]*` +
		`(?:"(?P<secret>[^"\r\n]+)"|'(?P<secret>[^'\r\n]+)'|(?P<secret>[^\s"'` + "`" + `=,;)\]}][^\s"'` + "`" + `,;)\]}]*))`)
	key := re.SubexpIndex("key")
	la := newLookalikes()
	return Rule{
		ID: RuleGeneric, Title: "Secret assigned in the clear", Severity: evidence.SeverityMedium,
		Keywords: []string{"pass", "pwd", "secret", "token", "api_key", "apikey", "api-key", "api.key",
			"access_key", "accesskey", "access-key", "access.key", "auth_key", "authkey", "auth-key",
			"private_key", "privatekey", "private-key", "credential"},
		Regex:   re,
		Entropy: 3.0,
		Hit:     assignedAfter,
		SkipPaths: []string{
			"usr/share/**", "usr/lib/**", "usr/local/lib/python*/**", "usr/local/lib/ruby/**",
			"usr/local/go/**", "**/{site-packages,dist-packages,node_modules,vendor,third_party,gems}/**",
			"**/pkg/mod/**",
		},
		Valid: func(c Candidate) bool {
			quoted := strings.HasSuffix(c.Groups[0], c.Secret+`"`) || strings.HasSuffix(c.Groups[0], c.Secret+"'")
			return secretName(c.Groups[key]) && la.secretValue(c.Secret, quoted) && !prose(c, quoted, c.Groups[key])
		},
	}
}

// fold spells a lower-case ASCII word case-insensitively with character classes: (?i) would also fold
// in the Kelvin sign and the long s, which makes every step of the match slower.
func fold(word string) string {
	var b strings.Builder
	for _, c := range word {
		b.WriteString("[" + string(unicode.ToUpper(c)) + string(c) + "]")
	}
	return b.String()
}

// assignedAfter reports whether the identifier holding the keyword at text[at:] is followed by an
// assignment operator on the same line, and the line is not a comment: "password=", "token: ",
// "apiKey := ", "'pass' =>". Most mentions of passwords and tokens in code are not assignments, and
// skipping them is most of the generic rule's speed. Commented-out settings are mostly defaults and
// examples ("#password_encryption = scram-sha-256"); a real token format in a comment is still found
// by its own rule.
func assignedAfter(text []byte, at int) bool {
	ls := at
	for ls > 0 && text[ls-1] != '\n' {
		ls--
	}
	for ls < at && (text[ls] == ' ' || text[ls] == '\t') {
		ls++
	}
	if text[ls] == '#' || text[ls] == ';' || text[ls] == '/' && ls+1 < len(text) && text[ls+1] == '/' {
		return false
	}
	i := at
	for i < len(text) && identByte(text[i]) {
		i++
	}
	if i < len(text) && (text[i] == '"' || text[i] == '\'') {
		i++
	}
	if i < len(text) && text[i] == ']' {
		i++
	}
	for i < len(text) && (text[i] == ' ' || text[i] == '\t') {
		i++
	}
	if i >= len(text) {
		return false
	}
	switch text[i] {
	case ':':
		return i+1 >= len(text) || text[i+1] != ':' // not a scope operator (Perl, C++, Ruby)
	case '=':
		return i+1 >= len(text) || text[i+1] != '='
	}
	return false
}

func identByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'
}

// secretName reports whether an assigned name holds a secret: it has a secret word, and no word after
// the last one makes it about a secret instead (password_file, token_url, client_secret_id,
// password_min_length). Words before do not count: ENCRYPTION_KEY_SECRET and id_token hold secrets.
func secretName(key string) bool {
	// Of a property path (config.db.password), the last name is the one assigned.
	if i := strings.LastIndexByte(strings.TrimRight(key, "."), '.'); i >= 0 {
		key = key[i+1:]
	}
	words := splitWords(key)
	last := -1
	for i, w := range words {
		switch w {
		case "pass", "pwd":
			// DB_PASS, smtp_pass, DB_PWD; not PassThrough, pass_filenames, or a lone PWD (the shell's
			// working directory) or PASS (a test result).
			if i == len(words)-1 && i > 0 {
				last = i
			}
		case "password", "passwd", "passphrase", "pw", "secret", "secrets", "token", "credential",
			"credentials", "apikey", "accesskey", "authkey", "privatekey", "secretkey":
			last = i
		case "key":
			if i > 0 {
				switch words[i-1] {
				case "api", "access", "auth", "private", "secret":
					last = i
				}
			}
		}
	}
	if last < 0 {
		return false
	}
	for _, w := range words[last+1:] {
		switch w {
		case "id", "ids", "url", "urls", "uri", "uris", "endpoint", "file", "filename", "files", "path",
			"dir", "directory", "name", "names", "type", "types", "length", "len", "size", "count", "max",
			"min", "policy", "hash", "hashed", "sum", "digest", "sha", "sha1", "sha256", "sha512", "md5",
			"fingerprint", "integrity", "expiry", "expires", "expiration", "expire", "expired", "ttl",
			"timeout", "lifetime", "header", "field", "prefix", "suffix", "pattern", "regex", "format",
			"label", "placeholder", "version", "enabled", "enable", "required", "mode", "kind", "method",
			"provider", "ref", "helper", "command", "cmd", "prompt", "reset", "forgot", "strength",
			"rule", "rules", "location", "env", "hint", "text", "msg", "message", "error", "title",
			"description", "input", "algorithm", "alg", "encoding", "template", "route", "form", "param",
			"validator", "manager", "store", "source", "selector", "generator", "encryption", "scheme",
			"data", "permission", "permissions", "state", "auth", "authentication", "request", "response",
			"config", "configuration", "settings", "options", "opts", "reference", "spec", "info",
			"status", "service", "pem", "der", "pkcs8", "pkcs12", "p12", "jwk", "class", "object":
			return false
		}
	}
	return true
}

// prose reports whether an unquoted match sits in a sentence rather than a setting: words before the
// name ("Next page token: eav1Oz..."), or after a "name: value" on the same line. Settings have
// nothing but indentation or an "export" before them, and at most a comment after; a command-line
// flag (--password=x) or a shell assignment (TOKEN=x cmd) has the rest of its command line after it.
func prose(c Candidate, quoted bool, key string) bool {
	if quoted || strings.HasPrefix(key, "-") {
		return false
	}
	ls := bytes.LastIndexByte(c.Text[:c.Start], '\n') + 1
	before := strings.Fields(string(c.Text[ls : c.Start+strings.Index(c.Groups[0], key)]))
	words := 0
	for _, w := range before {
		if onlyIn(strings.ToLower(w), "abcdefghijklmnopqrstuvwxyz") {
			words++
		}
	}
	if words >= 2 {
		return true
	}
	// After "NAME=value" comes the rest of a command line (DB_PASSWORD=x ./migrate); after
	// "name: value", more words are a sentence.
	if op := c.Groups[0][strings.Index(c.Groups[0], key)+len(key):]; strings.Contains(op[:len(op)-len(c.Secret)], "=") {
		return false
	}
	le := bytes.IndexByte(c.Text[c.End:], '\n')
	if le < 0 {
		le = len(c.Text) - c.End
	}
	after := strings.TrimSpace(string(c.Text[c.End : c.End+le]))
	return after != "" && !strings.HasPrefix(after, "#") && !strings.HasPrefix(after, "//") &&
		!strings.HasPrefix(after, "\\") && !strings.HasPrefix(after, ";") && !strings.HasPrefix(after, ",") &&
		!strings.HasPrefix(after, "}") && !strings.HasPrefix(after, "--") && !strings.HasPrefix(after, "-")
}

// splitWords splits an identifier at '_', '-', '.' and camelCase humps, in lower case.
func splitWords(s string) []string {
	var words []string
	start := 0
	flush := func(end int) {
		if end > start {
			words = append(words, strings.ToLower(s[start:end]))
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_' || c == '-' || c == '.':
			flush(i)
			start = i + 1
		case c >= 'A' && c <= 'Z' && i > start && s[i-1] >= 'a' && s[i-1] <= 'z':
			flush(i)
			start = i
		}
	}
	flush(len(s))
	return words
}

// lookalikes holds the expressions that recognise values shaped like something other than a secret.
type lookalikes struct {
	uuid, dottedRef, fileName, url, urlCreds, hashPrefix, variable, constant *regexp.Regexp
}

func newLookalikes() *lookalikes {
	return &lookalikes{
		uuid:       regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`),
		dottedRef:  regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$]*(?:\.[A-Za-z_$][A-Za-z0-9_$]*)+$`),
		fileName:   regexp.MustCompile(`(?i)^[\w./-]+\.(?:pem|key|crt|cer|der|p12|pfx|jks|keystore|json|ya?ml|txt|conf|cfg|ini|env|properties|toml|xml|asc|gpg|pub|secret|token)$`),
		url:        regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://`),
		urlCreds:   regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://[^/@:\s]+:[^/@\s]+@`),
		hashPrefix: regexp.MustCompile(`(?i)^(?:sha1|sha224|sha256|sha384|sha512|md5|h1)[-:]`),
		// "$NAME" is a variable in shells, Makefiles, Perl and PHP: a value holding one is built, not
		// written down (this also passes over the odd real password with "$x" in it).
		variable: regexp.MustCompile(`\$[A-Za-z_{(]`),
		constant: regexp.MustCompile(`^(?:[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|_?[a-z][a-z0-9]*(?:_[a-z0-9]+)+)$`),
	}
}

// secretValue reports whether an assigned value can be a secret rather than a look-alike.
func (la *lookalikes) secretValue(v string, quoted bool) bool {
	if len(v) < 8 || len(v) > 300 || placeholder(v) {
		return false
	}
	l := strings.ToLower(v)
	for _, w := range [...]string{"password", "passwd", "secret", "token", "apikey", "api_key", "credential", "null", "none", "undefined"} {
		if strings.Contains(l, w) {
			return false
		}
	}
	// Templates and references: ${VAR}, $VAR, {{ .Values.x }}, %(name)s, #{x}, <your-token>, `cmd`,
	// os.getenv("X").
	// Regular expressions: .*, \d.
	for _, t := range [...]string{"${", "{{", "}}", "$(", "`", "%(", "%s", "%v", "#{", "{0}", "{}", "(", ".*", ".+", "\\d", "\\w", "\\s"} {
		if strings.Contains(v, t) {
			return false
		}
	}
	switch {
	case la.variable.MatchString(v), v[0] == '<' && v[len(v)-1] == '>', v[0] == '%' && v[len(v)-1] == '%':
		return false // $VAR, \$VAR, <placeholder>, %VAR%
	case strings.ContainsFunc(v, unicode.IsSpace):
		return false // prose, or a command line
	case !quoted && strings.ContainsAny(v, "|&(){}[]<>;?"), v[0] == '{', v[0] == '[',
		strings.Contains(v, "[") && strings.Contains(v, "]"):
		return false // code, JSON or a type, not a literal
	case !quoted && la.constant.MatchString(v):
		return false // a constant's or variable's name: TEST_DATA_BASE64, private_key_pkcs8
	case la.uuid.MatchString(v), la.dottedRef.MatchString(v), la.fileName.MatchString(v), la.hashPrefix.MatchString(v):
		return false
	case la.url.MatchString(v) && !la.urlCreds.MatchString(v):
		return false // a URL with no credentials in it
	case strings.HasPrefix(v, "/"), strings.HasPrefix(v, "./"), strings.HasPrefix(v, "../"), strings.HasPrefix(v, "~/"),
		strings.HasPrefix(l, "file:"), len(v) > 2 && v[1] == ':' && (v[2] == '\\' || v[2] == '/'):
		return false // a path
	case onlyIn(v, "0123456789.:-_+"):
		return false // a number, version or date
	case identifierLike(v):
		return false // an identifier, a word, or words-joined-like-this
	case base64Prose(v):
		return false
	}
	return true
}

func onlyIn(s, set string) bool {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(set, s[i]) < 0 {
			return false
		}
	}
	return true
}

// identifierLike reports whether v reads as a name rather than random characters: letters and
// separators (_-./) only, with either few capitals (camelCase, kebab-case, words) or few small letters
// (CONSTANT_CASE), or short. Random tokens mix cases about evenly, and almost always hold a digit.
func identifierLike(v string) bool {
	upper, lower := 0, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c >= 'A' && c <= 'Z':
			upper++
		case c >= 'a' && c <= 'z':
			lower++
		case c == '_' || c == '-' || c == '.' || c == '/':
		default:
			return false
		}
	}
	return len(v) < 16 || upper*3 <= len(v) || lower*3 <= len(v)
}

// base64Prose reports whether v is base64 of ordinary text with spaces in it, such as an encoded
// greeting or sentence, which is not a credential.
func base64Prose(v string) bool {
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		if b, err = base64.RawStdEncoding.DecodeString(v); err != nil {
			return false
		}
	}
	if !utf8.Valid(b) || !strings.Contains(string(b), " ") {
		return false
	}
	for _, r := range string(b) {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsSpace(r) && !unicode.IsPunct(r) {
			return false
		}
	}
	return true
}
