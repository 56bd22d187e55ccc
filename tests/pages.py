"""Checks on the HTML pages redqueen writes (reports, audits): every embedded image is a PNG that decodes."""

from __future__ import annotations

import base64
import re

_SRC = re.compile(r"src=['\"]data:image/png;base64,([^'\"]*)['\"]")


def embedded_pngs(page: str) -> list[bytes]:
    """The PNG bytes of every ``<img src='data:image/png;base64,...'>`` in ``page``; fails on one that is not a PNG
    (an object formatted into the page instead of its base64 text, say)."""
    found = _SRC.findall(page)
    out = []
    for text in found:
        data = base64.b64decode(text, validate=True)
        assert data[:8] == b"\x89PNG\r\n\x1a\n", f"an embedded image is not a PNG: {text[:40]!r}"
        out.append(data)
    assert len(out) == page.count("data:image/png;base64,"), "an embedded image outside a quoted src"
    return out
