// Package cloud reads what the cloud providers' own CLIs print (aws ec2 describe-images and
// describe-instances, az image list and az vm list, gcloud compute images, disks and instances
// list, all as JSON) and relates it to the catalog: which cloud images are ingot's versions (Import),
// and which instances run on images that are not active gold or have lived past their TTL (Fleet).
// It never calls a cloud API: the JSON is the interface, so the commands run anywhere the output
// can be copied to.
package cloud
