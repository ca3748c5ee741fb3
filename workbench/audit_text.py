"""The audit log in sentences (审计日志的中文表述): each row's action, object and details as one readable line."""

from __future__ import annotations

import json

from workbench import labels

TARGETS = {"alert": "预警", "task": "任务", "user": "用户", "division": "区划", "person": "身份证号", "calendar": "日期",
           "export": "导出", "audit": "审计日志", "filing": "备案",
           "household": "户"}
FIELDS = {"household_id": "户编号", "contact_phone": "联系电话", "bank_card": "银行卡号"}
EXPORTS = {"queue": "预警队列", "tasks": "核查任务", "audit": "审计日志", "training_set": "模型训练数据（复核通过的走访）"}


def _detail(raw: str | None) -> dict:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {"text": raw}
    return value if isinstance(value, dict) else {"text": str(value)}


def sentence(action: str, target_type: str | None, target_id: str | None, detail: str | None) -> str:
    """A Chinese sentence for one audit row (its inputs already masked by the caller)."""
    d = _detail(detail)
    what = f"{TARGETS.get(target_type or '', target_type or '')} {target_id}".strip() if target_id else ""
    task = f"任务 #{target_id}" if target_type == "task" else what
    if action == "alert_dismissed":
        return f"排除{what}，理由：{d.get('reason') or '（无）'}"
    if action == "alert_merged":
        return f"将{what}合并至 {d.get('merged_into')}"
    if action == "alert_confirmed":
        return f"确认{what}，派发核查"
    if action == "task_assigned":
        return f"将{task}从 {d.get('from') or '待分派'} 分派给 {d.get('to')}"
    if action == "task_extended":
        return f"将{task}期限延至 {d.get('due')}，理由：{d.get('reason')}"
    if action == "task_placed":
        return f"将{task}落实到社区 {d.get('to')}" + (f"，分派给 {d['assignee']}" if d.get("assignee") else "")
    if action == "visit_recorded":
        return (f"登记{task}走访：{labels.VISIT_METHODS.get(d.get('method'), d.get('method'))}，"
                f"{labels.VISIT_RESULTS.get(d.get('result'), d.get('result'))}")
    if action in ("visit_approved", "visit_returned"):
        verb = "复核通过" if action == "visit_approved" else "复核退回"
        return f"{verb}{task}的走访结果" + (f"，意见：{d['note']}" if d.get("note") else "")
    if action == "reveal":
        fields = "、".join(FIELDS.get(f, f) for f in d.get("fields", []))
        return f"查看{what}的明文：{fields}"
    if action in ("export", "audit_exported", "training_exported"):
        rows = d.get("rows")
        return f"导出{EXPORTS.get(str(target_id or target_type), what)}" + (f"，共 {rows} 行" if rows is not None else "")
    if action == "access_refused":
        return f"试图访问辖区外的{what}（{d.get('method', '')} {d.get('path', '')}），已拒绝"
    if action == "household_search":
        return f"按身份证号 {target_id} 查询户档案，找到 {d.get('hits', 0)} 户"
    if action == "filing_saved":
        return f"登记工作人员 {target_id} 的近亲属备案（{d.get('relatives', 0)} 名近亲属）"
    if action == "filing_checked":
        return f"对工作人员 {target_id} 的备案近亲属完成定期核查"
    if action == "letter_printed":
        return f"打印{what}的书面告知书"
    if action == "division_named":
        if target_id == "file":
            return f"导入区划名称文件，共 {d.get('rows')} 个"
        return f"将区划 {target_id} 的名称由“{d.get('from') or '（无）'}”改为“{d.get('to')}”"
    if action in ("login", "logout", "login_failed", "token_issued", "password_changed"):
        return labels.AUDIT_ACTIONS.get(action, action) + ("（该用户名已被暂时锁定）" if d.get("locked") else "")
    if action == "user_created":
        return f"新建用户 {target_id}（{labels.ROLES.get(d.get('role'), d.get('role'))}，管辖 {'、'.join(d.get('scopes', []))}）"
    if action == "calendar_changed":
        return f"将 {target_id} 设为{'调休工作日' if d.get('working') else '节假日'}" + (f"（{d['note']}）" if d.get("note") else "")
    rest = "；".join(f"{k}：{v}" for k, v in d.items())
    return f"{labels.AUDIT_ACTIONS.get(action, action)} {what}".strip() + (f"（{rest}）" if rest else "")
