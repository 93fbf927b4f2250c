package secrets

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"regexp"
	"strings"
	"unicode"

	"github.com/ingot-build/ingot/pkg/evidence"
)

// Rule describes one kind of secret.
type Rule struct {
	// ID is stable: allow-lists and waivers name it.
	ID, Title string
	Severity  evidence.Severity
	// Keywords are lower-case strings, one of which must occur (in any case) in the text for the rule
	// to be tried at all. Unless WholeFile is set, every match of Regex must contain one of them, and
	// the expression only runs from the start of the word holding a keyword (letters, digits and
	// "_.-") to the end of its line: that is most of the speed.
	Keywords []string
	// Regex finds candidates. The secret is the first non-empty group named "secret" (alternatives may
	// each have one), else the whole match.
	Regex *regexp.Regexp
	// Entropy is the least Shannon entropy, in bits per byte, of a secret; 0 means no floor.
	Entropy float64
	// WholeFile runs Regex over the whole text, for secrets that span lines (PEM blocks, JSON
	// documents); Keywords then only gate the rule.
	WholeFile bool
	// Hit, when set, vets a keyword found at text[at:] before the expression runs around it, so that
	// a rule whose keywords are common words (password, token) skips the hits that cannot be part of
	// a match. It is not consulted for WholeFile rules.
	Hit func(text []byte, at int) bool
	// Valid, when set, is the last word on a candidate: it returns false for a look-alike.
	Valid func(Candidate) bool
	// SkipPaths are globs (as in Allow.Path) of files the rule does not apply to.
	SkipPaths []string
}

// Candidate is a match of a rule's expression, before Valid has looked at it.
type Candidate struct {
	// Text is all the text being scanned; Groups the submatches (0 is the whole match), which spans
	// Text[Start:End].
	Text       []byte
	Groups     []string
	Start, End int
	Secret     string
}

// Rule IDs of DefaultRules.
const (
	RuleAWSAccessKeyID     = "aws-access-key-id"
	RuleAWSSecretAccessKey = "aws-secret-access-key" //nolint:gosec // a rule ID, not a credential
	RuleGCPServiceAccount  = "gcp-service-account"
	RuleAzureStorageKey    = "azure-storage-key"
	RuleGitHubToken        = "github-token"
	RuleGitHubFineGrained  = "github-fine-grained-token"
	RuleGitLabToken        = "gitlab-token"
	RuleSlackToken         = "slack-token"
	RuleSlackWebhook       = "slack-webhook"
	RuleDiscordWebhook     = "discord-webhook"
	RuleTeamsWebhook       = "teams-webhook"
	RuleStripeKey          = "stripe-secret-key"
	RulePrivateKey         = "private-key"
	RuleJWT                = "jwt"
	RuleNPMToken           = "npm-access-token"
	RuleNPMRCAuth          = "npmrc-auth"
	RulePyPIToken          = "pypi-token"
	RuleDockerConfigAuth   = "docker-config-auth"
	RuleGeneric            = "generic-secret"
)

// DefaultRules returns the built-in rules, most specific first: where two rules find the same text,
// the earlier one reports it (a GitHub token assigned to TOKEN= is a github-token, not a generic
// secret).
//
// Severities: critical for keys that open cloud accounts or sign things (AWS secret keys, service
// accounts, storage keys, private keys, live Stripe keys); high for tokens that act as a user on a
// forge, chat or package registry; medium for webhooks (they can only post), JWTs (they expire) and
// generic assignments (they may be weak or stale).
func DefaultRules() []Rule {
	return []Rule{
		{
			ID: RuleAWSSecretAccessKey, Title: "AWS secret access key", Severity: evidence.SeverityCritical,
			Keywords: []string{"secret_access_key", "secretaccesskey", "secret-access-key", "secret.access.key"},
			Regex:    regexp.MustCompile(`(?i)secret[_.-]?access[_.-]?key["']?\s*(?::=|=>|=|:)\s*["']?(?P<secret>[A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)`),
			Entropy:  4.0,
		},
		{
			ID: RuleAWSAccessKeyID, Title: "AWS access key ID", Severity: evidence.SeverityHigh,
			Keywords: []string{"akia", "asia", "abia", "acca", "a3t"},
			Regex:    regexp.MustCompile(`\b(?P<secret>(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z2-7]{16})\b`),
			Entropy:  3.0,
		},
		gcpServiceAccount(),
		{
			ID: RuleAzureStorageKey, Title: "Azure storage account key", Severity: evidence.SeverityCritical,
			Keywords: []string{"accountkey="},
			Regex:    regexp.MustCompile(`(?i)AccountKey=(?P<secret>[A-Za-z0-9+/]{86}==)`),
			Entropy:  4.0,
		},
		{
			ID: RuleGitHubToken, Title: "GitHub token", Severity: evidence.SeverityHigh,
			Keywords: []string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_"},
			Regex:    regexp.MustCompile(`\b(?P<secret>gh[pousr]_[A-Za-z0-9]{36,251})\b`),
			Entropy:  3.5,
		},
		{
			ID: RuleGitHubFineGrained, Title: "GitHub fine-grained personal access token", Severity: evidence.SeverityHigh,
			Keywords: []string{"github_pat_"},
			Regex:    regexp.MustCompile(`\b(?P<secret>github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})\b`),
			Entropy:  3.5,
		},
		{
			ID: RuleGitLabToken, Title: "GitLab token", Severity: evidence.SeverityHigh,
			Keywords: []string{"glpat-", "glptt-", "gldt-", "glrt-", "glft-", "glsoat-", "glimt-", "glcbt-", "gloas-"},
			Regex:    regexp.MustCompile(`\b(?P<secret>(?:glpat|glptt|gldt|glrt|glft|glsoat|glimt|glcbt|gloas)-[A-Za-z0-9_-]{20,})`),
			Entropy:  3.5,
		},
		{
			ID: RuleSlackToken, Title: "Slack token", Severity: evidence.SeverityHigh,
			Keywords: []string{"xoxb-", "xoxa-", "xoxp-", "xoxr-", "xoxs-", "xapp-"},
			Regex:    regexp.MustCompile(`\b(?P<secret>xox[baprs]-[0-9]{6,16}-[0-9A-Za-z-]{12,}|xapp-[0-9]-[A-Z0-9]{8,14}-[0-9]{8,16}-[a-f0-9]{32,})`),
			Entropy:  3.5,
		},
		{
			ID: RuleSlackWebhook, Title: "Slack incoming webhook", Severity: evidence.SeverityMedium,
			Keywords: []string{"hooks.slack.com"},
			Regex:    regexp.MustCompile(`hooks\.slack\.com/(?:services/T[A-Z0-9]{6,12}/B[A-Z0-9]{6,12}|(?:workflows|triggers)/T[A-Z0-9]{6,12}/[A-Z0-9]{6,14}/[0-9]{6,20})/(?P<secret>[A-Za-z0-9]{20,32})\b`),
			Entropy:  3.0,
		},
		{
			ID: RuleDiscordWebhook, Title: "Discord webhook", Severity: evidence.SeverityMedium,
			Keywords: []string{"discord.com/api/webhooks/", "discordapp.com/api/webhooks/"},
			Regex:    regexp.MustCompile(`(?:(?:ptb|canary)\.)?discord(?:app)?\.com/api/webhooks/[0-9]{17,20}/(?P<secret>[A-Za-z0-9_-]{60,68})\b`),
			Entropy:  3.5,
		},
		{
			ID: RuleTeamsWebhook, Title: "Microsoft Teams incoming webhook", Severity: evidence.SeverityMedium,
			Keywords: []string{"webhook.office.com/webhookb2/"},
			Regex:    regexp.MustCompile(`[A-Za-z0-9-]+\.webhook\.office\.com/webhookb2/[0-9a-fA-F-]{36}@[0-9a-fA-F-]{36}/IncomingWebhook/(?P<secret>[0-9a-fA-F]{32})/[0-9a-fA-F-]{36}`),
			Entropy:  3.0,
		},
		{
			ID: RuleStripeKey, Title: "Stripe live secret key", Severity: evidence.SeverityCritical,
			Keywords: []string{"sk_live_", "rk_live_"},
			Regex:    regexp.MustCompile(`\b(?P<secret>[sr]k_live_[A-Za-z0-9]{24,247})\b`),
			Entropy:  3.5,
		},
		privateKey(),
		{
			ID: RuleJWT, Title: "JSON Web Token", Severity: evidence.SeverityMedium,
			Keywords: []string{"eyj"},
			Regex:    regexp.MustCompile(`\b(?P<secret>eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*)`),
			Valid:    validJWT,
		},
		{
			ID: RuleNPMToken, Title: "npm access token", Severity: evidence.SeverityHigh,
			Keywords: []string{"npm_"},
			Regex:    regexp.MustCompile(`\b(?P<secret>npm_[A-Za-z0-9]{36})\b`),
			Entropy:  3.5,
		},
		{
			ID: RuleNPMRCAuth, Title: "npm registry credential (.npmrc)", Severity: evidence.SeverityHigh,
			Keywords: []string{"_auth", "_password"},
			Regex:    regexp.MustCompile(`(?i)^_(?:auth|authToken|password)[ \t]*=[ \t]*["']?(?P<secret>[^\s"'#;]{16,})`),
			Entropy:  3.0,
			Valid:    func(c Candidate) bool { return tokenLike(c.Secret) && !placeholder(c.Secret) },
		},
		{
			ID: RulePyPIToken, Title: "PyPI upload token", Severity: evidence.SeverityHigh,
			Keywords: []string{"pypi-age"},
			Regex:    regexp.MustCompile(`\b(?P<secret>pypi-AgE(?:IcHlwaS5vcmc|NdGVzdC5weXBpLm9yZw)[A-Za-z0-9_-]{50,})`),
			Entropy:  3.5,
		},
		{
			ID: RuleDockerConfigAuth, Title: "Registry credential (docker config auths)", Severity: evidence.SeverityHigh,
			Keywords: []string{`"auth"`},
			Regex:    regexp.MustCompile(`"auth"\s*:\s*"(?P<secret>[A-Za-z0-9+/]{6,}={0,2})"`),
			Valid:    validDockerAuth,
		},
		generic(),
	}
}

func gcpServiceAccount() Rule {
	kind := regexp.MustCompile(`"type"\s*:\s*"service_account"`)
	return Rule{
		ID: RuleGCPServiceAccount, Title: "Google Cloud service account key", Severity: evidence.SeverityCritical,
		Keywords:  []string{`service_account`},
		Regex:     regexp.MustCompile(`"private_key"\s*:\s*"-----BEGIN (?:RSA )?PRIVATE KEY-----(?:\\r)?(?:\\n)?(?P<secret>[A-Za-z0-9+/=\\]{64,}?)-----END (?:RSA )?PRIVATE KEY-----`),
		Entropy:   4.5,
		WholeFile: true,
		Valid:     func(c Candidate) bool { return kind.Match(c.Text) },
	}
}

func privateKey() Rule {
	return Rule{
		ID: RulePrivateKey, Title: "Private key", Severity: evidence.SeverityCritical,
		Keywords: []string{"private key"},
		// The body may hold PEM headers (Proc-Type, DEK-Info), PGP armor headers, and "\n" escapes
		// when the key sits in a string literal; a header with no body is not a key.
		Regex:     regexp.MustCompile(`-----BEGIN[ A-Z0-9]{0,32}PRIVATE KEY(?: BLOCK)?-----(?P<secret>[A-Za-z0-9+/=\s\\:,.()-]{64,}?)-----END[ A-Z0-9]{0,32}PRIVATE KEY(?: BLOCK)?-----`),
		Entropy:   4.5,
		WholeFile: true,
		Valid:     func(c Candidate) bool { return longestBase64Run(c.Secret) >= 64 },
	}
}

// longestBase64Run is the longest run of base64 characters, reading line breaks, "\n" escapes and
// the indentation after them as nothing: a key's body is one long run, prose or an ellipsis is not.
func longestBase64Run(s string) int {
	best, run := 0, 0
	lineStart := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && (s[i+1] == 'n' || s[i+1] == 'r'):
			i++
			lineStart = true
		case c == '\n' || c == '\r':
			lineStart = true
		case (c == ' ' || c == '\t') && lineStart:
		case isBase64(c):
			run++
			best = max(best, run)
			lineStart = false
		default:
			run, lineStart = 0, false
		}
	}
	return best
}

func isBase64(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '='
}

// azuriteKey is the storage emulator's well-known key, published in Azure's documentation.
const azuriteKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

// jwtIOExample is the signature of the sample token on jwt.io, found in countless READMEs and tests.
const jwtIOExample = "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"

func validJWT(c Candidate) bool {
	parts := strings.Split(c.Secret, ".")
	if len(parts) != 3 {
		return false
	}
	var header struct {
		Alg string `json:"alg"`
	}
	var payload map[string]any
	if !decodeJSON(parts[0], &header) || header.Alg == "" || !decodeJSON(parts[1], &payload) {
		return false
	}
	// An unsigned token ("alg": "none") asserts nothing and cannot be replayed against a server that
	// checks signatures; a signed one needs a signature long enough to be real.
	return !strings.EqualFold(header.Alg, "none") && len(parts[2]) >= 16
}

func decodeJSON(seg string, v any) bool {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(seg, "="))
	return err == nil && json.Unmarshal(b, v) == nil
}

func validDockerAuth(c Candidate) bool {
	b, err := base64.StdEncoding.DecodeString(c.Secret)
	if err != nil {
		return false
	}
	user, pass, ok := strings.Cut(string(b), ":")
	if !ok || user == "" || len(pass) < 4 {
		return false
	}
	for _, r := range string(b) {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return !placeholder(pass) && !placeholder(user+pass)
}

// tokenLike says a value is made of the characters tokens are written in: no code, no spaces.
func tokenLike(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isBase64(c) && c != '-' && c != '_' && c != '.' && c != ':' && c != '~' {
			return false
		}
	}
	return true
}

// knownExample reports whether a secret is one published as an example by the people who define the
// format, and so opens nothing: the Azure storage emulator's key, jwt.io's sample token, the tokens
// of the OAuth 2.0 RFCs (6749, 6750).
func knownExample(secret string) bool {
	switch secret {
	case azuriteKey, "2YotnFZFEjr1zCsicMWpAA", "tGzv3JOkF0XG5Qx2TlKWIA", "mF_9.B5f-4.1JqM", "h480djs93hd8",
		"SplxlOBeZQQYbYS6WxSbIA", "8xLOxBtZp8":
		return true
	}
	return strings.HasSuffix(secret, "."+jwtIOExample)
}

// placeholder reports whether s reads as a stand-in rather than a secret: it spells a word that marks
// an example, a template or a redaction. A random token does not spell them; a documentation example
// does (AWS's AKIAIOSFODNN7EXAMPLE is deliberately not reported: it is published, opens nothing, and
// sits in every AWS SDK's docs and tests).
func placeholder(s string) bool {
	l := strings.ToLower(s)
	for _, w := range [...]string{
		"example", "dummy", "placeholder", "changeme", "change_me", "change-me", "changeit", "sample",
		"xxxxxx", "******", "......", "redacted", "replace_me", "replaceme", "insert_", "your_", "your-",
		"yourtoken", "yourkey", "yoursecret", "yourpassword", "0000000000", "1234567890", "abcdefgh",
		"anonymous",
	} {
		if strings.Contains(l, w) {
			return true
		}
	}
	return false
}

// lowerInto writes the ASCII lower case of b into dst (grown as needed) and returns it; byte offsets
// are kept, which strings.ToLower would not promise for non-ASCII text.
func lowerInto(dst, b []byte) []byte {
	if cap(dst) < len(b) {
		dst = make([]byte, len(b), len(b)+len(b)/4)
	}
	dst = dst[:len(b)]
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst[i] = c
	}
	return dst
}

// isBinary reports whether the head of a file says it is not text: an ELF header or a NUL byte.
func isBinary(head []byte) bool {
	return bytes.HasPrefix(head, []byte("\x7fELF")) || bytes.IndexByte(head, 0) >= 0
}
