"""A big deck: a small real deck grown to a given size by an incremental update holding an unused stream."""

from __future__ import annotations

import os
import re

from tests.slides.pdfs import deck_pdf


def padded_deck_pdf(size: int, pages: int = 3) -> bytes:
    """A valid `pages`-page deck of exactly `size` bytes: the pages of deck_pdf, plus random filler.

    The filler is one unreferenced stream object appended as an incremental update (new xref
    section, trailer with /Prev), so readers see the same pages and the upload weighs `size`.
    """
    base = deck_pdf(pages)
    root = re.findall(rb"/Root\s+(\d+\s+\d+\s+R)", base)[-1]
    count = int(re.findall(rb"/Size\s+(\d+)", base)[-1])
    previous = int(re.findall(rb"startxref\s+(\d+)", base)[-1])

    def build(filler: int) -> bytes:
        out = bytearray(base if base.endswith(b"\n") else base + b"\n")
        offset = len(out)
        data = os.urandom(filler)
        out += b"%d 0 obj\n<< /Length %d >>\nstream\n" % (count, filler) + data + b"\nendstream\nendobj\n"
        xref = len(out)
        out += b"xref\n0 1\n0000000000 65535 f \n%d 1\n%010d 00000 n \n" % (count, offset)
        out += b"trailer\n<< /Size %d /Root %s /Prev %d >>\nstartxref\n%d\n%%%%EOF\n" % (
            count + 1,
            root,
            previous,
            xref,
        )
        return bytes(out)

    overhead = len(build(0))
    if size < overhead:
        raise ValueError(f"a {pages}-page deck needs at least {overhead} bytes")
    # The byte counts in the trailer grow by a digit or two with the filler: settle them.
    filler = size - overhead
    deck = build(filler)
    while len(deck) != size:
        filler -= len(deck) - size
        deck = build(filler)
    return deck
