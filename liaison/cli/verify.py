"""``bohai verify …``: start, show, list and close verification campaigns (信息核对).

Starting only queues the notices; a running ``bohai serve`` sends them and follows up.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from liaison.cli.common import cli_actor, opened, positive_int
from liaison.settings import Settings


def cmd_verify_start(args: argparse.Namespace, settings: Settings) -> int:
    from directory.snapshot import SnapshotHolder
    from liaison.verify import campaign
    from liaison.workdays.store import load_calendar

    with opened(settings) as store:
        snap = SnapshotHolder(store).current
        started = campaign.start_campaign(
            store, settings, snap, region_code="" if args.region == "all" else args.region, due_within=args.due_within,
            actor=cli_actor("cli"), calendar=load_calendar(store),
        )  # fmt: skip
    print(started.id)
    print(
        f"信息核对 {started.id}：{started.offices} 个单位，期限 {started.due_on}；"
        f"电子邮件 {started.emails} 份、传真 {started.faxes} 份已排队（由运行中的 bohai serve 发送），"
        f"需电话联系 {len(started.phones)} 个",
        file=sys.stderr,
    )
    for code in started.phones:
        office = snap.office(code)
        print(f"  电话：{code} {office.unit_name if office else ''} {office.phone_display if office else ''}",
              file=sys.stderr)  # fmt: skip
    return 0


def _counts_line(counts: dict[str, int]) -> str:
    from liaison.verify.campaign import STATE_NAMES

    return "，".join(f"{STATE_NAMES[s]} {counts[s]}" for s in STATE_NAMES if counts.get(s))


def cmd_verify_status(args: argparse.Namespace, settings: Settings) -> int:
    from directory.errors import NotFound
    from liaison.verify import store as vstore
    from liaison.verify.campaign import CHANNEL_NAMES, STATE_NAMES

    with opened(settings) as store, store.read() as conn:
        if args.id is None:
            found = vstore.campaigns(conn, limit=1)
            if not found:
                raise NotFound("还没有任何信息核对")
            campaign_id = found[0].id
        else:
            campaign_id = args.id
        c = vstore.campaign(conn, campaign_id)
        if c is None:
            raise NotFound(f"信息核对 {campaign_id} 不存在")
        counts = vstore.counts(conn, c.id)
        items = vstore.items(conn, c.id)
    state = "进行中" if c.state == "open" else "已结束"
    print(f"{c.id}\t{c.title}\t{state}\t期限 {c.due_on}\t单位 {sum(counts.values())}")
    print(f"  {_counts_line(counts)}")
    for item in items:
        if args.all or item.state not in ("confirmed", "approved"):
            channel = CHANNEL_NAMES.get(item.channel, item.channel)
            note = f"\t{item.note}" if item.note else ""
            print(f"  {item.region_code}\t{channel}\t{STATE_NAMES.get(item.state, item.state)}{note}")
    return 0


def cmd_verify_list(args: argparse.Namespace, settings: Settings) -> int:
    from liaison.verify import store as vstore

    with opened(settings) as store, store.read() as conn:
        rows = [(c, vstore.counts(conn, c.id)) for c in vstore.campaigns(conn, limit=args.limit)]
    for c, counts in rows:
        state = "进行中" if c.state == "open" else "已结束"
        print(f"{c.id}\t{c.region_code}\t{state}\t期限 {c.due_on}\t单位 {sum(counts.values())}\t{_counts_line(counts)}")
    if not rows:
        print("（还没有任何信息核对）", file=sys.stderr)
    return 0


def cmd_verify_close(args: argparse.Namespace, settings: Settings) -> int:
    from liaison.verify import campaign

    with opened(settings) as store:
        campaign.close_campaign(store, args.id, cli_actor("cli"))
    print(f"信息核对 {args.id} 已结束：链接失效，不再提醒或督办", file=sys.stderr)
    return 0


def add_commands(sub: Any) -> None:
    p = sub.add_parser("verify", help="信息核对：请各单位核对本单位通讯录信息（发起、状态、列表、结束）")
    vsub = p.add_subparsers(dest="verify_command", metavar="ACTION", required=True)
    q = vsub.add_parser("start", help="对一个区划（省、市、县）及其下级的全部单位发起核对，打印编号")
    q.add_argument("--region", required=True, metavar="CODE", help="区划代码，如 130000000000；all 为全部地区")
    q.add_argument("--due-within", type=positive_int, default=10, metavar="N", help="期限：N 个工作日（默认 10）")
    q.set_defaults(handler=cmd_verify_start)
    q = vsub.add_parser("status", help="一次核对的各状态单位数和未完成的单位（默认最近一次）")
    q.add_argument("id", nargs="?", type=positive_int, metavar="ID")
    q.add_argument("--all", action="store_true", help="也列出已确认和已采纳的单位")
    q.set_defaults(handler=cmd_verify_status)
    q = vsub.add_parser("list", help="最近的信息核对")
    q.add_argument("--limit", type=positive_int, default=50)
    q.set_defaults(handler=cmd_verify_list)
    q = vsub.add_parser("close", help="结束一次核对：链接失效，不再提醒或督办")
    q.add_argument("id", type=positive_int, metavar="ID")
    q.set_defaults(handler=cmd_verify_close)
