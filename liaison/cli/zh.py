"""argparse in Chinese: the headings, the help of ``-h`` and the usage errors of ``bohai``.

argparse marks its texts for gettext (``argparse._``) but ships no catalogue; this module supplies the
translations of the texts a ``bohai`` user can meet, the way a gettext catalogue would, and leaves any other text
as it is.
"""

from __future__ import annotations

import argparse

TEXTS = {
    "usage: ": "用法：",
    "positional arguments": "参数",
    "options": "选项",
    "show this help message and exit": "显示本帮助并退出",
    "the following arguments are required: %s": "缺少必需的参数：%s",
    "unrecognized arguments: %s": "无法识别的参数：%s",
    "invalid choice: %(value)r (choose from %(choices)s)": "无效的选项值 %(value)r（可选：%(choices)s）",
    "invalid %(type)s value: %(value)r": "无效的值：%(value)r",
    "expected one argument": "需要一个值",
    "expected at most one argument": "最多一个值",
    "expected at least one argument": "至少一个值",
    "argument %(argument_name)s: %(message)s": "参数 %(argument_name)s：%(message)s",
    "%(prog)s: error: %(message)s\n": "%(prog)s：错误：%(message)s\n",
    "ambiguous option: %(option)s could match %(matches)s": "选项 %(option)s 有歧义，可能是 %(matches)s",
    "not allowed with argument %s": "不能与参数 %s 同时使用",
    "one of the arguments %s is required": "参数 %s 须有其一",
    "unexpected option string: %s": "意外的选项：%s",
    "ignored explicit argument %r": "多余的值 %r",
}


def translate(message: str) -> str:
    return TEXTS.get(message, message)


def install() -> None:
    """Make argparse speak Chinese in this process (call before building parsers)."""
    argparse._ = translate  # type: ignore[attr-defined]
