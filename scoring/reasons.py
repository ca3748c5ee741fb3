"""Reasons written out in Chinese for officers: one stable code per rule, a text, and the events behind it."""

from __future__ import annotations

from models.resident_id import mask_resident_id

RELATIONS_ZH = {
    "head": "户主",
    "spouse": "配偶",
    "child": "子女",
    "parent": "父母",
    "grandchild": "孙子女",
    "grandparent": "祖父母",
    "sibling": "兄弟姐妹",
    "other": "其他成员",
}
CATEGORIES_ZH = {
    "physical": "肢体",
    "visual": "视力",
    "hearing": "听力",
    "speech": "言语",
    "intellectual": "智力",
    "mental": "精神",
    "multiple": "多重",
}
GRADES_ZH = {1: "一级", 2: "二级", 3: "三级", 4: "四级"}
ASSETS_ZH = {"property": "房产", "vehicle": "车辆", "business": "工商登记（经营实体）"}
KINDS_ZH = {
    "missed_coverage": "漏保",
    "missed_assistance": "漏救",
    "should_exit": "应退",
    "gradual_exit": "渐退",
    "filed_relative_check": "备案核查",
}

# code -> what the rule is, for pages that list the codes (规则说明)
CODES_ZH = {
    "MEDICAL_OOP_OVER_LINE": "个人自付医疗费用超过标准",
    "SERIOUS_ILLNESS": "重特大疾病住院",
    "SEVERE_DISABILITY": "重度残疾（含智力、精神三级）",
    "REGISTERED_UNEMPLOYMENT": "登记失业",
    "MEMBER_DEATH": "家庭成员死亡",
    "DISASTER": "遭遇自然灾害",
    "HOTLINE_REQUEST": "热线或信访求助",
    "INCOME_UNDER_STANDARD": "人均收入不高于低保标准",
    "EXPENDITURE_POVERTY": "支出型贫困（扣除刚性医疗支出后低于标准）",
    "SINGLE_PERSON_COVERAGE": "重度残疾人单人保",
    "PERSON_OUTSIDE_ROSTER": "未在册人员出现困难信号",
    "INCOME_OVER_EXIT_LINE": "人均收入达到低保标准1.5倍以上",
    "GRADUAL_EXIT_BAND": "人均收入超过标准但低于1.5倍（渐退期）",
    "GRADUAL_EXIT_AFTER_EMPLOYMENT": "就业后人均收入超过标准但低于1.5倍（街道审核渐退）",
    "SHOCK_OVER_INCOME_SHARE": "医疗支出与灾害损失超过家庭年收入的规定比例（漏救）",
    "GRADUAL_EXIT_ENDED": "渐退期届满",
    "ALL_MEMBERS_DECEASED": "保障对象均已死亡",
    "NO_MEMBER_PRESENT": "家庭成员均在服刑或已死亡",
    "PROPERTY_ACQUIRED": "新增房产",
    "VEHICLE_ACQUIRED": "新增车辆",
    "BUSINESS_REGISTERED": "新办经营实体",
    "PUBLIC_SERVANT_HIRED": "成员录用为公职人员",
    "INCARCERATION": "成员服刑",
    "FILED_RELATIVE": "经办人员或村（居）干部近亲属",
}


# event source -> the department (部门) that reported it, for reasons that say where a figure came from
SOURCES_ZH = {
    "medical_insurance": "医保部门",
    "disabled_persons_federation": "残联",
    "human_resources": "人社部门",
    "social_security": "社保经办机构",
    "tax": "税务部门",
    "income_verification": "居民家庭经济状况核对平台",
    "civil_registry": "民政婚姻殡葬登记",
    "public_security": "公安部门",
    "health": "卫健部门",
    "courts": "法院",
    "justice": "司法行政部门",
    "real_estate_registry": "不动产登记机构",
    "vehicle_registry": "车辆管理部门",
    "market_regulation": "市场监管部门",
    "organisation_department": "组织人事部门",
    "emergency_management": "应急管理部门",
    "hotline_12349": "12349热线",
    "petitions_office": "信访部门",
}


def person_label(person_id: str, relation: str | None) -> str:
    """户主（420106********1234）: who, without the full ID."""
    name = RELATIONS_ZH.get(relation or "other", relation or "成员")
    return f"{name}（{mask_resident_id(person_id)}）"


def yuan(amount: float) -> str:
    return f"{amount:,.0f}元"


def reason(code: str, text: str, event_ids=()) -> dict:
    """A reason; `event_ids` may be any iterable of ids (a window's dict too), sorted only by `resolved`
    when the reason is sent, since most assessments send nothing."""
    return {"code": code, "text": text, "event_ids": event_ids}


def resolved(item: dict) -> dict:
    """The reason as it travels in an alert: event ids sorted and unique."""
    return {"code": item["code"], "text": item["text"], "event_ids": sorted(set(item["event_ids"]))}
