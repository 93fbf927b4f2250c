package vuln

// Check opens every index file of the database, reads its header and the directory of each of its
// sections, and returns the problem of each file that fails, by path (an error wrapping
// ErrCorruptIndex for a damaged file). The error is for a database directory that cannot be listed.
func (db *DB) Check() (map[string]error, error) {
	paths, err := db.sourcePaths()
	if err != nil {
		return nil, err
	}
	out := map[string]error{}
	for _, p := range paths {
		if err := checkIndex(p); err != nil {
			out[p] = err
		}
	}
	return out, nil
}

func checkIndex(path string) error {
	x, err := openIndex(path)
	if err != nil {
		return err
	}
	defer x.Close()
	for _, s := range x.header.Ecosystems {
		if _, err := x.section(s.Name); err != nil {
			return err
		}
	}
	return nil
}
