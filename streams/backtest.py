"""`hardship backtest`: the same history replayed under two or more policies, compared side by side.

Replays with the core of `hardship replay` (and its --jobs), compares with scoring.backtest, and
writes the comparison as a terminal summary, backtest.json and report.html (charts by matplotlib,
inline SVG, printable), plus each policy's alerts as alerts-<label>.jsonl.
"""

from __future__ import annotations

import html
import io
import json
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import click

from models.privacy import mask_personal
from scoring.backtest import Run, compare
from scoring.evaluation import KINDS
from scoring.monitor import Monitor
from scoring.policy import PolicyError, load_policy
from scoring.reasons import KINDS_ZH
from streams.evaluate import masked, read_jsonl
from streams.replay import replay_files, replay_parallel


def _labels(paths: list[Path]) -> list[str]:
    labels = []
    for index, path in enumerate(paths):
        label = path.stem
        while label in labels:
            label = f"{path.stem}-{index + 1}"
        labels.append(label)
    return labels


def _months_and_households(registry: Path, events: Path) -> tuple[float, Counter]:
    """The span of the events in months (30.44 days) and the households per community on the roster."""
    households: Counter = Counter()
    seen: dict[str, str] = {}
    for row in read_jsonl(registry, "registry"):
        if isinstance(row, dict) and isinstance(row.get("division_code"), str) and row.get("household_id"):
            seen[row["household_id"]] = row["division_code"]
    households.update(seen.values())
    first = last = None
    with open(events, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            start = line.find('"occurred_at"')
            if start < 0:
                continue
            quote = line.find('"', line.find(":", start) + 1)
            value = line[quote + 1: line.find('"', quote + 1)]
            try:
                moment = datetime.fromisoformat(value).timestamp()
            except ValueError:
                continue
            first = moment if first is None or moment < first else first
            last = moment if last is None or moment > last else last
    months = max(1.0, (last - first) / (30.44 * 86_400)) if first is not None else 1.0
    return months, households


def _svg(figure) -> str:  # noqa: ANN001
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    text = buffer.getvalue()
    return text[text.find("<svg"):]


def charts(report: dict) -> list[tuple[str, str]]:
    """(title, inline SVG) of the report's charts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    runs = report["runs"]
    width = 0.8 / len(runs)
    figure, axis = plt.subplots(figsize=(8, 3.2))
    for number, run in enumerate(runs):
        axis.bar([i + number * width for i in range(len(KINDS))], [run["by_kind"][k] for k in KINDS], width,
                 label=run["label"])
    axis.set_xticks([i + width * (len(runs) - 1) / 2 for i in range(len(KINDS))], KINDS, fontsize=8)
    axis.set_ylabel("households flagged")
    axis.legend()
    out.append(("Households flagged by kind (漏保 / 漏救 / 应退 / 渐退 / 备案核查)", _svg(figure)))
    plt.close(figure)

    streets = sorted(s for s, figures in runs[0]["workload"]["streets"].items() if figures["households"])
    figure, axis = plt.subplots(figsize=(8, 3.2))
    for number, run in enumerate(runs):
        values = [run["workload"]["streets"].get(s, {}).get("per_1000_households") or 0 for s in streets]
        axis.bar([i + number * width for i in range(len(streets))], values, width, label=run["label"])
    axis.set_xticks([i + width * (len(runs) - 1) / 2 for i in range(len(streets))], [s[6:9] for s in streets], fontsize=8)
    axis.set_xlabel("street (digits 7-9 of the division code)")
    axis.set_ylabel("alerts per 1,000 households")
    axis.legend()
    out.append(("Alerts per 1,000 households by street (街道)", _svg(figure)))
    plt.close(figure)

    if all("detection" in run for run in runs):
        figure, axes = plt.subplots(1, 2, figsize=(9, 3.2), sharey=True)
        for panel, measure in zip(axes, ("recall", "precision"), strict=True):
            for number, run in enumerate(runs):
                values = [run["detection"]["kinds"][k][measure] or 0 for k in KINDS]
                panel.bar([i + number * width for i in range(len(KINDS))], values, width, label=run["label"])
            panel.set_xticks([i + width * (len(runs) - 1) / 2 for i in range(len(KINDS))], KINDS, fontsize=7,
                             rotation=25, ha="right")
            panel.set_title(measure)
            panel.set_ylim(0, 1.15)
        axes[0].legend(loc="upper center", ncols=len(runs), fontsize=7)
        out.append(("Recall and precision against the truth, by kind", _svg(figure)))
        plt.close(figure)
    return out


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def render_html(report: dict) -> str:
    """A self-contained page a bureau can open and print."""
    e = html.escape
    runs = report["runs"]
    parts = [
        "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'><title>政策回测报告</title>",
        "<style>body{font-family:'WenQuanYi Micro Hei','Noto Sans CJK SC',sans-serif;margin:2em;color:#222}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:4px 8px;text-align:right}"
        "th:first-child,td:first-child{text-align:left}h2{margin-top:1.6em}.small{font-size:0.85em;color:#555}"
        "@media print{h2{page-break-before:auto}}</style></head><body>",
        "<h1>政策回测报告 Backtest of a policy change</h1>",
        f"<p class='small'>同一历史数据（{report['months']} 个月）分别按各政策重放；每个社区按 "
        f"{report['officers_per_community']:g} 名民政专干计算每人每月走访量。</p>",
        "<h2>预警数量 Alerts by kind</h2><table><tr><th>类型 kind</th>",
    ]
    parts += [f"<th>{e(run['label'])}<br><span class='small'>{e(run['policy_version'])}</span></th>" for run in runs]
    parts.append("</tr>")
    for kind in KINDS:
        parts.append(f"<tr><td>{KINDS_ZH.get(kind, kind)} {kind}</td>"
                     + "".join(f"<td>{run['by_kind'][kind]:,}</td>" for run in runs) + "</tr>")
    parts.append("<tr><td>预警总数 alerts</td>" + "".join(f"<td>{run['alerts']:,}</td>" for run in runs) + "</tr>")
    parts.append("<tr><td>涉及家庭 households</td>"
                 + "".join(f"<td>{run['households_flagged']:,}</td>" for run in runs) + "</tr></table>")
    if all("detection" in run for run in runs):
        parts.append("<h2>准确性 Against the truth</h2><table><tr><th>类型</th>"
                     + "".join(f"<th>{e(r['label'])} 查全率</th><th>{e(r['label'])} 查准率</th>" for r in runs) + "</tr>")
        for kind in KINDS:
            parts.append(f"<tr><td>{KINDS_ZH.get(kind, kind)} {kind}</td>" + "".join(
                f"<td>{_pct(r['detection']['kinds'][kind]['recall'])}</td><td>{_pct(r['detection']['kinds'][kind]['precision'])}</td>"
                for r in runs) + "</tr>")
        parts.append("<tr><td>全部 all</td>" + "".join(
            f"<td>{_pct(r['detection']['overall']['recall'])}</td><td>{_pct(r['detection']['overall']['precision'])}</td>"
            for r in runs) + "</tr></table>")
    if all("visits" in run for run in runs):
        parts.append("<h2>入户核查结果 Visit findings</h2><table><tr><th>政策</th><th>已走访且预警</th><th>核实</th><th>核实率</th></tr>")
        for run in runs:
            v = run["visits"]
            parts.append(f"<tr><td>{e(run['label'])}</td><td>{v['visited_and_flagged']:,}</td><td>{v['confirmed']:,}</td>"
                         f"<td>{_pct(v['confirmed_share'])}</td></tr>")
        parts.append("</table>")
    for title, svg in charts(report):
        parts.append(f"<h2>{e(title)}</h2>{svg}")
    parts.append("<h2>各街道工作量 Workload by street</h2><table><tr><th>街道 street</th><th>户数</th>"
                 + "".join(f"<th>{e(r['label'])} 预警/千户</th><th>{e(r['label'])} 人均月走访</th>" for r in runs) + "</tr>")
    for street in sorted(runs[0]["workload"]["streets"]):
        first = runs[0]["workload"]["streets"][street]
        name = street if first["households"] else f"{street}（未在册人员，按身份证所在县区）"
        parts.append(f"<tr><td>{name}</td><td>{first['households']:,}</td>" + "".join(
            f"<td>{r['workload']['streets'].get(street, {}).get('per_1000_households') or 0}</td>"
            f"<td>{r['workload']['streets'].get(street, {}).get('visits_per_officer_month') or 0}</td>" for r in runs) + "</tr>")
    parts.append("</table>")
    for change in report["changes"]:
        parts.append(f"<h2>{e(change['policy'])} 对比 {e(change['against'])}：新增 {change['gained']:,}，"
                     f"减少 {change['lost']:,}，变化 {change['changed']:,}</h2>")
        for title, key in (("新增预警 gained", "gained_examples"), ("不再预警 lost", "lost_examples"),
                           ("等级或原因变化 changed", "changed_examples")):
            if not change[key]:
                continue
            parts.append(f"<h3>{title}</h3><table><tr><th>家庭 household</th><th>类型</th>"
                         f"<th>{e(change['against'])}</th><th>{e(change['policy'])}</th></tr>")
            for example in change[key]:
                cells = []
                for label in (change["against"], change["policy"]):
                    alert = example.get(label)
                    cells.append("—" if alert is None else f"等级{alert['level']}：" + "；".join(
                        e(r["text"]) for r in alert["reasons"][:3]))
                parts.append(f"<tr><td>{e(example['household_id'])}</td><td>{KINDS_ZH.get(example['kind'], example['kind'])}</td>"
                             f"<td style='text-align:left'>{cells[0]}</td><td style='text-align:left'>{cells[1]}</td></tr>")
            parts.append("</table>")
    parts.append("</body></html>")
    # household ids of people on no roster carry a resident ID: masked (charts hold no personal data)
    return "".join(part if "<svg" in part else mask_personal(part) for part in parts)


def _model_figures(model, runs: list[tuple[str, Path]], outcomes_path: Path | None) -> dict:  # noqa: ANN001
    """Per policy: the learned model's ranking against the rules' order, on the visit findings given."""
    from scoring.model.train import figures, join

    out: dict = {"version": model.version, "policies": {}}
    for label, alerts_path in runs:
        if outcomes_path is None:
            continue
        data = join(alerts_path, outcomes_path)
        if len(data) == 0 or len(set(data.labels)) < 2:
            out["policies"][label] = {"count": len(data)}
            continue
        fig = figures(data, model.score_features(data.features))
        out["policies"][label] = {k: fig[k] for k in ("count", "confirmed_share", "auc", "auc_rules",
                                                      "top_quarter_confirmed", "top_quarter_confirmed_rules",
                                                      "calibration_max_gap")}
    for label, fig in out["policies"].items():
        if "auc" in fig:
            click.echo(f"model {model.version} under {label}: {fig['count']:,} visit findings, AUC {fig['auc']} "
                       f"(rules' order {fig['auc_rules']}), top quarter confirmed {fig['top_quarter_confirmed']} "
                       f"(rules' order {fig['top_quarter_confirmed_rules']})")
    return out


def print_summary(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 150)
    table = Table(title="backtest: households flagged by kind")
    table.add_column("kind")
    for run in report["runs"]:
        table.add_column(f"{run['label']} ({run['policy_version']})", justify="right")
    for kind in KINDS:
        table.add_row(f"{kind} {KINDS_ZH.get(kind, '')}", *(f"{r['by_kind'][kind]:,}" for r in report["runs"]))
    if all("detection" in r for r in report["runs"]):
        table.add_row("recall (all kinds)", *(_pct(r["detection"]["overall"]["recall"]) for r in report["runs"]))
        table.add_row("precision (all kinds)", *(_pct(r["detection"]["overall"]["precision"]) for r in report["runs"]))
    if all("visits" in r for r in report["runs"]):
        table.add_row("visits confirmed", *(_pct(r["visits"]["confirmed_share"]) for r in report["runs"]))
    console.print(table)
    for change in report["changes"]:
        console.print(f"{change['policy']} against {change['against']}: {change['gained']:,} gained "
                      f"{change['gained_by_kind']}, {change['lost']:,} lost {change['lost_by_kind']}, "
                      f"{change['changed']:,} changed", highlight=False)


@click.command(name="backtest")
@click.option("--registry", "registry_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="household roster, JSON Lines")
@click.option("--filings", "filings_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="close-relative filings 近亲属备案, JSON Lines")
@click.option("--events", "events_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="departments' events, JSON Lines, in file order")
@click.option("--policy", "policy_paths", required=True, multiple=True, type=click.Path(path_type=Path),
              help="a policy file; give two or more (the first is the baseline)")
@click.option("--truth", "truth_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="ground truth (as `hardship simulate` writes it): recall and precision of each policy")
@click.option("--outcomes", "outcomes_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="workbench outcomes with visit findings: the confirmed share of the visits each policy flags")
@click.option("--officers-per-community", type=click.FloatRange(0.1, 100), default=1.0, show_default=True,
              help="community officers (社区民政专干) per community, for visits per officer-month")
@click.option("--jobs", type=click.IntRange(1, 64), default=1, show_default=True, help="processes per replay")
@click.option("--model", "model_dir", type=click.Path(exists=True, path_type=Path), default=None,
              help="a learned model (`hardship model train`): every policy's alerts get its score and, with "
                   "--outcomes holding visit findings, the model's ranking is measured beside the rules' for each")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="folder for backtest.json, report.html and alerts-<policy>.jsonl (created if missing)")
def backtest(registry_path, filings_path, events_path, policy_paths, truth_path, outcomes_path, officers_per_community,
             jobs, out_dir, model_dir) -> None:
    """Replay the same history under each policy and compare: alerts gained and lost by kind and level,
    households with their reasons under each, workload per street and community and, given truth or
    visit outcomes, how right each is.

    Example: hardship backtest --registry sim/registry.jsonl --filings sim/filings.jsonl --events
    sim/events.jsonl --policy scoring/policy.yaml --policy raised.yaml --truth sim/truth.jsonl --out bt
    """
    if len(policy_paths) < 2:
        raise click.UsageError("give at least two --policy files: the baseline first, then the change")
    policies = []
    for path in policy_paths:  # every policy is checked before anything runs
        if not path.exists():
            raise click.ClickException(f"policy file {path} does not exist")
        try:
            policies.append(load_policy(path))
        except PolicyError as exc:
            raise click.ClickException(f"{exc}\nNothing was replayed; fix this policy file and run again.") from None
    from streams.replay import load_model_or_exit

    model = load_model_or_exit(model_dir)  # refused at start, before anything is replayed
    truth = read_jsonl(truth_path, "truth") if truth_path else None
    outcomes = read_jsonl(outcomes_path, "outcomes") if outcomes_path else None
    out_dir.mkdir(parents=True, exist_ok=True)
    inputs = [(s, p) for s, p in (("registry", registry_path), ("filings", filings_path), ("events", events_path)) if p]
    runs = []
    for label, policy in zip(_labels(list(policy_paths)), policies, strict=True):
        started = time.perf_counter()
        alerts_path = out_dir / f"alerts-{label}.jsonl"
        dead_path = out_dir / "deadletters.jsonl"
        with open(alerts_path, "w", encoding="utf-8") as alerts_file, open(dead_path, "w", encoding="utf-8") as dead_file:
            if jobs > 1:
                summary = replay_parallel(inputs, alerts_file, dead_file, policy, jobs, model=model)
            else:
                summary = replay_files(inputs, alerts_file, dead_file, Monitor(policy, model=model))
        click.echo(f"{label}: {sum(summary.lines.values()):,} lines replayed in {time.perf_counter() - started:.1f} s, "
                   f"{summary.total_alerts:,} alert records", err=True)
        runs.append(Run(label, policy.version, read_jsonl(alerts_path, "alerts")))
    months, households = _months_and_households(registry_path, events_path)
    report = compare(runs, households, months, officers_per_community, truth, outcomes)
    if model is not None:
        report["model"] = _model_figures(model, [(run.label, out_dir / f"alerts-{run.label}.jsonl") for run in runs],
                                         outcomes_path)
    # household ids of people on no roster carry a resident ID: the report and its JSON are masked exports
    (out_dir / "backtest.json").write_text(json.dumps(masked(report), ensure_ascii=False, indent=2), encoding="utf-8")
    (out_dir / "report.html").write_text(render_html(report), encoding="utf-8")
    print_summary(report)
    click.echo(f"written: {out_dir / 'report.html'}, {out_dir / 'backtest.json'}, alerts-<policy>.jsonl", err=True)
