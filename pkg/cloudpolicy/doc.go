// Package cloudpolicy writes the cloud providers' own policies that let only active gold VM images
// run, from the cloud images the catalog registered: an AWS service control policy and an EC2
// Allowed AMIs declarative policy, an Azure Policy definition, a GCP organisation policy for
// constraints/compute.trustedImageProjects and an allow-list of image self-links. Only images of
// active, published versions are allowed, so revoking a version removes its images from the next
// generation.
package cloudpolicy
