"""``bohai letter …``: send (queue), show and list letters."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from directory import clock
from directory.errors import FieldError, ValidationFailed
from directory.snapshot import Snapshot
from liaison.cli.common import opened
from liaison.settings import Settings


def _read_attachment(path: str) -> Any:
    import mimetypes
    from pathlib import Path

    from liaison.letters.compose import Attachment

    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ValidationFailed([FieldError("attach", f"无法读取附件：{exc.strerror}", value=path)]) from None
    ctype = mimetypes.guess_type(p.name)[0] or "application/octet-stream"
    return Attachment(p.name, ctype, data)


def _body(args: argparse.Namespace) -> str:
    from pathlib import Path

    from liaison.letters.compose import render_template

    if args.template:
        pairs = dict(v.split("=", 1) for v in args.var if "=" in v)
        bad = [v for v in args.var if "=" not in v]
        if bad:
            raise ValidationFailed([FieldError("var", "应为 名称=值", value=v) for v in bad])
        return render_template(args.template, pairs)
    if not args.body_file:
        raise ValidationFailed([FieldError("body-file", "需要 --body-file 或 --template")])
    try:
        return Path(args.body_file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationFailed(
            [FieldError("body-file", f"无法读取正文（需 UTF-8 文本）：{exc}", value=args.body_file)]
        ) from None


def cmd_letter_send(args: argparse.Namespace, settings: Settings) -> int:
    from directory.snapshot import SnapshotHolder
    from liaison import routing
    from liaison.letters import compose
    from liaison.workdays.store import load_calendar

    body = _body(args)
    attachments = [_read_attachment(p) for p in args.attach]
    with opened(settings) as store:
        snap = SnapshotHolder(store).current
        to = list(args.to)
        if args.under:
            to += routing.offices_under(snap, args.under, args.level)
        draft = compose.Draft(
            from_code=args.sender,
            to=to,
            subject=args.subject,
            body=body,
            reply_within=args.reply_within,
            attachments=attachments,
            in_reply_to=args.in_reply_to or "",
            template=args.template or "",
        )
        _show_recipients(snap, to)
        sent = compose.send_letter(store, settings, snap, draft, calendar=load_calendar(store))
    print(sent.number)
    routed = [d for d in sent.deliveries if d.note and not d.is_copy]
    for d in routed:
        print(f"  {d.region_code}：{d.note}")
    print(f"已排队 {len(sent.deliveries)} 份（由运行中的 bohai serve 发送）", file=sys.stderr)
    return 0


def _show_recipients(snap: Snapshot, codes: list[str]) -> None:
    """The recipient list as given, before anything is queued, so a mistyped or missing code is seen."""
    print(f"收函单位 {len(codes)} 个：", file=sys.stderr)
    for code in codes:
        office = snap.office(code)
        name = office.unit_name if office is not None else "（未找到该单位）"
        print(f"  {code} {name}", file=sys.stderr)


def cmd_letter_show(args: argparse.Namespace, settings: Settings) -> int:
    from liaison.letters import compose as letters_mod
    from liaison.letters.store import get_letter

    with opened(settings) as store:
        letter = get_letter(store, args.key)
    print(f"{letter.number}　{letter.subject}")
    within = letter.reply_within or "无"
    print(f"发函：{letter.from_code}　时间：{clock.shown(letter.created_at)}　回复期限：{within} 个工作日")
    for d in letter.deliveries:
        state = letters_mod.STATE_NAMES.get(d.effective_state, d.effective_state)
        due = f"　期限 {clock.shown(d.deadline)}{'（暂定）' if d.deadline_provisional else ''}" if d.deadline else ""
        extra = f"　{d.last_error or d.state_note}" if d.effective_state in ("failed", "bounced", "deferred") else ""
        copy = "[抄送] " if d.is_copy else ""
        print(f"  {copy}{d.region_code} → {d.channel} {d.address}　{state}{due}{extra}")
        if d.note and not d.is_copy:
            print(f"    {d.note}")
    return 0


def cmd_letter_list(args: argparse.Namespace, settings: Settings) -> int:
    from liaison.letters.store import list_letters

    with opened(settings) as store:
        rows = list_letters(store, from_code=args.sender, limit=args.limit)
    for r in rows:
        print(f"{r.id}\t{r.number}\t{r.from_code}\t{clock.shown(r.created_at)}\t{r.subject}")
    if not rows:
        print("（没有联络函）", file=sys.stderr)
    return 0


def add_commands(sub: Any) -> None:
    p = sub.add_parser("letter", help="联络函：发函（仅排队，由 bohai serve 发送）、查看、列表")
    lsub = p.add_subparsers(dest="letter_command", metavar="ACTION", required=True)
    q = lsub.add_parser("send", help="发函并打印函号")
    q.add_argument("--from", dest="sender", required=True, metavar="CODE", help="发函单位的区划代码")
    q.add_argument(
        "--to", action="extend", nargs="+", default=[], metavar="CODE",
        help="收函单位的区划代码（可多个，可重复：--to A B 或 --to A --to B）",
    )  # fmt: skip
    q.add_argument("--under", metavar="CODE", help="另发给该区划下某一级的全部单位（与 --level 同用）")
    q.add_argument("--level", default="township", choices=["province", "city", "county", "township"])
    q.add_argument("--subject", required=True, help="标题")
    q.add_argument("--body-file", metavar="F", help="正文文件（UTF-8）")
    q.add_argument("--template", choices=["tongbao", "hecha", "fankui"], help="用模板生成正文（通报、核查、反馈）")
    q.add_argument("--var", action="append", default=[], metavar="名称=值", help="模板字段，如 details=...")
    q.add_argument("--attach", action="extend", nargs="+", default=[], metavar="F", help="附件（可多个，可重复）")
    q.add_argument("--reply-within", type=int, metavar="N", help="要求 N 个工作日内回复")
    q.add_argument("--in-reply-to", metavar="函号", help="回复哪一份函（函号或编号），用于串联")
    q.set_defaults(handler=cmd_letter_send)
    q = lsub.add_parser("show", help="查看一份函及各收函单位的投递状态")
    q.add_argument("key", metavar="函号或编号")
    q.set_defaults(handler=cmd_letter_show)
    q = lsub.add_parser("list", help="最近的联络函")
    q.add_argument("--from", dest="sender", metavar="CODE")
    q.add_argument("--limit", type=int, default=50)
    q.set_defaults(handler=cmd_letter_list)
