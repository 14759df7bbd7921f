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
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from eval.environment import git_commit, machine, peak_rss_mb, rss_mb
from kb.db import open_database
from kb.search_contract import SearchRequest
from kb.settings import Settings
from kb.transfer.bundle import Bundle, TableDoc
from kb.transfer.importer import apply_bundle, read_path
from kb.visibility import Channel

DEMO = Path(__file__).resolve().parents[1] / "content" / "demo"
REGIONS = (
    "北京 上海 天津 重庆 河北 山西 辽宁 吉林 黑龙江 江苏 浙江 安徽 福建 江西 山东 河南 湖北 湖南 "
    "广东 海南 四川 贵州 云南 陕西 甘肃 青海 台湾 内蒙古 广西 西藏 宁夏 新疆 香港 澳门 深圳 厦门 "
    "大连 青岛 宁波 苏州 杭州 成都 武汉 西安 长沙 郑州 南京 合肥 福州 昆明"
).split()
LINES = ("个人客户", "企业客户", "校园客户", "银发客户", "新入网客户", "老客户")


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


def run(
    tables: int, data_dir: Path, settings: Settings, repeats: int, *, reuse: bool = False
) -> dict[str, Any]:
    from indexer.service import SearchService

    config = settings.model_copy(update={"data_dir": data_dir, "database_url": ""})
    db = open_database(config.resolved_database_url, create=True)
    bundle = variant_bundle(tables)
    queries = _queries(bundle)
    imported = cold = warm = None
    if not reuse:
        started = time.perf_counter()
        with db.transaction() as session:
            apply_bundle(session, bundle, actor="kb-scale", zone=config.zone)
        imported = round(time.perf_counter() - started, 1)
        print(f"imported {bundle.table_count()} tables in {imported} s", file=sys.stderr)
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
        "import_s": imported,
        "build_cold_s": cold,
        "build_warm_cache_s": warm,
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
    args = parser.parse_args(argv)
    settings = Settings()
    with tempfile.TemporaryDirectory(prefix="zhiku-scale-") as tmp:
        data_dir = args.keep or Path(tmp)
        data_dir.mkdir(parents=True, exist_ok=True)
        reuse = any(data_dir.glob("*.db"))
        if reuse:
            print(f"{data_dir} holds a KB: measuring its queries only", file=sys.stderr)
        elif args.cache_from and args.cache_from.exists():
            shutil.copy(args.cache_from, data_dir / "embeddings.sqlite")
        result = run(args.tables, data_dir, settings, args.repeats, reuse=reuse)
    text = json.dumps(result, ensure_ascii=False, indent=2)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "scale.json").write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
