"""A gene -> cell type index over CellMarker 2.0 and PanglaoDB, built once and cached on disk.

Building it (reading ~100k marker records and mapping ~2,700 cell names to Cell Ontology terms)
takes seconds; the result is stored as JSON in the user cache, keyed by the checksums of the
database files, this index's format version and the installed Cell Ontology release, so later
runs load it in a fraction of a second. Nothing here executes code from the cache (JSON, not
pickle), so a shared or stale cache folder cannot do harm; a broken cache file is rebuilt.

What the index holds, per species view ("human", "mouse", and "any" for other organisms):

- ``postings[gene] -> [(type, weight)]``: every cell type listing the gene (upper-cased symbol),
  weighted by how well supported the pair is: ``min(1, log2(1 + n) / log2(1 + SATURATE))`` where
  ``n`` counts independent records (distinct study and tissue; PanglaoDB canonical markers count 2);
- ``specificity[gene]``: inverse document frequency over cell types, scaled to 0..1, so genes
  listed for many types (housekeeping, proliferation) weigh little;
- per type: a normaliser (square root of the summed weights of its ``NORM_TOP`` best markers),
  its tissues, and its best-supported ("canonical") markers.

Cell types are grouped by Cell Ontology term, so the two databases' names for one type merge.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import math
import os
import re
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from .files import DATABASES, READERS, DatabaseFile, ensure_database, user_cache_dir

INDEX_VERSION = 5
SATURATE = 4  # records after which a (type, gene) pair counts fully
NORM_TOP = 40  # markers of a type used for its size normaliser
CANONICAL_TOP = 12  # markers kept per type to show as its canonical markers
VIEWS = ("human", "mouse", "any")
ROOT_TERM = "CL:0000000"  # "cell"
ANY_TISSUE = "*"  # tissue key of types a database files under the whole immune system
# Names that are a study's cluster labels rather than cell types ("Schwalie et al.Nature.P2").
_NOT_A_CELL_TYPE = re.compile(r"\bet al\b|^cluster\s*\d+$|^c\d+$", re.IGNORECASE)
_BROAD_ORGANS = {"immune system": ANY_TISSUE}
DATABASE_CODES = {"cellmarker2": "C", "panglaodb": "P"}
# Database names that only mean one cell type together with their organ ("Alpha cells" in the
# pancreas, not the retina; an intestinal "Crypt cell", not the olfactory crypt neuron), and
# names the name matcher does not resolve; each ID checked against the Cell Ontology by hand.
_NAME_TERMS = {
    "crypt cell": "CL:0002250",
    "alpha cells": "CL:0000171", "beta cells": "CL:0000169", "delta cells": "CL:0000173",
    "gamma (pp) cells": "CL:0002275", "epsilon cells": "CL:0005019", "ductal cells": "CL:0002079",
    "crypt cells": "CL:0002250", "follicular cells": "CL:0002258", "foveolar cells": "CL:0002179",
    "oligodendrocyte progenitor cells": "CL:0002453", "principal cells": "CL:1001431",
    "juxtaglomerular cells": "CL:1000618", "satellite cells": "CL:0000594", "glutaminergic neurons": "CL:0000679",
    "luminal epithelial cells": "CL:0002326", "spermatozoa": "CL:0000019",
}
_CODE_NAMES = {code: name for name, code in DATABASE_CODES.items()}


@dataclass
class SpeciesView:
    postings: dict[str, list[tuple[int, float]]]
    specificity: dict[str, float]
    norm: dict[int, float]
    tissues: dict[int, frozenset[str]]
    canonical: dict[int, list[str]]


@dataclass
class MarkerIndex:
    """Cell types, per-species postings and the provenance of every (type, gene) pair."""

    types: list[dict[str, Any]]  # {"name", "cl_id", "names": [[database, name], ...]}
    views: dict[str, SpeciesView]
    evidence: dict[str, list[Any]]  # "type|GENE" -> [records, database codes, PubMed IDs]
    databases: dict[str, dict[str, Any]]
    info: dict[str, Any] = field(default_factory=dict)

    def view(self, species: str) -> SpeciesView:
        return self.views[species if species in self.views else "any"]

    def provenance(self, type_id: int, gene: str) -> dict[str, Any]:
        """{"databases": [...], "pmids": [...], "records": n} for one (type, gene) pair."""
        records, codes, pmids = self.evidence.get(f"{type_id}|{gene}", (0, "", []))
        return {"databases": [_CODE_NAMES[c] for c in codes], "pmids": list(pmids), "records": records}


def tissue_key(text: str | None) -> str | None:
    """A canonical tissue for free text: the knowledge base's tissue names, else the text itself."""
    from ..kb import load_knowledge_base

    if text is None or not str(text).strip():
        return None
    clean = re.sub(r"[\s_]+", " ", str(text).replace("\xa0", " ").strip().lower())
    if clean in _BROAD_ORGANS:
        return _BROAD_ORGANS[clean]
    return load_knowledge_base().resolve_tissue(clean) or clean


# ---------------------------------------------------------------- loading (cached)

_lock = threading.Lock()
_memory: dict[str, MarkerIndex] = {}


def load_index(
    *,
    data_dir: str | Path | None = None,
    download: bool = True,
    client: httpx.Client | None = None,
    use_cache: bool = True,
) -> MarkerIndex:
    """The index over both databases (downloading them on first use), from memory, disk or built."""
    files = [ensure_database(name, data_dir=data_dir, download=download, client=client) for name in DATABASES]
    key = cache_key(files)
    with _lock:
        if use_cache and key in _memory:
            return _memory[key]
        path = user_cache_dir() / f"index-{key[:20]}.json"
        index = _read_cached(path, files) if use_cache else None
        if index is None:
            index = build_index(files)
            if use_cache:
                _write_cached(path, index)
        if use_cache:
            _memory[key] = index
        return index


def cache_key(files: list[DatabaseFile]) -> str:
    """What the built index depends on: format version, ontology release, database checksums."""
    parts = [f"v{INDEX_VERSION}", _ontology_release()] + [f"{f.spec.name}:{f.sha256}" for f in files]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _ontology_release() -> str:
    return "cellxgene-ontology-guide=" + importlib.metadata.version("cellxgene-ontology-guide")


def _read_cached(path: Path, files: list[DatabaseFile]) -> MarkerIndex | None:
    if not path.is_file():
        return None
    started = time.perf_counter()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        index = _from_json(data)
    except (ValueError, KeyError, TypeError):
        return None  # a torn or foreign file: rebuild it
    index.databases = {f.spec.name: f.public() for f in files}
    index.info.update({"loaded_from": "cache", "load_seconds": round(time.perf_counter() - started, 4)})
    return index


def _write_cached(path: Path, index: MarkerIndex) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(_to_json(index), handle, separators=(",", ":"))
        os.replace(tmp, path)
        for stale in path.parent.glob("index-*.json"):  # indexes of older database or format versions
            if stale != path:
                stale.unlink(missing_ok=True)
    except OSError:
        pass  # a read-only cache only costs the rebuild next time


def _to_json(index: MarkerIndex) -> dict[str, Any]:
    views = {}
    for name, v in index.views.items():
        views[name] = {
            "postings": {g: [[t, round(w, 4)] for t, w in p] for g, p in v.postings.items()},
            "specificity": {g: round(s, 4) for g, s in v.specificity.items()},
            "norm": {str(t): round(n, 4) for t, n in v.norm.items()},
            "tissues": {str(t): sorted(s) for t, s in v.tissues.items()},
            "canonical": {str(t): m for t, m in v.canonical.items()},
        }
    return {"format": INDEX_VERSION, "types": index.types, "views": views, "evidence": index.evidence,
            "info": {k: v for k, v in index.info.items() if k not in ("loaded_from", "load_seconds")}}


def _from_json(data: dict[str, Any]) -> MarkerIndex:
    if data.get("format") != INDEX_VERSION:
        raise ValueError("index format changed")
    views = {}
    for name, v in data["views"].items():
        views[name] = SpeciesView(
            postings=v["postings"],  # [type, weight] pairs, used as loaded
            specificity=v["specificity"],
            norm={int(t): n for t, n in v["norm"].items()},
            tissues={int(t): frozenset(s) for t, s in v["tissues"].items()},
            canonical={int(t): m for t, m in v["canonical"].items()},
        )
    return MarkerIndex(types=data["types"], views=views, evidence=data["evidence"], databases={},
                       info=dict(data.get("info", {})))


# ---------------------------------------------------------------- building


def build_index(files: list[DatabaseFile]) -> MarkerIndex:
    """Read the database tables and build the index (seconds; :func:`load_index` caches it)."""
    started = time.perf_counter()
    frames = [READERS[f.spec.name](f.path) for f in files]
    records = pd.concat(frames, ignore_index=True)
    records = records[~records["cancer"] & ~records["cell_name"].str.contains(_NOT_A_CELL_TYPE)]
    read_seconds = time.perf_counter() - started

    names = records[["database", "cell_name", "cl_id"]].drop_duplicates()
    mapping = {(d, n, c): _type_key(n, _NAME_TERMS.get(n.lower(), c)) for d, n, c in names.itertuples(index=False)}
    keys = pd.Series([mapping[(d, n, c)] for d, n, c in
                      zip(records["database"], records["cell_name"], records["cl_id"])], index=records.index)
    records = records.assign(key=keys.map(lambda k: k[0]))
    type_ids = {k: i for i, k in enumerate(sorted(set(records["key"])))}
    types: list[dict[str, Any]] = [{"name": "", "cl_id": None, "names": []} for _ in type_ids]
    for (database, name, cl), (key, label, cl_id) in mapping.items():
        if key not in type_ids:
            continue
        entry = types[type_ids[key]]
        entry["name"], entry["cl_id"] = label, cl_id
        if [database, name] not in entry["names"]:
            entry["names"].append([database, name])
    for entry in types:
        entry["names"].sort()
    records = records.assign(type=records["key"].map(type_ids))

    # one unit of evidence per (type, gene, species, database, study, tissue)
    units = (records.groupby(["type", "symbol", "species", "database", "pmid", "tissue"], sort=False)["weight"]
             .max().reset_index())
    tissue_keys = {t: tissue_key(t) for t in set(records["tissue"]) | set(records["tissue_group"])}
    views = {species: _view(units if species == "any" else units[units["species"] == species],
                            records if species == "any" else records[records["species"] == species],
                            tissue_keys)
             for species in VIEWS}
    evidence = _evidence(units)
    return MarkerIndex(
        types=types, views=views, evidence=evidence, databases={f.spec.name: f.public() for f in files},
        info={"built_seconds": round(time.perf_counter() - started, 3), "read_seconds": round(read_seconds, 3),
              "records": int(len(records)), "cell_types": len(types), "ontology": _ontology_release(),
              "loaded_from": "built"},
    )


def _type_key(name: str, db_cl_id: str) -> tuple[str, str, str | None]:
    """(group key, display name, CL ID) for a database cell name.

    A term from :data:`_NAME_TERMS` (given as ``CL:...``) is used as is; otherwise a confident
    name match to an ontology label or synonym wins (database IDs are sometimes off: an
    oligodendrocyte precursor filed as radial glia), then the database's own ID (``CL_...``),
    then a looser name match; a name that maps nowhere keeps its own group.
    """
    from ... import ontology

    given = ontology.current_id(db_cl_id) if re.match(r"^CL[:_]\d{7}$", db_cl_id) else None
    if given is not None and db_cl_id.startswith("CL:"):  # our own curated term for the name
        return given, ontology.label(given) or name, given
    match = ontology.map_name(name)
    chosen = match.cl_id if match.method in ("exact", "synonym") else given
    if chosen is None:
        chosen = match.cl_id
    if chosen is None or chosen == ROOT_TERM:  # "cell" says nothing: keep the database's own name
        return "name:" + name.lower(), name, None
    return chosen, ontology.label(chosen) or name, chosen


def _support(n: float) -> float:
    return min(1.0, math.log2(1.0 + n) / math.log2(1.0 + SATURATE))


def _view(units: pd.DataFrame, records: pd.DataFrame, tissue_keys: dict[str, str | None]) -> SpeciesView:
    counts: dict[tuple[int, str], float] = defaultdict(float)
    for t, g, w in zip(units["type"], units["symbol"], units["weight"]):
        counts[(int(t), g)] += float(w)
    by_type: dict[int, list[tuple[str, float, float]]] = defaultdict(list)
    doc_freq: Counter[str] = Counter()
    for (t, g), n in counts.items():
        by_type[t].append((g, _support(n), n))
        doc_freq[g] += 1
    scale = math.log(len(by_type) + 1.0)
    specificity = {g: math.log((len(by_type) + 1.0) / (df + 1.0)) / scale for g, df in doc_freq.items()}
    postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
    norm, canonical = {}, {}
    for t in sorted(by_type):
        # best supported first (most records), then the more specific gene
        markers = sorted(by_type[t], key=lambda gwn: (-gwn[2], -specificity[gwn[0]], gwn[0]))
        for g, w, _ in markers:
            postings[g].append((t, w))
        norm[t] = math.sqrt(sum(w for _, w, _ in markers[:NORM_TOP])) or 1.0
        canonical[t] = [g for g, _, _ in markers[:CANONICAL_TOP]]
    tissues: dict[int, set[str]] = defaultdict(set)
    for t, tissue, group_name in zip(records["type"], records["tissue"], records["tissue_group"]):
        for text in (tissue, group_name):
            key = tissue_keys.get(text)
            if key:
                tissues[int(t)].add(key)
    return SpeciesView(dict(postings), specificity, norm, {t: frozenset(s) for t, s in tissues.items()}, canonical)


def _evidence(units: pd.DataFrame) -> dict[str, list[Any]]:
    """"type|GENE" -> [records, database codes, PubMed IDs (up to 5)], compact for the JSON cache."""
    found: dict[tuple[int, str], tuple[set[str], set[str], list[int]]] = {}
    for t, g, database, pmid in zip(units["type"], units["symbol"], units["database"], units["pmid"]):
        dbs, pmids, n = found.setdefault((int(t), g), (set(), set(), [0]))
        dbs.add(DATABASE_CODES[database])
        if pmid:
            pmids.add(pmid)
        n[0] += 1
    return {f"{t}|{g}": [n[0], "".join(sorted(dbs)), sorted(pmids)[:5]] for (t, g), (dbs, pmids, n) in found.items()}
