package photos

// Streaming reports whether an upload's bytes are being streamed to the
// object store as they arrive (see stream).
func Streaming(s *Service, id string) bool { return s.stream(id) != nil }
