"""The ``bohai`` command.

Owns: the top-level parser and ``main``. Each command group (service, directory, accounts, workdays, letters,
meetings, ops, regions, sync, audit) is a module of this package with ``add_commands(sub)`` and one small ``cmd_<name>``
function per sub-command that calls directory or liaison functions; there is no business logic here. Errors of the
domain tree are printed as ``错误：…`` on stderr with exit code 1 (2 for a bad setting or usage).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from directory.errors import BohaiError, FieldError, SettingsError, ValidationFailed
from liaison import settings as settings_mod
from liaison.cli import accounts, audit, directory, letters, meetings, ops, regions, service, sync, verify, workdays, zh
from liaison.cli.common import Handler

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    zh.install()
    parser = argparse.ArgumentParser(
        prog="bohai",
        description="环渤海通讯联络服务：流动人口服务管理单位通讯录与联络函件服务",
        epilog="配置：--config 文件或 BOHAI_CONFIG；"
        "任一选项可用环境变量 BOHAI_<节>_<选项> 覆盖，如 BOHAI_HTTP_PORT=0。",
    )
    parser.add_argument("--config", metavar="FILE", help="TOML 配置文件（默认值见 config/default.toml）")
    parser.add_argument("-v", "--verbose", action="store_true", help="输出调试日志")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for group in (service, directory, accounts, workdays, letters, meetings, verify, ops, regions, sync, audit):
        group.add_commands(sub)
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
    except Exception as exc:  # a bug or an unforeseen failure: a sentence for the user, the trace for the operator
        log.debug("unexpected error", exc_info=True)
        hint = "请加 -v 重新运行查看详细信息，并告知系统管理员"
        print(f"内部错误（{type(exc).__name__}），未完成。{hint}", file=sys.stderr)
        return 3
