"""The six-dimension radar chart (六维雷达图) as inline SVG: pure geometry, no script needed on the page."""

from __future__ import annotations

import math
from html import escape

from workbench.labels import DIMENSIONS


def _point(cx: float, cy: float, radius: float, index: int, count: int) -> tuple[float, float]:
    angle = -math.pi / 2 + 2 * math.pi * index / count
    return cx + radius * math.cos(angle), cy + radius * math.sin(angle)


def radar_svg(values: dict[str, float], size: int = 320) -> str:
    names = list(DIMENSIONS)
    count = len(names)
    cx = cy = size / 2
    outer = size / 2 - 58
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" width="{size}" height="{size}" '
             'role="img" aria-label="六维困难指数雷达图" class="radar">']
    for ring in (25, 50, 75, 100):
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in (_point(cx, cy, outer * ring / 100, i, count) for i in range(count)))
        parts.append(f'<polygon points="{points}" fill="none" stroke="#d0d7e2" stroke-width="1"/>')
    for i, name in enumerate(names):
        x, y = _point(cx, cy, outer, i, count)
        parts.append(f'<line x1="{cx:.1f}" y1="{cy:.1f}" x2="{x:.1f}" y2="{y:.1f}" stroke="#d0d7e2"/>')
        lx, ly = _point(cx, cy, outer + 30, i, count)
        value = max(0.0, min(100.0, float(values.get(name, 0))))
        parts.append(f'<text x="{lx:.1f}" y="{ly:.1f}" text-anchor="middle" dominant-baseline="middle" '
                     f'font-size="13" fill="#333">{escape(DIMENSIONS[name])}</text>')
        parts.append(f'<text x="{lx:.1f}" y="{ly + 15:.1f}" text-anchor="middle" font-size="12" '
                     f'fill="#b8292f">{value:.0f}</text>')
    data = " ".join(
        f"{x:.1f},{y:.1f}"
        for x, y in (_point(cx, cy, outer * max(0.0, min(100.0, float(values.get(n, 0)))) / 100, i, count)
                     for i, n in enumerate(names))
    )
    parts.append(f'<polygon points="{data}" fill="rgba(184,41,47,0.25)" stroke="#b8292f" stroke-width="2"/>')
    parts.append("</svg>")
    return "".join(parts)
