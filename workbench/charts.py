"""Charts of the statistics page (统计图), drawn server-side with matplotlib as inline SVG: alerts per month, the share
of reviewed visits confirmed per month (each bar labelled with its count: 1/1 is not 100 % of anything), and the
median days from alert to visit per street. No script on the page; text stays text (printable, searchable); each
bar carries an id naming its series and key (`alerts-2026-09`, `confirmed-2026-09`, `days-420106002000`).

The functions are pure over the rows of `stats_places.tabulate` (plus the display names), so the page and the tests
draw the same charts."""

from __future__ import annotations

import functools
import io
import json
import re

FONTS = ["WenQuanYi Micro Hei", "DejaVu Sans"]  # the browser draws the text (fonttype none); these give the layout
BLUE, GREEN, GREY, ORANGE = "#1d5fa8", "#2e7d32", "#9e9e9e", "#c05a00"


_fonts_added = False


def _add_cjk_fonts() -> None:
    """Make the installed CJK font (fonts-wqy-microhei, also used by the letters) known to matplotlib, so it lays the
    Chinese text out with that font's metrics."""
    global _fonts_added
    if _fonts_added:
        return
    from matplotlib import font_manager

    from workbench.letters import TTF_CANDIDATES

    for path in TTF_CANDIDATES:
        if path.exists():
            try:
                font_manager.fontManager.addfont(str(path))
            except (OSError, RuntimeError, ValueError):  # an unreadable font file: the fallback list still applies
                continue
    _fonts_added = True


def _figure(width: float, height: float):  # noqa: ANN202
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=72)
    axes = figure.add_subplot()
    axes.spines[["top", "right"]].set_visible(False)
    axes.tick_params(labelsize=9)
    return figure, axes


def _styled(draw):  # noqa: ANN001, ANN202
    """Draw inside matplotlib's settings of these charts (the CJK font first, text kept as text in the SVG)."""

    @functools.wraps(draw)
    def wrapper(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        import matplotlib

        _add_cjk_fonts()
        with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": draw.__name__, "font.family": FONTS}):
            return draw(*args, **kwargs)

    return wrapper


def _svg(figure, title: str, chart_id: str) -> str:  # noqa: ANN001
    """The figure as an <svg> element to inline: no XML prolog, scalable to its box, titled for screen readers."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r'<svg ([^>]*?)width="[^"]+" height="[^"]+"',
                 lambda m: f'<svg id="{chart_id}" class="chart" role="img" aria-label="{title}" {m.group(1)}', svg, count=1)
    return svg.replace("<metadata>", "<title>" + title + "</title><metadata>", 1)


def _empty(axes, text: str) -> None:  # noqa: ANN001
    axes.text(0.5, 0.5, text, ha="center", va="center", transform=axes.transAxes, color=GREY, fontsize=11)
    axes.set_xticks([])
    axes.set_yticks([])


@_styled
def alerts_per_month(months: list[dict]) -> str:
    """Bars: alerts received per month (接收月份)."""
    figure, axes = _figure(7.2, 2.6)
    if not months:
        _empty(axes, "尚无预警")
    else:
        keys = [m["key"] for m in months]
        bars = axes.bar(range(len(keys)), [m["alerts"] for m in months], color=BLUE, width=0.6)
        for bar, key, row in zip(bars, keys, months, strict=True):
            bar.set_gid(f"alerts-{key}")
            axes.annotate(str(row["alerts"]), (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center",
                          va="bottom", fontsize=8, xytext=(0, 2), textcoords="offset points")
        axes.set_xticks(range(len(keys)), keys, rotation=45 if len(keys) > 8 else 0)
        axes.set_ylabel("预警（条）", fontsize=9)
        axes.margins(y=0.15)
    return _svg(figure, "每月预警数", "chart-alerts-month")


@_styled
def confirmed_share_per_month(months: list[dict]) -> str:
    """Bars: the share of reviewed visits of each month that confirmed the alert, labelled "confirmed/visits"; a
    month without visits is marked, not drawn as 0 %."""
    figure, axes = _figure(7.2, 2.6)
    visited = [m for m in months if m["visits"]]
    if not visited:
        _empty(axes, "尚无复核通过的走访")
    else:
        keys = [m["key"] for m in months]
        for index, row in enumerate(months):
            if not row["visits"]:
                axes.annotate("无走访", (index, 0), ha="center", va="bottom", fontsize=8, color=GREY, xytext=(0, 3),
                              textcoords="offset points")
                continue
            share = row["confirmed"] / row["visits"]
            bar = axes.bar([index], [share * 100], color=GREEN if row["visits"] >= 5 else GREY, width=0.6)[0]
            bar.set_gid(f"confirmed-{row['key']}")
            axes.annotate(f"{row['confirmed']}/{row['visits']}", (index, share * 100), ha="center", va="bottom",
                          fontsize=8, xytext=(0, 2), textcoords="offset points")
        axes.set_xticks(range(len(keys)), keys, rotation=45 if len(keys) > 8 else 0)
        axes.set_ylim(0, 115)
        axes.set_xlim(-0.6, len(keys) - 0.4)
        axes.set_yticks([0, 25, 50, 75, 100], ["0%", "25%", "50%", "75%", "100%"])
        axes.set_ylabel("走访属实占比", fontsize=9)
        axes.set_title("柱上为 属实/走访 次数；不足 5 次走访的月份为灰色", fontsize=8, color=GREY, loc="left")
    return _svg(figure, "每月走访确认率（属实/走访）", "chart-confirmed-month")


@_styled
def days_to_visit_per_street(streets: list[dict], names: dict[str, str]) -> str:
    """Horizontal bars: median days from alert to reviewed visit per street, labelled with the number of visits."""
    rows = [s for s in streets if s.get("median_days_to_visit") is not None]
    figure, axes = _figure(7.2, max(1.6, 0.45 * len(rows) + 0.9))
    if not rows:
        _empty(axes, "尚无复核通过的走访")
    else:
        labels = [names.get(s["key"]) or s["key"] for s in rows]
        bars = axes.barh(range(len(rows)), [s["median_days_to_visit"] for s in rows], color=ORANGE, height=0.55)
        for bar, row in zip(bars, rows, strict=True):
            bar.set_gid(f"days-{row['key']}")
            axes.annotate(f"{row['median_days_to_visit']} 天（{row['visits']} 次走访）",
                          (bar.get_width(), bar.get_y() + bar.get_height() / 2), va="center", fontsize=8,
                          xytext=(3, 0), textcoords="offset points")
        axes.set_yticks(range(len(rows)), labels)
        axes.invert_yaxis()
        axes.set_xlabel("预警到走访用时中位数（天）", fontsize=9)
        axes.set_xlim(0, max(1.0, max(s["median_days_to_visit"] for s in rows)) * 1.4)  # room for the labels
    return _svg(figure, "各街道预警到走访用时（中位数）", "chart-days-street")


CHART_FIELDS = ("key", "alerts", "visits", "confirmed", "median_days_to_visit")


def charts(places: dict, names: dict[str, str]) -> dict[str, str]:
    """The three charts of the statistics page from `stats_places.tabulate`'s rows. Drawing takes matplotlib a few
    hundred milliseconds a chart, so the SVGs of the last figures drawn are kept (the same figures draw the same)."""
    def rows(group: str) -> list[dict]:
        return [{name: row.get(name) for name in CHART_FIELDS} for row in places[group]]

    months, streets = rows("months"), rows("streets")
    street_names = {row["key"]: names[row["key"]] for row in streets if row["key"] in names}
    return dict(_drawn(json.dumps([months, streets, street_names], ensure_ascii=False, sort_keys=True)))


@functools.lru_cache(maxsize=64)
def _drawn(key: str) -> tuple[tuple[str, str], ...]:
    months, streets, names = json.loads(key)
    return (("alerts_per_month", alerts_per_month(months)), ("confirmed_per_month", confirmed_share_per_month(months)),
            ("days_per_street", days_to_visit_per_street(streets, names)))
