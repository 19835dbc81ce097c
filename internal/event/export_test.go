package event

// MustParsePath is ParsePath for the tests' paths, which are valid.
func MustParsePath(s string) Path {
	p, err := ParsePath(s)
	if err != nil {
		panic(err)
	}
	return p
}
