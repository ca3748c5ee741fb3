"""Excel exports (导出) of the queue, the task list and the audit log; personal data always masked, every cell text.

Every cell is written as a string cell (never a formula, whatever it starts with: `=`, `+`, `-`, `@`) and
those that start like a formula are marked quote-prefixed, so Excel and WPS show them as typed and never
evaluate them, also after a user edits the cell (CSV/formula injection).
"""

from __future__ import annotations

import io

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

QUEUE_COLUMNS = (
    ("number", "预警序号"), ("alert_id", "预警编号"), ("household_id", "户编号"), ("division_code", "区划代码"),
    ("division_name", "区划名称"), ("kind_label", "预警类型"),
    ("level_label", "预警等级"), ("hardship_score", "困难指数"), ("removal_score", "退出指数"),
    ("status_label", "状态"), ("reasons_text", "预警原因"), ("event_time", "事件时间"), ("received_at", "接收时间"),
    ("model_score", "模型核实概率"), ("model_reasons_text", "模型理由"), ("model_version", "模型版本"),
)
TASK_COLUMNS = (
    ("task_id", "任务编号"), ("alert_number", "预警序号"), ("alert_id", "预警编号"), ("household_id", "户编号"), ("division_code", "区划代码"),
    ("division_name", "区划名称"), ("kind_label", "预警类型"), ("level_label", "预警等级"), ("assignee_name", "承办人"), ("status_label", "状态"),
    ("start_date", "开始日期"), ("due_label", "办结期限"), ("overdue_text", "是否逾期"), ("visit_method", "核查方式"),
    ("visit_result", "核查结论"), ("contact_phone", "联系电话"),
)
AUDIT_COLUMNS = (
    ("id", "序号"), ("at", "时间"), ("actor", "操作人"), ("role", "角色"), ("action_label", "操作"),
    ("target_label", "对象类型"), ("target_id", "对象编号"), ("division_code", "区划代码"), ("sentence", "经过"),
    ("detail", "详情（原始）"), ("client", "来源地址"),
)
_HEADER_FILL = PatternFill("solid", fgColor="B8292F")
_FORMULA_STARTS = frozenset("=+-@\t\r")


def _text(value: object) -> str | None:
    """A cell's text: numbers and booleans as they read, None as an empty cell."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _when(iso: str | None) -> str | None:
    """2026-09-17T10:00:00+08:00 -> 2026-09-17 10:00:00 (China Standard Time, as people read it)."""
    return iso[:19].replace("T", " ") if iso else iso


def _workbook(title: str, columns: tuple, rows: list[dict]) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = title
    sheet.append([label for _, label in columns])
    for cell in sheet[1]:
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = _HEADER_FILL
        cell.alignment = Alignment(horizontal="center")
    for row in rows:
        sheet.append([_text(row.get(key)) for key, _ in columns])
    for cells in sheet.iter_rows():
        for cell in cells:
            if cell.value is None:
                continue
            cell.data_type = "s"  # a string cell: openpyxl would store "=..." as a formula
            if cell.value[:1] in _FORMULA_STARTS:
                cell.quotePrefix = True
    for index, (key, label) in enumerate(columns, 1):
        longest = max([len(str(label)) * 2] + [len(str(row.get(key) or "")) for row in rows[:200]])
        sheet.column_dimensions[get_column_letter(index)].width = min(60, max(10, longest + 2))
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def queue_xlsx(alert_views: list[dict]) -> bytes:
    rows = [dict(v, reasons_text="；".join(r["text"] for r in v["reasons"]), event_time=_when(v["event_time"]),
                 received_at=_when(v["received_at"]), model_reasons_text="；".join(v.get("model_reasons") or ()) or None)
            for v in alert_views]
    return _workbook("预警队列", QUEUE_COLUMNS, rows)


def tasks_xlsx(task_views: list[dict]) -> bytes:
    rows = []
    for v in task_views:
        visit = v.get("visit") or {}
        rows.append(dict(v, overdue_text=f"逾期 {v['days_overdue']} 天" if v["overdue"] else "否",
                         visit_method=visit.get("method_label"), visit_result=visit.get("result_label"),
                         contact_phone=visit.get("contact_phone")))
    return _workbook("核查任务", TASK_COLUMNS, rows)


def audit_xlsx(audit_views: list[dict]) -> bytes:
    return _workbook("审计日志", AUDIT_COLUMNS, audit_views)


def audit_export(session, actor, now, client: str | None, filters: dict | None = None) -> bytes:
    """The audit log as a workbook (with the page's filters: action, actor, since, until), for auditors only; times
    read 2026-09-18 10:00:00 (China Standard Time); the export itself is audited (审计日志导出)."""
    from workbench import access, audit, views
    from workbench.errors import Forbidden

    if not access.allowed(actor.role, "audit.read"):
        raise Forbidden("只有纪检监督人员可以导出审计日志", "ROLE_FORBIDDEN")
    rows = [views.audit_view(entry) for entry in audit.entries(session, actor, limit=100_000, **(filters or {}))]
    for row in rows:
        row["at"] = _when(row["at"])
    audit.record_export(session, actor, now, "audit", rows, client, action="audit_exported")
    session.commit()
    return audit_xlsx(rows)
