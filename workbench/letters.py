"""The written notice (书面告知书) of a dismissal or an exit decision, as a printable Chinese PDF (reportlab).

Every decision not to cover a household, and every decision that a household leaves assistance, is told to the
household in writing with the reasons, the policy article it rests on and how to object (seed 004: 对申请救助但不符合
救助条件、不再符合条件退出救助的对象，要书面告知理由). `notice_facts` is pure (plain data in, the letter's text out);
`render_pdf` lays it out. The household appears by its masked id only.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from workbench import labels
from workbench.timeutil import today_cst

# a CJK font that embeds (so the text can be copied and checked); reportlab's built-in CID font otherwise
TTF_CANDIDATES = (Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"), Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"))
EXIT_KINDS = ("should_exit", "gradual_exit")

# The regulations are cited by name, without article numbers: the policy sources this project rests on (the seeds)
# state the duties (书面告知理由, seed 004; the 6-month 渐退期 after employment, seed 002) but not the articles' numbers,
# and a wrong article number on a legal notice is worse than none (docs/workbench.md, "Written notice").
POLICY_BASIS = {
    "not_covered": "《社会救助暂行办法》《最低生活保障审核确认办法》关于审核确认的规定：经审核不符合救助条件的，"
                   "不予批准，并书面告知理由。",
    "exit": "《社会救助暂行办法》《最低生活保障审核确认办法》关于定期核查和停止保障的规定：经核查不再符合条件的，"
            "停止给予最低生活保障，并书面告知理由。",
    "gradual_exit": "《最低生活保障审核确认办法》关于渐退期的规定：家庭成员就业后家庭人均收入超过当地最低生活保障标准的，"
                    "可给予 6 个月渐退期，期满后停止保障。",
}


@dataclass(frozen=True)
class Notice:
    number: str
    household: str  # masked
    place: str
    subject: str
    decision: str
    category: str | None
    reasons: str
    basis: str
    objection: str
    office: str
    day: date


def notice_facts(*, number: str, household_masked: str, place: str | None, kind: str, outcome: str,
                 reasons: str, category: str | None, office: str | None, district: str | None, day: date,
                 method: str | None = None) -> Notice:
    """The letter's text for one decision. `outcome`: dismissed (triage), refuted (visit), or confirmed (visit)
    for an exit kind. Raises ValueError for a decision that takes no letter (a confirmed 漏保: it is covered)."""
    kind_label = labels.kind(kind)
    how = f"（{labels.VISIT_METHODS.get(method, method)}）" if method else ""
    reasons = reasons.strip()
    if reasons and reasons[-1] not in "。！？.!?；;":
        reasons += "。"  # the reasons are a sentence of the letter
    if outcome == "dismissed":
        subject = f"关于{kind_label}预警研判结果的书面告知"
        decision = f"经研判，本次{kind_label}预警所涉情况不予认定，不启动{'纳入' if kind not in EXIT_KINDS else '退出'}程序。"
        basis = POLICY_BASIS["exit" if kind in EXIT_KINDS else "not_covered"]
    elif outcome == "refuted":
        subject = f"关于{kind_label}核查结果的书面告知"
        if kind in EXIT_KINDS:
            decision = f"经核查{how}，预警所涉情况不属实，贵户继续享受现有救助保障。"
        else:
            decision = f"经核查{how}，预警所涉情况不属实，贵户暂不符合纳入救助保障条件。"
        basis = POLICY_BASIS["exit" if kind in EXIT_KINDS else "not_covered"]
    elif outcome == "confirmed" and kind in EXIT_KINDS:
        subject = "关于停止（渐退）最低生活保障的书面告知"
        if kind == "gradual_exit":
            decision = f"经核查{how}，贵户家庭收入已超过当地最低生活保障标准，给予 6 个月渐退期，期满后停止保障。"
            basis = POLICY_BASIS["gradual_exit"]
        else:
            decision = f"经核查{how}，贵户已不再符合最低生活保障条件，决定停止保障。"
            basis = POLICY_BASIS["exit"]
    else:
        raise ValueError("只有排除、核实不属实及退出（渐退）的决定需要书面告知")
    county = district or "所在区（县）"
    objection = (f"如对本决定有异议，可自收到本告知书之日起 60 日内向{county}人民政府申请行政复议，"
                 f"或者自知道本决定之日起 6 个月内依法向人民法院提起行政诉讼；也可向{office or '所在街道办事处（乡镇人民政府）'}"
                 f"或{county}民政局申请复核，或拨打 12345 政务服务便民热线、12349 民政服务热线反映。")
    return Notice(number=number, household=household_masked, place=place or "", subject=subject, decision=decision,
                  category=labels.REASON_CATEGORIES.get(category) if category else None, reasons=reasons,
                  basis=basis, objection=objection, office=office or "街道办事处（乡镇人民政府）", day=day)


def _font() -> str:
    from reportlab.pdfbase import pdfmetrics

    for path in TTF_CANDIDATES:
        if path.exists():
            from reportlab.pdfbase.ttfonts import TTFont

            if "WQY" not in pdfmetrics.getRegisteredFontNames():
                pdfmetrics.registerFont(TTFont("WQY", str(path), subfontIndex=0))
            return "WQY"
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    if "STSong-Light" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    return "STSong-Light"


def render_pdf(notice: Notice) -> bytes:
    """An A4 page: title, number, addressee, decision, reasons, basis, objection, issuing office and date."""
    from xml.sax.saxutils import escape

    from reportlab.lib.enums import TA_CENTER, TA_RIGHT
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    font = _font()
    body = ParagraphStyle("body", fontName=font, fontSize=12, leading=20, wordWrap="CJK", firstLineIndent=24)
    plain = ParagraphStyle("plain", parent=body, firstLineIndent=0)
    title = ParagraphStyle("title", parent=plain, fontSize=20, leading=30, alignment=TA_CENTER)
    centre = ParagraphStyle("centre", parent=plain, alignment=TA_CENTER)
    right = ParagraphStyle("right", parent=plain, alignment=TA_RIGHT)
    buffer = io.BytesIO()
    document = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=25 * mm, rightMargin=25 * mm, topMargin=25 * mm,
                                 bottomMargin=25 * mm, title="书面告知书", author=notice.office, subject=notice.subject)
    day = f"{notice.day.year} 年 {notice.day.month} 月 {notice.day.day} 日"

    def para(text: str, style: ParagraphStyle = body) -> Paragraph:
        return Paragraph(escape(text), style)

    story = [para("书面告知书", title), para(notice.subject, centre), para(f"编号：{notice.number}", right), Spacer(1, 6 * mm),
             para(f"户编号 {notice.household}（{notice.place}）：", plain), para(notice.decision)]
    if notice.category:
        story.append(para(f"理由类别：{notice.category}。"))
    story += [para(f"具体理由：{notice.reasons}"), para(f"政策依据：{notice.basis}"), para(f"救济途径：{notice.objection}"),
              Spacer(1, 14 * mm), para(f"{notice.office}（盖章）", right), para(day, right), Spacer(1, 10 * mm),
              para("签收人：____________　　签收日期：____________", plain)]
    document.build(story)
    return buffer.getvalue()


def _places(session, division_code: str) -> tuple[str | None, str | None, str | None]:  # noqa: ANN001
    """(the division's full name, the street office, the district) from the division table."""
    from workbench import division_names, divisions

    county = division_code[:6] + "000000"
    names = division_names.names_for(session, [division_code, county])
    street = names.get(divisions.street_of(division_code))
    office = (street + ("办事处" if street.endswith("街道") else "人民政府")) if street else None
    return division_names.label(names, division_code), office, names.get(county)


def for_task(session, actor, task_id: int, now, client: str | None = None) -> tuple[bytes, str]:  # noqa: ANN001
    """The notice of a reviewed visit that refuted the alert, or confirmed an exit (audited)."""
    from sqlalchemy import select

    from workbench import audit, tasks
    from workbench.errors import Conflict
    from workbench.masking import mask_household_id, mask_text
    from workbench.tables import Visit

    today = today_cst(now)
    task, alert = tasks.get_task(session, actor, task_id, "letter.print")
    visit = session.scalar(select(Visit).where(Visit.task_id == task.id))
    if visit is None or visit.review_status != "approved":
        raise Conflict("走访结果经街道复核通过后才能出具书面告知书", "NOT_DECIDED")
    if visit.result == "confirmed" and task.kind not in EXIT_KINDS:
        raise Conflict("核实属实、纳入保障的决定不出具本告知书", "NO_LETTER")
    place, office, district = _places(session, task.division_code)
    reasons = visit.reason if visit.result == "refuted" else visit.finding
    notice = notice_facts(number=f"告知〔{today.year}〕任务第 {task.id} 号", household_masked=mask_household_id(alert.household_id),
                          place=place or task.division_code, kind=task.kind, outcome=visit.result,
                          reasons=mask_text(reasons) or "", category=visit.reason_category, office=office,
                          district=district, day=today, method=visit.method)
    _audit(session, actor, now, "task", str(task.id), task.division_code, client, audit)
    return render_pdf(notice), f"notice-task-{task.id}.pdf"


def for_alert(session, actor, number: int, now, client: str | None = None) -> tuple[bytes, str]:  # noqa: ANN001
    """The notice of a triage dismissal (研判排除), with its written reason (audited)."""
    from sqlalchemy import select

    from workbench import audit, queue
    from workbench.errors import Conflict
    from workbench.masking import mask_household_id, mask_text
    from workbench.tables import Decision

    today = today_cst(now)
    alert = queue.get_alert(session, actor, number, "letter.print")
    decision = session.scalar(select(Decision).where(Decision.alert_id == alert.alert_id, Decision.decision == "dismissed")
                              .order_by(Decision.id.desc()))
    if alert.status != "dismissed" or decision is None:
        raise Conflict("只有已排除的预警出具研判书面告知书", "NOT_DISMISSED")
    place, office, district = _places(session, alert.division_code)
    notice = notice_facts(number=f"告知〔{today.year}〕预警第 {alert.number} 号",
                          household_masked=mask_household_id(alert.household_id), place=place or alert.division_code,
                          kind=alert.kind, outcome="dismissed", reasons=mask_text(decision.reason) or "",
                          category=decision.reason_category, office=office, district=district, day=today)
    _audit(session, actor, now, "alert", alert.alert_id, alert.division_code, client, audit)
    return render_pdf(notice), f"notice-alert-{alert.number}.pdf"


def _audit(session, actor, now, target_type: str, target_id: str, division: str, client, audit) -> None:  # noqa: ANN001
    audit.record(session, actor, "letter_printed", now, target_type=target_type, target_id=target_id,
                 division_code=division, client=client)
