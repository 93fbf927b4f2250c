package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/ingot-build/ingot/internal/safefile"
	"github.com/ingot-build/ingot/pkg/sign"
)

type keyGenerateFlags struct {
	prefix       string
	force        bool
	passwordFile string
}

// passwordFileHelp is the help of --key-password-file.
const passwordFileHelp = "read the private key's password from `FILE` (one line; no terminal needed, as in a worker), instead of " + passwordEnv + " or a prompt"

func newKeyCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Manage signing keys in cosign's formats",
		Args:  usageArgs(cobra.NoArgs),
	}
	cmd.AddCommand(newKeyGenerateCmd(g))
	return cmd
}

func newKeyGenerateCmd(g *globalFlags) *cobra.Command {
	f := &keyGenerateFlags{}
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Write a new signing key pair (PREFIX.key, PREFIX.pub)",
		Long: `Write a new ECDSA P-256 signing key pair in cosign's formats: PREFIX.key, the private key
encrypted with a password (scrypt and nacl/secretbox, PEM type ENCRYPTED SIGSTORE PRIVATE KEY, mode
0600), and PREFIX.pub, the PEM public key. cosign reads both, and ingot reads keys cosign generated.

The password comes from --key-password-file, else COSIGN_PASSWORD (set but empty means no password),
else it is asked twice on the terminal. Existing files are kept unless --force.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.prefix == "" {
				return usageErrorf("--output-key-prefix must not be empty")
			}
			privPath, pubPath := f.prefix+".key", f.prefix+".pub"
			if !f.force {
				for _, p := range []string{privPath, pubPath} {
					if _, err := os.Lstat(p); err == nil {
						return usageErrorf("%s already exists; use --force to replace it", p)
					} else if !errors.Is(err, fs.ErrNotExist) {
						return fmt.Errorf("checking %s: %w", p, err)
					}
				}
			}
			env, err := g.env()
			if err != nil {
				return err
			}
			password, err := readPassword(cmd, env, f.passwordFile, true)
			if err != nil {
				return err
			}
			privPEM, pubPEM, err := sign.GenerateKeyPair(password)
			if err != nil {
				return fmt.Errorf("generating a key pair: %w", err)
			}
			if err := safefile.Write(privPath, privPEM, 0o600); err != nil {
				return err
			}
			if err := safefile.Write(pubPath, pubPEM, 0o644); err != nil {
				// A private key without its public half is a partial result: take it back.
				_ = os.Remove(privPath) // best effort; the write error is the one to report
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Private key written to %s\n", privPath)
			fmt.Fprintf(out, "Public key written to %s\n", pubPath)
			return nil
		},
	}
	cmd.Flags().StringVar(&f.prefix, "output-key-prefix", "ingot", "write PREFIX.key and PREFIX.pub")
	cmd.Flags().BoolVarP(&f.force, "force", "f", false, "replace existing key files")
	cmd.Flags().StringVar(&f.passwordFile, "key-password-file", "", passwordFileHelp)
	return cmd
}

// readPassword returns the password of a private key: the first line of file when one is given
// (--key-password-file: a worker or server has no terminal, and a file keeps the password out of the
// environment of every child process), else $COSIGN_PASSWORD when set (even empty, which means no
// password), else what the user types on the terminal — twice when confirm, as for a new key.
// Without any of them it is a usage error, so a CI job never hangs on a prompt.
func readPassword(cmd *cobra.Command, env Env, file string, confirm bool) ([]byte, error) {
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, usageErrorf("--key-password-file: %v", err)
		}
		line, _, _ := bytes.Cut(data, []byte("\n"))
		return bytes.TrimSuffix(line, []byte("\r")), nil
	}
	if env.KeyPassword != nil {
		return env.KeyPassword, nil
	}
	in, ok := cmd.InOrStdin().(*os.File)
	if !ok || !term.IsTerminal(int(in.Fd())) {
		return nil, usageErrorf("no password for the private key: give --key-password-file, set %s (empty for none), or run on a terminal to be asked", passwordEnv)
	}
	prompt := func(msg string) ([]byte, error) {
		fmt.Fprint(cmd.ErrOrStderr(), msg)
		pw, err := term.ReadPassword(int(in.Fd()))
		fmt.Fprintln(cmd.ErrOrStderr())
		if err != nil {
			return nil, fmt.Errorf("reading the password: %w", err)
		}
		return pw, nil
	}
	pw, err := prompt("Enter password for private key: ")
	if err != nil {
		return nil, err
	}
	if confirm {
		again, err := prompt("Enter password for private key again: ")
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(pw, again) {
			return nil, usageErrorf("the passwords do not match")
		}
	}
	return pw, nil
}

// keyMixup is the error for the wrong half of a key pair given to a verb: it says which key the file
// holds and which one the verb takes, naming the other file of the pair as ingot key generate (and
// cosign generate-key-pair) name it.
func keyMixup(verb, path string, given sign.KeyKind) error {
	have, want, ext, otherExt := "public", "private", ".pub", ".key"
	if given == sign.KeyPrivate {
		have, want, ext, otherExt = "private", "public", ".key", ".pub"
	}
	other := ""
	if base, ok := strings.CutSuffix(path, ext); ok {
		other = " (" + base + otherExt + ")"
	}
	return usageErrorf("%s is a %s key: %s takes the %s key%s", path, have, verb, want, other)
}
