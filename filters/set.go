package filters

// valueSet holds the values of an `in` list, so that a lookup costs the
// same for a list of ten values as for a million. Its equality is that of
// equals: numbers numerically (500 and 500.0 are one value; Go's map keys
// also treat 0 and -0 as one), strings by their bytes, bools and null by
// themselves; a string is never a number.
type valueSet struct {
	strs              map[string]struct{}
	nums              map[float64]struct{}
	hasTrue, hasFalse bool
	hasNull           bool
}

func (s *valueSet) addString(v string) {
	if s.strs == nil {
		s.strs = map[string]struct{}{}
	}
	s.strs[v] = struct{}{}
}

func (s *valueSet) addNumber(f float64) {
	if s.nums == nil {
		s.nums = map[float64]struct{}{}
	}
	s.nums[f] = struct{}{}
}

func (s *valueSet) addBool(b bool) {
	if b {
		s.hasTrue = true
	} else {
		s.hasFalse = true
	}
}

// hasString does not allocate: the compiler looks string(b) up in place.
func (s *valueSet) hasString(b []byte) bool {
	_, ok := s.strs[string(b)]
	return ok
}

func (s *valueSet) hasNumber(f float64) bool {
	_, ok := s.nums[f]
	return ok
}

func (s *valueSet) hasBool(b bool) bool {
	if b {
		return s.hasTrue
	}
	return s.hasFalse
}
