package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/spf13/cobra"

	"github.com/ingot-build/ingot/pkg/attest"
	"github.com/ingot-build/ingot/pkg/imageref"
	"github.com/ingot-build/ingot/pkg/pipeline"
	"github.com/ingot-build/ingot/pkg/sign"
)

// registryFlags are shared by the commands that talk to registries.
type registryFlags struct {
	insecure bool
	format   string
}

func (f *registryFlags) add(cmd *cobra.Command, formatHelp string) {
	cmd.Flags().BoolVar(&f.insecure, "insecure", false, "allow plain HTTP to a non-loopback registry")
	cmd.Flags().StringVar(&f.format, "format", "both", formatHelp)
}

// parse reads a registry reference. A name of this machine (an entry of the layout store, a layout, an
// archive, anything path-like) is refused before any request: these verbs work on registries, and
// "static:bookworm" sent there would be docker.io/library/static. registry:REF forces a registry.
func (f *registryFlags) parse(g *globalFlags, cmd *cobra.Command, arg string) (name.Reference, error) {
	env, err := g.env()
	if err != nil {
		return nil, err
	}
	if what, ok := imageref.Local(arg, env.Store().Layouts()); ok {
		msg := fmt.Sprintf("%s names %s: ingot %s works on images in a registry, and this one is local. "+
			"Push it first (ingot build --push REF, or skopeo copy oci:DIR:TAG docker://REF) and give REF", arg, what, cmd.Name())
		if strings.HasPrefix(what, "ingot's") { // a store name could also be a registry's
			msg += fmt.Sprintf("; %s%s looks the name up in a registry instead", imageref.RegistryPrefix, arg)
		}
		return nil, usageError{errors.New(msg)}
	}
	var opts []name.Option
	if f.insecure {
		opts = append(opts, name.Insecure)
	}
	ref := strings.TrimPrefix(arg, imageref.RegistryPrefix)
	r, err := name.ParseReference(ref, opts...)
	if err != nil {
		return nil, usageErrorf("image reference %q: %v", ref, err)
	}
	return r, nil
}

// localHelp says how the registry verbs read their image arguments.
const localHelp = `IMAGE is a registry reference; registry:REF says so explicitly. A name of this machine (an image
in ingot's store such as static:bookworm, an OCI layout, a docker archive, anything that looks like a
path) is refused (exit code 2) without contacting any registry: push it first.`

// target parses the image argument and the format flags.
func (f *registryFlags) target(g *globalFlags, cmd *cobra.Command, arg string) (name.Reference, sign.Options, error) {
	ref, err := f.parse(g, cmd, arg)
	if err != nil {
		return nil, sign.Options{}, err
	}
	o, err := f.options(g, cmd)
	return ref, o, err
}

func (f *registryFlags) options(g *globalFlags, cmd *cobra.Command) (sign.Options, error) {
	fm, err := sign.ParseFormat(f.format)
	if err != nil {
		return sign.Options{}, usageError{err}
	}
	ro, err := g.remote(cmd)
	if err != nil {
		return sign.Options{}, err
	}
	return sign.Options{Formats: fm, RemoteOptions: ro}, nil
}

// remote is how commands reach registries: the docker config's credentials, the test hook's
// transport when set, and the data directory's cache of signature material (content-addressed, checked
// on every read). The data directory is swept before that cache is first written to, and not at all
// when a verification is served from it.
func (g *globalFlags) remote(cmd *cobra.Command) (sign.RemoteOptions, error) {
	env, err := g.env()
	if err != nil {
		return sign.RemoteOptions{}, err
	}
	return sign.RemoteOptions{Transport: g.registryTransport(), CacheDir: env.Store().Signatures(), BeforeCacheWrite: func() { g.sweep(cmd, env) }}, nil
}

// keyFlags name a private key and where its password comes from.
type keyFlags struct {
	key, passwordFile string
}

func (f *keyFlags) add(cmd *cobra.Command, keyHelp string) {
	cmd.Flags().StringVar(&f.key, "key", "", keyHelp)
	cmd.Flags().StringVar(&f.passwordFile, "key-password-file", "", passwordFileHelp)
}

// loadSigner reads the private key file, with its password (see readPassword).
func (f keyFlags) loadSigner(g *globalFlags, cmd *cobra.Command) (sign.Signer, error) {
	path := f.key
	if path == "" {
		return nil, usageErrorf("--key is required: a private key from ingot key generate or cosign generate-key-pair")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, usageErrorf("reading the key: %v", err)
	}
	// What the file is is said before a password is asked for.
	if err := sign.CheckPrivateKey(data); errors.Is(err, sign.ErrPublicKeyGiven) {
		verb := cmd.Name()
		if verb == "build" {
			verb = "build --sign"
		}
		return nil, keyMixup(verb, path, sign.KeyPublic)
	} else if err != nil {
		return nil, fmt.Errorf("loading %s: %w", path, err)
	}
	env, err := g.env()
	if err != nil {
		return nil, err
	}
	pw, err := readPassword(cmd, env, f.passwordFile, false)
	if err != nil {
		return nil, err
	}
	s, err := sign.LoadPrivateKey(data, pw)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", path, err)
	}
	return s, nil
}

func loadVerifier(path string) (sign.Verifier, error) {
	if path == "" {
		return nil, usageErrorf("--key is required: the public key (PEM)")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, usageErrorf("reading the key: %v", err)
	}
	if sign.KindOfKey(data) == sign.KeyPrivate {
		return nil, keyMixup("verify", path, sign.KeyPrivate)
	}
	v, err := sign.LoadPublicKey(data)
	if err != nil {
		return nil, usageErrorf("loading %s: %v", path, err)
	}
	return v, nil
}

func newSignCmd(g *globalFlags) *cobra.Command {
	var f registryFlags
	var key keyFlags
	cmd := &cobra.Command{
		Use:   "sign IMAGE",
		Short: "Sign an image in a registry, in cosign's formats",
		Long: `Sign an image in a registry with a key, in the formats cosign, Kyverno and policy-controller read:
a simple-signing signature under the sha256-<hex>.sig tag (legacy) and a sigstore bundle stored as an
OCI 1.1 referrer (bundle). An index is signed with each of its platform manifests. Nothing goes to a
transparency log; signing again with the same key adds nothing.

` + localHelp,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, o, err := f.target(g, cmd, args[0])
			if err != nil {
				return err
			}
			s, err := key.loadSigner(g, cmd)
			if err != nil {
				return err
			}
			w, err := sign.Sign(cmd.Context(), ref, s, o)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "signed %s: %d new, %d already there\n", ref, w.Signatures, w.Present)
			return err
		},
	}
	key.add(cmd, "private key file (cosign format)")
	f.add(cmd, "signature format: "+signFormatHelp())
	return cmd
}

func newAttestCmd(g *globalFlags) *cobra.Command {
	var f registryFlags
	var key keyFlags
	var predType, predFile string
	cmd := &cobra.Command{
		Use:   "attest IMAGE",
		Short: "Attach signed in-toto attestations to an image in a registry",
		Long: `Attach signed in-toto attestations (DSSE) to an image in a registry, as .att layers and as
sigstore bundle referrers.

With --predicate and --type, the file is attested, as cosign attest does (types: slsaprovenance1, spdxjson,
cyclonedx, vuln, lint, test, or a URI). Without them, the evidence ingot recorded when it built the image
is attested: SLSA provenance, SPDX and CycloneDX SBOMs, the vulnerability scan, hardening and test
results; for an index, each platform image gets its own. For an image ingot did not build, the evidence
stages run now (SBOMs, scan, lint: there is no provenance to give) and their documents are recorded in
the data directory, so that attesting again attests the same documents.

` + localHelp,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, o, err := f.target(g, cmd, args[0])
			if err != nil {
				return err
			}
			if (predType == "") != (predFile == "") {
				return usageErrorf("--predicate and --type go together")
			}
			s, err := key.loadSigner(g, cmd)
			if err != nil {
				return err
			}
			if predFile != "" {
				uri, err := attest.ResolveType(predType)
				if err != nil {
					return err
				}
				data, err := os.ReadFile(predFile)
				if err != nil {
					return usageErrorf("reading the predicate: %v", err)
				}
				if !json.Valid(data) {
					return usageErrorf("%s is not JSON", predFile)
				}
				w, err := sign.Attest(cmd.Context(), ref, s, []sign.Predicate{{Type: uri, JSON: data}}, o)
				if err != nil {
					return err
				}
				return printWritten(cmd.OutOrStdout(), ref, w)
			}
			env, err := g.writeEnv(cmd) // evidence of an image built elsewhere is recorded
			if err != nil {
				return err
			}
			return attestEvidence(cmd.Context(), cmd.OutOrStdout(), pipelineOptions(env, g, cmd, nil), ref, s, o)
		},
	}
	key.add(cmd, "private key file (cosign format)")
	cmd.Flags().StringVar(&predType, "type", "", "predicate type of --predicate: "+typeHelp())
	cmd.Flags().StringVar(&predFile, "predicate", "", "predicate file (JSON) to attest")
	f.add(cmd, "attestation format: "+signFormatHelp())
	return cmd
}

func printWritten(w io.Writer, ref name.Reference, n sign.Written) error {
	_, err := fmt.Fprintf(w, "attested %s: %d new, %d already there\n", ref, n.Attestations, n.Present)
	return err
}

// attestEvidence attests the evidence of the image ref names (for an index, each platform image's
// own): what ingot recorded when it built the image or collected its evidence before, else what the
// evidence stages find now (pipeline.ImageEvidence).
func attestEvidence(ctx context.Context, out io.Writer, opt pipeline.Options, ref name.Reference, s sign.Signer, o sign.Options) error {
	t, err := sign.ResolveTarget(ctx, ref, o.RemoteOptions)
	if err != nil {
		return err
	}
	opt.Remote = append(opt.Remote, remote.WithTransport(o.Transport), remote.WithAuthFromKeychain(authn.DefaultKeychain))
	for _, img := range t.Images() {
		set, err := pipeline.ImageEvidence(ctx, img.Ref, opt)
		if err != nil {
			return err
		}
		preds, err := attest.Predicates(set)
		if err != nil {
			return err
		}
		w, err := sign.AttestTarget(ctx, img, s, preds, o)
		if err != nil {
			return err
		}
		if err := printWritten(out, img.Ref, w); err != nil {
			return err
		}
	}
	return nil
}

func newVerifyCmd(g *globalFlags) *cobra.Command {
	var f registryFlags
	var key, attType, output string
	var noCache bool
	cmd := &cobra.Command{
		Use:   "verify IMAGE",
		Short: "Verify an image's signatures, or its attestations, with a public key",
		Long: `Verify an image's signatures with a public key, in either format (legacy .sig or sigstore bundle
referrers). With --attestation TYPE, verify its attestations of that type instead and print their
predicates, one JSON document per line (slsaprovenance1, spdxjson, cyclonedx, vuln, lint, test, or a URI).

It fails closed, with a distinct error for: no signatures, another key, an altered signature or payload, a
signature of another image, content that does not match its digest, and a registry failure. Nothing but
the registry is contacted: no transparency log, no certificate authority, no TUF.

Signature material named by digest (payloads, envelopes, bundles, referrer manifests) is kept in the data
directory's cache and hashed again on every read; tags, referrer lists and the image's manifest are
always fetched. --no-cache fetches everything.

For an index, the index's signature and each platform manifest's are checked, and each is reported
on its own line ("verified REPO@sha256:... (index): legacy, bundle", "verified REPO linux/amd64
sha256:...: legacy, bundle"); every one must verify. --attestation checks each platform image's
attestations, since each describes its own image: every platform must have one that verifies, and
a failure names the platforms that do not. A predicate found in both formats is printed once; in
text mode a line on stderr says which platform each group of predicates belongs to, and -o json
gives each predicate's digest, platform and formats.

` + localHelp,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, o, err := f.target(g, cmd, args[0])
			if err != nil {
				return err
			}
			if noCache {
				o.CacheDir = ""
			}
			if err := checkOutput(output, verifyOutputs()); err != nil {
				return err
			}
			v, err := loadVerifier(key)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if attType == "" {
				signed, err := sign.VerifyEach(cmd.Context(), ref, v, o)
				if err != nil {
					return err
				}
				return printSignatures(out, ref, signed, output)
			}
			uri, err := attest.ResolveType(attType)
			if err != nil {
				return err
			}
			attested, err := sign.VerifyEachAttestations(cmd.Context(), ref, v, uri, o)
			if err != nil {
				return err
			}
			var notes io.Writer
			if !g.quiet {
				notes = cmd.ErrOrStderr()
			}
			return printAttestations(out, notes, attested, output)
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "public key file (PEM)")
	cmd.Flags().StringVar(&attType, "attestation", "", "verify attestations of this predicate type instead of signatures: "+typeHelp())
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output: "+oneOf(verifyOutputs()))
	cmd.Flags().BoolVar(&noCache, "no-cache", false, "fetch all signature material from the registry, ignoring the local cache")
	f.add(cmd, "formats to check (either one verifying is enough): "+signFormatHelp())
	return cmd
}

// printSignatures prints what verified. A single image's signatures are one line each, as they always
// were; for an index, one line per manifest (the index, then each platform) with its formats. In
// json, one array of every signature with the digest (and platform) it is about.
func printSignatures(w io.Writer, ref name.Reference, signed []sign.Signed, output string) error {
	if output == "json" {
		type js struct {
			Digest   string          `json:"digest"`
			Platform string          `json:"platform,omitempty"`
			Index    bool            `json:"index,omitempty"`
			Format   string          `json:"format"`
			Source   string          `json:"source"`
			Payload  json.RawMessage `json:"payload"`
		}
		out := []js{}
		for _, m := range signed {
			for _, s := range m.Signatures {
				out = append(out, js{m.Digest.DigestStr(), platformOf(m.Manifest), m.Index, s.Format.String(), s.Source, s.Payload})
			}
		}
		return json.NewEncoder(w).Encode(out)
	}
	if len(signed) == 1 && !signed[0].Index {
		for _, s := range signed[0].Signatures {
			if _, err := fmt.Fprintf(w, "verified %s: %s signature %s\n", ref, s.Format, s.Source); err != nil {
				return err
			}
		}
		return nil
	}
	for _, m := range signed {
		var formats []sign.Format
		for _, s := range m.Signatures {
			if !slices.Contains(formats, s.Format) {
				formats = append(formats, s.Format)
			}
		}
		if _, err := fmt.Fprintf(w, "verified %s: %s\n", manifestName(m.Manifest), formatList(formats)); err != nil {
			return err
		}
	}
	return nil
}

// manifestName names what verified: "REPO@sha256:... (index)", "REPO linux/amd64 sha256:...", or
// the digest reference of a single image.
func manifestName(m sign.Manifest) string {
	switch {
	case m.Index:
		return m.Digest.String() + " (index)"
	case m.Platform != nil:
		return m.Digest.Context().String() + " " + m.Platform.String() + " " + m.Digest.DigestStr()
	}
	return m.Digest.String()
}

func platformOf(m sign.Manifest) string {
	if m.Platform == nil {
		return ""
	}
	return m.Platform.String()
}

// formatList is "legacy, bundle".
func formatList(fs []sign.Format) string {
	slices.Sort(fs)
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.String()
	}
	return strings.Join(names, ", ")
}

// printAttestations prints each verified predicate once, however many formats carry it: in text,
// the predicate JSON, one per line (for an index, each manifest's are preceded by a line on notes
// saying which platform they belong to); in json, one object per line with the digest, platform,
// formats, sources, predicate type and predicate.
func printAttestations(w, notes io.Writer, attested []sign.Attested, output string) error {
	enc := json.NewEncoder(w)
	index := len(attested) > 1 || (len(attested) == 1 && (attested[0].Index || attested[0].Platform != nil))
	for _, m := range attested {
		preds := sign.MergeFormats(m.Attestations)
		if index && output != "json" && notes != nil {
			var formats []sign.Format
			for _, p := range preds {
				for _, f := range p.Formats {
					if !slices.Contains(formats, f) {
						formats = append(formats, f)
					}
				}
			}
			fmt.Fprintf(notes, "verified %s: %d %s (%s)\n", manifestName(m.Manifest), len(preds), plural(len(preds), "predicate", "predicates"), formatList(formats))
		}
		for _, p := range preds {
			var err error
			if output == "json" {
				formats := make([]string, len(p.Formats))
				for i, f := range p.Formats {
					formats[i] = f.String()
				}
				err = enc.Encode(struct {
					Digest        string          `json:"digest"`
					Platform      string          `json:"platform,omitempty"`
					Index         bool            `json:"index,omitempty"`
					Formats       []string        `json:"formats"`
					Sources       []string        `json:"sources"`
					PredicateType string          `json:"predicateType"`
					Predicate     json.RawMessage `json:"predicate"`
				}{m.Digest.DigestStr(), platformOf(m.Manifest), m.Index, formats, p.Sources, p.Statement.PredicateType, p.Statement.Predicate})
			} else {
				err = enc.Encode(p.Statement.Predicate)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func newCopyCmd(g *globalFlags) *cobra.Command {
	var f registryFlags
	cmd := &cobra.Command{
		Use:   "copy SRC DST",
		Short: "Copy an image with all its signatures, attestations and referrers",
		Long: `Copy an image or index from one registry reference to another together with everything attached to
it: the .sig and .att images and every referrer (sigstore bundles and other artifacts), for the index and
each platform manifest. Signatures stay valid, since they name the digest. Copying again adds nothing.

SRC and DST are registry references; registry:REF says so explicitly. A name of this machine (an
image in ingot's store, a layout, an archive, anything path-like) is refused (exit code 2) without
contacting any registry.`,
		Args: usageArgs(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			src, err := f.parse(g, cmd, args[0])
			if err != nil {
				return err
			}
			dst, err := f.parse(g, cmd, args[1])
			if err != nil {
				return err
			}
			ro, err := g.remote(cmd)
			if err != nil {
				return err
			}
			c, err := sign.Copy(cmd.Context(), src, dst, ro)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "copied %s to %s@%s: %d signature tags, %d referrers\n", src, dst.Context(), c.Digest, c.Tags, c.Referrers)
			return err
		},
	}
	cmd.Flags().BoolVar(&f.insecure, "insecure", false, "allow plain HTTP to non-loopback registries")
	return cmd
}
