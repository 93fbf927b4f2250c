package cli

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ingot-build/ingot/internal/safefile"
	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/cloud"
	"github.com/ingot-build/ingot/pkg/cloudpolicy"
)

// newCatalogCloudCmds are the catalog verbs of VM images in clouds.
func newCatalogCloudCmds(g *globalFlags) []*cobra.Command {
	return []*cobra.Command{newRegisterCloudImageCmd(g), newDeregisterCloudImageCmd(g), newImportCloudImagesCmd(g),
		newCloudImagesCmd(g), newCloudPolicyCmd(g)}
}

// writeDisks lists a vm version's disk images for catalog show.
func writeDisks(w io.Writer, v *catalog.Version) error {
	if len(v.Disks) == 0 {
		return nil
	}
	fmt.Fprintln(w, "\ndisks:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, d := range v.Disks {
		fmt.Fprintf(tw, "  %s\t%s\t%d bytes\n", d.Format, d.Digest, d.Size)
	}
	return tw.Flush()
}

func checkProvider(p string) error {
	if err := catalog.ValidProvider(p); err != nil {
		return usageErrorf("--provider %q: want %s", p, oneOf(catalog.Providers()))
	}
	return nil
}

func newRegisterCloudImageCmd(g *globalFlags) *cobra.Command {
	var img catalog.CloudImage
	var output string
	cmd := &cobra.Command{
		Use:   "register-cloud-image IMAGE@VERSION --provider aws|azure|gcp --id ID [--account A] [--region R]",
		Short: "Record a cloud image (an AMI, an Azure or GCP image) of a VM version",
		Long: `Record that a published vm version was imported into a cloud as an image: an AWS AMI (--account
the 12-digit owner account, --region the region, --id ami-…), an Azure managed image or gallery image
version (--id its resource ID, /subscriptions/…; --region its location; the account is the ID's
subscription), or a GCP image (--id projects/P/global/images/NAME or its self-link; the account is its
project, the region "global"). --name is the image's name in the cloud (AWS Allowed AMIs select by
name; import-cloud-images fills it in).

An image ID belongs to one version: registering it for another is refused (deregister-cloud-image
first); registering it again changes nothing. The catalog's cloud policies and ingot host fleet read
these registrations.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, plainFormats()); err != nil {
				return err
			}
			if err := checkProvider(img.Provider); err != nil {
				return err
			}
			r, err := parseRef(args[0], true)
			if err != nil {
				return err
			}
			if img.Actor == "" {
				img.Actor = defaultActor()
			}
			img.Registered = time.Now()
			return g.withCatalog(cmd.Context(), func(c catalog.Catalog) error {
				got, existed, err := c.RegisterCloudImage(cmd.Context(), r, img)
				if err != nil {
					return err
				}
				if output == "json" {
					return writeJSON(cmd.OutOrStdout(), got)
				}
				what := "registered"
				if existed {
					what = "already registered"
				}
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s@%s: %s %s %s in %s/%s\n", got.Image, got.Tag, what, got.Provider, got.ID, got.Account, got.Region)
				return err
			})
		},
	}
	cmd.Flags().StringVar(&img.Provider, "provider", "", "the cloud: "+oneOf(catalog.Providers())+" (required)")
	cmd.Flags().StringVar(&img.ID, "id", "", "the image ID (required)")
	cmd.Flags().StringVar(&img.Account, "account", "", "the owner: AWS account ID (required for aws), Azure subscription, GCP project")
	cmd.Flags().StringVar(&img.Region, "region", "", "the AWS region or Azure location (GCP images are global)")
	cmd.Flags().StringVar(&img.Name, "name", "", "the image's name in the cloud")
	cmd.Flags().StringVar(&img.Actor, "actor", "", "who, for the history (default: the OS user)")
	addOutputFlag(cmd, &output)
	return cmd
}

func newDeregisterCloudImageCmd(g *globalFlags) *cobra.Command {
	var provider, id string
	cmd := &cobra.Command{
		Use:   "deregister-cloud-image --provider aws|azure|gcp --id ID",
		Short: "Forget a cloud image (deleted in the cloud); the next cloud policy no longer allows it",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkProvider(provider); err != nil {
				return err
			}
			return g.withCatalog(cmd.Context(), func(c catalog.Catalog) error {
				if err := c.DeregisterCloudImage(cmd.Context(), provider, id); err != nil {
					return err
				}
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "deregistered %s %s\n", provider, id)
				return err
			})
		},
	}
	cmd.Flags().StringVar(&provider, "provider", "", "the cloud: "+oneOf(catalog.Providers())+" (required)")
	cmd.Flags().StringVar(&id, "id", "", "the image ID as registered (required)")
	return cmd
}

func newImportCloudImagesCmd(g *globalFlags) *cobra.Command {
	var provider, region, output, actor string
	cmd := &cobra.Command{
		Use:   "import-cloud-images --provider aws|azure|gcp [--region R] FILE|-",
		Short: "Register the cloud images of a provider's image listing that name an ingot version",
		Long: `Read a provider's image listing and register every image that names an ingot version:

  aws ec2 describe-images --owners self --output json > images.json   (give --region: the listing
                                                                      does not say which it ran in)
  az image list -o json > images.json                  (or az sig image-version list: gallery
                                                        image versions read the same way)
  gcloud compute images list --no-standard-images --format=json > images.json

An image names its version by a tag (AWS, Azure) "ingot:version" = IMAGE@TAG, or "ingot:digest" =
the version's digest (its raw disk's sha256), or, on GCP whose label values cannot hold either, by
the words ingot:version=IMAGE@TAG or ingot:digest=sha256:… in its description. Images without a
marker are skipped and listed; a marker naming no version of the catalog fails the import (the
images before it stay registered; importing again is idempotent).`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, plainFormats()); err != nil {
				return err
			}
			if err := checkProvider(provider); err != nil {
				return err
			}
			data, err := readInput(cmd, args[0])
			if err != nil {
				return err
			}
			found, err := cloud.ParseImages(provider, data, region)
			if err != nil {
				return err
			}
			if actor == "" {
				actor = defaultActor()
			}
			return g.withCatalog(cmd.Context(), func(c catalog.Catalog) error {
				done, err := cloud.Import(cmd.Context(), c, found, actor)
				if output == "json" {
					if done == nil {
						done = []cloud.Imported{}
					}
					if werr := writeJSON(cmd.OutOrStdout(), done); err == nil {
						err = werr
					}
					return err
				}
				if werr := writeImported(cmd.OutOrStdout(), done); err == nil {
					err = werr
				}
				return err
			})
		},
	}
	cmd.Flags().StringVar(&provider, "provider", "", "the cloud whose listing FILE is: "+oneOf(catalog.Providers())+" (required)")
	cmd.Flags().StringVar(&region, "region", "", "the AWS region describe-images ran in")
	cmd.Flags().StringVar(&actor, "actor", "", "who, for the history (default: the OS user)")
	addOutputFlag(cmd, &output)
	return cmd
}

func writeImported(w io.Writer, done []cloud.Imported) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tREGION\tVERSION\tRESULT")
	for _, im := range done {
		result := "registered"
		switch {
		case im.Skipped != "":
			result = "skipped: " + im.Skipped
		case im.Existed:
			result = "already registered"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", im.Image.ID, orDash(im.Image.Region), orDash(im.Version), result)
	}
	return tw.Flush()
}

func newCloudImagesCmd(g *globalFlags) *cobra.Command {
	var provider, output string
	var statuses []string
	cmd := &cobra.Command{
		Use:   "cloud-images [IMAGE]",
		Short: "List the registered cloud images with their versions' status",
		Args:  usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, plainFormats()); err != nil {
				return err
			}
			q := catalog.CloudImageQuery{Provider: provider}
			if provider != "" {
				if err := checkProvider(provider); err != nil {
					return err
				}
			}
			if len(args) == 1 {
				q.Image = args[0]
			}
			var err error
			if q.Statuses, err = parseStatuses(statuses); err != nil {
				return err
			}
			return g.withCatalog(cmd.Context(), func(c catalog.Catalog) error {
				ims, err := c.CloudImages(cmd.Context(), q)
				if err != nil {
					return err
				}
				if output == "json" {
					return writeJSON(cmd.OutOrStdout(), ims)
				}
				if len(ims) == 0 {
					_, err := fmt.Fprintln(cmd.OutOrStdout(), "no cloud images")
					return err
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "PROVIDER\tACCOUNT\tREGION\tID\tVERSION\tSTATUS")
				for _, im := range ims {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s@%s\t%s\n", im.Provider, im.Account, im.Region, im.ID, im.Image, im.Tag, im.Status)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&provider, "provider", "", "only this cloud: "+oneOf(catalog.Providers()))
	addStatusFlag(cmd, &statuses, "images of versions")
	addOutputFlag(cmd, &output)
	return cmd
}

func newCloudPolicyCmd(g *globalFlags) *cobra.Command {
	var provider, format, out string
	var o cloudpolicy.Options
	cmd := &cobra.Command{
		Use:   "cloud-policy --provider aws|azure|gcp [--format F] [--out FILE]",
		Short: "Write the cloud's policy that lets only the active versions' images run",
		Long: `Write a provider's policy allowing exactly the cloud images of active, published versions: a
revoked, deprecated or end-of-life version's images are left out, so generate again after every status
change and apply the result.

  --provider aws --format scp           an AWS Organizations service control policy denying
                                        ec2:RunInstances of any image but the gold AMIs, region by
                                        region (and any image in other regions)
  --provider aws --format allowed-amis  an EC2 declarative policy enabling Allowed AMIs: Allowed AMIs
                                        select by owner account and AMI name, not ID, so each owner
                                        account is allowed the names of its gold AMIs (in every
                                        region; an account's own AMIs are never restricted by it:
                                        the SCP is the exact control)
  --provider azure [--format policy]    an Azure Policy definition denying VMs and scale sets whose
                                        Microsoft.Compute/imageId is not a gold image
  --provider gcp --format org-policy    an organisation policy (v2, for gcloud org-policies
                                        set-policy) for constraints/compute.trustedImageProjects
                                        allowing the projects of gold images (--parent
                                        organizations/ID, folders/ID or projects/ID): it trusts
                                        whole projects, so keep gold images in projects of their own
  --provider gcp --format self-links    the gold images' self-links, one per line

A policy the provider's limits cannot hold (an SCP over 5,120 characters, more than 10 Allowed AMIs
criteria) is refused rather than cut.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkProvider(provider); err != nil {
				return err
			}
			if format == "" {
				format = cloudpolicy.Formats(provider)[0]
			}
			if !slices.Contains(cloudpolicy.Formats(provider), format) {
				return usageErrorf("--format %q: %s policies are %s", format, provider, oneOf(cloudpolicy.Formats(provider)))
			}
			return g.withCatalog(cmd.Context(), func(c catalog.Catalog) error {
				ims, err := c.CloudImages(cmd.Context(), catalog.CloudImageQuery{Provider: provider, Statuses: []catalog.Status{catalog.StatusActive}})
				if err != nil {
					return err
				}
				if len(ims) == 0 && !g.quiet {
					fmt.Fprintf(cmd.ErrOrStderr(), "note: the catalog has no %s image of an active version: the policy allows none\n", provider)
				}
				doc, err := cloudpolicy.Generate(provider, format, ims, o)
				if err != nil {
					return err
				}
				if out == "" || out == "-" {
					_, err = cmd.OutOrStdout().Write(doc)
					return err
				}
				return safefile.Write(out, doc, 0o644)
			})
		},
	}
	cmd.Flags().StringVar(&provider, "provider", "", "the cloud: "+oneOf(catalog.Providers())+" (required)")
	cmd.Flags().StringVar(&format, "format", "", "the policy: aws "+oneOf(cloudpolicy.Formats("aws"))+"; azure "+oneOf(cloudpolicy.Formats("azure"))+"; gcp "+oneOf(cloudpolicy.Formats("gcp"))+" (default: the first)")
	cmd.Flags().StringVar(&o.Parent, "parent", "", "gcp org-policy: where the policy is set (organizations/ID, folders/ID, projects/ID)")
	cmd.Flags().StringVar(&o.Message, "message", "", "what a refused launch tells its user (Allowed AMIs, the Azure description)")
	cmd.Flags().StringVar(&out, "out", "", "write the policy to this file (default: standard output)")
	return cmd
}
