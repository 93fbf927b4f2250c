package secrets

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The positives are realistic but fake: random values in each format, generated for these tests.
func TestPositives(t *testing.T) {
	tests := []struct {
		file string
		want map[string]int
	}{
		{"aws.txt", map[string]int{RuleAWSAccessKeyID: 2, RuleAWSSecretAccessKey: 2}},
		{"aws-env.txt", map[string]int{RuleAWSAccessKeyID: 2, RuleAWSSecretAccessKey: 2}},
		{"gcp-service-account.txt", map[string]int{RuleGCPServiceAccount: 1}},
		{"azure-storage-key.txt", map[string]int{RuleAzureStorageKey: 2}},
		{"github-token.txt", map[string]int{RuleGitHubToken: 4}},
		{"github-fine-grained-token.txt", map[string]int{RuleGitHubFineGrained: 1}},
		{"gitlab-token.txt", map[string]int{RuleGitLabToken: 2}},
		{"slack-token.txt", map[string]int{RuleSlackToken: 2}},
		{"slack-webhook.txt", map[string]int{RuleSlackWebhook: 1}},
		{"discord-webhook.txt", map[string]int{RuleDiscordWebhook: 1}},
		{"teams-webhook.txt", map[string]int{RuleTeamsWebhook: 1}},
		{"stripe-secret-key.txt", map[string]int{RuleStripeKey: 2}},
		{"private-key.txt", map[string]int{RulePrivateKey: 4}},
		{"jwt.txt", map[string]int{RuleJWT: 2}},
		{"npm-access-token.txt", map[string]int{RuleNPMToken: 1}},
		{"npmrc-auth.txt", map[string]int{RuleNPMRCAuth: 2}},
		{"pypi-token.txt", map[string]int{RulePyPIToken: 1}},
		{"docker-config-auth.txt", map[string]int{RuleDockerConfigAuth: 2}},
		{"generic-secret.txt", map[string]int{RuleGeneric: 11}},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "positives", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int{}
			for _, m := range ScanBytes(tt.file, data, nil) {
				got[m.Rule.ID]++
				covered[m.Rule.ID] = true
				if !strings.Contains(string(data[m.Start:m.End]), m.Secret) || m.Line < 1 {
					t.Errorf("%v: bad span or line", m)
				}
				if line := strings.Split(string(data), "\n")[m.Line-1]; !strings.Contains(line, m.Secret[:min(len(m.Secret), 8)]) {
					t.Errorf("%v: line %d is %q", m, m.Line, line)
				}
			}
			if len(got) != len(tt.want) {
				t.Errorf("found %v, want %v", got, tt.want)
			}
			for id, n := range tt.want {
				if got[id] != n {
					t.Errorf("found %d %s, want %d (all: %v)", got[id], id, n, got)
				}
			}
		})
	}
	for _, r := range DefaultRules() {
		if !covered[r.ID] {
			t.Errorf("no positive fixture exercises rule %s", r.ID)
		}
	}
}

// The negatives are look-alikes a scanner must not report: placeholders, documentation examples,
// hashes, UUIDs, public keys, lockfile integrity strings, minified code, prose.
func TestNegatives(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "negatives", "*"))
	if err != nil || len(files) == 0 {
		t.Fatal("no negative fixtures", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range ScanBytes(f, data, nil) {
				t.Errorf("false positive: %v in line %q", m, strings.Split(string(data), "\n")[m.Line-1])
			}
		})
	}
}

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"ghp_Q7vLm2XkR9tB4nWc8ZpJ3sYd6HfA1gEu5KoT", "ghp_****"},
		{"hunter22hunter2", "hun****"},
		{"abcdefgh", "ab****"},
		{"abc", "****"},
		{"", "****"},
		{"pässwörd-long-enough", "päs****"}, // 4 bytes
		{"ääää-long-enough-too", "ää****"},
	}
	for _, tt := range tests {
		if got := Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSecretName(t *testing.T) {
	for key, want := range map[string]bool{
		"DB_PASSWORD": true, "password": true, "apiKey": true, "client_secret": true, "GH_TOKEN": true,
		"smtp_pass": true, "x-api-key": true, "secretKey": true, "accessToken": true,
		"password_file": false, "tokenUrl": false, "token_type": false, "secretName": false,
		"secretKeyRef": false, "tokenizer": false, "bypass": false, "passenger": false, "compass": false,
		"PASSWORD_MIN_LENGTH": false, "api_key_id": false,
	} {
		if got := secretName(key); got != want {
			t.Errorf("secretName(%q) = %v, want %v", key, got, want)
		}
	}
}

func TestBinarySkipped(t *testing.T) {
	text := []byte("GITHUB_TOKEN=ghp_Q7vLm2XkR9tB4nWc8ZpJ3sYd6HfA1gEu5KoT\n")
	if len(ScanBytes("a", text, nil)) != 1 {
		t.Fatal("the token in text was not found")
	}
	for name, data := range map[string][]byte{
		"elf": append([]byte("\x7fELF\x02\x01\x01"), text...),
		"nul": append(append([]byte("header"), 0), text...),
	} {
		if ms := ScanBytes(name, data, nil); len(ms) != 0 {
			t.Errorf("%s: found %v in a binary", name, ms)
		}
	}
}

// The generic rule stays out of third-party trees; the rules for real credential formats do not.
func TestGenericScope(t *testing.T) {
	text := []byte("password = \"Liw4YcNNv3q1svUk\"\nGITHUB_TOKEN=ghp_Q7vLm2XkR9tB4nWc8ZpJ3sYd6HfA1gEu5KoT\n")
	for path, want := range map[string]string{
		"/app/config.ini": "generic-secret github-token",
		"/etc/app.conf":   "generic-secret github-token",
		"/usr/lib/python3/dist-packages/x/doc.py":              "github-token",
		"/usr/local/lib/python3.12/site-packages/x/conf.py":    "github-token",
		"/app/node_modules/x/index.js":                         "github-token",
		"/usr/share/perl5/Net/FTP.pm":                          "github-token",
		"/home/app/.local/lib/python3.12/site-packages/x/a.py": "github-token",
		"/srv/app/vendor/github.com/acme/client/client.go":     "github-token",
	} {
		var got []string
		for _, m := range ScanBytes(path, text, nil) {
			got = append(got, m.Rule.ID)
		}
		if strings.Join(got, " ") != want {
			t.Errorf("%s: found %v, want %s", path, got, want)
		}
	}
}
