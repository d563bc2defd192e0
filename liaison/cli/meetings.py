"""``bohai meeting …``: joint meetings — create, update, cancel, show, list."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from directory import clock
from liaison.cli.common import opened
from liaison.settings import Settings


def _meeting_input(args: argparse.Namespace) -> Any:
    from liaison.meetings import rules
    from liaison.meetings import service as meetings_service

    def when(value: str | None, name: str) -> Any:
        return rules.parse_local(value, name) if value else None

    return rules.MeetingInput(
        title=args.title,
        host=args.host,
        place=args.place,
        start=when(args.start, "start"),
        end=when(args.end, "end"),
        agenda=meetings_service.read_agenda(args.agenda_file),
        notes=args.notes,
        attendees=getattr(args, "attendee", None),
        add=getattr(args, "add", None) or (),
        remove=getattr(args, "remove", None) or (),
    )


def _print_meeting(m: Any) -> None:
    from liaison.mail.text import local_time
    from liaison.meetings.mails import PARTSTAT_NAMES

    print(f"会议 {m.id}：{m.title}{'（已取消）' if m.cancelled else ''}")
    print(f"  时间：{local_time(m.start_at)} 至 {local_time(m.end_at)}（北京时间）")
    print(f"  主办：{m.host_province}  地点：{m.place or '另行通知'}")
    print(f"  UID：{m.uid}  SEQUENCE：{m.sequence}  组织者：{m.organiser}")
    for a in m.attendees:
        state = PARTSTAT_NAMES.get(a.partstat, a.partstat) if a.active else "已移出名单"
        print(f"  - {a.email} {a.name} {state}")


def _report(outcome: Any, verb: str) -> int:
    for warning in outcome.warnings:
        print(f"注意：{warning}", file=sys.stderr)
    _print_meeting(outcome.meeting)
    print(f"{verb}：已排队发送通知 {outcome.notices} 封（由调度器发出）")
    return 0


def cmd_meeting_create(args: argparse.Namespace, settings: Settings) -> int:
    from liaison.meetings import service as meetings_service

    warning = settings.public_url_warning()
    if warning:
        print(f"注意：{warning}", file=sys.stderr)
    with opened(settings) as store:
        return _report(meetings_service.create(store, settings, _meeting_input(args)), "已创建")


def cmd_meeting_update(args: argparse.Namespace, settings: Settings) -> int:
    from liaison.meetings import service as meetings_service

    with opened(settings) as store:
        return _report(meetings_service.update(store, settings, args.id, _meeting_input(args)), "已更新")


def cmd_meeting_cancel(args: argparse.Namespace, settings: Settings) -> int:
    from liaison.meetings import rules
    from liaison.meetings import service as meetings_service

    with opened(settings) as store:
        return _report(rules.cancel_meeting(store, settings, args.id, meetings_service.actor()), "已取消")


def cmd_meeting_show(args: argparse.Namespace, settings: Settings) -> int:
    from liaison.meetings import mails, reminders
    from liaison.meetings import store as meeting_store

    with opened(settings) as store:
        _print_meeting(meeting_store.get_meeting(store, args.id))
        for n in meeting_store.notices(store, args.id):
            state = mails.OUTBOX_STATES.get(n.state, n.state)
            print(f"  邮件 {n.subject} → {n.recipient} {state} {n.last_error}".rstrip())
        for job in reminders.for_meeting(store, args.id):
            due = clock.shown(job.due_at)
            outcome = mails.JOB_OUTCOMES.get(job.outcome or "", "待发送")
            print(f"  提醒 {reminders.offset_name(job.label)} → {job.recipient} 计划 {due} {outcome}")
    return 0


def cmd_meeting_list(args: argparse.Namespace, settings: Settings) -> int:
    from liaison.mail.text import local_time
    from liaison.meetings import rules
    from liaison.meetings import store as meeting_store

    with opened(settings) as store:
        found = meeting_store.list_meetings(store, rules.normalize_host(args.province) if args.province else None)
    for m in found:
        state = "已取消" if m.cancelled else f"第 {m.sequence + 1} 版"
        print(f"{m.id}\t{local_time(m.start_at)}\t{m.host_province}\t{state}\t{m.title}")
    if not found:
        print("没有会议")
    return 0


def _meeting_fields(p: Any, *, create: bool) -> None:
    p.add_argument("--title", required=create, help="会议名称")
    p.add_argument("--host", required=create, metavar="PROVINCE_CODE", help="主办省份代码，如 13（河北省）")
    p.add_argument("--place", help="地点")
    p.add_argument("--start", required=create, metavar="2026-12-17T09:00", help="开始时间（北京时间）")
    p.add_argument("--end", required=create, metavar="2026-12-17T17:00", help="结束时间（北京时间）")
    p.add_argument("--agenda-file", metavar="F", help="议程（UTF-8 文本文件）")
    p.add_argument("--notes", help="备注")


def add_commands(sub: Any) -> None:
    group = sub.add_parser("meeting", help="联席会议：创建、修改、取消、查看")
    msub = group.add_subparsers(dest="meeting_command", metavar="ACTION", required=True)
    p = msub.add_parser("create", help="创建会议并向参会人员发送邀请（默认：十省区市联络员）")
    _meeting_fields(p, create=True)
    p.add_argument(
        "--attendee", action="extend", nargs="+", metavar="ADDR", help="参会人员邮箱（可多个；省略则为十省联络员）"
    )
    p.set_defaults(handler=cmd_meeting_create)
    p = msub.add_parser("update", help="修改会议（SEQUENCE+1，向全体发送更新）")
    p.add_argument("id", type=int, help="会议编号")
    _meeting_fields(p, create=False)
    p.add_argument("--add", action="extend", nargs="+", metavar="ADDR", help="增加参会人员（可重复）")
    p.add_argument(
        "--remove", action="extend", nargs="+", metavar="ADDR", help="移出参会人员（可多个，可重复；将收到取消通知）"
    )
    p.set_defaults(handler=cmd_meeting_update)
    p = msub.add_parser("cancel", help="取消会议（向所有曾受邀者发送取消通知）")
    p.add_argument("id", type=int, help="会议编号")
    p.set_defaults(handler=cmd_meeting_cancel)
    p = msub.add_parser("show", help="查看会议、参会名单与通知")
    p.add_argument("id", type=int, help="会议编号")
    p.set_defaults(handler=cmd_meeting_show)
    p = msub.add_parser("list", help="列出会议")
    p.add_argument("--province", metavar="PROVINCE_CODE", help="只列出该省主办或参加的会议")
    p.set_defaults(handler=cmd_meeting_list)
