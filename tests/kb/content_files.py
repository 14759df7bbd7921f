"""Helpers for content import/export tests: writing content files, DB snapshots and dumps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kb import repository
from kb.hierarchy import package_path
from kb.models import (
    AuditEntry,
    Category,
    DomainTerm,
    FieldTemplate,
    KnowledgeTable,
    Package,
    Revision,
    SynonymGroup,
    TableLink,
)
from kb.portal import template_of

TEMPLATE_YAML = """\
template:
  - {key: question, label: 问题描述}
  - {key: answer, label: 标准答复, type: markdown, required: true}
  - {key: steps, label: 操作步骤, type: steps}
  - {key: internal_note, label: 内部备注, audience: internal, searchable: false}
"""

# Line numbers below are asserted by tests: keep the layout.
GAIHAO = (
    """\
package: 改号业务
description: 手机号码变更相关咨询
review_interval_days: 90
owner: 王芳
position: 2
"""
    + TEMPLATE_YAML
    + """\
tables:
  - code: TX-GH-001
    title: 改号后原号码是否还会产生话费
    questions:
      - 换了新号码以后旧号还扣钱吗
      - 改號後舊號碼還會扣費嗎
    tags: [改号, 资费]
    author: 李娜
    source: 客户来电
    valid_from: 2025-01-01
    valid_until: 2027-06-30
    last_verified: 2026-05-10T09:30:00+08:00
    related: [TX-GH-002]
    fields:
      question: 客户办理改号后，担心原号码继续产生费用。
      answer: |
        改号完成后，原号码即停止计费。
        当月费用按实际天数折算。
      steps:
        - 登录营业厅 App
        - 查看“改号”业务状态
      internal_note: 如客户坚持原号码仍扣费，转计费组核查。

  - code: TX-GH-002
    title: 改号需要带什么证件
    questions: [改号要身份证吗]
    audience: internal
    fields:
      answer: 携带机主本人有效身份证件原件到营业厅办理。
"""
)

DICTIONARY = """\
synonyms:
  - [改号, 换号, 更换号码]
terms: [携号转网, 副卡]
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def demo_dir(root: Path) -> Path:
    """A small content directory: one category with one package of two tables, a dictionary."""
    write(root / "_dictionary.yaml", DICTIONARY)
    write(root / "通信业务" / "_category.yaml", "description: 运营商业务\nposition: 1\n")
    write(root / "通信业务" / "改号业务.yaml", GAIHAO)
    return root


def snapshot(session: Session) -> dict[str, Any]:
    """Row counts of everything an import may write, and the newest audit id."""
    counts = {
        model.__tablename__: session.scalar(select(func.count()).select_from(model))
        for model in (
            Category,
            Package,
            FieldTemplate,
            KnowledgeTable,
            Revision,
            TableLink,
            SynonymGroup,
            DomainTerm,
            AuditEntry,
        )
    }
    counts["last_audit_id"] = session.scalar(select(func.max(AuditEntry.id)))
    return counts


def kb_content(session: Session) -> dict[str, Any]:
    """The knowledge base's current content, independent of ids and history."""
    session.expire_all()
    categories = [(c.name, c.description, c.position) for c in repository.all_categories(session)]
    packages = sorted(
        (
            package_path(p),
            p.description,
            p.review_interval_days,
            p.owner,
            p.position,
            p.template.fields,
        )
        for c in repository.all_categories(session)
        for p in c.packages
    )
    tables = []
    for t in repository.all_tables(session):
        live = t.live_revision
        tables.append(
            {
                "code": t.code,
                "package": package_path(t.package),
                "audience": t.audience.value,
                "author": t.author,
                "source": t.source,
                "valid_from": t.valid_from,
                "valid_until": t.valid_until,
                "last_verified_at": t.last_verified_at,
                "related": [r.code for r in t.related],
                "live": None
                if live is None
                else (live.title, live.questions, live.tags, live.fields, live.state.value),
                # What the live revision is read through: which fields, which internal.
                "template": None if live is None else [s.to_dict() for s in template_of(live)],
            }
        )
    return {
        "categories": categories,
        "packages": packages,
        "tables": tables,
        "synonyms": repository.synonym_groups(session),
        "terms": repository.domain_terms(session),
    }
