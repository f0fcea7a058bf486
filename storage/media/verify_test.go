package media_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/fieldsync/fieldsync/storage/media"
	"github.com/fieldsync/fieldsync/storage/media/mediatest"
)

func TestCheckedReaderPassesExactContent(t *testing.T) {
	t.Parallel()
	for _, size := range []int{0, 1, 2, 4096, 100_000} {
		o := mediatest.NewObject(size)
		r := media.CheckedReader(t.Context(), iotest.HalfReader(bytes.NewReader(o.Data)), o.Key, int64(size))
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, o.Data) {
			t.Errorf("size %d: read %d bytes, err %v", size, len(got), err)
		}
	}
}

func TestCheckedReaderWithholdsLastByteOfBadContent(t *testing.T) {
	t.Parallel()
	o := mediatest.NewObject(1000)
	tests := map[string]struct {
		r    io.Reader
		size int64
		key  string
		want error
	}{
		"short":      {bytes.NewReader(o.Data[:999]), 1000, o.Key, media.ErrSizeMismatch},
		"long":       {bytes.NewReader(append(o.Data, 0)), 1000, o.Key, media.ErrSizeMismatch},
		"other data": {bytes.NewReader(mediatest.NewObject(1000).Data), 1000, o.Key, media.ErrDigestMismatch},
		"bad key":    {bytes.NewReader(o.Data), 1000, "nope", media.ErrInvalidKey},
		"negative":   {bytes.NewReader(o.Data), -1, o.Key, media.ErrSizeMismatch},
	}
	for name, tt := range tests {
		got, err := io.ReadAll(media.CheckedReader(t.Context(), tt.r, tt.key, tt.size))
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", name, err, tt.want)
		}
		if int64(len(got)) >= 1000 {
			t.Errorf("%s: passed %d bytes, want fewer than 1000", name, len(got))
		}
	}
}

func TestCheckedReaderStopsWhenContextEnds(t *testing.T) {
	t.Parallel()
	o := mediatest.NewObject(10)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := io.ReadAll(media.CheckedReader(ctx, bytes.NewReader(o.Data), o.Key, 10))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestCheckedReaderPassesReaderErrors(t *testing.T) {
	t.Parallel()
	o := mediatest.NewObject(10)
	boom := errors.New("boom")
	_, err := io.ReadAll(media.CheckedReader(t.Context(), iotest.ErrReader(boom), o.Key, 10))
	if !errors.Is(err, boom) {
		t.Errorf("err = %v, want boom", err)
	}
}

func TestValidKeyAcceptsOnlyLowerHexSHA256(t *testing.T) {
	t.Parallel()
	tests := map[string]bool{
		testKey:                      true,
		"":                           false,
		testKey[:63]:                 false,
		testKey + "0":                false,
		"A" + testKey[1:]:            false,
		"g" + testKey[1:]:            false,
		"../" + testKey[3:]:          false,
		"0" + testKey[1:63] + "\x00": false,
	}
	for key, want := range tests {
		if got := media.ValidKey(key); got != want {
			t.Errorf("ValidKey(%q) = %v, want %v", key, got, want)
		}
	}
}

// BenchmarkCheckedReader5MiB is the cost a Put adds to any upload: SHA-256
// and size checks of 5 MiB on their way through.
func BenchmarkCheckedReader5MiB(b *testing.B) {
	o := mediatest.NewObject(5 << 20)
	b.SetBytes(int64(len(o.Data)))
	for b.Loop() {
		r := media.CheckedReader(b.Context(), bytes.NewReader(o.Data), o.Key, int64(len(o.Data)))
		if _, err := io.Copy(io.Discard, r); err != nil {
			b.Fatal(err)
		}
	}
}
