package secrets_test

import (
	"fmt"

	"github.com/ingot-build/ingot/pkg/secrets"
)

func ExampleScanBytes() {
	config := []byte(`# deploy.env
GITHUB_TOKEN=ghp_Q7vLm2XkR9tB4nWc8ZpJ3sYd6HfA1gEu5KoT
DB_PASSWORD=${DB_PASSWORD}
`)
	for _, m := range secrets.ScanBytes("/app/deploy.env", config, nil) {
		fmt.Println(m.Rule.ID, m.Path, m.Line, m.Redacted())
	}
	// Output:
	// github-token /app/deploy.env 2 ghp_****
}
