// Package layers reads the layers of an image once each, in order, for every evidence stage at once.
//
// The stages are visitors (Visitor): each says which entries it wants (Want, by path, type or header,
// with a Sniff of a file's first bytes to pick ELF or text files) and receives those entries' headers
// and contents as the walk streams them (Visit), then the merged file system, the image as a runtime
// would lay it out (Done). There is one implementation of the OCI layer rules here: whiteouts
// (.wh.NAME) and opaque directories (.wh..wh..opq) hide what lower layers wrote, a name written again
// replaces what was there (a file where a directory was hides everything below it), and a hard link
// is another name of its target's inode, with its mode and content, also when a later entry deletes
// the target's name. FS.Fate tells a visitor what became of an entry it was given: kept, or deleted
// or replaced by which layer.
//
// Every layer is read through one imageref.LayerReader (hash-checked, within the image's limits), on
// its own goroutine a bounded number of entries ahead of the visitors, so that inflating the next
// layers overlaps visiting the first; a sequential walk lets a visitor stream contents to disk
// instead. A Cache keeps what Cacheable visitors made of each layer by what reading it proves
// (imageref.ContentID), so that a layer already analysed is replayed rather than read.
package layers
