"""One pull: a province's own directory becomes that province's offices, by the import's rules.

Owns: the mapping file (LDAP attribute → one of our fields, ``region_code`` required), the paged read of the source
(at most ``MAX_ENTRIES``), validation of every entry with ``validate.clean_office`` — each error names the entry's
DN — plus the rules of the whole set (a region code once, inside the source's province), and the all-or-nothing
write through ``store.replace_offices`` with audit rows naming the source. Pulled values overwrite ours; offices of
the province that the source lacks are removed only with ``delete_missing`` (and never when it returned nothing).
Entries carrying our own publish marker are skipped, so a directory we both publish to and pull from never feeds
our own entries back.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from directory import clock
from directory import regions as bundled
from directory.errors import FieldError, SettingsError, SyncFailed, ValidationFailed
from directory.exchange.importer import area_codes
from directory.models import OFFICE_FIELDS
from directory.store import Store
from directory.sync import state as st
from directory.sync.connect import Endpoint, Remote, RemoteEntry, connect
from directory.sync.shapes import AD, OPENLDAP
from directory.sync.targets import PullSource
from directory.validate import FIELD_LABELS, OfficeData, clean_office

FIELDS = ("region_code", *(name for name, _ in OFFICE_FIELDS))
MAX_MAPPING_BYTES = 64 * 1024
MAX_ENTRIES = 50_000
MAX_ERRORS = 200
Connect = Callable[[Endpoint, str], Remote]


@dataclass
class Report:
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    warnings: list[str] = field(default_factory=list)


def load_mapping(path: str, option: str) -> dict[str, str]:
    """LDAP attribute → field, from a TOML file of ``attribute = "field"`` lines; ``region_code`` must be mapped."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SettingsError(f"{option}: 无法读取映射文件 {path}（{exc.strerror}）") from None
    if len(data) > MAX_MAPPING_BYTES:
        raise SettingsError(f"{option}: 映射文件 {path} 过大（最多 {MAX_MAPPING_BYTES // 1024} KiB）")
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"{option}: 映射文件 {path} 不是有效的 UTF-8 TOML：{exc}") from None
    return _checked_mapping(raw, f"{option}（{path}）")


def _checked_mapping(raw: Mapping[str, object], where: str) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for attr, target in raw.items():
        if not isinstance(target, str) or target not in FIELDS:
            raise SettingsError(f"{where}: {attr} 应映射到以下字段之一：{', '.join(FIELDS)}，而不是 {target!r}")
        if target in mapping.values():
            raise SettingsError(f"{where}: 字段 {target} 被映射了不止一次")
        mapping[attr] = target
    if "region_code" not in mapping.values():
        raise SettingsError(f"{where}: 必须有一个属性映射到 region_code")
    return mapping


def run(
    store: Store,
    name: str,
    source: PullSource,
    *,
    dry_run: bool,
    actor: str,
    source_base: str = "",
    opener: Connect = connect,
) -> Report:
    """Read, check and (unless ``dry_run``) write; a bad value anywhere stops the whole pull. Entries we published
    there ourselves (our marker; ``source_base`` is our own base DN, for the AD marker) are skipped."""
    option = f"pull.{name}"
    mapping = load_mapping(source.mapping, f"{option}.mapping")
    try:
        entries, skipped = _read(opener(source, option), source, mapping, source_base)
        items = check(entries, mapping, source.province)
        report = _apply(store, items, source, dry_run, actor)
    except (SyncFailed, ValidationFailed) as exc:
        if not dry_run:
            _record(store, name, st.Result(clock.now().isoformat(), True, error=str(exc)))
        raise
    report.read = len(entries)
    if skipped:
        report.warnings.append(f"跳过 {skipped} 个由本服务发布到该目录的条目")
    if not dry_run:
        _record(
            store, name, st.Result(clock.now().isoformat(), True, False, report.created, report.updated, report.removed)
        )
    return report


def _read(
    remote: Remote, source: PullSource, mapping: Mapping[str, str], source_base: str
) -> tuple[list[tuple[str, RemoteEntry]], int]:
    """The source's entries, and how many were skipped as our own (published there by ``bohai publish``)."""
    attributes = [*mapping, OPENLDAP.marker_attr, AD.marker_attr]
    entries: list[tuple[str, RemoteEntry]] = []
    skipped = 0
    try:
        for dn, attrs in remote.read(source.base_dn, source.filter, attributes, subtree=True):
            if OPENLDAP.is_ours(attrs, source_base) or (source_base and AD.is_ours(attrs, source_base)):
                skipped += 1
                continue
            entries.append((dn, attrs))
            if len(entries) > MAX_ENTRIES:
                raise SyncFailed(f"{remote.url}：条目超过 {MAX_ENTRIES} 个，请用 filter 缩小范围")
        return entries, skipped
    finally:
        remote.close()


def check(entries: list[tuple[str, RemoteEntry]], mapping: Mapping[str, str], province: str) -> list[OfficeData]:
    """Every entry as an office; raises ValidationFailed naming the DN of each bad value (nothing is kept then)."""
    errors: list[FieldError] = []
    items: list[OfficeData] = []
    seen: dict[str, str] = {}
    lowered = {attr.lower(): target for attr, target in mapping.items()}
    for dn, attrs in entries:
        raw = {target: (attrs.get(attr) or [""])[0] for attr, target in lowered.items()}
        cleaned = clean_office(raw, known_region=bundled.by_code(), area_code_for=area_codes())
        errors += [_at(dn, err) for err in cleaned.errors]
        data = cleaned.data
        if data is None:
            continue
        if data.region_code[:2] != province:
            errors.append(
                _at(dn, FieldError("region_code", f"不属于本来源负责的省份 {province}", value=data.region_code))
            )
        elif data.region_code in seen:
            errors.append(
                _at(dn, FieldError("region_code", f"与 {seen[data.region_code]} 重复", value=data.region_code))
            )
        else:
            seen[data.region_code] = dn
            items.append(data)
    if errors:
        raise ValidationFailed(errors[:MAX_ERRORS], f"来源中有 {len(errors)} 处错误，未写入任何数据")
    return items


def _at(dn: str, err: FieldError) -> FieldError:
    """The error placed at an entry: ``<DN>：<field>：<why>``."""
    return FieldError(dn, f"{FIELD_LABELS.get(err.field, err.field)}：{err.message}", value=err.value, label=dn)


def _apply(store: Store, items: list[OfficeData], source: PullSource, dry_run: bool, actor: str) -> Report:
    removed = _missing(store, items, source) if source.delete_missing else []
    if dry_run:
        preview = store.preview_upsert(items)
        return Report(0, preview.created, preview.updated, preview.unchanged, len(removed))
    result = store.replace_offices(items, removed, actor[:100])
    return Report(0, result.created, result.updated, result.unchanged, len(removed))


def _missing(store: Store, items: list[OfficeData], source: PullSource) -> list[str]:
    if not items:
        raise SyncFailed(f"{source.url} 没有返回任何条目：拒绝按 delete_missing 删除本省的全部单位")
    pulled = {d.region_code for d in items}
    province = source.province.ljust(12, "0")
    ours = store.office_codes_under(province[:2])
    return sorted(code for code in ours if code not in pulled)


def _record(store: Store, name: str, result: st.Result) -> None:
    previous = st.load(store, "pull", name)
    st.save(store, "pull", name, st.State(previous.last_gen, previous.last_full_at, previous.fingerprint, result))
