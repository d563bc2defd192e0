"""Settings: defaults, TOML file, environment overrides, errors naming option and source, default.toml in sync.

The directory's loader knows only the directory's sections; the liaison service's class adds its own, and one file
(config/default.toml) holds them all.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from directory import settings
from directory.errors import SettingsError
from liaison import settings as liaison_settings
from liaison.cli import main


def test_default_toml_documents_every_option_with_its_default() -> None:
    data = tomllib.loads(settings.DEFAULT_CONFIG.read_text(encoding="utf-8"))
    schema = settings.schema(liaison_settings.Settings)
    assert set(data) == set(schema)
    defaults = liaison_settings.Settings()
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
    assert liaison_settings.load(settings.DEFAULT_CONFIG, env={}) == liaison_settings.Settings()


def test_directory_schema_holds_only_the_directory_sections() -> None:
    assert list(settings.schema()) == ["database", "http", "web", "login", "security", "ldap", "carddav", "audit"]
    assert list(settings.schema(liaison_settings.Settings)) == [
        *settings.schema(),
        *["smtp", "relay", "fax", "liaison", "letters", "meetings", "verify"],
    ]


def test_directory_loader_refuses_sections_nobody_registered(tmp_path: Path) -> None:
    """The directory alone does not know [smtp]: without the liaison class a liaison section is a typo, not ignored."""
    cfg = tmp_path / "c.toml"
    cfg.write_text("[ldap]\nport = 0\n[smtp]\nport = 0\n", encoding="utf-8")
    known = "database, http, web, login, security, ldap, carddav, audit, publish, pull"
    with pytest.raises(SettingsError, match=rf"\[smtp\]: unknown section.*known sections: {known}$"):
        settings.load(cfg, env={})
    s = liaison_settings.load(cfg, env={})
    assert s.ldap.port == 0 and s.smtp.port == 0
    with pytest.raises(SettingsError, match=r"\[smtp\]: unknown section \(from replace\(\)\)"):
        settings.Settings().replace(smtp={"port": 0})


def test_env_overrides_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[http]\nport = 9000\n[database]\nurl = "sqlite:///x.db"\n', encoding="utf-8")
    s = settings.load(cfg, env={"BOHAI_HTTP_PORT": "0", "BOHAI_LDAP_ANONYMOUS_SEARCH": "false"})
    assert s.http.port == 0
    assert s.database.url == "sqlite:///x.db"
    assert s.ldap.anonymous_search is False


def test_env_overrides_every_section_of_the_liaison_settings(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[smtp]\nport = 9025\n[meetings]\nmax_attendees = 5\n", encoding="utf-8")
    env = {
        "BOHAI_HTTP_PORT": "0",
        "BOHAI_SMTP_PORT": "0",
        "BOHAI_RELAY_STARTTLS": "yes",
        "BOHAI_FAX_GATEWAY": "fax.gw.example",
        "BOHAI_LIAISON_DOMAIN": "l.example",
        "BOHAI_MEETINGS_MAX_ATTENDEES": "7",
    }
    s = liaison_settings.load(cfg, env=env)
    assert (s.http.port, s.smtp.port, s.relay.starttls, s.fax.gateway) == (0, 0, True, "fax.gw.example")
    assert (s.liaison.domain, s.meetings.max_attendees) == ("l.example", 7)
    assert settings.load(env=env).http.port == 0  # the directory alone reads its own variables only


def refused_file(load: Callable[..., object], tmp_path: Path, text: str, match: str) -> None:
    """``load`` refuses a config file holding ``text`` with an error that matches ``match``."""
    cfg = tmp_path / "c.toml"
    cfg.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError, match=match):
        load(cfg, env={})


def test_bad_liaison_values_name_option_and_source(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"relay\.timeout: must be greater than 0.*environment BOHAI_RELAY_TIMEOUT"):
        liaison_settings.load(env={"BOHAI_RELAY_TIMEOUT": "0"})
    for text, match in [
        ("[smtp]\nmax_connections = 0\n", r"smtp\.max_connections: must be greater than 0.*config file .*c\.toml"),
        ("[meetings]\nmax_atendees = 3\n", r"meetings\.max_atendees: unknown option"),
        ("[meeting]\nmax_attendees = 3\n", r"\[meeting\]: unknown section.*meetings, verify$"),
    ]:
        refused_file(liaison_settings.load, tmp_path, text, match)


def test_bad_env_value_names_option_and_variable() -> None:
    with pytest.raises(SettingsError, match=r"http\.port: expected an integer.*environment BOHAI_HTTP_PORT"):
        settings.load(env={"BOHAI_HTTP_PORT": "eighty"})


def test_bad_file_value_names_option_and_file(tmp_path: Path) -> None:
    match = r"ldap\.port: expected a port.*config file .*c\.toml"
    refused_file(settings.load, tmp_path, "[ldap]\nport = 70000\n", match)


def test_unknown_option_and_section_are_errors(tmp_path: Path) -> None:
    refused_file(settings.load, tmp_path, "[http]\nprot = 1\n", r"http\.prot: unknown option")
    refused_file(settings.load, tmp_path, "[htp]\nport = 1\n", r"\[htp\]: unknown section")


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        settings.load(tmp_path / "nope.toml", env={})
    bad = tmp_path / "bad.toml"
    bad.write_text("[http\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="not valid TOML"):
        settings.load(bad, env={})


def test_replace_validates() -> None:
    s = liaison_settings.Settings().replace(http={"port": 0}, smtp={"port": "0"})
    assert isinstance(s, liaison_settings.Settings)
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


def test_public_url_falls_back_to_the_http_address_with_a_warning() -> None:
    s = settings.Settings().replace(http={"host": "10.0.0.5", "port": 8000})
    assert s.public_url() == "http://10.0.0.5:8000"
    warning = s.public_url_warning()
    assert warning is not None and "web.public_url 未设置" in warning and "http://10.0.0.5:8000" in warning
    set_ = s.replace(web={"public_url": "https://liaison.example.org/"})
    assert set_.public_url() == "https://liaison.example.org" and set_.public_url_warning() is None


@pytest.mark.parametrize("option", ["BOHAI_WEB_PUBLIC_URL", "BOHAI_MEETINGS_BASE_URL"])
@pytest.mark.parametrize("value", ["javascript:alert(1)", "liaison.example.org", "https://a b"])
def test_public_addresses_must_be_http_urls(option: str, value: str) -> None:
    with pytest.raises(SettingsError, match=r"expected an http:// or https:// URL.*" + option):
        liaison_settings.load(env={option: value})


def test_meetings_base_url_is_a_deprecated_alias_of_public_url(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[meetings]\nbase_url = "https://old.example.org/"\n', encoding="utf-8")
    s = liaison_settings.load(cfg, env={})
    assert s.public_url() == "https://old.example.org" and s.public_url_warning() is None
    assert caplog.text.count("meetings.base_url 已改名为 web.public_url") == 1
    caplog.clear()
    s.replace(meetings={"base_url": "https://old.example.org"}).public_url()
    assert "已改名" not in caplog.text  # warned when the configuration is loaded, not per link
    same = s.replace(web={"public_url": "https://old.example.org"})
    assert same.public_url() == "https://old.example.org"
    with pytest.raises(SettingsError, match=r"meetings\.base_url: an old name of web\.public_url.*differ"):
        s.replace(web={"public_url": "https://new.example.org"})
    new = liaison_settings.load(env={"BOHAI_WEB_PUBLIC_URL": "https://new.example.org"})
    assert new.public_url() == "https://new.example.org" and "已改名" not in caplog.text


def test_routing_domain_is_the_liaison_domain_and_none_for_the_directory_alone() -> None:
    assert settings.Settings().routing_domain == ""
    assert liaison_settings.Settings().replace(liaison={"domain": "l.example"}).routing_domain == "l.example"


def test_liaison_settings_of_refuses_the_directory_settings() -> None:
    full = liaison_settings.Settings()
    assert liaison_settings.of(full) is full
    with pytest.raises(TypeError, match=r"liaison\.settings\.Settings"):
        liaison_settings.of(settings.Settings())


def test_bohai_config_prints_every_section_with_secrets_hidden(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[relay]\npassword = "hunter2"\n[web]\npublic_url = "https://l.example.org"\n', encoding="utf-8")
    monkeypatch.setenv("BOHAI_SMTP_PORT", "2626")
    assert main(["--config", str(cfg), "config"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert list(shown) == [f.name for f in dataclasses.fields(liaison_settings.Settings)]  # named tables too
    assert shown["publish"] == {} and shown["pull"] == {}
    assert shown["smtp"]["port"] == 2626 and shown["web"]["public_url"] == "https://l.example.org"
    assert shown["relay"]["password"] == "***" and "hunter2" not in json.dumps(shown)


def _commented_example(section: str) -> str:
    """The commented ``[section.NAME]`` example of default.toml, uncommented."""
    lines = settings.DEFAULT_CONFIG.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"# [{section}."))
    block = []
    for line in lines[start:]:
        if line.strip() == "#":
            break
        block.append(line.removeprefix("# "))
    return "\n".join(line for line in block if not line.startswith("# ")) + "\n"


def test_the_sync_examples_of_default_toml_load_with_every_option(tmp_path: Path) -> None:
    cfg = tmp_path / "sync.toml"
    cfg.write_text(_commented_example("publish") + _commented_example("pull"), encoding="utf-8")
    s = liaison_settings.load(cfg, env={})
    target, source = s.publish["hebei-mail"], s.pull["shanxi"]
    assert target.regions == ("13",) and target.flavour == "openldap" and target.schedule == 60
    assert source.province == "14" and source.starttls is True and source.delete_missing is False
    for kind, obj in (("publish", target), ("pull", source)):
        documented = {line.split(" =")[0] for line in _commented_example(kind).splitlines() if " = " in line}
        assert documented == {f.name for f in dataclasses.fields(obj)}, kind


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('url = "http://x"\nbase_dn = "o=x"', r"publish\.t\.url: expected an ldap:// or ldaps:// URL"),
        ('url = "ldap://x"', r"publish\.t\.base_dn: required, not set"),
        ('url = "ldap://x"\nbase_dn = "o=x"\nflavour = "389"', r"publish\.t\.flavour: expected one of openldap, ad"),
        ('url = "ldap://x"\nbase_dn = "o=x"\nregions = ["1301"]', r"publish\.t\.regions: expected 2- or 12-digit"),
        ('url = "ldap://x"\nbase_dn = "o=x"\nmax_delete_share = 2', r"publish\.t\.max_delete_share: expected a share"),
        ('url = "ldap://x"\nbase_dn = "o=x"\npasword_file = "p"', r"publish\.t\.pasword_file: unknown option"),
    ],
)
def test_publish_tables_are_checked_naming_the_option(tmp_path: Path, table: str, message: str) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"[publish.t]\n{table}\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=message):
        liaison_settings.load(cfg, env={})


def test_pull_tables_need_a_mapping_and_a_province(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[pull.sx]\nurl = "ldap://x"\nbase_dn = "o=x"\nmapping = "m.toml"\nprovince = "140"\n', "utf-8")
    with pytest.raises(SettingsError, match=r"pull\.sx\.province: expected a 2-digit province code"):
        liaison_settings.load(cfg, env={})
    cfg.write_text('[pull.sx]\nurl = "ldap://x"\nbase_dn = "o=x"\nprovince = "14"\n', "utf-8")
    with pytest.raises(SettingsError, match=r"pull\.sx\.mapping: required"):
        liaison_settings.load(cfg, env={})
    cfg.write_text('[pull."bad name"]\nurl = "ldap://x"\n', "utf-8")
    with pytest.raises(SettingsError, match=r"\[pull\.bad name\]: expected a table named with letters"):
        liaison_settings.load(cfg, env={})
