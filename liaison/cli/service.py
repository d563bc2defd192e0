"""``bohai serve``, ``bohai demo`` and ``bohai config``: run the service, load demo data, print the settings."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import Any

from directory.errors import SettingsError
from liaison.cli.common import opened
from liaison.settings import Settings

LOOPS = ("auto", "uvloop", "asyncio")


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from liaison.service import serve

    run, name = event_loop(args.loop)
    print(f"event loop: {name}", flush=True)
    run(serve(settings, with_demo=args.demo))
    return 0


def event_loop(choice: str) -> tuple[Callable[[Coroutine[Any, Any, None]], None], str]:
    """The runner of the event loop ``choice`` names and its name. ``auto`` is uvloop where it is installed (a
    dependency on Linux and macOS): its transports and loop are written in C over libuv, which is most of what an
    LDAP search of one entry costs here; asyncio's own loop serves where uvloop is missing or not wanted."""
    if choice != "asyncio":
        try:
            import uvloop
        except ImportError as exc:
            if choice == "uvloop":
                raise SettingsError("--loop uvloop：未安装 uvloop (pip install uvloop)") from exc
        else:
            return uvloop.run, "uvloop"
    return asyncio.run, "asyncio"


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from liaison.service import load_demo

    with opened(settings) as store:
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


def add_commands(sub: Any) -> None:
    p = sub.add_parser("serve", help="启动服务（网页、LDAP、SMTP 等全部接口）")
    p.add_argument("--demo", action="store_true", help="数据库为空时生成演示单位（虚构联系人，标记为演示数据）")
    loops = "事件循环：auto（默认，已安装 uvloop 时用 uvloop）、uvloop 或 asyncio"
    p.add_argument("--loop", choices=LOOPS, default="auto", help=loops)
    p.set_defaults(handler=cmd_serve)
    p = sub.add_parser("demo", help="数据库为空时生成演示单位")
    p.set_defaults(handler=cmd_demo)
    p = sub.add_parser("config", help="显示生效的配置（密码隐藏）")
    p.set_defaults(handler=cmd_config)
