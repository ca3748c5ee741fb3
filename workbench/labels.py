"""Chinese labels (中文名称) of the workbench's domain words, for pages, exports and the API's `*_label` fields."""

from __future__ import annotations

KINDS = {
    "missed_coverage": "漏保",
    "missed_assistance": "漏救",
    "should_exit": "应退",
    "gradual_exit": "渐退",
    "filed_relative_check": "备案核查",
}
LEVELS = {1: "蓝色", 2: "黄色", 3: "橙色", 4: "红色"}
LEVEL_COLOURS = {1: "blue", 2: "yellow", 3: "orange", 4: "red"}
ALERT_STATUSES = {
    "new": "待研判",
    "confirmed": "已确认·核查中",
    "dismissed": "已排除",
    "merged": "已合并",
    "closed": "已办结",
    "superseded": "已由在册户预警取代",
}
TASK_STATUSES = {
    "unassigned": "待分派",
    "assigned": "待走访",
    "review": "待复核",
    "done": "已完成",
}
# 书面告知 reason categories (理由类别) for a dismissal or a refuted visit, beside the free text
REASON_CATEGORIES = {
    "income_above_standard": "家庭收入高于当地低保标准",
    "assets_exceed": "家庭财产不符合规定",
    "already_covered": "已纳入相应救助保障",
    "support_by_family": "有法定赡养、抚养、扶养人履行义务",
    "data_error": "部门数据有误或已更正",
    "moved_or_deceased": "已迁出本辖区或已去世",
    "other": "其他",
}
REVIEW_DECISIONS = {"approved": "复核通过", "returned": "复核退回"}
ROLES = {
    "bureau": "区民政局社会救助科",
    "street": "街道（乡镇）",
    "officer": "社区民政专干",
    "verifier": "县级核查员",
    "auditor": "纪检监督",
    "admin": "系统管理员",
}
VISIT_METHODS = {
    "home_visit": "入户调查",
    "neighbour_interview": "邻里访问",
    "letter_evidence": "信函索证",
}
VISIT_RESULTS = {
    "confirmed": "核实属实",
    "refuted": "核实不属实",
}
DECISIONS = {
    "confirmed": "确认",
    "dismissed": "排除",
    "merged": "合并",
}
COVERAGES = {
    "none": "无",
    "dibao": "最低生活保障",
    "tekun": "特困供养",
    "edge": "低保边缘",
}
DIMENSIONS = {
    "age_structure": "年龄结构",
    "economic": "经济状况",
    "health": "健康状况",
    "disability": "残疾状况",
    "employment": "就业状况",
    "shock": "突发冲击",
}
AUDIT_ACTIONS = {
    "login": "登录",
    "login_failed": "登录失败",
    "logout": "退出",
    "token_issued": "签发接口令牌",
    "alert_confirmed": "确认预警",
    "alert_dismissed": "排除预警",
    "alert_merged": "合并预警",
    "task_assigned": "分派任务",
    "task_extended": "延长期限",
    "visit_recorded": "登记走访",
    "reveal": "查看明文",
    "export": "导出",
    "user_created": "新建用户",
    "user_updated": "修改用户",
    "password_changed": "修改密码",
    "calendar_changed": "修改节假日",
    "audit_exported": "导出审计日志",
    "training_exported": "导出模型训练数据",
    "access_refused": "越权访问被拒",
    "division_named": "修改区划名称",
    "task_placed": "落实所在社区",
    "household_search": "按身份证号查询户档案",
    "visit_approved": "复核通过",
    "visit_returned": "复核退回",
    "letter_printed": "打印书面告知书",
    "filing_saved": "登记近亲属备案",
    "filing_checked": "备案定期核查",
}


def kind(value: str) -> str:
    return KINDS.get(value, value)


def level(value: int) -> str:
    return LEVELS.get(value, str(value))


# the roster's member relations (与户主关系), as the simulator and the roster connector write them; Chinese ones stay
RELATIONS = {"head": "户主", "spouse": "配偶", "child": "子女", "parent": "父母", "grandchild": "孙子女",
             "grandparent": "祖父母", "sibling": "兄弟姐妹", "other": "其他"}


def relation(value: str | None) -> str:
    return RELATIONS.get(value or "other", value or "其他")
