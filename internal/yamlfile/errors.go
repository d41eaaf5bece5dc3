package yamlfile

import "errors"

// Causes of the problems a Decoder reports; each reported error wraps one.
// A format's package re-exports them (rules.ErrSyntax is ErrSyntax), so
// that its callers tell problems apart with errors.Is. Their text is short
// because it is always shown after a file:line:col position.
var (
	// ErrSyntax: the file is not well-formed YAML, holds more than one
	// document, or its aliases expand too far.
	ErrSyntax = errors.New("YAML syntax error")
	// ErrUnknownField: a mapping has a key the format does not define.
	ErrUnknownField = errors.New("unknown field")
	// ErrDuplicate: a key is given twice in one mapping.
	ErrDuplicate = errors.New("duplicate")
	// ErrType: a node has the wrong YAML kind or its text the wrong form.
	ErrType = errors.New("wrong type")
	// ErrMissing: a required field is absent or empty.
	ErrMissing = errors.New("missing field")
	// ErrDuration: a duration is unparsable, negative, or not positive where
	// it must be.
	ErrDuration = errors.New("invalid duration")
	// ErrValue: a value is out of its range.
	ErrValue = errors.New("invalid value")
	// ErrLabelName: a name in a label map is not a valid label name.
	ErrLabelName = errors.New("invalid label name")
)
