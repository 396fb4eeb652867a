"""An HTML contact sheet: one row per rendered result, showing the content image, the style
image(s) with where they came from and their retrieval score, the result, and its measured
quality. Plain HTML with relative links, so the output folder can be moved or zipped."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

THUMB = 256


@dataclass
class Tile:
    image: str  # path relative to the sheet
    caption: str
    detail: str = ""


@dataclass
class SheetRow:
    content: Tile
    styles: list[Tile]
    result: Tile
    facts: dict[str, str] = field(default_factory=dict)
    alternatives: list[Tile] = field(default_factory=list)  # other methods' results, side by side


def save_thumbnail(image: Image.Image, folder: Path, name: str) -> str:
    """A JPEG thumbnail (long side THUMB) in ``folder``; returns its path relative to the
    folder's parent (the sheet's folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    thumb = image.convert("RGB").copy()
    thumb.thumbnail((THUMB, THUMB), Image.Resampling.LANCZOS)
    path = folder / f"{name}.jpg"
    thumb.save(path, quality=90)
    return f"{folder.name}/{path.name}"


def _tile(tile: Tile) -> str:
    detail = f"<br><small>{html.escape(tile.detail)}</small>" if tile.detail else ""
    return (
        f'<figure><a href="{html.escape(tile.image)}">'
        f'<img src="{html.escape(tile.image)}" alt="{html.escape(tile.caption)}"></a>'
        f"<figcaption>{html.escape(tile.caption)}{detail}</figcaption></figure>"
    )


def write_contact_sheet(path: Path, title: str, rows: list[SheetRow], notes: list[str] | None = None) -> Path:
    """Write the sheet to ``path`` (an .html file) and return it."""
    body = [f"<h1>{html.escape(title)}</h1>"]
    body += [f"<p>{html.escape(n)}</p>" for n in notes or []]
    body.append("<table><tr><th>content</th><th>style</th><th>result</th><th>measured</th></tr>")
    for row in rows:
        facts = "".join(
            f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in row.facts.items()
        )
        body.append(
            f"<tr><td>{_tile(row.content)}</td><td>{''.join(_tile(s) for s in row.styles)}</td>"
            f"<td>{''.join(_tile(t) for t in [row.result, *row.alternatives])}</td>"
            f"<td><table class=facts>{facts}</table></td></tr>"
        )
    body.append("</table>")
    style = (
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:6px;vertical-align:top}"
        f"img{{max-width:{THUMB}px;max-height:{THUMB}px}}figure{{display:inline-block;margin:4px}}"
        "table.facts td{border:none;padding:1px 6px}"
    )
    path.write_text(
        f'<!doctype html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{style}</style></head>\n"
        f"<body>\n" + "\n".join(body) + "\n</body></html>\n",
        encoding="utf-8",
    )
    return path
