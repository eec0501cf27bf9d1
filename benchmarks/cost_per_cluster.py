"""Calls and tokens per cluster (JSON schemas included) for batch and pipeline, beside CASSIA 1.4.0.

    .venv/bin/python benchmarks/cost_per_cluster.py [--before REF] [--protocol PROTOCOL]

``--protocol``: ``openai`` (json_schema), ``anthropic`` (forced tool), ``json_object`` (a model
whose rule says json_object with the schema in the prompt, as DeepSeek's), ``llama-cpp`` (the fake
server's llama-cpp mode: json_schema refused once, then json_object; the schema beside it as a
grammar) or ``prompt`` (JSON in the prompt).

Two measurements, both against the fake server (``cassia.testing.FakeLLMServer``, which counts
tokens as characters / 4, as the CASSIA 1.4.0 comparison in issue 21 did):

1. **Cost**: ``run_batch`` and ``run_pipeline`` on the pbmc3k FindAllMarkers table (9 clusters,
   top 50 markers). The Annotator answers with a realistic ~2,500-character step-by-step text
   built from the cluster's own markers (so the code's gene checks pass it); every structured
   call gets the fake server's schema example. Tokens per cluster are what the server billed
   (input + output) plus the JSON schemas sent with structured calls (``response_format`` /
   Anthropic ``tools``), which the server's count leaves out but providers bill. Cached input
   tokens (providers' prefix caching, emulated by the fake server when it supports it) are shown
   apart, and so are the characters of the request bodies (schemas in any form included).
   CASSIA 1.4.0's figures on the same server (issue 21): batch 3,246, pipeline 8,099.
2. **Decisions**: ``run_pipeline`` on every table in ``../shared/data/markers``, every agent
   answered from the offline knowledge base through the fake server (structured answers by
   schema name, so any version of the agents is answered alike; a boost concludes at once with
   the knowledge base's call, citing the cluster's own markers, so the code's checks pass it):
   how many clusters end validated, how many score below the boost threshold, how many are
   boosted (fewer calls must not change these), and tokens per cluster with the input tokens the
   provider's prompt cache would serve (revision and boost rounds re-send their history).

``--before REF`` runs the same measurements on another commit (``git archive`` into a temporary
folder, run in a child process) and prints both, so the change is measured, not remembered.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pandas as pd

import cassia
from cassia.testing import FakeLLMServer

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "markers"
PBMC = DATA / "pbmc3k_findallmarkers.csv"
TISSUES = {"pbmc3k": "blood", "large_intestine": "large intestine", "cd8_subcluster": "blood"}
CASSIA_1_4 = {"batch": 3246, "pipeline": 8099}  # tokens per cluster, issue 21 (same fake server)
ANNOTATOR = "You are an experienced computational biologist"
_MARKERS = re.compile(r"genes\):\n([^\n]+)|Ranked marker genes: ([^\n]+)")


def markers_of(text: str) -> list[str]:
    match = _MARKERS.search(text)
    line = (match.group(1) or match.group(2)) if match else ""
    return [g.strip() for g in line.split(",") if g.strip()]


def annotator_text(genes: list[str], length: int = 2500) -> str:
    """A step-by-step answer of about ``length`` characters that cites only ``genes``."""
    g = (genes + ["(no further marker)"] * 12)[:12]
    steps = [
        f"1. Functional markers: {g[8]} and {g[9]} point to an active but non-dividing state; there is no "
        "sign of cell-cycle or stress programmes among the top of the list, so the cluster looks like a "
        "resting, mature population rather than a proliferating one.",
        f"2. Cell-type markers: {g[0]}, {g[1]}, {g[2]} and {g[3]} lead the list and belong to one lineage; "
        f"{g[4]} and {g[5]} agree with them, and {g[6]} adds a more specific signal within that lineage.",
        f"3. Known references: marker databases and the literature report {g[0]}, {g[1]} and {g[4]} together "
        "for this population in the tissue given, and the combination is rarely seen in other cell types.",
        f"4. General cell type: the broad type follows from {g[0]}, {g[1]} and {g[2]}, the strongest markers, "
        "which several lower-ranked genes support.",
        f"5. Subtypes: the most probable subtype rests on {g[6]} and {g[7]}; the second on {g[5]}; the third "
        f"on {g[10]}, which is weaker and lower in the list.",
        f"6. Mixed populations: {g[11]} is the only gene that could hint at another lineage, and alone it "
        "does not make a mixture likely.",
    ]
    filler = (" The ranking of the markers matters more than any single gene here, and the agreement of "
              "several independent markers is what makes the call robust.")
    text = "\n\n".join(steps)
    summary = (f"\n\n7. Summary: the cluster is most likely one well-defined population, supported by {g[0]}, "
               f"{g[1]} and {g[2]}, with the subtype carried by {g[6]}.")
    while len(text) + len(filler) + len(summary) <= length:
        text += filler
    return text + summary


def schema_tokens(body: dict) -> int:
    """What the structured-output schema adds to a request, in fake-server tokens (characters / 4)."""
    spec = (body.get("response_format") or {}).get("json_schema")
    if spec:
        return len(json.dumps(spec.get("schema") or {})) // 4
    return sum(len(json.dumps(t.get("input_schema") or {})) // 4 for t in body.get("tools") or [])


def _is_annotator(request) -> bool:
    return request.schema() is None and request.text.startswith(ANNOTATOR)


PROTOCOLS = ("openai", "anthropic", "json_object", "llama-cpp", "prompt")
_MODELS = {"openai": "gpt-4o", "json_object": "deepseek-chat", "llama-cpp": "plain-model", "prompt": "plain-model"}


def fake_server(protocol: str) -> FakeLLMServer:
    if protocol == "prompt":
        from cassia.providers import set_model_capabilities

        set_model_capabilities("plain-model", structured=("prompt",))
    return FakeLLMServer(vendor="llama-cpp") if protocol == "llama-cpp" else FakeLLMServer()


def provider_for(server: FakeLLMServer, protocol: str):
    if protocol == "anthropic":
        return cassia.get_provider("anthropic", "claude-sonnet-4-5", base_url=server.anthropic_url)
    return cassia.get_provider(server.url, _MODELS[protocol])


def cost(protocol: str, folder: Path) -> dict:
    markers = pd.read_csv(PBMC)
    out = {}
    for kind in ("batch", "pipeline"):
        with fake_server(protocol) as server:
            server.add_rule(_is_annotator, lambda r: annotator_text(markers_of(r.text)))
            run = cassia.run_batch if kind == "batch" else cassia.run_pipeline
            result = run(markers, provider=provider_for(server, protocol), tissue="blood", species="human",
                         out_dir=folder / f"{protocol}-{kind}", use_cache=False, progress=False)
            results = list(result.results)
            calls = [r for r in server.requests if r.method == "POST"]
            billed = sum(r.tokens for r in results)
            schemas = sum(schema_tokens(r.body) for r in calls)
            cached = sum(getattr(s.usage, "input_cached_tokens", 0) for r in results for s in r.stages.values())
            n = len(results)
            out[kind] = {
                "clusters": n, "calls": len(calls) / n, "tokens": (billed + schemas) / n, "schema_tokens": schemas / n,
                "request_chars": sum(len(json.dumps(r.body)) for r in calls) / n,
                "cached_input_tokens": cached / n, "validated": sum(r.validated for r in results),
                "boosted": sum(r.boosted for r in results),
                "first_pass_calls": len(calls) / n if all(r.iterations == 1 for r in results) else None,
            }
    return out


# ---------------------------------------------------------------- decisions: knowledge-base answers


class KnowledgeBaseServer:
    """Fake-server rules that answer every agent from the offline knowledge base, by schema name."""

    def __init__(self) -> None:
        self.seen: dict[str, list[str]] = {}  # annotator text -> its markers (old Formatter prompts lack them)

    def match(self, request) -> bool:
        wanted = request.schema()
        return _is_annotator(request) or (wanted is not None and wanted[1] in self.ANSWERS)

    ANSWERS = ("ValidatorOutput", "FormatterOutput", "DiagnosisOutput", "ReviewOutput", "ScorerOutput",
               "BoostStep", "BoostFinal")

    def reply(self, request):
        from cassia.knowledge import call_cell_type
        from cassia.knowledge.explain import explain_call
        from cassia.providers import offline

        text = request.text
        genes = markers_of(text) or next((g for answer, g in self.seen.items() if answer in text), [])
        tissue = re.search(r"Tissue: ([^\n.]+)", text)
        tissue = tissue.group(1).strip() if tissue and "not specified" not in tissue.group(1) else None
        call = call_cell_type(genes, tissue=tissue)
        wanted = request.schema()
        if wanted is None:
            answer = explain_call(call)
            self.seen[answer] = genes
            return answer
        name = wanted[1]
        if name == "ScorerOutput":
            final = re.search(r"Final annotation: ([^\n(]+)(?:\(subtypes, most probable first: ([^)]*)\))?", text)
            named = final.group(1).strip() if final else None
            subtypes = [s.strip() for s in (final.group(2) or "").split(";") if s.strip()] if final else []
            return offline.scorer_answer(call, named=named, subtypes=subtypes)
        if name in ("BoostStep", "BoostFinal"):
            record = offline.formatter_answer(call)
            cited = ", ".join(record["key_markers"][:3]) or "the ranked markers"
            conclusion = {"annotation": record, "confidence": "medium", "answer": "",
                          "summary": f"{cited} lead the list and support {record['main_cell_type']}."}
            step = {"reasoning": "The first annotation holds up.", "verdicts": [], "conclusion": conclusion}
            return {**step, "action": "conclude", "checks": []} if name == "BoostStep" else step
        answer = {"ValidatorOutput": "validator_answer", "FormatterOutput": "formatter_answer",
                  "DiagnosisOutput": "diagnosis_answer", "ReviewOutput": "review_answer"}[name]
        return getattr(offline, answer)(call)


def decisions(folder: Path, protocol: str) -> dict:
    out = {}
    for path in sorted(DATA.glob("*_findallmarkers.csv")):
        name = path.name.removesuffix("_findallmarkers.csv")
        kb = KnowledgeBaseServer()
        with fake_server(protocol) as server:
            server.add_rule(kb.match, kb.reply)
            result = cassia.run_pipeline(pd.read_csv(path), provider=provider_for(server, protocol),
                                         tissue=TISSUES.get(name, "blood"), out_dir=folder / f"decide-{name}",
                                         use_cache=False, progress=False)
            results = list(result.results)
            calls = len([r for r in server.requests if r.method == "POST"])
        out[name] = {
            "clusters": len(results), "ok": sum(r.status == "ok" for r in results),
            "validated": sorted(r.cluster for r in results if r.validated),
            "below_threshold": sorted(r.cluster for r in results
                                      if (r.original_score or r.score) and (r.original_score or r.score).score < 75),
            "boosted": sorted(r.cluster for r in results if r.boosted),
            "calls": calls,
            "tokens": sum(r.tokens for r in results),
            "cached_input_tokens": sum(getattr(s.usage, "input_cached_tokens", 0) for r in results
                                       for s in r.stages.values()),
        }
    return out


def measure(protocol: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        return {"cost": cost(protocol, Path(tmp)), "decisions": decisions(Path(tmp), protocol)}


def measure_at(ref: str, protocol: str) -> dict:
    """The same measurements on commit ``ref`` of this repository, in a child process."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "python"], check=True,
                                 capture_output=True).stdout
        Path(tmp, "src.tar").write_bytes(archive)
        with tarfile.open(Path(tmp, "src.tar")) as tar:
            tar.extractall(tmp, filter="data")
        env = {**os.environ, "PYTHONPATH": str(Path(tmp, "python"))}
        done = subprocess.run([sys.executable, __file__, "--json", "--protocol", protocol], env=env, check=True,
                              capture_output=True, text=True, cwd=tmp)
        return json.loads(done.stdout)


def show(label: str, figures: dict) -> None:
    print(f"\n{label}")
    print(f"  {'':9} {'calls/cl':>8} {'tokens/cl':>9} {'schema':>7} {'cached':>7} {'chars/cl':>8} {'vs CASSIA 1.4':>13}")
    for kind, row in figures["cost"].items():
        ratio = row["tokens"] / CASSIA_1_4[kind]
        print(f"  {kind:9} {row['calls']:8.2f} {row['tokens']:9,.0f} {row['schema_tokens']:7,.0f} "
              f"{row['cached_input_tokens']:7,.0f} {row.get('request_chars', 0):8,.0f} {ratio:12.2f}x   "
              f"(CASSIA {CASSIA_1_4[kind]:,}; "
              f"validated {row['validated']}/{row['clusters']}, boosted {row['boosted']})")
    for name, row in figures["decisions"].items():
        print(f"  {name}: {row['clusters']} clusters, ok {row['ok']}, validated {len(row['validated'])}, "
              f"scored below 75 {len(row['below_threshold'])}, boosted {len(row['boosted'])}, "
              f"{row['calls'] / row['clusters']:.2f} calls/cluster, "
              f"{row.get('tokens', 0) / row['clusters']:,.0f} tokens/cluster "
              f"({row.get('cached_input_tokens', 0) / row['clusters']:,.0f} of them cached input)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", metavar="REF", help="also measure this commit (e.g. the one before a change)")
    parser.add_argument("--protocol", choices=PROTOCOLS, default="openai")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON only")
    args = parser.parse_args()
    after = measure(args.protocol)
    if args.json:
        print(json.dumps(after))
        return 0
    print(f"Cost per cluster through the fake server ({args.protocol} protocol; tokens = characters / 4, "
          "schemas included; ~2,500-character Annotator replies; pbmc3k, 9 clusters)")
    if args.before:
        before = measure_at(args.before, args.protocol)
        show(f"before ({args.before})", before)
    show("now", after)
    if args.before:
        same = {name: all(before["decisions"][name][k] == row[k] for k in ("validated", "below_threshold", "boosted"))
                for name, row in after["decisions"].items() if name in before["decisions"]}
        print("\nsame clusters validated, below threshold and boosted as before: "
              + ", ".join(f"{name} {'yes' if ok else 'NO'}" for name, ok in same.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
