package sbom

import (
	"errors"
	"fmt"

	"github.com/ingot-build/ingot/internal/cdxschema"
)

// ValidateCycloneDX validates a CycloneDX document against the embedded 1.6 schema, its errors about the
// document wrapping ErrInvalid like ValidateSPDX's, so the tests treat both formats alike.
func ValidateCycloneDX(data []byte) error {
	err := cdxschema.Validate(data, schemas)
	if errors.Is(err, cdxschema.ErrInvalid) {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return err
}
