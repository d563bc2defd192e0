"""The chained audit writer and its checks: the only code that inserts, verifies, archives or prunes ``change`` rows.

Owns: sealing a transaction's audit rows into its chain at commit (``Database.begin`` calls :func:`seal` last, so
the chain head of ``audit_chain`` is locked only for the commit itself and instances with their own chains never
wait on each other), the database's own key when no key file is configured, :func:`verify` (the first altered,
inserted or deleted row of every chain), :func:`export_rows` and :func:`mark_archived` (a signed archive of the rows
before a date), and :func:`prune` (only archived rows older than the keeping time, leaving an anchor so the chain
still verifies).
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import socket
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from directory.auditmac import CHAIN_NAME, ROW_FIELDS, AuditKey, iso_utc
from directory.errors import BohaiError
from directory.models import AuditChain, Change, Meta

change_t = Change.__table__  # type: ignore[attr-defined]
chain_t = AuditChain.__table__  # type: ignore[attr-defined]
meta_t = Meta.__table__  # type: ignore[attr-defined]

DB_KEY = "audit_key"  # meta row of the key used when no key file is configured
LEGACY_UPTO = "audit_legacy_upto"  # meta: rows up to this id were written before the chain existed
CHUNK = 1000
ARCHIVE_FORMAT = "bohai-audit-archive/1"


class AuditRefused(BohaiError):
    """An archive or prune that would lose or misstate audit rows; nothing was changed."""


def default_chain() -> str:
    """This host's chain name: its host name, cut to the characters and length a chain name allows."""
    name = "".join(c if CHAIN_NAME.fullmatch(c) else "-" for c in socket.gethostname())[:40].strip("-")
    return name or "main"


def database_key(conn: Connection, chain: str = "main") -> AuditKey:
    """The key kept in ``meta`` (made on first use in ``conn``'s transaction) for databases without a key file."""
    value = conn.execute(sa.select(meta_t.c.value).where(meta_t.c.key == DB_KEY)).scalar_one_or_none()
    if value is None:
        value = secrets.token_hex(32)
        conn.execute(sa.insert(meta_t).values(key=DB_KEY, value=value))
    return AuditKey(bytes.fromhex(value), "hmac-sha256", chain, source="")


# -- writing -------------------------------------------------------------------------------------------------------


def seal(conn: Connection, key: AuditKey, rows: Sequence[Mapping[str, Any]]) -> None:
    """Append ``rows`` (``at``, ``actor``, ``entity``, ``entity_key``, ``action``, ``before``, ``after``) to the
    chain of ``key`` in ``conn``'s transaction: each gets the next seq and a MAC over itself and its predecessor."""
    if not rows:
        return
    head = _lock_head(conn, key)
    seq, prev = int(head["seq"]), str(head["mac"])
    out: list[dict[str, Any]] = []
    for row in rows:
        seq += 1
        values = {name: row[name] for name in ROW_FIELDS}
        values.update(chain=key.chain, seq=seq)
        prev = values["mac"] = key.row_mac(values, prev)
        out.append(values)
    for start in range(0, len(out), CHUNK):
        conn.execute(sa.insert(change_t), out[start : start + CHUNK])
    update = sa.update(chain_t).where(chain_t.c.chain == key.chain).values(seq=seq, mac=prev)
    if not head["key_id"]:
        update = update.values(key_id=key.key_id())
    conn.execute(update)


def _lock_head(conn: Connection, key: AuditKey) -> RowMapping:
    query = sa.select(chain_t).where(chain_t.c.chain == key.chain)
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        conn.execute(pg_insert(chain_t).values(chain=key.chain, key_id=key.key_id()).on_conflict_do_nothing())
        return conn.execute(query.with_for_update()).mappings().one()
    row = conn.execute(query).mappings().first()
    if row is None:  # SQLite: writers hold the database lock, so nobody can create it in between
        conn.execute(sa.insert(chain_t).values(chain=key.chain, key_id=key.key_id()))
        row = conn.execute(query).mappings().one()
    return row


# -- verifying -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    chain: str
    kind: str  # altered | inserted | deleted | key
    row_id: int | None
    seq: int | None
    text: str


@dataclass
class Report:
    """What :func:`verify` found: rows checked per chain, legacy rows (before the chain), problems."""

    checked: dict[str, int] = field(default_factory=dict)
    legacy: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(conn: Connection, key: AuditKey) -> Report:
    """Check every chain against ``key``; report the first altered, inserted or deleted row of each."""
    report = Report()
    upto = conn.execute(sa.select(meta_t.c.value).where(meta_t.c.key == LEGACY_UPTO)).scalar_one_or_none()
    legacy_upto = int(upto or 0)
    unchained = conn.execute(
        sa.select(change_t.c.id)
        .where(sa.or_(change_t.c.chain.is_(None), change_t.c.mac.is_(None)))
        .order_by(change_t.c.id)
    ).scalars()
    for row_id in unchained:
        if row_id <= legacy_upto:
            report.legacy += 1
        else:
            report.problems.append(
                Problem("", "inserted", row_id, None, f"第 {row_id} 条记录没有校验码（写入后被插入或被改动）")
            )
            break
    heads = {r["chain"]: r for r in conn.execute(sa.select(chain_t)).mappings()}
    named = {c for (c,) in conn.execute(sa.select(change_t.c.chain).where(change_t.c.chain.is_not(None)).distinct())}
    for chain in sorted(set(heads) | named):
        head = heads.get(chain)
        problem, checked = _verify_chain(conn, key.with_chain(chain), head)
        report.checked[chain] = checked
        if problem is not None:
            report.problems.append(problem)
    return report


def _verify_chain(conn: Connection, key: AuditKey, head: RowMapping | None) -> tuple[Problem | None, int]:
    chain = key.chain
    if head is None:
        return Problem(chain, "inserted", None, None, f"链 {chain} 没有链头记录，其中的记录是被插入的"), 0
    if head["key_id"] and head["key_id"] != key.key_id():
        text = f"链 {chain} 由另一把密钥写入（指纹 {head['key_id']}），请使用写入时的 [audit] key_file 和算法"
        return Problem(chain, "key", None, None, text), 0
    seq, prev = int(head["pruned_seq"]), str(head["pruned_mac"])
    prev_id: int | None = None
    checked = 0
    for row in _chain_rows(conn, chain):
        row_seq = int(row["seq"])
        if row_seq <= seq:
            text = f"第 {row['id']} 条记录重复了序号 {row_seq}（被插入）"
            return Problem(chain, "inserted", row["id"], row_seq, text), checked
        if row_seq > seq + 1:
            where = f"第 {prev_id} 条之后" if prev_id is not None else "链首"
            text = f"序号 {seq + 1} 至 {row_seq - 1} 的记录缺失（在{where}、第 {row['id']} 条之前被删除）"
            return Problem(chain, "deleted", row["id"], seq + 1, text), checked
        if key.row_mac(dict(row), prev) != row["mac"]:
            text = f"第 {row['id']} 条记录（序号 {row_seq}，{row['entity']} {row['entity_key']} {row['action']}）被改动"
            return Problem(chain, "altered", row["id"], row_seq, text), checked
        seq, prev, prev_id = row_seq, str(row["mac"]), int(row["id"])
        checked += 1
    if seq < int(head["seq"]):
        text = f"序号 {seq + 1} 至 {head['seq']} 的记录缺失（第 {prev_id} 条之后、链尾被删除）"
        return Problem(chain, "deleted", None, seq + 1, text), checked
    if seq > int(head["seq"]) or prev != head["mac"]:
        text = f"链尾与链头记录不符（第 {prev_id} 条之后有记录被插入，或链头被改动）"
        return Problem(chain, "inserted", prev_id, seq, text), checked
    return None, checked


def _chain_rows(conn: Connection, chain: str, upto_seq: int | None = None) -> Iterator[RowMapping]:
    query = sa.select(change_t).where(change_t.c.chain == chain)
    if upto_seq is not None:
        query = query.where(change_t.c.seq <= upto_seq)
    query = query.order_by(change_t.c.seq, change_t.c.id)
    yield from conn.execution_options(yield_per=CHUNK).execute(query).mappings()


# -- archiving and pruning -----------------------------------------------------------------------------------------


def _cut(conn: Connection, chain: str, before: dt.datetime) -> int:
    """The last seq of ``chain`` written before ``before`` (0 if none): an archive holds the chain up to it."""
    query = sa.select(sa.func.max(change_t.c.seq)).where(change_t.c.chain == chain, change_t.c.at < before)
    return int(conn.execute(query).scalar_one() or 0)


def export_rows(conn: Connection, key: AuditKey, before: dt.datetime) -> dict[str, Any]:
    """The signed archive of every chain's rows up to the last one written before ``before``; refuses while any
    chain fails :func:`verify` (an archive must not certify altered rows)."""
    report = verify(conn, key)
    if not report.ok:
        raise AuditRefused("审计记录校验未通过，拒绝归档：" + "；".join(p.text for p in report.problems))
    chains: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    for head in conn.execute(sa.select(chain_t).order_by(chain_t.c.chain)).mappings():
        chain = head["chain"]
        last = _cut(conn, chain, before)
        if last <= int(head["pruned_seq"]):
            continue
        chains[chain] = {"after_seq": head["pruned_seq"], "after_mac": head["pruned_mac"], "to_seq": last}
        for row in _chain_rows(conn, chain, last):
            rows.append({**{n: row[n] for n in ("id", "chain", "seq", "mac", *ROW_FIELDS)}, "at": iso_utc(row["at"])})
    body = {
        "format": ARCHIVE_FORMAT,
        "before": before.isoformat(),
        "algorithm": key.algorithm,
        "key_id": key.key_id(),
        "chains": chains,
        "rows": rows,
    }
    return {**body, "signature": key.sign(archive_payload(body))}


def archive_payload(body: Mapping[str, Any]) -> bytes:
    """The bytes an archive's signature covers: everything in it but the signature, in one canonical form."""
    rest = {k: v for k, v in body.items() if k != "signature"}
    return json.dumps(rest, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def check_archive(archive: Mapping[str, Any], key: AuditKey) -> list[str]:
    """What is wrong with an archive read back (empty: its signature and every row's MAC and chain hold)."""
    if archive.get("format") != ARCHIVE_FORMAT:
        return [f"不是审计归档文件（format 应为 {ARCHIVE_FORMAT}）"]
    if archive.get("signature") != key.sign(archive_payload(archive)):
        return ["归档文件的签名不符：文件被改动，或密钥不是写入时的那把"]
    problems: list[str] = []
    state = {c: (int(v["after_seq"]), str(v["after_mac"])) for c, v in archive["chains"].items()}
    for row in archive["rows"]:
        seq, prev = state[row["chain"]]
        values = {**row, "at": dt.datetime.fromisoformat(row["at"])}
        if row["seq"] != seq + 1 or key.with_chain(row["chain"]).row_mac(values, prev) != row["mac"]:
            problems.append(f"链 {row['chain']} 第 {row['id']} 条记录与链不符")
            break
        state[row["chain"]] = (seq + 1, row["mac"])
    return problems


def mark_archived(conn: Connection, archive: Mapping[str, Any]) -> None:
    """Record that the rows of ``archive`` are kept in a written archive file (prune may then remove them)."""
    for chain, part in archive["chains"].items():
        conn.execute(
            sa.update(chain_t)
            .where(chain_t.c.chain == chain, chain_t.c.archived_seq < part["to_seq"])
            .values(archived_seq=part["to_seq"])
        )


@dataclass(frozen=True)
class Pruned:
    rows: int
    chains: dict[str, int]  # chain → the seq pruned up to


def prune(conn: Connection, before: dt.datetime, oldest_allowed: dt.datetime) -> Pruned:
    """Remove every chain's rows up to the last one written before ``before``, all or nothing: refused when
    ``before`` is later than ``oldest_allowed`` (rows younger than the keeping time) or any such row is not yet
    archived. Each chain keeps the last removed row's seq and MAC as its new anchor."""
    if before > oldest_allowed:
        raise AuditRefused(
            f"拒绝删除：{before.date()} 之前的记录中有保存未满期限的（只能删除 {oldest_allowed.date()} 之前的记录）"
        )
    heads = list(conn.execute(sa.select(chain_t).order_by(chain_t.c.chain).with_for_update()).mappings())
    plan: dict[str, int] = {}
    for head in heads:
        last = _cut(conn, head["chain"], before)
        if last <= int(head["pruned_seq"]):
            continue
        if last > int(head["archived_seq"]):
            missing = last - max(int(head["archived_seq"]), int(head["pruned_seq"]))
            raise AuditRefused(
                f"拒绝删除：链 {head['chain']} 有 {missing} 条记录尚未归档；"
                f"请先运行 bohai audit export --before 同一日期"
            )
        plan[head["chain"]] = last
    total = 0
    for chain, last in plan.items():
        anchor = conn.execute(
            sa.select(change_t.c.mac).where(change_t.c.chain == chain, change_t.c.seq == last)
        ).scalar_one()
        total += conn.execute(sa.delete(change_t).where(change_t.c.chain == chain, change_t.c.seq <= last)).rowcount
        conn.execute(sa.update(chain_t).where(chain_t.c.chain == chain).values(pruned_seq=last, pruned_mac=anchor))
    return Pruned(total, plan)
