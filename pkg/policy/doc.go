// Package policy is ingot's admission policy: which namespaces it governs, which images (matched by
// glob after normalising references, so that no spelling of a registry escapes a rule) must be signed
// by which keys, carry which attestations whose predicates meet CEL conditions, and be current
// versions in the catalog. Policy files are strict YAML with a JSON schema generated from these types.
// An Evaluator decides about one image at a time through two small interfaces, Registry and Catalog,
// so the webhook, ingot policy test and ingot admission review all run the same decision.
package policy
