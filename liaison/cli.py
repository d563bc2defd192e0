"""The ``bohai`` command.

Owns: argument parsing, help texts and exit codes only. Each sub-command is one small ``cmd_<name>`` function that
calls directory or liaison functions; there is no business logic here. Errors of the domain tree are printed as
``错误：…`` on stderr with exit code 1 (2 for a bad setting or usage).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from directory.errors import BohaiError, FieldError, SettingsError, ValidationFailed
from directory.store import Store
from liaison import settings as settings_mod
from liaison.database import open_store
from liaison.settings import Settings

Handler = Callable[[argparse.Namespace, Settings], int]


def _cli_actor(what: str) -> str:
    """Who did it, for the audit trail: the operating-system user who ran the command."""
    import getpass

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{what}:{user}"


def _open(settings: Settings) -> Store:
    return open_store(settings.database.url, pool_size=settings.database.pool_size)


@contextlib.contextmanager
def _opened(settings: Settings) -> Iterator[Store]:
    """The database for one command, closed afterwards whatever happens."""
    store = _open(settings)
    try:
        yield store
    finally:
        store.close()


# -- serve ----------------------------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from liaison.service import serve

    asyncio.run(serve(settings, with_demo=args.demo))
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from liaison.service import load_demo

    with _opened(settings) as store:
        created = load_demo(store)
    print(f"已生成演示单位 {created} 个" if created else "数据库中已有单位，未生成演示数据")
    return 0


def cmd_config(args: argparse.Namespace, settings: Settings) -> int:
    import dataclasses

    data = dataclasses.asdict(settings)
    for section in data.values():
        for key in section:
            if "password" in key or "secret" in key:
                section[key] = "***" if section[key] else ""
    print(json.dumps(data, ensure_ascii=False, indent=2))
    return 0


def _add_core(sub: Any) -> None:
    p = sub.add_parser("serve", help="启动服务（网页、LDAP、SMTP 等全部接口）")
    p.add_argument("--demo", action="store_true", help="数据库为空时生成演示单位（虚构联系人，标记为演示数据）")
    p.set_defaults(handler=cmd_serve)
    p = sub.add_parser("demo", help="数据库为空时生成演示单位")
    p.set_defaults(handler=cmd_demo)
    p = sub.add_parser("config", help="显示生效的配置（密码隐藏）")
    p.set_defaults(handler=cmd_config)


# -- directory: search -------------------------------------------------------------------------------------------


def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    from directory.search import search
    from directory.snapshot import SnapshotHolder

    with _opened(settings) as store:
        result = search(SnapshotHolder(store).current, args.query, args.limit)
    if args.json:
        hits = [h.as_dict() for h in result.hits]
        print(json.dumps({"query": args.query, "total": result.total, "hits": hits}, ensure_ascii=False, indent=2))
        return 0 if result.hits else 1
    if not result.hits:
        print(f"没有找到与“{args.query}”匹配的单位", file=sys.stderr)
        return 1
    for hit in result.hits:
        o = hit.office
        print(f"{o.unit_name}  [{hit.region.code}] {' '.join(hit.region.path)}")
        print(
            f"    联系人：{o.contact_name or '—'}（{o.position or '—'}）  电话：{o.phone_display or '—'}"
            f"  传真：{o.fax_display or '—'}  邮箱：{o.email or '—'}"
        )
        print(f"    地址：{o.address or '—'}  邮编：{o.postal_code or '—'}")
    shown = len(result.hits)
    print(f"共 {result.total} 个结果" + (f"，显示前 {shown} 个" if shown < result.total else ""))
    return 0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"应为正整数：{text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"应为正整数：{text!r}")
    return value


def _add_search(sub: Any) -> None:
    p = sub.add_parser("search", help="查找单位：名称、地区、联系人、拼音或首字母、电话、邮箱、邮编、区划代码")
    p.add_argument("query", help="查询词，多个词用空格分开（如：石家庄 长安、changan、zw、0311-8765）")
    p.add_argument("--json", action="store_true", help="以 JSON 输出")
    p.add_argument("--limit", type=_positive_int, default=20, help="最多显示的结果数（默认 20）")
    p.set_defaults(handler=cmd_search)


# -- directory: import, export (issue 2) ----------------------------------------------------------------


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from directory.exchange import apply, check_rows, preview, read_rows
    from directory.exchange.importer import scope_code
    from directory.exchange.progress import ProgressBar

    scope = scope_code(args.province) if args.province else None
    table = read_rows(args.file)
    bar = ProgressBar(sys.stderr, "校验")
    try:
        plan = check_rows(table, scope=scope, progress=bar)
    finally:
        bar.close()
    for warning in plan.warnings:
        print(f"警告：{warning}", file=sys.stderr)
    if not plan.ok:
        raise ValidationFailed(plan.errors, "文件中有错误，未写入任何数据")
    with _opened(settings) as store:
        result = preview(store, plan) if args.dry_run else apply(store, plan, _cli_actor("import"))
    prefix = "试运行（未写入任何数据）：" if args.dry_run else ""
    print(f"{prefix}新增 {result.created}，更新 {result.updated}，未变 {result.unchanged}")
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from directory.exchange.export import BINARY, render, resolve_region
    from directory.snapshot import build

    if args.format in BINARY and not args.output:
        raise BohaiError(f"{args.format} 是二进制格式，请用 -o 指定输出文件")
    with _opened(settings) as store:
        snap = build(*store.load_all())
    data = render(snap, args.format, root=resolve_region(snap, args.region), base_dn=settings.ldap.base_dn)
    if args.output:
        _write_atomically(args.output, data)
    else:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    return 0


def _write_atomically(path: str, data: bytes) -> None:
    import os
    import tempfile
    from pathlib import Path

    target = Path(path)
    if target.is_dir():
        raise BohaiError(f"无法写入 {path}：这是一个文件夹，请给出文件名")
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; an export is an ordinary file
        os.replace(tmp, target)
        tmp = None
    except OSError as exc:
        raise BohaiError(f"无法写入 {path}：{exc.strerror}") from exc
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def _add_directory(sub: Any) -> None:
    from directory.exchange.export import FORMATS

    p = sub.add_parser("import", help="导入标准模板的 CSV 或 XLSX 文件（按区划代码新增或更新单位）")
    p.add_argument("file", metavar="FILE", help="CSV（UTF-8 或 GB18030）或 XLSX 文件，第一行为标准表头")
    p.add_argument("--dry-run", action="store_true", help="只校验并显示将新增/更新的数量，不写入")
    p.add_argument("--province", metavar="CODE", help="只允许该区划（如 13 或 12 位代码）之下的单位")
    p.set_defaults(handler=cmd_import)
    p = sub.add_parser("export", help="导出通讯录（CSV、XLSX、vCard、Outlook vCard、LDIF）")
    p.add_argument("--format", required=True, choices=list(FORMATS), help="导出格式")
    p.add_argument("--region", metavar="CODE", help="只导出该区划及其下级")
    p.add_argument("-o", "--output", metavar="FILE", help="输出文件（文本格式默认写到标准输出）")
    p.set_defaults(handler=cmd_export)


# -- accounts: user add|passwd|list|disable (issue 3) -----------------------------------------------------------


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    first = getpass.getpass("密码：")
    if getpass.getpass("再次输入密码：") != first:
        raise ValidationFailed([FieldError("password", "两次输入的密码不一致")], "密码未设置")
    return first


def cmd_user_add(args: argparse.Namespace, settings: Settings) -> int:
    from directory import accounts

    password = _read_password(args)
    with _opened(settings) as store:
        user = accounts.add_user(store, args.username, password, args.role, args.province, "cli")
    where = f"，省份 {user.province_name}" if user.province_name else ""
    print(f"已创建用户 {user.username}（{user.role_name}{where}）")
    return 0


def cmd_user_passwd(args: argparse.Namespace, settings: Settings) -> int:
    from directory import accounts

    password = _read_password(args)
    with _opened(settings) as store:
        accounts.set_password(store, args.username, password, "cli")
    print(f"已修改用户 {args.username} 的密码（锁定已解除）")
    return 0


def cmd_user_list(args: argparse.Namespace, settings: Settings) -> int:
    from directory.accounts import ROLE_NAMES
    from directory.regions import PROVINCES

    with _opened(settings) as store:
        rows = store.list_accounts()
    for a in rows:
        province = PROVINCES.get((a["province_code"] or "")[:2], "")
        state = "已停用" if a["disabled"] else ("已锁定" if a["locked_until"] else "正常")
        token = "有令牌" if a["api_token_hash"] else ""
        print(f"{a['username']}\t{ROLE_NAMES.get(a['role'], a['role'])}\t{province or '—'}\t{state}\t{token}".rstrip())
    if not rows:
        print("还没有用户；用 bohai user add 创建", file=sys.stderr)
    return 0


def cmd_user_disable(args: argparse.Namespace, settings: Settings) -> int:
    from directory import accounts

    with _opened(settings) as store:
        accounts.set_disabled(store, args.username, not args.enable, "cli")
    print(f"已{'启用' if args.enable else '停用'}用户 {args.username}")
    return 0


def cmd_user_token(args: argparse.Namespace, settings: Settings) -> int:
    from directory import accounts

    with _opened(settings) as store:
        token = accounts.new_token(store, args.username, "cli")
    print(token)
    print("请妥善保存此令牌（只显示一次，旧令牌已失效）；用法：Authorization: Bearer <令牌>", file=sys.stderr)
    return 0


def _add_accounts(sub: Any) -> None:
    user = sub.add_parser("user", help="管理工作人员账户").add_subparsers(dest="user_command", metavar="ACTION")
    p = user.add_parser("add", help="创建账户")
    p.add_argument("username")
    p.add_argument("--role", choices=["admin", "editor", "reader"], default="reader", help="角色（默认 reader 只读）")
    p.add_argument("--province", help="编辑所属省份代码（如 13 或 130000000000），editor 必填")
    p.add_argument("--password-stdin", action="store_true", help="从标准输入读一行作为密码（供脚本使用）")
    p.set_defaults(handler=cmd_user_add)
    p = user.add_parser("passwd", help="修改密码（同时解除锁定）")
    p.add_argument("username")
    p.add_argument("--password-stdin", action="store_true", help="从标准输入读一行作为密码")
    p.set_defaults(handler=cmd_user_passwd)
    p = user.add_parser("list", help="列出账户")
    p.set_defaults(handler=cmd_user_list)
    p = user.add_parser("disable", help="停用账户（同时吊销访问令牌）")
    p.add_argument("username")
    p.add_argument("--enable", action="store_true", help="重新启用")
    p.set_defaults(handler=cmd_user_disable)
    p = user.add_parser("token", help="生成新的 API 访问令牌（旧令牌失效）")
    p.add_argument("username")
    p.set_defaults(handler=cmd_user_token)


# -- liaison: letters and working days (issue 4) ------------------------------------------------------------------


def _calendar(settings: Settings) -> Any:
    from liaison.workdays_store import load_calendar

    with _opened(settings) as store:
        return load_calendar(store)


def cmd_workdays_add(args: argparse.Namespace, settings: Settings) -> int:
    from liaison.workdays import parse_date

    cal = _calendar(settings)
    start = parse_date(args.date, "DATE")
    if args.provisional:
        marked = cal.add_workdays_marked(start, args.n)
        print(f"{marked.date.isoformat()}{'（暂定：部分年份尚无官方放假安排）' if marked.provisional else ''}")
    else:
        print(cal.add_workdays(start, args.n).isoformat())
    return 0


def cmd_workdays_between(args: argparse.Namespace, settings: Settings) -> int:
    from liaison.workdays import parse_date

    print(_calendar(settings).workdays_between(parse_date(args.a, "A"), parse_date(args.b, "B")))
    return 0


def cmd_workdays_load(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from liaison import deadlines
    from liaison.workdays import parse_overrides
    from liaison.workdays_store import load_calendar, save_overrides

    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        print(f"错误：无法读取 {path}：{exc.strerror}", file=sys.stderr)
        return 1
    overrides = parse_overrides(text, name=str(path))
    with _opened(settings) as store:
        save_overrides(store, overrides, "cli")
        recomputed = deadlines.recompute_provisional(store, settings, load_calendar(store))
    print(
        f"已载入 {overrides.year} 年放假安排：假日 {len(overrides.holidays)} 天，调休上班 {len(overrides.workdays)} 天"
    )
    print(f"已按新的放假安排重新计算 {recomputed} 个暂定回复期限")
    return 0


def _add_workdays(sub: Any) -> None:
    p = sub.add_parser("workdays", help="工作日计算（含法定节假日与调休）")
    wsub = p.add_subparsers(dest="workdays_command", metavar="ACTION", required=True)
    q = wsub.add_parser("add", help="DATE 之后第 N 个工作日")
    q.add_argument("date", metavar="DATE", help="起始日期 YYYY-MM-DD（不计当天）")
    q.add_argument("n", metavar="N", type=int, help="工作日数")
    q.add_argument("--provisional", action="store_true", help="无官方放假安排的年份按周末估算并标明“暂定”")
    q.set_defaults(handler=cmd_workdays_add)
    q = wsub.add_parser("between", help="A 之后到 B（含）之间的工作日数")
    q.add_argument("a", metavar="A", help="YYYY-MM-DD")
    q.add_argument("b", metavar="B", help="YYYY-MM-DD")
    q.set_defaults(handler=cmd_workdays_between)
    q = wsub.add_parser("load", help="载入某年国务院放假安排（TOML：year, source, holidays, workdays）")
    q.add_argument("file", metavar="FILE")
    q.set_defaults(handler=cmd_workdays_load)


def _read_attachment(path: str) -> Any:
    import mimetypes
    from pathlib import Path

    from liaison.letters import Attachment

    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ValidationFailed([FieldError("attach", f"无法读取附件：{exc.strerror}", value=path)]) from None
    ctype = mimetypes.guess_type(p.name)[0] or "application/octet-stream"
    return Attachment(p.name, ctype, data)


def _body(args: argparse.Namespace) -> str:
    from pathlib import Path

    from liaison.letters import render_template

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
    from liaison import letters, routing
    from liaison.workdays_store import load_calendar

    body = _body(args)
    attachments = [_read_attachment(p) for p in args.attach]
    with _opened(settings) as store:
        snap = SnapshotHolder(store).current
        to = list(args.to)
        if args.under:
            to += routing.offices_under(snap, args.under, args.level)
        draft = letters.Draft(
            from_code=args.sender,
            to=to,
            subject=args.subject,
            body=body,
            reply_within=args.reply_within,
            attachments=attachments,
            in_reply_to=args.in_reply_to or "",
            template=args.template or "",
        )
        sent = letters.send_letter(store, settings, snap, draft, calendar=load_calendar(store))
    print(sent.number)
    routed = [d for d in sent.deliveries if d["note"] and not d["is_copy"]]
    for d in routed:
        print(f"  {d['region_code']}：{d['note']}")
    print(f"已排队 {len(sent.deliveries)} 份（由运行中的 bohai serve 发送）", file=sys.stderr)
    return 0


def cmd_letter_show(args: argparse.Namespace, settings: Settings) -> int:
    from liaison import letters as letters_mod
    from liaison.deadlines import get_letter

    with _opened(settings) as store:
        letter = get_letter(store, args.key)
    print(f"{letter['number']}　{letter['subject']}")
    within = letter["reply_within"] or "无"
    print(f"发函：{letter['from_code']}　时间：{letter['created_at']:%Y-%m-%d %H:%M}　回复期限：{within} 个工作日")
    for d in letter["deliveries"]:
        state = letters_mod.STATE_NAMES.get(d["effective_state"], d["effective_state"])
        due = f"　期限 {d['deadline']}{'（暂定）' if d['deadline_provisional'] else ''}" if d["deadline"] else ""
        extra = (
            f"　{d['last_error'] or d['state_note']}"
            if d["effective_state"] in ("failed", "bounced", "deferred")
            else ""
        )
        copy = "[抄送] " if d["is_copy"] else ""
        print(f"  {copy}{d['region_code']} → {d['channel']} {d['address']}　{state}{due}{extra}")
        if d["note"] and not d["is_copy"]:
            print(f"    {d['note']}")
    return 0


def cmd_letter_list(args: argparse.Namespace, settings: Settings) -> int:
    from liaison.deadlines import list_letters

    with _opened(settings) as store:
        rows = list_letters(store, from_code=args.sender, limit=args.limit)
    for r in rows:
        print(f"{r['id']}\t{r['number']}\t{r['from_code']}\t{r['created_at']:%Y-%m-%d}\t{r['subject']}")
    if not rows:
        print("（没有联络函）", file=sys.stderr)
    return 0


def _add_letter(sub: Any) -> None:
    p = sub.add_parser("letter", help="联络函：发函（仅排队，由 bohai serve 发送）、查看、列表")
    lsub = p.add_subparsers(dest="letter_command", metavar="ACTION", required=True)
    q = lsub.add_parser("send", help="发函并打印函号")
    q.add_argument("--from", dest="sender", required=True, metavar="CODE", help="发函单位的区划代码")
    q.add_argument("--to", nargs="*", default=[], metavar="CODE", help="收函单位的区划代码（可多个）")
    q.add_argument("--under", metavar="CODE", help="另发给该区划下某一级的全部单位（与 --level 同用）")
    q.add_argument("--level", default="township", choices=["province", "city", "county", "township"])
    q.add_argument("--subject", required=True, help="标题")
    q.add_argument("--body-file", metavar="F", help="正文文件（UTF-8）")
    q.add_argument("--template", choices=["tongbao", "hecha", "fankui"], help="用模板生成正文（通报、核查、反馈）")
    q.add_argument("--var", action="append", default=[], metavar="名称=值", help="模板字段，如 details=...")
    q.add_argument("--attach", action="append", default=[], metavar="F", help="附件（可多次）")
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


def _add_letters(sub: Any) -> None:
    _add_workdays(sub)
    _add_letter(sub)


# -- liaison: joint meetings (issue 5) ----------------------------------------------------------------------------


def _meeting_input(args: argparse.Namespace) -> Any:
    from liaison import meetings, meetings_service

    def when(value: str | None, name: str) -> Any:
        return meetings.parse_local(value, name) if value else None

    return meetings.MeetingInput(
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
    from liaison.meeting_mail import PARTSTAT_NAMES, local_time

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
    from liaison import meetings_service

    warning = settings.public_url_warning()
    if warning:
        print(f"注意：{warning}", file=sys.stderr)
    with _opened(settings) as store:
        return _report(meetings_service.create(store, settings, _meeting_input(args)), "已创建")


def cmd_meeting_update(args: argparse.Namespace, settings: Settings) -> int:
    from liaison import meetings_service

    with _opened(settings) as store:
        return _report(meetings_service.update(store, settings, args.id, _meeting_input(args)), "已更新")


def cmd_meeting_cancel(args: argparse.Namespace, settings: Settings) -> int:
    from liaison import meetings, meetings_service

    with _opened(settings) as store:
        return _report(meetings.cancel_meeting(store, settings, args.id, meetings_service.actor()), "已取消")


def cmd_meeting_show(args: argparse.Namespace, settings: Settings) -> int:
    from liaison import meetings

    with _opened(settings) as store:
        _print_meeting(meetings.get_meeting(store, args.id))
        for n in meetings.notices(store, args.id):
            print(f"  邮件 {n.subject} → {n.recipient} {n.state} {n.last_error}".rstrip())
        for job in meetings.reminders(store, args.id):
            due = f"{job.due_at:%Y-%m-%d %H:%M}Z"
            print(f"  提醒 {job.label} → {job.recipient} 计划 {due} {job.outcome or '待发送'}")
    return 0


def cmd_meeting_list(args: argparse.Namespace, settings: Settings) -> int:
    from liaison import meetings
    from liaison.meeting_mail import local_time

    with _opened(settings) as store:
        found = meetings.list_meetings(store, meetings.normalize_host(args.province) if args.province else None)
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


def _add_meetings(sub: Any) -> None:
    group = sub.add_parser("meeting", help="联席会议：创建、修改、取消、查看")
    msub = group.add_subparsers(dest="meeting_command", metavar="ACTION", required=True)
    p = msub.add_parser("create", help="创建会议并向参会人员发送邀请（默认：十省区市联络员）")
    _meeting_fields(p, create=True)
    p.add_argument("--attendee", action="append", metavar="ADDR", help="参会人员邮箱（可重复；省略则为十省联络员）")
    p.set_defaults(handler=cmd_meeting_create)
    p = msub.add_parser("update", help="修改会议（SEQUENCE+1，向全体发送更新）")
    p.add_argument("id", type=int, help="会议编号")
    _meeting_fields(p, create=False)
    p.add_argument("--add", action="append", metavar="ADDR", help="增加参会人员（可重复）")
    p.add_argument("--remove", action="append", metavar="ADDR", help="移出参会人员（可重复；将收到取消通知）")
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


# -- main -----------------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bohai",
        description="环渤海通讯联络服务：流动人口服务管理单位通讯录与联络函件服务",
        epilog="配置：--config 文件或 BOHAI_CONFIG；"
        "任一选项可用环境变量 BOHAI_<节>_<选项> 覆盖，如 BOHAI_HTTP_PORT=0。",
    )
    parser.add_argument("--config", metavar="FILE", help="TOML 配置文件（默认值见 config/default.toml）")
    parser.add_argument("-v", "--verbose", action="store_true", help="输出调试日志")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in (_add_core, _add_search, _add_directory, _add_accounts, _add_letters, _add_meetings):
        add(sub)
    return parser


def _print_field_errors(errors: Sequence[FieldError]) -> None:
    for err in errors:
        print(f"  {err}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = settings_mod.load(args.config)
        handler: Handler = args.handler
        return handler(args, settings)
    except SettingsError as exc:
        print(f"配置错误：{exc}", file=sys.stderr)
        return 2
    except ValidationFailed as exc:
        print(f"错误：{exc}（共 {len(exc.errors)} 处）", file=sys.stderr)
        _print_field_errors(exc.errors)
        return 1
    except BohaiError as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
