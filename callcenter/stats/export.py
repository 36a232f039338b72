"""CSV and XLSX exports of the reports, with Chinese column headers.

Every cell of both formats passes :func:`spreadsheet_cell`: text that a spreadsheet program
would run as a formula (it starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return: ``=HYPERLINK(...)``, ``@SUM(...)``, ``-2+3``, ``=cmd|' /C calc'!A0``) gets a leading
apostrophe and stays readable as text; XLSX cells of text are written as text, never as a
formula. Numbers and times pass unchanged.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

# column key -> Chinese header (in export order)
HEADERS: dict[str, str] = {
    "start": "时段开始",
    "channel": "渠道",
    "title": "队列",
    "queue": "队列编号",
    "agent": "坐席",
    "agent_name": "坐席姓名",
    "label": "菜单节点",
    "node": "节点编号",
    "question": "知识条目",
    "faq_id": "条目编号",
    "type": "工单类型",
    "contacts": "来电总量",
    "automatic_voice": "自动语音服务量",
    "manual": "人工服务量",
    "other": "其他",
    "ivr_containment": "自助服务率",
    "offered": "进入队列量",
    "answered": "人工接通量",
    "abandoned": "排队放弃量",
    "short_abandoned": "短时放弃量",
    "answered_in_sl": "服务水平内接通量",
    "answer_rate": "接通率",
    "abandon_rate": "放弃率",
    "service_level": "服务水平",
    "asa": "平均应答速度(秒)",
    "avg_abandon_wait": "平均放弃等待(秒)",
    "max_wait": "最长等待(秒)",
    "talk_seconds": "通话时长(秒)",
    "aht": "平均处理时长(秒)",
    "avg_ivr_seconds": "平均语音导航时长(秒)",
    "survey_offered": "满意度调查邀请数",
    "surveyed": "满意度评价数",
    "satisfied": "满意数",
    "csat": "满意率",
    "survey_response_rate": "评价参与率",
    "handled": "接听量",
    "completed": "完成通话数",
    "avg_talk": "平均通话时长(秒)",
    "hold_seconds": "保持时长(秒)",
    "avg_hold": "平均保持时长(秒)",
    "wrap_up_seconds": "话后处理时长(秒)",
    "staffed_seconds": "签入时长(秒)",
    "pause_seconds": "小休时长(秒)",
    "pause_by_reason": "按原因小休(秒)",
    "occupancy": "占用率",
    "entered": "进入次数",
    "dropped": "挂机流失数",
    "drop_rate": "流失率",
    "played": "播放次数",
    "escalated": "转人工次数",
    "escalation_rate": "转人工率",
    "created": "工单数",
    "due": "已到期工单数",
    "on_time": "按时办结数",
    "on_time_rate": "按时办结率",
    "self_service": "自助服务量",
    "self_service_rate": "自助服务率",
    "tickets": "工单数",
    "tickets_due": "已到期工单数",
    "tickets_on_time": "按期答复数",
    "reply_on_time_rate": "按期答复率",
    "texts_sent": "短信发送量",
    "segments_sent": "短信发送条数(分段)",
    "delivered": "送达量",
    "delivery_failed": "送达失败量",
    "delivery_pending": "待回执量",
    "delivery_rate": "送达率",
    "reviews": "质检评分数",
    "avg_score": "平均质检得分",
    "min_score": "最低质检得分",
    "max_score": "最高质检得分",
    "acknowledged": "坐席已确认数",
    "ack_rate": "确认率",
    "criteria": "各评分项平均得分率(%)",
}
# the channels report: its contacts are not all calls, its answers not all by telephone
CHANNEL_HEADERS = {**HEADERS, "contacts": "联系总量", "answered": "人工服务量"}
CHANNEL_TITLES = {"phone": "电话", "sms": "短信", "web": "网上咨询"}
DIRECTION_TITLES = {"inbound": "呼入", "outbound": "外呼"}  # contacts.direction

CONTACT_HEADERS = ["编号", "通话标识", "来电号码", "开始时间", "结束时间", "结果", "队列",
                   "队列编号", "坐席", "语音导航时长(秒)", "排队时长(秒)", "通话时长(秒)",
                   "最后节点", "最后节点编号", "对账关闭", "方向", "渠道"]
# the queue and the last menu node by their words, each followed by its id
# (callcenter.stats.reports.named_contact_row)

SHEET_TITLES = {"summary": "总体", "channels": "渠道", "queues": "队列", "agents": "坐席",
                "nodes": "菜单节点", "faqs": "知识条目", "tickets": "工单", "quality": "质检评分",
                "contacts": "来电明细"}


def report_table(report: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """The interval rows of a report as a table: Chinese headers and values."""
    series: list[dict[str, Any]] = report.get("series", [])
    keys: list[str] = []
    for row in series:
        for k in row:
            if k in HEADERS and k not in keys:
                keys.append(k)
    keys.sort(key=list(HEADERS).index)
    names = CHANNEL_HEADERS if "channel" in keys else HEADERS
    rows = [[_cell(CHANNEL_TITLES.get(row[k], row[k]) if k == "channel" else row.get(k))
             for k in keys] for row in series]
    return [names[k] for k in keys], rows


def contact_row(row: Sequence[Any]) -> list[Any]:
    """A contact export row with its direction and channel (the last two columns) in
    Chinese."""
    out = list(row)
    if len(out) >= 2:
        out[-2] = DIRECTION_TITLES.get(str(out[-2]), out[-2])
        out[-1] = CHANNEL_TITLES.get(str(out[-1]), out[-1])
    return out


def _cell(value: Any) -> Any:
    if isinstance(value, dict):
        return "; ".join(f"{k}={v}" for k, v in value.items())
    return value


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value: Any) -> Any:
    """A value as a spreadsheet cell that can only be data: times as ISO 8601 text, None as
    empty, text that could start a formula with a leading apostrophe; numbers unchanged."""
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return value
    if hasattr(value, "isoformat"):
        value = value.isoformat()
    text = str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def csv_chunks(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    """CSV text in chunks, with a BOM so spreadsheet programs read the Chinese headers."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow([spreadsheet_cell(h) for h in headers])
    for n, row in enumerate(rows, 1):
        writer.writerow([spreadsheet_cell(v) for v in row])
        if n % 2000 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def xlsx_bytes(title: str, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title[:31])
    sheet.append([_xlsx(sheet, h) for h in headers])
    for row in rows:
        sheet.append([_xlsx(sheet, v) for v in row])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _xlsx(sheet: Any, value: Any) -> Any:
    if value is None:
        return None  # an empty cell
    safe = spreadsheet_cell(value)
    if not isinstance(safe, str):
        return safe
    cell = WriteOnlyCell(sheet, value=safe)
    cell.data_type = "s"  # text, whatever it looks like (openpyxl reads "=..." as a formula)
    return cell
