package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/cloud"
)

// fleetError is the fleet report's verdict when an instance violates: exit code 3, like findings.
type fleetError struct{ violations, instances int }

func (e *fleetError) Error() string {
	return fmt.Sprintf("%d of %d instance(s) run an image that is not active gold or are older than the TTL", e.violations, e.instances)
}

// ttlFlag is a duration that also takes days ("30d"), as TTLs are said.
type ttlFlag time.Duration

func (f *ttlFlag) String() string {
	d := time.Duration(*f)
	if d%(24*time.Hour) == 0 {
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
	return d.String()
}

func (f *ttlFlag) Set(s string) error {
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return fmt.Errorf("%q: want days (30d) or a duration (720h)", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return fmt.Errorf("%q: want days (30d) or a duration (720h)", s)
		}
	}
	if d <= 0 {
		return fmt.Errorf("%q: want a positive TTL", s)
	}
	*f = ttlFlag(d)
	return nil
}

func (f *ttlFlag) Type() string { return "ttl" }

func newHostFleetCmd(g *globalFlags) *cobra.Command {
	var awsFiles, azureFiles, gcpFiles, gcpDisks []string
	var output, at string
	ttl := ttlFlag(cloud.DefaultTTL)
	cmd := &cobra.Command{
		Use:   "fleet [--aws FILE] [--azure FILE] [--gcp FILE --gcp-disks FILE] [--ttl 30d]",
		Short: "Report instances on images that are not active gold, and instances older than a TTL",
		Long: `Read instance inventories and report every instance that runs an image the catalog does not
know as a version's (not gold), an image of a revoked, deprecated or end-of-life version, or that was
launched longer ago than --ttl (default 30d) and should be recycled onto a current image:

  aws ec2 describe-instances --output json > aws.json              (per region, or merged)
  az vm list -o json > azure.json
  gcloud compute instances list --format=json > gcp.json
  gcloud compute disks list --format=json > gcp-disks.json         (GCP instances name their boot
                                                                    disk, the disk its image)

Images are matched by ID against the cloud images registered in the catalog (register-cloud-image,
import-cloud-images). Terminated AWS instances are left out; stopped ones count. No cloud API is
called: ingot reads only these files. Exit code 3 when any instance violates.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, plainFormats()); err != nil {
				return err
			}
			if len(awsFiles)+len(azureFiles)+len(gcpFiles) == 0 {
				return usageErrorf("no inventory: give --aws, --azure or --gcp files")
			}
			if len(gcpDisks) > 0 && len(gcpFiles) == 0 {
				return usageErrorf("--gcp-disks without --gcp")
			}
			now := time.Now()
			if at != "" {
				t, err := time.Parse(time.RFC3339, at)
				if err != nil {
					return usageErrorf("--at %q: want an RFC 3339 time", at)
				}
				now = t
			}
			var disks []byte
			for _, f := range gcpDisks {
				data, err := readInput(cmd, f)
				if err != nil {
					return err
				}
				disks, err = mergeJSONLists(disks, data, f)
				if err != nil {
					return err
				}
			}
			var instances []cloud.Instance
			for _, src := range []struct {
				provider string
				files    []string
			}{{catalog.ProviderAWS, awsFiles}, {catalog.ProviderAzure, azureFiles}, {catalog.ProviderGCP, gcpFiles}} {
				for _, f := range src.files {
					data, err := readInput(cmd, f)
					if err != nil {
						return err
					}
					got, err := cloud.ParseInstances(src.provider, data, disks)
					if err != nil {
						return fmt.Errorf("%s: %w", f, err)
					}
					instances = append(instances, got...)
				}
			}
			return g.withCatalog(cmd.Context(), func(c catalog.Catalog) error {
				images, err := c.CloudImages(cmd.Context(), catalog.CloudImageQuery{})
				if err != nil {
					return err
				}
				r := cloud.Fleet(instances, images, now, time.Duration(ttl))
				if output == "json" {
					err = writeJSON(cmd.OutOrStdout(), r)
				} else {
					err = writeFleet(cmd.OutOrStdout(), r)
				}
				if err != nil {
					return err
				}
				if r.Violations > 0 {
					return &fleetError{violations: r.Violations, instances: len(r.Instances)}
				}
				return nil
			})
		},
	}
	cmd.Flags().StringArrayVar(&awsFiles, "aws", nil, "aws ec2 describe-instances JSON (repeatable; - for standard input)")
	cmd.Flags().StringArrayVar(&azureFiles, "azure", nil, "az vm list JSON (repeatable)")
	cmd.Flags().StringArrayVar(&gcpFiles, "gcp", nil, "gcloud compute instances list JSON (repeatable)")
	cmd.Flags().StringArrayVar(&gcpDisks, "gcp-disks", nil, "gcloud compute disks list JSON, for the GCP instances' images (repeatable)")
	cmd.Flags().Var(&ttl, "ttl", "instances launched longer ago should be recycled: days (30d) or a duration (720h)")
	cmd.Flags().StringVar(&at, "at", "", "judge ages as of this RFC 3339 time instead of now")
	addOutputFlag(cmd, &output)
	return cmd
}

// mergeJSONLists appends the elements of the JSON list next to those of acc (itself a list or nil).
func mergeJSONLists(acc, next []byte, name string) ([]byte, error) {
	next = []byte(strings.TrimSpace(string(next)))
	if len(next) < 2 || next[0] != '[' || next[len(next)-1] != ']' {
		return nil, fmt.Errorf("%w: %s: want the JSON list gcloud compute disks list prints", cloud.ErrInput, name)
	}
	if acc == nil {
		return next, nil
	}
	inner := strings.TrimSpace(string(next[1 : len(next)-1]))
	if inner == "" {
		return acc, nil
	}
	head := strings.TrimSpace(string(acc[:len(acc)-1]))
	sep := ","
	if head == "[" {
		sep = ""
	}
	return []byte(head + sep + inner + "]"), nil
}

func writeFleet(w io.Writer, r cloud.Report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROVIDER\tREGION\tINSTANCE\tNAME\tIMAGE\tVERSION\tAGE\tPROBLEMS")
	for _, in := range r.Instances {
		version := orDash(in.Version)
		if in.Status != "" {
			version += " (" + string(in.Status) + ")"
		}
		age := "-"
		if !in.Launched.IsZero() {
			age = strconv.Itoa(in.Age.Days()) + "d"
		}
		problems := "ok"
		if len(in.Problems) > 0 {
			problems = strings.Join(in.Problems, ", ")
		}
		id := in.ID
		if i := strings.LastIndex(id, "/"); i >= 0 && in.Provider == catalog.ProviderAzure {
			id = id[i+1:]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", in.Provider, in.Region, id, orDash(in.Name), orDash(in.Image), version, age, problems)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%d instance(s), %d violating (TTL %dd)\n", len(r.Instances), r.Violations, r.TTL.Days())
	return err
}
