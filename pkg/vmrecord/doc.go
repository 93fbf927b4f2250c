// Package vmrecord records a built VM image in the catalog: a version of kind vm whose digest is its
// raw disk's, with its disk images (digest, size, format), their paths as locations, and the same
// evidence.Set a container version carries. ingot host build calls Record once its disks are written
// and its audit gate passed.
package vmrecord
