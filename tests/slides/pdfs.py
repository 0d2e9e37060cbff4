"""Make real PDFs for the slide tests: a multi-page deck, a page that never finishes, an encrypted file."""

from __future__ import annotations

import functools
import hashlib
import io
import struct
import zipfile
import zlib

from PIL import Image, ImageDraw

COLOURS = ["#c0392b", "#2980b9", "#27ae60", "#8e44ad", "#f39c12", "#16a085"]


def deck_pdf(pages: int = 3) -> bytes:
    """A deck whose pages differ visibly: each has its own colour and its number in big text."""
    images = []
    for number in range(1, pages + 1):
        image = Image.new("RGB", (640, 480), COLOURS[(number - 1) % len(COLOURS)])
        draw = ImageDraw.Draw(image)
        draw.rectangle((40, 40, 600, 440), outline="white", width=8)
        draw.text((80, 200), f"Diapositive {number}", fill="white", font_size=64)
        images.append(image)
    out = io.BytesIO()
    images[0].save(out, "PDF", save_all=True, append_images=images[1:], resolution=96)
    return out.getvalue()


def _pdf(objects: list[bytes], trailer_extra: bytes = b"") -> bytes:
    """Serialise numbered objects (1..n, object 1 the catalog) with a correct xref table."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R %s>>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        trailer_extra,
        xref,
    )
    return bytes(out)


def _stream(data: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d %s>>\nstream\n" % (len(data), extra) + data + b"\nendstream"


def slow_page_pdf(depth: int = 12, fan_out: int = 10) -> bytes:
    """One page whose nested forms draw fan_out**depth rectangles: a page that never finishes rendering."""
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 800 600] /Contents 4 0 R"
        b" /Resources << /XObject << /X 5 0 R >> >> >>",
        _stream(b"/X Do"),
    ]
    for level in range(depth):
        number = 5 + level
        if level == depth - 1:
            content = b"0.2 0.4 0.8 rg 10 10 780 580 re f"
        else:
            content = b" ".join(b"q /X Do Q" for _ in range(fan_out))
        compressed = zlib.compress(content)
        objects.append(
            _stream(
                compressed,
                b"/Type /XObject /Subtype /Form /BBox [0 0 800 600] /Filter /FlateDecode "
                + (b"/Resources << /XObject << /X %d 0 R >> >> " % (number + 1) if level < depth - 1 else b""),
            )
        )
    return _pdf(objects)


_PAD = bytes.fromhex("28BF4E5E4E758A4164004E56FFFA01082E2E00B6D0683E802F0CA9FE6453697A")


def _rc4(key: bytes, data: bytes) -> bytes:
    s = list(range(256))
    j = 0
    for i in range(256):
        j = (j + s[i] + key[i % len(key)]) % 256
        s[i], s[j] = s[j], s[i]
    out = bytearray()
    i = j = 0
    for byte in data:
        i = (i + 1) % 256
        j = (j + s[i]) % 256
        s[i], s[j] = s[j], s[i]
        out.append(byte ^ s[(s[i] + s[j]) % 256])
    return bytes(out)


def encrypted_pdf(user_password: str = "secret", owner_password: str = "owner") -> bytes:
    """A one-page PDF under the standard security handler (RC4 40-bit, revision 2) with a user password."""
    padded_user = (user_password.encode() + _PAD)[:32]
    owner_key = hashlib.md5((owner_password.encode() + _PAD)[:32]).digest()[:5]
    o_entry = _rc4(owner_key, padded_user)
    permissions = -4
    file_id = hashlib.md5(b"classe-virtuelle").digest()
    key = hashlib.md5(padded_user + o_entry + permissions.to_bytes(4, "little", signed=True) + file_id).digest()[:5]
    u_entry = _rc4(key, _PAD)
    content = b"BT /F1 48 Tf 100 300 Td (Secret) Tj ET"
    object_key = hashlib.md5(key + (4).to_bytes(3, "little") + (0).to_bytes(2, "little")).digest()[:10]
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 800 600] /Contents 4 0 R"
        b" /Resources << /Font << /F1 6 0 R >> >> >>",
        _stream(_rc4(object_key, content)),
        b"<< /Filter /Standard /V 1 /R 2 /O <%s> /U <%s> /P %d >>"
        % (o_entry.hex().encode(), u_entry.hex().encode(), permissions),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    hex_id = file_id.hex().encode()
    return _pdf(objects, b"/Encrypt 5 0 R /ID [<%s> <%s>] " % (hex_id, hex_id))


ODP_MIMETYPE = "application/vnd.oasis.opendocument.presentation"
ODP_MANIFEST = """<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">
 <manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.presentation"/>
 <manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>
</manifest:manifest>
"""

ODP_CONTENT = """<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"
 xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0"
 xmlns:presentation="urn:oasis:names:tc:opendocument:xmlns:presentation:1.0" office:version="1.2">
 <office:body><office:presentation>{pages}</office:presentation></office:body>
</office:document-content>
"""

ODP_PAGE = """<draw:page draw:name="page{n}">
  <draw:frame svg:x="2cm" svg:y="2cm" svg:width="20cm" svg:height="4cm">
   <draw:text-box><text:p>Diapositive {n}</text:p></draw:text-box>
  </draw:frame>
 </draw:page>"""


def deck_odp(pages: int = 2) -> bytes:
    """A minimal OpenDocument presentation: a stored `mimetype` first, then its manifest and content."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), ODP_MIMETYPE, compress_type=zipfile.ZIP_STORED)
        archive.writestr("META-INF/manifest.xml", ODP_MANIFEST, compress_type=zipfile.ZIP_DEFLATED)
        body = "".join(ODP_PAGE.format(n=n) for n in range(1, pages + 1))
        archive.writestr("content.xml", ODP_CONTENT.format(pages=body), compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def office_zip(names: dict[str, str]) -> bytes:
    """A zip with these members: a stand-in for a PPTX, DOCX or ODT in sniffing tests."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in names.items():
            archive.writestr(name, content)
    return out.getvalue()


# --- Hostile files (tests/slides/test_limits.py, docs/reliability.md) -----------------


def page_of_size_pdf(width: float, height: float) -> bytes:
    """One page of this size in points (72 a inch) with a blue square near its corner."""
    return _pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %s %s] /Contents 4 0 R >>"
            % (repr(width).encode(), repr(height).encode()),
            _stream(b"0.2 0.4 0.8 rg 0 0 %s %s re f" % (repr(width / 2).encode(), repr(height / 2).encode())),
        ]
    )


@functools.cache
def _zeros_rle_flate(count: int) -> bytes:
    """`count` zero bytes as RunLengthDecode inside FlateDecode: 1.2 GB in about 20 KB."""
    runs = b"\x81\x00" * (count // 128)
    if count % 128:
        runs += bytes([257 - count % 128, 0])
    return zlib.compress(runs + b"\x80", 9)


def soft_mask_bomb_pdf(side: int = 36_000, pages: int = 1) -> bytes:
    """Pages that each draw a side x side image with a soft mask of the same size.

    PDFium decodes a soft mask whole: at 36,000 px that is 1.2 GB for an 80 KB page, where
    the image itself is drawn a row at a time. Each page has its own image and mask.
    """
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % (3 + 4 * i) for i in range(pages)), pages),
    ]
    for index in range(pages):
        page, content, image, mask = (3 + 4 * index + k for k in range(4))
        objects += [
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 800 600] /Contents %d 0 R"
            b" /Resources << /XObject << /I %d 0 R >> >> >>" % (content, image),
            _stream(b"q 800 0 0 600 0 0 cm /I Do Q"),
            _stream(
                _zeros_rle_flate(side * side * 3),
                b"/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB /BitsPerComponent 8"
                b" /Filter [/FlateDecode /RunLengthDecode] /SMask %d 0 R " % (side, side, mask),
            ),
            _stream(
                _zeros_rle_flate(side * side),
                b"/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent 8"
                b" /Filter [/FlateDecode /RunLengthDecode] " % (side, side),
            ),
        ]
    return _pdf(objects)


PPTX_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>'
)


def _deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def raw_zip(members: list[tuple[str, bytes, int, int]]) -> bytes:
    """A zip of (name, raw deflate data, CRC-32, declared size) members, written by hand.

    zipfile cannot write a member from data already compressed, nor one that lies about its
    size; a zip bomb needs both.
    """
    out = bytearray()
    directory = bytearray()
    for name, data, crc, size in members:
        encoded = name.encode()
        offset = len(out)
        fields = struct.pack("<HHHHHIII", 20, 0, 8, 0, 0x21, crc, len(data), size)
        out += b"PK\x03\x04" + fields + struct.pack("<HH", len(encoded), 0) + encoded + data
        directory += (
            b"PK\x01\x02"
            + struct.pack("<H", 20)
            + fields
            + struct.pack("<HHHHHII", len(encoded), 0, 0, 0, 0, 0, offset)
            + encoded
        )
    start = len(out)
    out += directory
    out += b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, len(members), len(members), len(directory), start, 0)
    return bytes(out)


def pptx_bomb(slides: int = 6, slide_bytes: int = 64 * 1024**2, declared: int | None = None) -> bytes:
    """A PPTX of `slides` members of `slide_bytes` spaces each (about 400 KB for 384 MiB).

    The members share one deflate stream, made once. With `declared`, each member's headers
    claim that size instead of its real one.
    """
    spaces = b" " * slide_bytes
    data = _deflate(spaces)
    crc = zlib.crc32(spaces)
    small = [
        (name, _deflate(text.encode()), zlib.crc32(text.encode()), len(text.encode()))
        for name, text in (
            ("[Content_Types].xml", PPTX_CONTENT_TYPES),
            ("ppt/presentation.xml", '<?xml version="1.0"?><p:presentation/>'),
        )
    ]
    bulky = [(f"ppt/slides/slide{n}.xml", data, crc, declared or slide_bytes) for n in range(1, slides + 1)]
    return raw_zip(small + bulky)
