"""Shared helpers of the connector tests: department exports (GBK CSV, XLSX, JSON Lines) and a topic reader."""

from __future__ import annotations

import csv
import io
import itertools
import json
import time
from datetime import date, timedelta
from pathlib import Path

import pytest

from models.resident_id import make_resident_id

MEDICAL_HEADER = ["结算单号", "姓名", "身份证号", "业务类型", "结算日期", "医疗费用总额", "个人自付金额"]


_people = itertools.count()


def distinct_person() -> str:
    """A valid resident ID never handed out before in this test session (洪山区 area code)."""
    n = next(_people)
    return make_resident_id("420111", date(1950, 1, 1) + timedelta(days=n // 1000), n % 1000)


def medical_rows(count: int, big_every: int = 0, prefix: str = "JS") -> list[list[str]]:
    """Settlement rows of medical insurance, one distinct person a row; every `big_every`-th row has a
    35,000-yuan out-of-pocket bill."""
    rows = []
    for i in range(count):
        big = big_every and i % big_every == 0
        out_of_pocket = "35,000.00" if big else f"{100 + i % 900}.50"
        rows.append([f"{prefix}{i:07d}", "张三", distinct_person(), "住院结算", f"2026/11/{1 + i % 28:02d}",
                     "52,000.00" if big else "1,200.00", out_of_pocket])
    return rows


def write_csv(path: Path, header: list[str], rows: list[list[object]], encoding: str = "gbk") -> Path:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def write_xlsx(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def settle(path: Path) -> None:
    """Age a dropped file so the watcher treats it as completely copied in."""
    import os

    old = time.time() - 60
    os.utime(path, (old, old))


def read_topic(bootstrap: str, topic: str, expect: int | None = None, idle: float = 2.0,
               timeout: float = 60.0) -> list[dict]:
    """Every record on `topic` from the start: [{key, value, partition, offset}], read until `expect`
    records arrived (then `idle` more seconds to catch extras) or nothing came for `idle` seconds."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=[bootstrap], enable_auto_commit=False, group_id=None,
                             consumer_timeout_ms=200, max_poll_records=5000)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        records: list[dict] = []
        deadline = time.monotonic() + timeout
        last_new = time.monotonic()
        reached_at = None
        while time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=200)
            got = 0
            for tp_records in batch.values():
                for message in tp_records:
                    records.append({"key": message.key.decode() if message.key else None,
                                    "value": json.loads(message.value), "partition": message.partition,
                                    "offset": message.offset})
                    got += 1
            now = time.monotonic()
            if got:
                last_new = now
            if expect is not None and len(records) >= expect and reached_at is None:
                reached_at = now
            if reached_at is not None and now - reached_at >= idle and now - last_new >= idle / 2:
                break
            if expect is None and now - last_new >= idle:
                break
        return records
    finally:
        consumer.close()


@pytest.fixture(scope="module")
def module_broker(tmp_path_factory):
    """One real tansu broker for a whole test module (started and stopped here)."""
    from streams.broker import embedded_broker

    log = tmp_path_factory.mktemp("tansu") / "tansu.log"
    with embedded_broker(log_path=log) as running:
        yield running
