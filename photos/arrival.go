package photos

import "github.com/fieldsync/fieldsync/syncengine"

// Arrival is a chunk whose bytes are still arriving (the server's raw
// chunk route reads its body into one buffer), lent to its upload's
// stream so that the object store receives them while they arrive rather
// than after the whole chunk has come and been checked. Nothing else sees
// them before PutChunkThen accepts the chunk: not the staged file, the
// offset, the hash. Only the stream sends them ahead, and it still holds
// the photo's last byte back until CompleteUpload has verified the photo.
// If the chunk is not accepted with exactly these bytes (wrong CRC32C or
// offset, a body cut short, another chunk applied at that offset first),
// a stream that sent any of them is ended, so nothing can be stored from
// them; CompleteUpload then puts the staged bytes another way.
type Arrival struct {
	s   *Service
	id  string
	st  *stream
	buf *arriving
}

// arriving is the part of a chunk's buffer a stream may read: data[:n],
// the chunk that starts at off. Guarded by the stream's mu.
type arriving struct {
	off  int64
	data []byte
	n    int64
}

// Arriving lends the stream of one of the caller's uploads the chunk at
// offset whose bytes will fill data, when the upload is being streamed,
// with local staging, and the chunk continues exactly where the stream's
// acknowledged bytes end; it returns nil otherwise (the chunk then goes as
// any other). The caller reports the bytes as they come (Arrived), hands
// the chunk to PutChunkThen with the same data slice, and calls Close before
// data's buffer is used for anything else (PutChunkThen's release).
func (s *Service) Arriving(p *syncengine.Principal, id string, offset int64, data []byte) *Arrival {
	if !s.lazy() || p == nil || len(data) == 0 {
		return nil
	}
	st := s.stream(id)
	if st == nil || st.tenant != p.TenantID || st.device != p.DeviceID {
		return nil // another device's upload: its stream is not touched
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.err != nil || st.lent != nil || offset != st.avail || offset+int64(len(data)) > st.size {
		return nil
	}
	st.lent = &arriving{off: offset, data: data}
	return &Arrival{s: s, id: id, st: st, buf: st.lent}
}

// Arrived tells the stream that the chunk's first n bytes are in data.
func (a *Arrival) Arrived(n int) {
	if a == nil {
		return
	}
	a.st.mu.Lock()
	if a.st.lent == a.buf && int64(n) > a.buf.n {
		a.buf.n = int64(n)
		a.st.wake.Broadcast()
	}
	a.st.mu.Unlock()
}

// Close takes the chunk's buffer back from the stream. When the chunk was
// not accepted (PutChunkThen refused it, or it was never handed over) and
// the stream sent some of its bytes, the stream is ended.
func (a *Arrival) Close() {
	if a == nil {
		return
	}
	a.st.mu.Lock()
	if a.st.lent != a.buf {
		a.st.mu.Unlock()
		return // accepted (settled), or replaced
	}
	a.st.lent = nil
	sentAhead := a.st.sent > a.st.avail
	a.st.mu.Unlock()
	if sentAhead {
		a.s.dropStream(a.id, a.st)
	}
}

// dropStream ends st, an upload's stream, storing nothing. When st is
// still the upload's stream it is taken out and its request awaited;
// else whoever took it awaits it, and a stream begun since in its place
// is left alone.
func (s *Service) dropStream(id string, st *stream) {
	s.streamMu.Lock()
	mine := s.streams[id] == st
	if mine {
		delete(s.streams, id)
	}
	s.streamMu.Unlock()
	st.abort(errStreamStopped)
	if mine {
		<-st.done
	}
}

// settle takes back a chunk's lent bytes as the chunk at offset is
// accepted, before the stream is fed its end. It reports false when the
// stream sent bytes it was lent that are not this chunk's: the stream
// must then be stopped. The caller holds the upload's lock.
func (st *stream) settle(offset int64, data []byte) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if l := st.lent; l != nil && l.off == offset && len(data) > 0 && &l.data[0] == &data[0] {
		st.lent = nil
		return true
	}
	return st.sent <= st.avail
}

// settleStream settles an accepted chunk with u's stream, if any (see settle).
func (s *Service) settleStream(id string, offset int64, data []byte) {
	if st := s.stream(id); st != nil && !st.settle(offset, data) {
		s.stopStream(id, errStreamStopped)
	}
}

// lentEnd is how far lent bytes take the stream past its acknowledged
// ones: the end of the arrived part of a chunk lent at avail, else avail.
// The caller holds st.mu.
func (st *stream) lentEnd() int64 {
	if l := st.lent; l != nil && l.off == st.avail {
		return l.off + l.n
	}
	return st.avail
}
