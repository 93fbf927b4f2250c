package harden

import (
	"slices"

	"github.com/ingot-build/ingot/pkg/evidence"
)

// Profile is a named set of rules with their severities.
type Profile string

// Profiles.
const (
	// ProfileMinimal is every rule, strict: what ingot's golden images must pass. It is the default.
	ProfileMinimal Profile = "minimal"
	// ProfileCIS is the rules that implement a recommendation of CIS Docker Benchmark v1.6.0 §4, with
	// that recommendation's severity.
	ProfileCIS Profile = "cis"
)

// Profiles lists the profiles, default first.
func Profiles() []Profile { return []Profile{ProfileMinimal, ProfileCIS} }

// Rule IDs. They are stable: a waiver or a policy names them, so a rule is never renumbered.
const (
	RuleRootUser       = "INGOT-H001"
	RuleShell          = "INGOT-H002"
	RulePackageManager = "INGOT-H003"
	RuleSetuid         = "INGOT-H004"
	RuleWorldWritable  = "INGOT-H005"
	RuleEmptyPassword  = "INGOT-H006"
	RuleDuplicateID    = "INGOT-H007"
	RuleLeftovers      = "INGOT-H008"
	RuleAddURL         = "INGOT-H009"
	RuleBaseDigest     = "INGOT-H010"
	RuleSecrets        = "INGOT-H011"
)

// Rule describes one hardening check.
type Rule struct {
	ID string
	// Title states what the rule requires, so "passed" and "failed" both read right after it.
	Title string
	// Description says why the rule matters; Remediation what to change when it fails.
	Description, Remediation string
	// Severity applies in the minimal profile.
	Severity evidence.Severity
	// CIS is the CIS Docker Benchmark v1.6.0 recommendation the rule implements ("4.1"), or empty.
	CIS string
	// CISSeverity applies in the cis profile. The benchmark itself does not rank its recommendations;
	// these are the severities of Trivy's docker-cis-1.6.0 compliance specification, so reports agree
	// with the tool users compare against.
	CISSeverity evidence.Severity
	// Profiles the rule belongs to: minimal for every rule, cis for those with a CIS recommendation.
	Profiles []Profile
}

// severity returns the rule's severity in profile p.
func (r Rule) severity(p Profile) evidence.Severity {
	if p == ProfileCIS && r.CIS != "" {
		return r.CISSeverity
	}
	return r.Severity
}

// In reports whether the rule belongs to profile p.
func (r Rule) In(p Profile) bool { return slices.Contains(r.Profiles, p) }

// Rules returns every rule, in ID order.
func Rules() []Rule {
	rules := []Rule{
		{
			ID: RuleRootUser, Title: "Run as a non-root user",
			Description: "A process running as uid 0 in a container is root on the host's kernel: one escape or one " +
				"writable host mount away from the host. The image config should name a user other than root.",
			Remediation: "Set a non-root user (ingot specs do by default: accounts.run-as), preferably numeric " +
				"(\"65532:65532\") so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.",
			Severity: evidence.SeverityHigh, CIS: "4.1", CISSeverity: evidence.SeverityHigh,
		},
		{
			ID: RuleShell, Title: "No shell",
			Description: "A shell turns any code execution bug into an interactive foothold and is what most " +
				"post-exploitation tooling expects. A minimal image runs its one program and needs none.",
			Remediation: "Remove the shell's package (dash, bash, busybox) or build the image without it; debug with " +
				"an ephemeral container instead.",
			Severity: evidence.SeverityMedium, CIS: "4.3", CISSeverity: evidence.SeverityHigh,
		},
		{
			ID: RulePackageManager, Title: "No package manager",
			Description: "A package manager lets an intruder install tools, and its presence means the image is " +
				"maintained by mutation rather than by rebuilding.",
			Remediation: "Leave apt, dpkg, apk, pip and their kin out of the runtime image; install packages at build " +
				"time (ingot does so without a package manager).",
			Severity: evidence.SeverityMedium, CIS: "4.3", CISSeverity: evidence.SeverityHigh,
		},
		{
			ID: RuleSetuid, Title: "No setuid or setgid files",
			Description: "Setuid and setgid executables raise the privileges of whoever runs them; they are how a " +
				"non-root process becomes root.",
			Remediation: "Remove the setuid and setgid bits (chmod u-s,g-s) or the files; ingot specs can do so with " +
				"a paths entry of type permissions.",
			Severity: evidence.SeverityHigh, CIS: "4.8", CISSeverity: evidence.SeverityHigh,
		},
		{
			ID: RuleWorldWritable, Title: "No world-writable files or directories outside /tmp",
			Description: "Anyone in the container can change a world-writable file, or replace the entries of a " +
				"world-writable directory that lacks the sticky bit. /tmp and /var/tmp are exempt, and so are " +
				"sticky directories elsewhere.",
			Remediation: "Remove write permission for others (chmod o-w), or set the sticky bit on shared directories.",
			Severity:    evidence.SeverityMedium,
		},
		{
			ID: RuleEmptyPassword, Title: "No account with an empty password",
			Description: "An empty password field in /etc/passwd or /etc/shadow lets anyone log in as that account " +
				"without a password (CVE-2019-5021 gave Alpine's root one).",
			Remediation: "Lock the account: put \"x\" in /etc/passwd and \"*\" or \"!\" in /etc/shadow.",
			Severity:    evidence.SeverityHigh,
		},
		{
			ID: RuleDuplicateID, Title: "Unique UIDs and GIDs",
			Description: "Two accounts with one uid (or two groups with one gid) are the same principal to the " +
				"kernel, so file ownership and audit logs cannot tell them apart.",
			Remediation: "Give each user in /etc/passwd and each group in /etc/group its own id.",
			Severity:    evidence.SeverityMedium,
		},
		{
			ID: RuleLeftovers, Title: "No build leftovers",
			Description: "Version control directories, cloud and SSH credentials, Dockerfiles and package caches " +
				"leak source, history and keys, and take space for nothing: .git, .aws, .ssh/id_* private keys, " +
				"Dockerfile or Containerfile, and the apt, apk, pip, npm, yarn and Go build caches.",
			Remediation: "Exclude them from the build context (.dockerignore) or delete them in the same step that " +
				"created them; build in a separate stage.",
			Severity: evidence.SeverityMedium,
		},
		{
			ID: RuleAddURL, Title: "No ADD from a URL",
			Description: "ADD from a URL fetches content at build time without verifying it: whoever controls the " +
				"URL, or the network, controls the layer. ADD --checksum=sha256:... is verified and passes.",
			Remediation: "Pin the download with ADD --checksum=sha256:..., or download and verify it in a build " +
				"stage and COPY the file; ingot specs only take verified packages and local files.",
			Severity: evidence.SeverityMedium, CIS: "4.9", CISSeverity: evidence.SeverityLow,
		},
		{
			ID: RuleBaseDigest, Title: "Base image pinned by digest",
			Description: "The org.opencontainers.image.base.name annotation (or label) names the base image; without " +
				"org.opencontainers.image.base.digest, or a digest in the name, nobody can tell which base " +
				"was used, and a rebuild may silently take another.",
			Remediation: "Pin the base by digest (FROM name@sha256:...; ingot locks it) and record " +
				"org.opencontainers.image.base.digest.",
			Severity: evidence.SeverityMedium, CIS: "4.2", CISSeverity: evidence.SeverityHigh,
		},
		{
			ID: RuleSecrets, Title: "No secrets",
			Description: "Credentials in layers, ENV or build history are readable by everyone who can pull the " +
				"image, for as long as any copy of it exists.",
			Remediation: "Revoke the credential, remove it from the image history (rebuild without it) and pass " +
				"secrets at run time or through build secret mounts.",
			Severity: evidence.SeverityCritical, CIS: "4.10", CISSeverity: evidence.SeverityCritical,
		},
	}
	for i := range rules {
		rules[i].Profiles = []Profile{ProfileMinimal}
		if rules[i].CIS != "" {
			rules[i].Profiles = append(rules[i].Profiles, ProfileCIS)
		}
	}
	return rules
}
