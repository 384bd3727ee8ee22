"""Issue 13, PII row: 44 personal values of 9 kinds sent by a customer through the real Bolt app (signed HTTP,
fake Slack); none may be left in clear in any database column or in `coach export`, not even as digits.

Before the checked-library redaction 14 of 44 were found in clear (phones after "+49" and without "+",
IBANs in lower case, Russian passports, INNs, and fragments in incidents.product / order_ref).
"""
from __future__ import annotations

import csv
import io
import itertools
import json
import re
import sqlite3

import pytest
from typer.testing import CliRunner

from bot.cli import app as cli
from tests.slack.conftest import AGENTS, CHANNEL, CUSTOMER, card_for

pytestmark = pytest.mark.faults

# (kind, value, message): each value alone in a new thread, so it can also become the incident's
# product / order reference (the planner takes any run of 6+ digits for an order number)
PII: list[tuple[str, str, str]] = [
    ("email", "john.smith+orders@example.co.uk", "Email me at {} please"),
    ("email", "иван.петров@почта.рф", "Пишите на {} пожалуйста"),
    ("email", "müller@bücher.de", "my address is {}, thanks"),
    ("email", "用户@例子.中国", "我的邮箱是 {} 谢谢"),
    ("email", "jüri.õun@näide.ee", "kirjutage {}"),
    ("email", "anna@xn--bcher-kva.de", "write to {}"),
    ("email", "wang.li@qq.com", "邮箱是{}，谢谢"),
    ("phone", "+4930123456", "call me {}"),
    ("phone", "+49 30 90182744", "I am at {} all day"),
    ("phone", "0171 9862543", "you can reach me on {}"),
    ("phone", "+7 912 508-43-16", "Мой телефон {}"),
    ("phone", "8 (916) 482-05-71", "позвоните {}"),
    ("phone", "89037751902", "вот {} звоните вечером"),
    ("phone", "79261837465", "whatsapp {}"),
    ("phone", "13800138000", "我的手机号是{}"),
    ("phone", "+86 10 6552 9988", "请打 {} 找我"),
    ("phone", "+372 5371 2290", "Helistage {}"),
    ("phone", "5830 9164", "minu number on {}"),
    ("phone", "(415) 555-2671", "reach me at {}"),
    ("iban", "GB56 WEST 2319 4875 7491 18", "refund to {} please"),
    ("iban", "gb71nwbk62527601895559", "refund to {}"),
    ("iban", "de29 7971 1471 0497 4650 75", "my account {}"),
    ("iban", "EE59 4656 3212 2330 7924", "IBAN {}, aitäh"),
    ("iban", "FR61 2917 0342 3667 1276 8426 887", "virement sur {}"),
    ("card", "4526 0181 5908 3012", "Card {} was charged twice"),
    ("card", "5166-1318-6091-3906", "card {} charged twice"),
    ("card", "379960308246287", "paid with {} yesterday"),
    ("card", "6219482199351819096", "银行卡{}被扣了两次"),
    ("card", "2200 3786 5797 5433", "карта {} списали дважды"),
    ("ee_isikukood", "37605030299", "isikukood {}"),
    ("ee_isikukood", "49403136526", "minu kood {}"),
    ("ee_isikukood", "60001019906", "lapse isikukood on {}"),
    ("ru_passport", "4509 235857", "паспорт {}"),
    ("ru_passport", "45 12 348901", "серия и номер паспорта {}"),
    ("ru_passport", "4603567812", "паспорт РФ {}"),
    ("ru_inn", "7707083893", "ИНН {}"),
    ("ru_inn", "500100732259", "мой ИНН {}"),
    ("ru_inn", "7736050003", "инн организации {}"),
    ("ru_snils", "176-043-227 55", "СНИЛС {}"),
    ("ru_snils", "24038292046", "снилс {}"),
    ("ru_snils", "087-654-303 00", "мой СНИЛС {}"),
    ("cn_ric", "11010519491231002X", "身份证号{}"),
    ("cn_ric", "310101199001011234", "身份证 {}"),
    ("cn_ric", "440304198506151237", "我的身份证号码是{}"),
]

# business details the coach needs: they must survive redaction in the stored text
KEPT = ["order 48213", "$49.99", "12.03.2024", "2024-03-12", "15:30", "заказ 48213", "199 元"]
BUSINESS = [
    "I was charged twice for order 48213, $49.99 on 12.03.2024 at 15:30",
    "где мой заказ 48213? жду с 2024-03-12",
    "订单 48213 退款 199 元",
]

# columns that hold Slack ids, timestamps, hashes or admin text, never customer text
_NOT_CUSTOMER = re.compile(r"(_ts|_at|^at|^customer|^workspace|^channel|^event_id|^key|^value|^yaml_text|^id)$")
_EXPORT_IDS = {"id", "workspace", "channel", "thread_ts", "customer", "opened_at", "last_message_at", "resolved_at"}


def _windows(value: str) -> set[str]:
    digits = re.sub(r"\D", "", value)
    return {digits[i:i + 6] for i in range(len(digits) - 5)}


def _normal(text: str) -> str:
    return re.sub(r"[\s\-.()]", "", text).upper()


def _leaks(value: str, fields: list[str]) -> list[str]:
    """The fields holding `value` in clear: verbatim, without separators or case, any 6 of its digits in a
    row (a fragment), or an e-mail's local part."""
    windows = _windows(value)
    local = value.split("@")[0] if "@" in value else None
    found = []
    for field in fields:
        field_digits = re.sub(r"\D", "", field)
        if (value.lower() in field.lower() or _normal(value) in _normal(field)
                or any(w in field_digits for w in windows)
                or (local is not None and local.lower() in field.lower())):
            found.append(field)
    return found


_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?")


def _strings(node: object) -> list[str]:
    """Every string (and number) inside a JSON value, less whole ISO timestamps: their digits are the clock's,
    not the customer's, and a plan's times matched a 6-digit window of a value by chance in about 1 run of 10
    under load ('...12:33:07.907375Z' holds 233079 of 'EE59 4656 3212 2330 7924')."""
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    if isinstance(node, str):
        try:
            parsed = json.loads(node)
        except ValueError:
            return [] if _TIMESTAMP.fullmatch(node) else [node]
        return [node] if isinstance(parsed, (str, int, float)) or parsed is None else _strings(parsed)
    return [] if node is None or isinstance(node, bool) else [str(node)]


def _database_fields(url: str) -> dict[str, list[str]]:
    """Every value of every customer-facing column of every table (JSON columns opened up), by table.column."""
    connection = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        fields: dict[str, list[str]] = {}
        tables = [r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            cursor = connection.execute(f'SELECT * FROM "{table}"')
            names = [d[0] for d in cursor.description]
            for row in cursor:
                for name, cell in zip(names, row):
                    if cell is not None and not _NOT_CUSTOMER.search(name):
                        fields.setdefault(f"{table}.{name}", []).extend(_strings(cell))
        return fields
    finally:
        connection.close()


def _export_fields(url: str, monkeypatch) -> tuple[list[str], list[dict]]:
    monkeypatch.setenv("COACH_DATABASE_URL", url)
    runner = CliRunner()
    fields: list[str] = []
    rows: list[dict] = []
    for fmt in ("jsonl", "csv"):
        result = runner.invoke(cli, ["export", "--days", "2", "--format", fmt])
        assert result.exit_code == 0, result.output
        parsed = ([json.loads(line) for line in result.output.splitlines()] if fmt == "jsonl"
                  else list(csv.DictReader(io.StringIO(result.output))))
        fields += [s for r in parsed for k, v in r.items() if k not in _EXPORT_IDS for s in _strings(v)]
        rows = rows or parsed
    return fields, rows


def test_the_values_share_no_digits_so_a_fragment_names_its_value():
    values = [value for _, value, _ in PII]
    assert not [(a, b) for a, b in itertools.combinations(values, 2) if _windows(a) & _windows(b)]
    assert not [(a, b) for a in values for b in BUSINESS if _windows(a) & _windows(b)]
    assert _leaks("+4930123456", ["order_ref: 930123"]) and _leaks("gb71nwbk62527601895559", ["GB71 NWBK 6252"])
    assert not _leaks("+4930123456", ["order 48213, $49.99"])
    assert _strings({"at": "2026-12-05T12:33:07.907375Z", "why": ["card 4526 0181 5908 3012"]}) \
        == ["card 4526 0181 5908 3012"]


def test_no_pii_in_clear_in_the_database_or_the_export(bot, database_url, monkeypatch):
    assert len(PII) >= 40 and len({kind for kind, _, _ in PII}) >= 7
    messages = [template.format(value) for _, value, template in PII] + BUSINESS
    for count, text in enumerate(messages, start=1):
        bot.driver.message(CUSTOMER, text, CHANNEL)
        card_for(bot.fake, AGENTS[0], count=count, timeout=30)  # recorded before the card is sent

    by_column = _database_fields(database_url)
    stored = [s for values in by_column.values() for s in values]
    exported, rows = _export_fields(database_url, monkeypatch)
    assert len(rows) == len(messages)
    in_db = {(kind, value) for kind, value, _ in PII if _leaks(value, stored)}
    where = {value: sorted(column for column, values in by_column.items() if _leaks(value, values))
             for _, value in in_db}
    in_export = {(kind, value) for kind, value, _ in PII if _leaks(value, exported)}
    in_clear = sorted(in_db | in_export)
    print(f"\nPII in clear: {len(in_clear)} of {len(PII)} "
          f"(database {len(in_db)}, export {len(in_export)}): {in_clear}")
    assert in_clear == [], f"{len(in_clear)} of {len(PII)} PII values in clear: {in_clear}; database columns: {where}"

    # ...without losing what the coach and the statistics need
    texts = [s for s in stored if any(b[:12] in s for b in BUSINESS)]
    for kept in KEPT:
        assert any(kept in t for t in texts), (kept, texts)
    refs = {r["order_ref"] for r in rows} | {r["product"] for r in rows}
    assert any(ref and "48213" in ref for ref in refs), refs
