"""Speed at scale: a KB of N tables, its index build (cold and warm cache) and query latency.

    python -m eval.bench_scale --tables 10000 --out reports/scale [--keep DIR]

No public Chinese FAQ set has 10,000 entries with answers, so the KB is the demo content
(``content/demo``) replicated: each demo table gets variants that differ in their title (a
region and a service line are put in front), keeping its template, questions and answer. The
variants go through the importer like real content. Caveats, stated in the output: repeated
questions and answers make BM25 postings longer than in real content (pessimistic for the
lexical part), and the embedding cache serves the repeated texts (only titles are new).

Measured in-process around ``SearchService.search``, as ``kb eval`` does: per-query total
and its parts (BM25, query encoding, fusion), percentiles over every demo similar question,
after one warm-up query. ``--keep DIR`` leaves the data directory for an HTTP load test
(``ZHIKU_DATA_DIR=DIR kb serve`` then ``python -m api.loadbench``); given a ``--keep`` directory
that already holds a KB, only the queries are measured again (no import, no builds).

``--stand-in-vectors`` (for 30,000 and 100,000 tables, where encoding every variant's title and
title + answer chunks with the real encoder takes hours on two cores): before the builds, the
embedding cache of the throwaway KB is seeded with a vector for each variant text, derived
from the real vector of the demo text it varies (plus a share of a per-label direction and
per-text noise: cosine ≈ 0.9 to its base, as a region prefix gives with e5). The index has the
size and the shape of a real one; its dense scores are not meaningful. Queries always use the
real encoder, from an empty cache, so their latency includes real encoding. The seeded cache
is the throwaway KB's own (``--cache-from`` is copied, never written).

``--sample N`` measures a seeded sample of N questions (the same ones in every run): with
``ZHIKU_SEARCH_BACKEND=milvus`` on milvus-lite a query takes seconds, not milliseconds.

``ZHIKU_ENCODE_WORKERS=N`` encodes the texts the cache lacks in N processes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eval.environment import git_commit, machine, peak_rss_mb, rss_mb
from kb.db import open_database
from kb.errors import ZhikuError
from kb.search_contract import SearchRequest
from kb.settings import Settings
from kb.transfer.bundle import Bundle, TableDoc
from kb.transfer.importer import apply_bundle, read_path
from kb.visibility import Channel

if TYPE_CHECKING:
    import numpy as np

DEMO = Path(__file__).resolve().parents[1] / "content" / "demo"
REGIONS = (
    "北京 上海 天津 重庆 河北 山西 辽宁 吉林 黑龙江 江苏 浙江 安徽 福建 江西 山东 河南 湖北 湖南 "
    "广东 海南 四川 贵州 云南 陕西 甘肃 青海 台湾 内蒙古 广西 西藏 宁夏 新疆 香港 澳门 深圳 厦门 "
    "大连 青岛 宁波 苏州 杭州 成都 武汉 西安 长沙 郑州 南京 合肥 福州 昆明"
).split()
# 50 regions × 10 lines: variants for up to 233 × 501 = 116,733 tables; lines are only ever
# appended, so a smaller KB keeps the variants (and cached vectors) it always had.
LINES = (
    "个人客户",
    "企业客户",
    "校园客户",
    "银发客户",
    "新入网客户",
    "老客户",
    "家庭客户",
    "政企客户",
    "小微客户",
    "境外客户",
)


def variant_bundle(tables: int, source: Path = DEMO) -> Bundle:
    """The demo bundle with its tables replicated to ``tables`` tables in all (titles varied)."""
    bundle = read_path(source)
    base = [(p, t) for p in bundle.packages for t in p.tables]
    if tables < len(base):
        raise SystemExit(f"--tables must be at least {len(base)} (the demo's own tables)")
    extra = tables - len(base)
    labels = [f"{r}{line}" for line in LINES for r in REGIONS]
    per_table = -(-extra // len(base))  # ceiling
    if per_table > len(labels):
        raise SystemExit(f"--tables may be at most {len(base) * (len(labels) + 1)}")
    made = 0
    for variant in range(per_table):
        for package, table in base:
            if made == extra:
                break
            package.tables.append(_variant(table, labels[variant], variant))
            made += 1
    return bundle


def _variant(table: TableDoc, label: str, number: int) -> TableDoc:
    return replace(
        table,
        code=f"{table.code}-V{number + 1:03d}",
        title=f"{label}：{table.title}",
        related=None,
        location=f"{table.location} (variant {number + 1})",
        locations={},
    )


_LABEL = re.compile(r"^(\w+?(?:" + "|".join(LINES) + r"))[：:](.*)$", re.DOTALL)  # simplified: ":"


def _unit(seed: str, dim: int) -> np.ndarray:
    import numpy as np

    digest = hashlib.blake2b(seed.encode("utf-8"), digest_size=8).digest()
    vector = np.random.default_rng(int.from_bytes(digest, "little")).standard_normal(dim)
    return np.asarray(vector / np.linalg.norm(vector), np.float32)


def seed_stand_in_vectors(config: Settings, db: Any) -> dict[str, int]:
    """Cache a derived vector for every variant text the cache lacks (see the docstring)."""
    import numpy as np

    from indexer.documents import QUERY_FORM_KINDS, dense_texts, document_for
    from indexer.embedding_cache import EmbeddingCache, text_sha
    from indexer.encoders import encoder_from_settings
    from kb import repository
    from kb.text import encoder_form

    encoder = encoder_from_settings(config)
    cache = EmbeddingCache(config.embedding_cache_path)
    wanted: dict[str, set[str]] = {"query": set(), "passage": set()}
    with db.session() as session:
        for table in repository.all_tables(session):
            doc = document_for(table)
            if doc is None:
                continue
            for dense in dense_texts(doc, frozenset(config.vector_kinds)):
                form = "query" if dense.kind in QUERY_FORM_KINDS else "passage"
                wanted[form].add(encoder_form(dense.text))
    seeded = 0
    for form, texts in wanted.items():
        ordered = sorted(texts)
        found = cache.get_many(encoder.id, form, [text_sha(t) for t in ordered])
        missing = [t for t in ordered if text_sha(t) not in found]
        variants = [(t, m) for t in missing if (m := _LABEL.match(t)) is not None]
        bases = sorted({m.group(2) for _, m in variants})
        real = dict(zip(bases, cache.encode(encoder, bases, form), strict=True))  # type: ignore[arg-type]
        for start in range(0, len(variants), 5000):
            fresh = {}
            for text, match in variants[start : start + 5000]:
                vector = (
                    real[match.group(2)]
                    + 0.3 * _unit(match.group(1), encoder.dim)
                    + 0.3 * _unit(text, encoder.dim)
                )
                fresh[text_sha(text)] = vector / np.linalg.norm(vector)
            cache.put_many(encoder.id, form, fresh)
            seeded += len(fresh)
    cache.close()
    return {"seeded": seeded}


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 2)

    return {"p50": at(0.5), "p95": at(0.95), "p99": at(0.99), "max": round(ordered[-1], 2)}


def _queries(bundle: Bundle) -> list[str]:
    seen: dict[str, None] = {}
    for package in bundle.packages:
        for table in package.tables:
            if "-V" in str(table.code):
                continue
            for question in table.questions or []:
                seen.setdefault(str(question), None)
    return list(seen)


def sample_queries(queries: list[str], size: int | None, seed: int = 0) -> list[str]:
    """A seeded sample of ``size`` questions in their original order (all where ``size`` is
    None or not smaller): the same questions in every run, for a backend too slow for all."""
    if size is None or size >= len(queries):
        return queries
    if size < 1:
        raise SystemExit(f"--sample must be at least 1 (got {size})")
    keep = set(random.Random(seed).sample(range(len(queries)), size))
    return [q for i, q in enumerate(queries) if i in keep]


def run(
    tables: int,
    data_dir: Path,
    settings: Settings,
    repeats: int,
    *,
    reuse: bool = False,
    stand_in: bool = False,
    sample: int | None = None,
) -> dict[str, Any]:
    from indexer.embedding_cache import EmbeddingCache
    from indexer.service import SearchService

    config = settings.model_copy(update={"data_dir": data_dir, "database_url": ""})
    db = open_database(config.resolved_database_url, create=True)
    bundle = variant_bundle(tables)
    questions = _queries(bundle)
    queries = sample_queries(questions, sample)
    imported = cold = warm = seeded_s = None
    if not reuse:
        started = time.perf_counter()
        with db.transaction() as session:
            apply_bundle(session, bundle, actor="kb-scale", zone=config.zone)
        imported = round(time.perf_counter() - started, 1)
        print(f"imported {bundle.table_count()} tables in {imported} s", file=sys.stderr)
        if stand_in:
            started = time.perf_counter()
            seeded = seed_stand_in_vectors(config, db)["seeded"]
            seeded_s = round(time.perf_counter() - started, 1)
            print(f"{seeded} stand-in vectors cached in {seeded_s} s", file=sys.stderr)
        started = time.perf_counter()
        SearchService.build(config, db)
        cold = round(time.perf_counter() - started, 1)
        print(f"index built (cache as found) in {cold} s", file=sys.stderr)
        shutil.rmtree(config.index_dir)
        started = time.perf_counter()
        SearchService.build(config, db)
        warm = round(time.perf_counter() - started, 1)
        print(f"index rebuilt with a warm embedding cache in {warm} s", file=sys.stderr)

    started = time.perf_counter()
    service = SearchService.open(config, db, build=False)
    load = time.perf_counter() - started
    # Queries from an empty cache: the demo's questions are in the embedding cache (they are
    # indexed), and a cache lookup is not what a new question costs.
    service.index.cache = EmbeddingCache(None)
    params = dict(service.params)
    service.search(SearchRequest("开通流量包", Channel.AGENT))  # warm-up, not a measured query
    parts: dict[str, list[float]] = {}
    abstained = 0
    for _ in range(repeats):
        for i, query in enumerate(queries):
            channel = Channel.CUSTOMER if i % 2 else Channel.AGENT
            result = service.search(SearchRequest(query, channel, k=5))
            abstained += result.abstained
            for name, ms in result.timings.items():
                parts.setdefault(name, []).append(ms)
    db.dispose()
    return {
        "tables": (params.get("counts") or {}).get("tables", bundle.table_count()),
        "queries": len(queries) * repeats,
        "distinct_queries": len(queries),
        "sampled": len(queries) < len(questions),
        "backend": config.search_backend,
        "import_s": imported,
        "build_cold_s": cold,
        "build_warm_cache_s": warm,
        "stand_in_vectors_s": seeded_s,
        "build_vectors": "stand-in for variant texts (--stand-in-vectors)" if stand_in else "real",
        "encode_workers": config.encode_workers,
        "index_load_s": round(load, 2),
        "latency_ms": {name: _percentiles(values) for name, values in parts.items()},
        "abstained": abstained,
        "rss_mb": round(rss_mb(), 1),
        "peak_rss_mb": peak_rss_mb(),
        "vectors": params.get("counts"),
        "encoder": params.get("encoder"),
        "commit": git_commit(),
        "machine": machine(),
        "caveats": (
            "demo tables replicated with varied titles: repeated questions and answers "
            "(pessimistic BM25 postings; cached embeddings for all but the titles)"
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m eval.bench_scale", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--tables", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=1, help="passes over the query set")
    parser.add_argument("--out", type=Path, help="write scale.json here")
    parser.add_argument("--keep", type=Path, help="build in this data directory and keep it")
    parser.add_argument(
        "--cache-from", type=Path, help="an embeddings.sqlite to start from (e.g. data/)"
    )
    parser.add_argument(
        "--stand-in-vectors",
        action="store_true",
        help="derive the variant texts' vectors from the demo's real ones (see above)",
    )
    parser.add_argument(
        "--sample",
        type=int,
        help="measure a seeded sample of this many questions (milvus-lite: seconds a query)",
    )
    args = parser.parse_args(argv)
    # As `kb serve` runs its searches: one BLAS thread (set before numpy loads).
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    settings = Settings()
    with tempfile.TemporaryDirectory(prefix="zhiku-scale-") as tmp:
        data_dir = args.keep or Path(tmp)
        data_dir.mkdir(parents=True, exist_ok=True)
        reuse = any(data_dir.glob("*.db"))
        if reuse:
            print(f"{data_dir} holds a KB: measuring its queries only", file=sys.stderr)
        elif args.cache_from and args.cache_from.exists():
            shutil.copy(args.cache_from, data_dir / "embeddings.sqlite")
        try:
            result = run(
                args.tables,
                data_dir,
                settings,
                args.repeats,
                reuse=reuse,
                stand_in=args.stand_in_vectors,
                sample=args.sample,
            )
        except ZhikuError as err:  # e.g. a kept index built for another backend: one line
            print(f"error: {err}", file=sys.stderr)
            return 1
    text = json.dumps(result, ensure_ascii=False, indent=2)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "scale.json").write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
