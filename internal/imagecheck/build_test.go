package imagecheck_test

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/jpeg"
	"image/png"
	"testing"
)

// field is one IFD entry to build: raw bytes, or 32-bit values (LONG and
// the numerators/denominators of RATIONAL) written in the block's byte order.
type field struct {
	tag, typ uint16
	count    uint32
	raw      []byte
	vals     []uint32
}

func ascii(tag uint16, s string) field {
	return field{tag: tag, typ: 2, count: uint32(len(s) + 1), raw: append([]byte(s), 0)}
}

// dms is a GPS coordinate as three rationals: degrees, minutes, seconds.
func dms(tag uint16, parts ...uint32) field {
	return field{tag: tag, typ: 5, count: uint32(len(parts) / 2), vals: parts}
}

func long(tag uint16, v uint32) field { return field{tag: tag, typ: 4, count: 1, vals: []uint32{v}} }

// exifBlock describes a TIFF/EXIF block: IFD0 and optional Exif and GPS
// IFDs, which the builder links from IFD0.
type exifBlock struct {
	bo              binary.ByteOrder
	ifd0, exif, gps []field
}

// build lays out header, IFDs, then out-of-line values.
func (x exifBlock) build() []byte {
	bo := x.bo
	if bo == nil {
		bo = binary.LittleEndian
	}
	ifds := [][]field{append([]field(nil), x.ifd0...)}
	for _, sub := range []struct {
		tag    uint16
		fields []field
	}{{0x8769, x.exif}, {0x8825, x.gps}} {
		if sub.fields != nil {
			ifds[0] = append(ifds[0], long(sub.tag, 0)) // offset set below
			ifds = append(ifds, sub.fields)
		}
	}
	offsets, off := make([]int, len(ifds)), 8
	for i, ifd := range ifds {
		offsets[i] = off
		off += 2 + 12*len(ifd) + 4
	}
	next := 1
	for i, f := range ifds[0] {
		if f.tag == 0x8769 || f.tag == 0x8825 {
			ifds[0][i].vals = []uint32{uint32(offsets[next])}
			next++
		}
	}
	return layout(bo, ifds, off)
}

func layout(bo binary.ByteOrder, ifds [][]field, dataStart int) []byte {
	var out, data bytes.Buffer
	if bo == binary.ByteOrder(binary.LittleEndian) {
		out.WriteString("II*\x00")
	} else {
		out.WriteString("MM\x00*")
	}
	binary.Write(&out, bo, uint32(8))
	for _, ifd := range ifds {
		binary.Write(&out, bo, uint16(len(ifd)))
		for _, f := range ifd {
			v := append([]byte(nil), f.raw...)
			for _, u := range f.vals {
				v = bo.(binary.AppendByteOrder).AppendUint32(v, u)
			}
			binary.Write(&out, bo, f.tag)
			binary.Write(&out, bo, f.typ)
			binary.Write(&out, bo, f.count)
			if len(v) <= 4 {
				out.Write(append(v, make([]byte, 4-len(v))...))
			} else {
				binary.Write(&out, bo, uint32(dataStart+data.Len()))
				data.Write(v)
			}
		}
		binary.Write(&out, bo, uint32(0)) // no next IFD
	}
	return append(out.Bytes(), data.Bytes()...)
}

// encodedJPEG returns a small real JPEG.
func encodedJPEG(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, testImage(), nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func testImage() image.Image {
	img := image.NewGray(image.Rect(0, 0, 16, 16))
	for i := range img.Pix {
		img.Pix[i] = uint8(i)
	}
	return img
}

// segment returns a JPEG marker segment.
func segment(marker byte, payload []byte) []byte {
	s := []byte{0xFF, marker, 0, 0}
	binary.BigEndian.PutUint16(s[2:], uint16(len(payload)+2))
	return append(s, payload...)
}

// jpegWith returns a real JPEG with segments spliced in after SOI.
func jpegWith(t testing.TB, segments ...[]byte) []byte {
	t.Helper()
	img := encodedJPEG(t)
	out := append([]byte(nil), img[:2]...)
	for _, s := range segments {
		out = append(out, s...)
	}
	return append(out, img[2:]...)
}

func exifSegment(tiff []byte) []byte { return segment(0xE1, append([]byte("Exif\x00\x00"), tiff...)) }

// pngWith returns a real PNG with an eXIf chunk after IHDR.
func pngWith(t testing.TB, exif []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, testImage()); err != nil {
		t.Fatal(err)
	}
	img := buf.Bytes()
	const ihdrEnd = 8 + 4 + 4 + 13 + 4
	out := append([]byte(nil), img[:ihdrEnd]...)
	out = append(out, pngChunk("eXIf", exif)...)
	return append(out, img[ihdrEnd:]...)
}

func pngChunk(typ string, data []byte) []byte {
	c := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	c = append(c, typ...)
	c = append(c, data...)
	return binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(c[4:]))
}

// webpWith returns a WebP container (VP8X, a VP8L bitstream stand-in, and
// EXIF chunks). Pixels are never decoded here, so the bitstream is filler.
func webpWith(exif []byte) []byte {
	vp8x := []byte{0x08, 0, 0, 0, 15, 0, 0, 15, 0, 0} // EXIF flag, 16x16 canvas
	body := []byte("WEBP")
	body = append(body, riffChunk("VP8X", vp8x)...)
	body = append(body, riffChunk("VP8L", []byte{0x2f, 0x0f, 0xc0, 0x03, 0x00})...)
	body = append(body, riffChunk("EXIF", exif)...)
	return append(append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...), body...)
}

func riffChunk(fourcc string, data []byte) []byte {
	c := append([]byte(fourcc), binary.LittleEndian.AppendUint32(nil, uint32(len(data)))...)
	c = append(c, data...)
	if len(data)%2 == 1 {
		c = append(c, 0)
	}
	return c
}

// box returns an ISO-BMFF box; fullBox one with version and flags.
func box(typ string, body ...[]byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, 0)
	b = append(b, typ...)
	for _, p := range body {
		b = append(b, p...)
	}
	binary.BigEndian.PutUint32(b, uint32(len(b)))
	return b
}

func fullBox(typ string, version byte, body ...[]byte) []byte {
	return box(typ, append([][]byte{{version, 0, 0, 0}}, body...)...)
}

func u16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func ftyp(major string, compatible ...string) []byte {
	body := []byte(major + "\x00\x00\x00\x00")
	for _, c := range compatible {
		body = append(body, c...)
	}
	return box("ftyp", body)
}

// heicWith returns a HEIC container whose item 2 is the Exif payload,
// located by iloc version 0 in mdat (inIdat false) or by iloc version 1
// with construction method 1 inside the meta box's idat.
func heicWith(tiff []byte, inIdat bool) []byte {
	payload := append(append(u32(6), "Exif\x00\x00"...), tiff...)
	iinf := fullBox("iinf", 0, u16(2),
		fullBox("infe", 2, u16(1), u16(0), []byte("hvc1"), []byte("\x00")),
		fullBox("infe", 2, u16(2), u16(0), []byte("Exif"), []byte("\x00")))
	hdlr := fullBox("hdlr", 0, u32(0), []byte("pict"), make([]byte, 13))
	head := ftyp("heic", "mif1", "heic")
	if inIdat {
		iloc := fullBox("iloc", 1, []byte{0x44, 0x00}, u16(1),
			u16(2), u16(1), u16(0), u16(1), u32(0), u32(uint32(len(payload))))
		meta := fullBox("meta", 0, hdlr, iinf, iloc, box("idat", payload))
		return append(append(head, meta...), box("mdat", []byte("pixels"))...)
	}
	ilocFor := func(off uint32) []byte {
		return fullBox("iloc", 0, []byte{0x44, 0x00}, u16(1),
			u16(2), u16(0), u16(1), u32(off), u32(uint32(len(payload))))
	}
	metaLen := len(fullBox("meta", 0, hdlr, iinf, ilocFor(0)))
	off := uint32(len(head) + metaLen + 8) // mdat's body
	meta := fullBox("meta", 0, hdlr, iinf, ilocFor(off))
	return append(append(head, meta...), box("mdat", payload)...)
}

// heicV2With returns a HEIC whose Exif item is listed by infe version 3
// and iloc version 2 (32-bit item IDs, a base offset), after a free box
// with a 64-bit size; extents splits the payload into that many pieces.
func heicV2With(tiff []byte, extents int) []byte {
	payload := append(append(u32(6), "Exif\x00\x00"...), tiff...)
	iinf := fullBox("iinf", 1, u32(1), fullBox("infe", 3, u32(70000), u16(0), []byte("Exif"), []byte("\x00")))
	free := append(append(u32(1), "free"...), binary.BigEndian.AppendUint64(nil, 16+5)...)
	free = append(free, "spare"...)
	head := append(ftyp("heic", "mif1", "heic"), free...)
	ilocFor := func(base uint32) []byte {
		body := [][]byte{{0x44, 0x40}, u32(1), u32(70000), u16(0), u16(0), u32(base), u16(uint16(extents))}
		piece := len(payload) / extents
		for i := range extents {
			n := piece
			if i == extents-1 {
				n = len(payload) - piece*(extents-1)
			}
			body = append(body, u32(uint32(i*piece)), u32(uint32(n)))
		}
		return fullBox("iloc", 2, body...)
	}
	metaLen := len(fullBox("meta", 0, iinf, ilocFor(0)))
	base := uint32(len(head) + metaLen + 8)
	meta := fullBox("meta", 0, iinf, ilocFor(base))
	return append(append(head, meta...), box("mdat", payload)...)
}
