package secrets

import (
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
// a value", and validGeneric throws out names that describe a secret rather than hold one (token_url,
// password_file) and values that are references, templates, paths, URLs, hashes, IDs or prose.
func generic() Rule {
	re := regexp.MustCompile(`(?i)(?:^|[^a-z0-9_])(?P<key>[a-z0-9_.-]*?(?:pass|pwd|secret|token|api[_.-]?key|access[_.-]?key|auth[_.-]?key|private[_.-]?key|credential)[a-z0-9_.-]*)["']?\]?[ \t]*(?::=|=>|=|:)[ \t]*(?:"(?P<secret>[^"\r\n]+)"|'(?P<secret>[^'\r\n]+)'|(?P<secret>[^\s"'` + "`" + `=,;)\]}][^\s"'` + "`" + `,;)\]}]*))`)
	key := re.SubexpIndex("key")
	la := newLookalikes()
	return Rule{
		ID: RuleGeneric, Title: "Secret assigned in the clear", Severity: evidence.SeverityMedium,
		Keywords: []string{"pass", "pwd", "secret", "token", "api_key", "apikey", "api-key", "api.key",
			"access_key", "accesskey", "access-key", "access.key", "auth_key", "authkey", "auth-key",
			"private_key", "privatekey", "private-key", "credential"},
		Regex:   re,
		Entropy: 3.0,
		Valid: func(c Candidate) bool {
			quoted := strings.HasSuffix(c.Groups[0], c.Secret+`"`) || strings.HasSuffix(c.Groups[0], c.Secret+"'")
			return secretName(c.Groups[key]) && la.secretValue(c.Secret, quoted)
		},
	}
}

// secretName reports whether an assigned name holds a secret: it has a secret word and no word that
// makes it about a secret (its file, URL, length, type, expiry...).
func secretName(key string) bool {
	words := splitWords(key)
	secret := false
	for _, w := range words {
		switch w {
		case "password", "passwd", "passphrase", "pass", "pwd", "pw", "secret", "secrets", "token",
			"credential", "credentials", "apikey", "accesskey", "authkey", "privatekey", "secretkey":
			secret = true
		case "id", "ids", "url", "urls", "uri", "uris", "endpoint", "file", "filename", "files", "path",
			"dir", "directory", "name", "names", "type", "types", "length", "len", "size", "count", "max",
			"min", "policy", "hash", "hashed", "sum", "digest", "sha", "sha1", "sha256", "sha512", "md5",
			"fingerprint", "integrity", "expiry", "expires", "expiration", "expire", "expired", "ttl",
			"timeout", "lifetime", "header", "field", "prefix", "suffix", "pattern", "regex", "format",
			"label", "placeholder", "version", "enabled", "enable", "required", "mode", "kind", "method",
			"provider", "ref", "helper", "command", "cmd", "prompt", "reset", "forgot", "strength",
			"rule", "rules", "location", "env", "hint", "text", "msg", "message", "error", "title",
			"description", "input", "algorithm", "alg", "encoding", "template", "route", "form", "param",
			"validator", "manager", "store", "source", "ref_name", "selector", "generator":
			return false
		}
	}
	if secret {
		return true
	}
	compact := strings.Join(words, "")
	for _, s := range [...]string{"apikey", "accesskey", "authkey", "privatekey", "secretkey", "password", "passwd"} {
		if strings.Contains(compact, s) {
			return true
		}
	}
	return false
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
	uuid, dottedRef, fileName, url, urlCreds, hashPrefix *regexp.Regexp
}

func newLookalikes() *lookalikes {
	return &lookalikes{
		uuid:       regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`),
		dottedRef:  regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$]*(?:\.[A-Za-z_$][A-Za-z0-9_$]*)+$`),
		fileName:   regexp.MustCompile(`(?i)^[\w./-]+\.(?:pem|key|crt|cer|der|p12|pfx|jks|keystore|json|ya?ml|txt|conf|cfg|ini|env|properties|toml|xml|asc|gpg|pub|secret|token)$`),
		url:        regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://`),
		urlCreds:   regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://[^/@:\s]+:[^/@\s]+@`),
		hashPrefix: regexp.MustCompile(`(?i)^(?:sha1|sha224|sha256|sha384|sha512|md5|h1)[-:]`),
	}
}

// secretValue reports whether an assigned value can be a secret rather than a look-alike.
func (la *lookalikes) secretValue(v string, quoted bool) bool {
	if len(v) < 8 || len(v) > 300 || placeholder(v) {
		return false
	}
	l := strings.ToLower(v)
	for _, w := range [...]string{"password", "passwd", "secret", "token", "apikey", "api_key", "null", "none", "undefined"} {
		if strings.Contains(l, w) {
			return false
		}
	}
	// Templates and references: ${VAR}, $VAR, {{ .Values.x }}, %(name)s, #{x}, <your-token>, `cmd`,
	// os.getenv("X").
	for _, t := range [...]string{"${", "{{", "}}", "$(", "`", "%(", "%s", "%v", "#{", "{0}", "{}", "("} {
		if strings.Contains(v, t) {
			return false
		}
	}
	switch {
	case v[0] == '$', v[0] == '<' && v[len(v)-1] == '>', v[0] == '%' && v[len(v)-1] == '%':
		return false
	case strings.ContainsFunc(v, unicode.IsSpace):
		return false // prose, or a command line
	case !quoted && strings.ContainsAny(v, "|&(){}[]<>;"):
		return false // code, not a literal
	case la.uuid.MatchString(v), la.dottedRef.MatchString(v), la.fileName.MatchString(v), la.hashPrefix.MatchString(v):
		return false
	case la.url.MatchString(v) && !la.urlCreds.MatchString(v):
		return false // a URL with no credentials in it
	case strings.HasPrefix(v, "/"), strings.HasPrefix(v, "./"), strings.HasPrefix(v, "../"), strings.HasPrefix(v, "~/"),
		strings.HasPrefix(l, "file:"), len(v) > 2 && v[1] == ':' && (v[2] == '\\' || v[2] == '/'):
		return false // a path
	case onlyIn(v, "0123456789.:-_+"):
		return false // a number, version or date
	case onlyLetters(v) && (len(v) < 16 || v == strings.ToLower(v) || v == strings.ToUpper(v)):
		return false // an identifier or a word
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

func onlyLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_') {
			return false
		}
	}
	return true
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
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsSpace(r) || unicode.IsPunct(r)) {
			return false
		}
	}
	return true
}
