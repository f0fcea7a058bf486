package imagecheck_test

import (
	"bytes"
	"image/png"
	"testing"

	"github.com/fieldsync/fieldsync/internal/imagecheck"
)

func encodedPNG(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, testImage()); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDetectRecognisesContentWhateverItIsCalled(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		head   []byte
		want   string
		wantOK bool
	}{
		"jpeg":                    {encodedJPEG(t), imagecheck.JPEG, true},
		"png":                     {encodedPNG(t), imagecheck.PNG, true},
		"webp":                    {webpWith(nil), imagecheck.WebP, true},
		"heic major brand":        {ftyp("heic", "mif1", "heic"), imagecheck.HEIC, true},
		"heic compatible brand":   {ftyp("mif1", "mif1", "heic"), imagecheck.HEIC, true},
		"heix":                    {ftyp("heix", "mif1"), imagecheck.HEIC, true},
		"hevc sequence":           {ftyp("hevc", "msf1"), imagecheck.HEIC, true},
		"heim":                    {ftyp("heim", "mif1"), imagecheck.HEIC, true},
		"heis":                    {ftyp("heis", "msf1"), imagecheck.HEIC, true},
		"generic heif image":      {ftyp("mif1", "mif1", "miaf"), imagecheck.HEIF, true},
		"generic heif sequence":   {ftyp("msf1", "msf1"), imagecheck.HEIF, true},
		"heic brand in heif list": {ftyp("msf1", "iso8", "hevc"), imagecheck.HEIC, true},
		"avif":                    {ftyp("avif", "mif1", "miaf"), "", false},
		"avif as compatible":      {ftyp("mif1", "avif", "mif1"), "", false},
		"mp4 video":               {ftyp("isom", "isom", "mp41"), "", false},
		"minor version not brand": {append(box("ftyp", []byte("isomheic")), 0), "", false},
		"ftyp with odd size":      {[]byte("\x00\x00\x00\x11ftypheic\x00\x00\x00\x00mif1x"), "", false},
		"ftyp too small":          {[]byte("\x00\x00\x00\x08ftypheic\x00\x00\x00\x00"), "", false},
		"gif":                     {[]byte("GIF89a\x01\x00\x01\x00"), "", false},
		"riff but wave":           {[]byte("RIFF\x24\x00\x00\x00WAVEfmt "), "", false},
		"two jpeg bytes":          {[]byte{0xFF, 0xD8}, "", false},
		"png signature cut":       {[]byte("\x89PNG\r\n"), "", false},
		"html":                    {[]byte("<!doctype html><html>"), "", false},
		"empty":                   {nil, "", false},
	}
	for name, tt := range tests {
		got, ok := imagecheck.Detect(tt.head)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("%s: Detect = %q, %v; want %q, %v", name, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestDetectReadsBrandsOnlyWithinHead(t *testing.T) {
	t.Parallel()
	full := ftyp("isom", "iso8", "mp41", "mif1", "heic")
	if got, ok := imagecheck.Detect(full[:24]); ok {
		t.Errorf("Detect of a head cut before the heif brands = %q, want not recognised", got)
	}
	if got, ok := imagecheck.Detect(full); got != imagecheck.HEIC || !ok {
		t.Errorf("Detect of the whole box = %q, %v; want %q", got, ok, imagecheck.HEIC)
	}
}
