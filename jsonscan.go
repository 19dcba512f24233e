package ultracart

// A scanner of the members of a JSON object, for the fast path of the
// token-response translation: it finds where each member's value lies
// without decoding anything.

// objectScanner walks the members of the top-level JSON object in b, which
// json.Valid has accepted. It does not allocate. Its methods report false
// when b is not an object, and never read out of bounds whatever b holds.
type objectScanner struct {
	b []byte
	i int
}

func (s *objectScanner) skipSpace() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// open consumes the object's opening brace.
func (s *objectScanner) open() bool {
	s.skipSpace()
	if s.i >= len(s.b) || s.b[s.i] != '{' {
		return false
	}
	s.i++
	return true
}

// next returns the next member: its key (the bytes between the quotes, not
// unescaped) and the bounds of its value in b. more is false at the
// object's end; ok is false when b does not hold what was expected.
func (s *objectScanner) next() (key []byte, vs, ve int, more, ok bool) {
	s.skipSpace()
	if s.i < len(s.b) && s.b[s.i] == ',' {
		s.i++
		s.skipSpace()
	}
	if s.i >= len(s.b) {
		return nil, 0, 0, false, false
	}
	if s.b[s.i] == '}' {
		s.i++
		return nil, 0, 0, false, true
	}
	ks := s.i
	ke, ok := skipString(s.b, ks)
	if !ok {
		return nil, 0, 0, false, false
	}
	s.i = ke
	s.skipSpace()
	if s.i >= len(s.b) || s.b[s.i] != ':' {
		return nil, 0, 0, false, false
	}
	s.i++
	s.skipSpace()
	vs = s.i
	ve, ok = skipValue(s.b, vs)
	if !ok {
		return nil, 0, 0, false, false
	}
	s.i = ve
	return s.b[ks+1 : ke-1], vs, ve, true, true
}

// skipString returns the index just past the JSON string that starts at i.
func skipString(b []byte, i int) (int, bool) {
	if i >= len(b) || b[i] != '"' {
		return 0, false
	}
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1, true
		}
	}
	return 0, false
}

// skipValue returns the index just past the JSON value that starts at i.
func skipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				end, ok := skipString(b, i)
				if !ok {
					return 0, false
				}
				i = end
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, true
				}
			}
			i++
		}
		return 0, false
	}
	start := i
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i, i > start
		}
		i++
	}
	return i, i > start
}
