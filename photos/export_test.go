package photos

import "time"

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

// Crash makes s behave as a process that died: chunks it acknowledged but
// did not make durable stay as they are on disk (never flushed), its
// timers do nothing, and its streams end.
func Crash(s *Service) {
	s.closed.Store(true)
	s.tracking.Wait()
	s.ackedMu.Lock()
	for id, a := range s.acks {
		a.timer.Stop()
		delete(s.acks, id)
	}
	clear(s.hashes)
	s.ackedMu.Unlock()
	StopStreams(s)
}

// Acknowledged returns the offset s acknowledged for an upload beyond its
// durable one, or -1.
func Acknowledged(s *Service, id string) int64 {
	if a := s.ackedOf(id); a != nil {
		return a.end
	}
	return -1
}

// SetFlushAfter sets how long s leaves acknowledged chunks unflushed
// (before any chunk is sent).
func SetFlushAfter(s *Service, d time.Duration) { s.flushAfter = d }

// SetAheadWait sets how long a chunk ahead waits for the ones before it.
func SetAheadWait(s *Service, d time.Duration) { s.aheadWait = d }

// FailStream makes an upload's stream fail, as an object store error
// would, and waits until its request has ended.
func FailStream(s *Service, id string) {
	if st := s.stream(id); st != nil {
		st.abort(errStreamIdle)
		st.done <- <-st.done // leave the result for whoever takes it
	}
}

// WaitingAhead returns how many chunks of an upload wait for the chunks
// before them (see PutChunk).
func WaitingAhead(s *Service, id string) int {
	s.aheadMu.Lock()
	defer s.aheadMu.Unlock()
	if w := s.ahead[id]; w != nil {
		return w.n
	}
	return 0
}
