package photos

// Streaming reports whether an upload's bytes are being streamed to the
// object store as they arrive (see stream).
func Streaming(s *Service, id string) bool { return s.stream(id) != nil }

// StopStreams ends every stream of s, as the death of its process would.
func StopStreams(s *Service) {
	s.streamMu.Lock()
	ids := make([]string, 0, len(s.streams))
	for id := range s.streams {
		ids = append(ids, id)
	}
	s.streamMu.Unlock()
	for _, id := range ids {
		s.stopStream(id, errStreamStopped)
	}
}

// WaitTracked waits until every acknowledged chunk of s is hashed.
func WaitTracked(s *Service) { s.tracking.Wait() }
