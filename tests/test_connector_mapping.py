"""Connector mapping layer without a broker: encodings, cell conversion, the bundled mappings, readers."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from connectors.filedrop import choose_mapper, group_units
from connectors.mapping import bundled_mappings, load_mapping, normalise_header, parse_mapping
from connectors.readers import FileRejected, detect_encoding, open_file
from connectors.values import to_bool, to_date, to_money, to_resident_id, to_time
from models.validation import Rejected, validate_event, validate_filing, validate_registry
from tests.builders import person
from tests.connector_fixtures import MEDICAL_HEADER, medical_rows, write_csv, write_jsonl, write_xlsx


def test_encodings_are_detected():
    text = "身份证号,个人自付金额\n"
    assert detect_encoding(text.encode("utf-8")) == "utf-8"
    assert detect_encoding(text.encode("utf-8-sig")) == "utf-8-sig"
    assert detect_encoding(text.encode("gbk")) == "gbk"
    assert detect_encoding("姓名\n𠀀\n".encode("gb18030")) == "gb18030"  # a character outside GBK
    assert detect_encoding("a,b\n".encode("utf-16")) == "utf-16"


def test_money_conversion():
    assert to_money("35,000.00", "f") == 35000.0
    assert to_money("￥35000元", "f") == 35000
    assert to_money("３５０００", "f") == 35000  # full-width digits
    assert to_money(" ", "f") is None
    assert to_money(1200.5, "f") == 1200.5
    with pytest.raises(Rejected) as caught:
        to_money("三万", "attributes.out_of_pocket_yuan", "个人自付金额")
    assert caught.value.code == "BAD_MONEY" and "个人自付金额" in caught.value.message


@pytest.mark.parametrize(("cell", "expected"), [
    ("2026/11/01", "2026-11-01"),
    ("20261101", "2026-11-01"),
    ("2026-11-1", "2026-11-01"),
    ("2026年11月1日", "2026-11-01"),
    ("2026.11.01", "2026-11-01"),
    ("2026-11-01 10:00:00", "2026-11-01T10:00:00+08:00"),
    ("2026/11/01 9:05", "2026-11-01T09:05:00+08:00"),
    ("2026-11-01T10:00:00Z", "2026-11-01T10:00:00+00:00"),
    ("2026-11-01T10:00:00+08:00", "2026-11-01T10:00:00+08:00"),
    (datetime(2026, 11, 1, 10, 30), "2026-11-01T10:30:00+08:00"),
    (datetime(2026, 11, 1), "2026-11-01"),
    (date(2026, 11, 1), "2026-11-01"),
    (20261101, "2026-11-01"),
])
def test_time_conversion(cell, expected):
    assert to_time(cell, "occurred_at") == expected


@pytest.mark.parametrize("cell", ["2026-13-01", "yesterday", "2026/02/30", "11/01/2026"])
def test_bad_times_are_rejected(cell):
    with pytest.raises(Rejected) as caught:
        to_time(cell, "occurred_at", "结算日期")
    assert caught.value.code == "BAD_TIMESTAMP"


def test_other_cells():
    assert to_date("1960/3/15", "birth_date") == "1960-03-15"
    assert to_bool("是", "f") is True and to_bool("否", "f") is False
    assert to_resident_id(" 42010619600315001x ", "person_id") == "42010619600315001X"
    with pytest.raises(Rejected) as caught:
        to_resident_id(4.20106196003150e17, "person_id")
    assert caught.value.code == "RESIDENT_ID_AS_NUMBER"


def test_headers_are_normalised():
    assert normalise_header("个人自付金额（元）") == "个人自付金额"
    assert normalise_header(" 身份证号 ") == "身份证号"


def test_every_bundled_mapping_loads():
    names = bundled_mappings()
    for required in ("medical_insurance", "disabled_persons_federation", "human_resources", "civil_registry",
                     "courts", "civil_affairs_roster", "cadre_filings"):
        assert required in names
    for name in names:
        assert load_mapping(name).name == name


def _map_one(mapping_name, header, row):
    mapper = load_mapping(mapping_name).bind(header)
    return validate_event(mapper.map_row(dict(zip(header, row, strict=True))))


def test_medical_insurance_row():
    pid = person("1960-03-15")
    event = _map_one("medical_insurance", MEDICAL_HEADER + ["入院日期", "是否大病"],
                     ["JS1", "张三", pid, "住院结算", "2026/11/01", "52,000.00", "35,000.00", "2026/10/20", "是"])
    assert event["event_id"] == "yb-JS1" and event["type"] == "medical_bill"
    assert event["attributes"]["out_of_pocket_yuan"] == 35000.0
    assert event["attributes"]["serious_illness"] is True
    admission = _map_one("medical_insurance", ["身份证号", "业务类型", "入院日期"], [pid, "入院登记", "2026-10-20"])
    assert admission["type"] == "hospitalization" and admission["occurred_at"] == "2026-10-20"
    assert admission["event_id"].startswith("medical_insurance-")  # stable digest of the row


def test_other_department_rows():
    pid = person("1950-01-01")
    dpf = _map_one("disabled_persons_federation", ["残疾人证号", "身份证号", "残疾类别", "残疾等级", "发证日期"],
                   ["CL9", pid, "智力残疾", "三级", "2026/09/01"])
    assert dpf["attributes"] == {"category": "intellectual", "grade": 3}
    hr = _map_one("human_resources", ["业务流水号", "身份证号", "业务类型", "业务日期", "月工资"],
                  ["RS1", pid, "就业登记", "20261001", "4,500"])
    assert hr["type"] == "employment_started" and hr["attributes"]["monthly_wage_yuan"] == 4500
    death = _map_one("civil_registry", ["身份证号", "死亡日期"], [pid, "2026-10-02"])
    assert death["type"] == "death"
    court = _map_one("courts", ["案号", "身份证号", "执行类型", "执行日期"], ["(2026)鄂0106刑初12号", pid, "收监执行", "2026-10-03"])
    assert court["type"] == "incarceration"
    with pytest.raises(Rejected) as caught:
        _map_one("courts", ["身份证号", "执行类型", "执行日期"], [pid, "缓刑", "2026-10-03"])
    assert caught.value.code == "UNKNOWN_EVENT_TYPE"


def test_missing_column_refuses_the_file():
    with pytest.raises(FileRejected) as caught:
        load_mapping("medical_insurance").bind(["姓名", "结算日期"])
    assert caught.value.code == "MISSING_COLUMN" and "身份证号" in caught.value.message


def test_custom_mapping_with_fixed_type():
    mapping = parse_mapping({"name": "emergency", "source": "emergency_management", "type": "disaster",
                             "fields": {"person_id": {"columns": ["身份证号"], "kind": "resident_id"},
                                        "occurred_at": {"columns": ["受灾日期"], "kind": "time"},
                                        "attributes.loss_yuan": {"columns": ["损失金额"], "kind": "money"}}})
    event = validate_event(mapping.bind(["身份证号", "受灾日期", "损失金额"]).map_row(
        {"身份证号": person(), "受灾日期": "2026-07-01", "损失金额": "12,000"}))
    assert event["type"] == "disaster" and event["attributes"]["loss_yuan"] == 12000


def test_readers(tmp_path):
    rows = medical_rows(3)
    for path in (write_csv(tmp_path / "a.csv", MEDICAL_HEADER, rows),
                 write_csv(tmp_path / "u.csv", MEDICAL_HEADER, rows, encoding="utf-8-sig"),
                 write_xlsx(tmp_path / "a.xlsx", MEDICAL_HEADER, rows)):
        opened = open_file(path)
        assert opened.header == MEDICAL_HEADER
        read = list(opened.rows)
        assert [number for number, _ in read] == [2, 3, 4]
        assert read[0][1]["身份证号"] == rows[0][2]
    jsonl = write_jsonl(tmp_path / "a.jsonl", [{"身份证号": rows[0][2]}, {"x": 1}])
    jsonl.write_text(jsonl.read_text(encoding="utf-8") + "{not json\n", encoding="utf-8")
    lines = list(open_file(jsonl).rows)
    assert [n for n, _ in lines] == [1, 2, 3] and "__malformed__" in lines[2][1]
    with pytest.raises(FileRejected) as caught:
        open_file(tmp_path / "old.xls")
    assert caught.value.code == "XLS_NOT_SUPPORTED"
    (tmp_path / "bad.csv").write_bytes(b"\xff\xfe\xfa\x00\x81\x20,,\n")
    with pytest.raises(FileRejected):
        open_file(tmp_path / "bad.csv")


def test_roster_rows_gather_into_households(tmp_path):
    head, wife, child = person("1970-05-01"), person("1972-01-01"), person("2010-06-01")
    other = person("1950-02-02")
    header = ["户编号", "行政区划代码", "保障类型", "家庭月收入", "身份证号", "与户主关系", "出生日期"]
    rows = [["H1", "420106002003", "低保", "1,200", head, "户主", "1970-05-01"],
            ["H2", "420106002003", "特困", "0", other, "本人", "1950/2/2"],
            ["H1", "420106002003", "低保", "1,200", wife, "配偶", ""],
            ["H1", "420106002003", "低保", "1,200", child, "儿子", "2010-06-01"],
            ["H3", "420106002003", "低保", "800", person("1980-01-01"), "户主", ""],
            ["H3", "420106002003", "低保边缘", "800", person("1981-01-01"), "配偶", ""]]
    path = write_csv(tmp_path / "roster.csv", header, rows)
    mapper, rows_iter = choose_mapper(open_file(path), load_mapping("civil_affairs_roster"))
    units = group_units(mapper, rows_iter)
    assert [u.rows for u in units] == [[2, 4, 5], [3], [6, 7]]
    h1 = validate_registry(units[0].record)
    assert h1["coverage"] == "dibao" and [m["relation"] for m in h1["members"]] == ["head", "spouse", "child"]
    assert validate_registry(units[1].record)["coverage"] == "tekun"
    assert units[2].error.code == "INCONSISTENT_ROWS"


def test_filing_rows_gather_per_staff(tmp_path):
    a, b = person("1960-01-01"), person("1990-01-01")
    header = ["工作人员编号", "人员类别", "行政区划代码", "亲属身份证号", "备案日期"]
    path = write_xlsx(tmp_path / "filings.xlsx", header, [
        ["S1", "社会救助经办人员", 420106002003, a, datetime(2026, 1, 5)],
        ["S1", "社会救助经办人员", 420106002003, b, datetime(2026, 1, 5)]])
    mapper, rows_iter = choose_mapper(open_file(path), load_mapping("cadre_filings"))
    (unit,) = group_units(mapper, rows_iter)
    filing = validate_filing(unit.record)
    assert filing["relative_person_ids"] == sorted([a, b]) and filing["division_code"] == "420106002003"


def test_roster_rows_carry_the_optional_address_and_phone(tmp_path):
    head, wife = person("1970-05-01"), person("1972-01-01")
    header = ["户编号", "行政区划代码", "保障类型", "家庭月收入", "身份证号", "与户主关系", "家庭住址", "联系电话"]
    rows = [["H1", "420106002003", "低保", "1,200", head, "户主", "武昌区中山路１２号", "13812345678"],
            ["H1", "420106002003", "低保", "1,200", wife, "配偶", "武昌区中山路１２号", "13812345678"],
            ["H2", "420106002003", "低保", "900", person("1980-01-01"), "户主", "", ""]]
    path = write_csv(tmp_path / "roster.csv", header, rows)
    mapper, rows_iter = choose_mapper(open_file(path), load_mapping("civil_affairs_roster"))
    h1, h2 = (validate_registry(u.record) for u in group_units(mapper, rows_iter))
    assert h1["address"] == "武昌区中山路12号" and h1["contact_phone"] == "13812345678"
    assert "address" not in h2 and "contact_phone" not in h2  # empty cells: the optional fields stay away
