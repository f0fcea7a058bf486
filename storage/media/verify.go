package media

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
)

// CheckedReader returns a reader over r that fails unless r yields exactly
// size bytes whose SHA-256 is key. It holds back the last byte until both
// are verified, so a consumer that needs size bytes (a file about to be
// renamed into place, an HTTP body with a Content-Length) never completes
// with wrong data. Errors wrap ErrSizeMismatch, ErrDigestMismatch or
// ErrInvalidKey, or are r's own; ctx's error ends the read early.
func CheckedReader(ctx context.Context, r io.Reader, key string, size int64) io.Reader {
	want, err := hex.DecodeString(key)
	if err != nil || !ValidKey(key) {
		return &checkedReader{err: fmt.Errorf("%w: %q", ErrInvalidKey, key)}
	}
	if size < 0 {
		return &checkedReader{err: fmt.Errorf("%w: negative size %d", ErrSizeMismatch, size)}
	}
	return &checkedReader{ctx: ctx, r: r, want: want, left: size, h: sha256.New()}
}

type checkedReader struct {
	ctx  context.Context
	r    io.Reader
	want []byte
	left int64 // bytes not yet handed to the caller
	h    hash.Hash
	err  error // sticky: returned by every later Read
}

func (c *checkedReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if err := c.ctx.Err(); err != nil {
		c.err = err
		return 0, err
	}
	if c.left == 0 {
		return 0, c.finish()
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	c.left -= int64(n)
	switch {
	case c.left == 0:
		if ferr := c.finish(); ferr != io.EOF {
			return n - 1, ferr // withhold the last byte
		}
		return n, nil
	case err == io.EOF:
		c.err = fmt.Errorf("%w: reader ended %d bytes early", ErrSizeMismatch, c.left)
		return n, c.err
	case err != nil:
		c.err = err
	}
	return n, err
}

// finish checks that r has nothing more and that the digest matches. It
// returns io.EOF when all is well.
func (c *checkedReader) finish() error {
	if c.err != nil {
		return c.err
	}
	c.err = io.EOF
	if extra := probeEOF(c.r); extra != nil {
		c.err = extra
	} else if sum := c.h.Sum(nil); !bytes.Equal(sum, c.want) {
		c.err = fmt.Errorf("%w: content hashes to %x", ErrDigestMismatch, sum)
	}
	return c.err
}

// probeEOF returns nil when r is at its end, or the error that says why not.
func probeEOF(r io.Reader) error {
	var b [1]byte
	for range 100 {
		n, err := r.Read(b[:])
		switch {
		case n > 0:
			return fmt.Errorf("%w: reader has more bytes than announced", ErrSizeMismatch)
		case err == io.EOF:
			return nil
		case err != nil:
			return err
		}
	}
	return io.ErrNoProgress
}
