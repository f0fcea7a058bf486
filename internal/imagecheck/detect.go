// Package imagecheck tells what an uploaded photo really is and reads the
// little the server keeps from it: the EXIF capture time and position.
// Everything here decodes untrusted bytes, so every length read from the
// input is bounds-checked and capped before use, every walk over the input
// has an iteration limit, and nothing panics.
package imagecheck

import (
	"bytes"
	"encoding/binary"
)

// Content types Detect recognises.
const (
	JPEG = "image/jpeg"
	PNG  = "image/png"
	WebP = "image/webp"
	// HEIC is a HEIF file with an HEVC-coded image or sequence.
	HEIC = "image/heic"
	// HEIF is a HEIF file that declares only the generic image (mif1) or
	// sequence (msf1) brands.
	HEIF = "image/heif"
)

// HeadSize is the number of leading bytes Detect looks at, at most; a
// shorter head still works for every format but may miss HEIF brands
// listed late in a long ftyp box.
const HeadSize = 256

var pngSignature = []byte("\x89PNG\r\n\x1a\n")

// Detect returns the content type of a photo from its first bytes
// (ideally HeadSize of them), whatever type the uploader declared. It
// recognises JPEG, PNG, WebP and HEIC/HEIF; ok is false for anything else,
// AVIF included.
func Detect(head []byte) (contentType string, ok bool) {
	head = head[:min(len(head), HeadSize)]
	switch {
	case bytes.HasPrefix(head, []byte{0xFF, 0xD8, 0xFF}):
		return JPEG, true
	case bytes.HasPrefix(head, pngSignature):
		return PNG, true
	case len(head) >= 12 && string(head[0:4]) == "RIFF" && string(head[8:12]) == "WEBP":
		return WebP, true
	}
	return detectHEIF(head)
}

// detectHEIF reads the brands of a leading ISO-BMFF ftyp box: the major
// brand, then after the minor version the compatible brands.
func detectHEIF(head []byte) (string, bool) {
	if len(head) < 16 || string(head[4:8]) != "ftyp" {
		return "", false
	}
	size := binary.BigEndian.Uint32(head)
	if size < 16 || size%4 != 0 {
		return "", false
	}
	end := min(int64(size), int64(len(head)))
	result := ""
	for i := int64(8); i+4 <= end; i += 4 {
		if i == 12 {
			continue // minor version, not a brand
		}
		switch string(head[i : i+4]) {
		case "avif", "avis":
			return "", false // AV1 in HEIF: not a format we take
		case "heic", "heix", "heim", "heis", "hevc", "hevx":
			result = HEIC
		case "mif1", "msf1":
			if result == "" {
				result = HEIF
			}
		}
	}
	return result, result != ""
}
