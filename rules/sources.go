package rules

import (
	"fmt"
	"os"
)

// Source is the text of one rule file, named as its errors and rules name
// it. A host that must restore state under the rules it was taken under
// (a checkpoint, a reload) keeps the Sources it parsed.
type Source struct {
	Name string
	Data []byte
}

// ReadSources reads rule files. A file given more than once is read once,
// at its first place, as ParseFiles does. A file that cannot be read is
// reported, as ParseFiles reports it, in the Errors returned; the others
// are read.
func ReadSources(paths ...string) ([]Source, error) {
	var srcs []Source
	var errs Errors
	for _, path := range uniquePaths(paths) {
		data, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, &Error{File: path, Err: fmt.Errorf("%w: %w", ErrRead, unwrapPath(err))})
			continue
		}
		srcs = append(srcs, Source{Name: path, Data: data})
	}
	if len(errs) > 0 {
		return srcs, errs
	}
	return srcs, nil
}

// ParseSources parses and compiles rule files given as text into one
// Ruleset, as ParseFiles does with files on disk.
func ParseSources(srcs ...Source) (*Ruleset, error) {
	var b builder
	for _, s := range srcs {
		b.parse(s.Name, s.Data)
	}
	return b.finish()
}
