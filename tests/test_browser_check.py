"""The headless-Chromium check itself must be able to fail: broken and external images are caught."""

from __future__ import annotations

import base64

from conftest import render_in_chromium

PNG_1x1 = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2b7f1"
        "b40000000049454e44ae426082"
    )
).decode()


def _page(tmp_path, body: str):
    p = tmp_path / "page.html"
    p.write_text(f"<!DOCTYPE html><html><head><title>t</title></head><body>{body}</body></html>")
    return p


def test_good_image_decodes(tmp_path):
    r = render_in_chromium(_page(tmp_path, f'<img src="data:image/png;base64,{PNG_1x1}">'), tmp_path)
    assert r == {"images": 1, "decoded": 1, "external": [], "errors": [], "title": "t"}


def test_broken_and_external_images_are_caught(tmp_path):
    body = '<img src="data:image/png;base64,AAAA"><img src="missing.png">'
    r = render_in_chromium(_page(tmp_path, body), tmp_path)
    assert r["images"] == 2 and r["decoded"] == 0
    assert len(r["errors"]) == 2
    assert any(e.endswith("missing.png") for e in r["errors"])


def test_a_linked_file_is_listed_as_external(tmp_path):
    (tmp_path / "fig.png").write_bytes(base64.b64decode(PNG_1x1))
    r = render_in_chromium(_page(tmp_path, '<img src="fig.png">'), tmp_path)
    assert r["decoded"] == 1 and any(name.endswith("fig.png") for name in r["external"])
