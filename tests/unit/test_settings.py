"""Settings: defaults, TOML file, environment overrides, errors naming option and source, default.toml in sync."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from directory import settings
from directory.errors import SettingsError


def test_default_toml_documents_every_option_with_its_default() -> None:
    data = tomllib.loads(settings.DEFAULT_CONFIG.read_text(encoding="utf-8"))
    schema = settings.schema()
    assert set(data) == set(schema)
    defaults = settings.Settings()
    for section, options in schema.items():
        assert set(data[section]) == set(options), section
        for name in options:
            assert data[section][name] == getattr(getattr(defaults, section), name), f"{section}.{name}"


def test_every_option_has_a_comment_above_it() -> None:
    lines = settings.DEFAULT_CONFIG.read_text(encoding="utf-8").splitlines()

    def is_option(line: str) -> bool:
        return "=" in line and not line.lstrip().startswith("#")

    for i, line in enumerate(lines):
        if not is_option(line):
            continue
        j = i - 1
        while j >= 0 and is_option(lines[j]):
            j -= 1
        assert lines[j].startswith("#"), f"no comment above: {line}"


def test_loading_default_toml_equals_builtin_defaults() -> None:
    assert settings.load(settings.DEFAULT_CONFIG, env={}) == settings.Settings()


def test_env_overrides_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[http]\nport = 9000\n[database]\nurl = "sqlite:///x.db"\n', encoding="utf-8")
    s = settings.load(cfg, env={"BOHAI_HTTP_PORT": "0", "BOHAI_LDAP_ANONYMOUS_SEARCH": "false"})
    assert s.http.port == 0
    assert s.database.url == "sqlite:///x.db"
    assert s.ldap.anonymous_search is False


def test_bad_env_value_names_option_and_variable() -> None:
    with pytest.raises(SettingsError, match=r"http\.port: expected an integer.*environment BOHAI_HTTP_PORT"):
        settings.load(env={"BOHAI_HTTP_PORT": "eighty"})


def test_bad_file_value_names_option_and_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[ldap]\nport = 70000\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"ldap\.port: expected a port.*config file .*c\.toml"):
        settings.load(cfg, env={})


def test_unknown_option_and_section_are_errors(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[http]\nprot = 1\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"http\.prot: unknown option"):
        settings.load(cfg, env={})
    cfg.write_text("[htp]\nport = 1\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"\[htp\]: unknown section"):
        settings.load(cfg, env={})


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        settings.load(tmp_path / "nope.toml", env={})
    bad = tmp_path / "bad.toml"
    bad.write_text("[http\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="not valid TOML"):
        settings.load(bad, env={})


def test_replace_validates() -> None:
    s = settings.Settings().replace(http={"port": 0}, smtp={"port": "0"})
    assert s.http.port == 0 and s.smtp.port == 0
    with pytest.raises(SettingsError, match=r"smtp\.max_message_size: must not be negative"):
        s.replace(smtp={"max_message_size": -1})
    assert dataclasses.is_dataclass(s)


@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        ("BOHAI_DATABASE_URL", "", "database.url: expected sqlite"),
        ("BOHAI_DATABASE_URL", "mysql://x/y", "database.url: expected sqlite"),
        ("BOHAI_DATABASE_POOL_SIZE", "0", "database.pool_size: must be greater than 0"),
        ("BOHAI_DATABASE_POLL_INTERVAL", "nan", "database.poll_interval: expected a finite number"),
        ("BOHAI_DATABASE_POLL_INTERVAL", "inf", "database.poll_interval: expected a finite number"),
        ("BOHAI_DATABASE_POLL_INTERVAL", "0", "database.poll_interval: must be greater than 0"),
    ],
)
def test_values_that_would_break_start_up_are_refused(var: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message) as info:
        settings.load(env={var: value})
    assert var in str(info.value)


def test_unreadable_config_files(tmp_path: Path) -> None:
    gbk = tmp_path / "gbk.toml"
    gbk.write_bytes('[liaison]\ndomain = "联络"\n'.encode("gbk"))
    with pytest.raises(SettingsError, match="not UTF-8"):
        settings.load(gbk, env={})
    with pytest.raises(SettingsError, match="cannot be read"):
        settings.load(tmp_path, env={})
