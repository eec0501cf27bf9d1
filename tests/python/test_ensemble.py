"""Ensembles through the fake server: models scripted to disagree on chosen clusters."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

import cassia
from cassia.testing import FakeLLMServer
from cassia.workflows.ensemble import ENSEMBLE_COLUMNS, MODEL_COLUMNS, EnsembleResult, read_ensemble

MARKERS = pd.DataFrame({
    "cluster": ["t"] * 4 + ["m"] * 4 + ["n"] * 4,
    "gene": ["CD3D", "CD3E", "CD8A", "IL7R", "LYZ", "CD14", "FCN1", "S100A8", "GNLY", "NKG7", "KLRD1", "PRF1"],
    "avg_log2FC": [3.0, 2.5, 2.0, 1.5] * 3,
    "p_val_adj": [1e-10] * 12,
    "pct.1": [0.9] * 12,
    "pct.2": [0.1] * 12,
})
CLUSTER_GENE = {"t": "CD3E", "m": "FCN1", "n": "KLRD1"}
# first answers: everyone agrees on t, three different calls on m and n
FIRST = {
    "t": {"model-a": ("T cell", "CD8-positive, alpha-beta T cell"), "model-b": ("T cells", "CD8+ T cell"),
          "model-c": ("T cell", "CD8-positive, alpha-beta T cell")},
    "m": {"model-a": ("Monocyte", "Classical monocyte"), "model-b": ("Macrophage", ""),
          "model-c": ("Dendritic cell", "")},
    "n": {"model-a": ("Natural killer cell", ""), "model-b": ("T cell", "CD8-positive, alpha-beta T cell"),
          "model-c": ("Innate lymphoid cell", "")},
}
# in the discussion, m converges in round 1; n never does
SECOND = {"m": ("Monocyte", "Classical monocyte"),
          "n": {"model-a": "Natural killer cell", "model-b": "T cell", "model-c": "Innate lymphoid cell"}}


def schema_name(request):
    return (request.schema() or ({}, None))[1]


def cluster_of(request):
    return next((c for c, gene in CLUSTER_GENE.items() if gene in request.text), None)


def formatted(general, detailed):
    return {"main_cell_type": general, "sub_cell_types": [detailed] if detailed else [], "mixed_cell_types": [],
            "key_markers": []}


def script(server, first=FIRST):
    def review(request):  # the review call answers the verdict and the record together
        general, detailed = first[cluster_of(request)][request.body["model"]]
        return {"consistent": True, "concerns": [], "feedback": "Sound.", **formatted(general, detailed)}

    def deliberation(request):
        cluster, model = cluster_of(request), request.body["model"]
        if cluster in ("m", "t"):
            general, detailed = SECOND["m"] if cluster == "m" else ("T cell", "")
        else:
            general, detailed = SECOND["n"][model], ""
        return {"general_type": general, "detailed_type": detailed, "changed": True,
                "reasoning": f"{model} weighed the markers"}

    server.add_rule(lambda r: schema_name(r) == "ReviewOutput", review)
    server.add_rule(lambda r: schema_name(r) == "DeliberationOutput", deliberation)
    server.add_rule(lambda r: schema_name(r) == "ArbiterOutput",
                    {"general_type": "Natural killer cell", "detailed_type": "", "reasoning": "GNLY and NKG7 lead."})


def models(server, names=("model-a", "model-b", "model-c")):
    return [f"{server.url}:{name}" for name in names]


def calls(server, name):
    return [r for r in server.requests if schema_name(r) == name]


def run(tmp_path, model_list, **options):
    options.setdefault("out_dir", tmp_path / "ens")
    return cassia.run_ensemble(MARKERS, models=model_list, progress=False, cache_path=tmp_path / "cache.sqlite",
                               **options)


def test_only_disputed_clusters_are_discussed_and_arbitrated(fake_server, tmp_path):
    script(fake_server)
    result = run(tmp_path, models(fake_server))
    assert isinstance(result, EnsembleResult) and result.models == ["model-a", "model-b", "model-c"]
    by = {c.cluster: c for c in result.clusters}

    assert by["t"].ensemble_status == "agreed" and by["t"].deliberation_calls == 0
    assert by["t"].consensus_proportion == 1 and by["t"].entropy == 0 and by["t"].cs == 100
    assert by["t"].cell_ontology_id == "CL:0000625"  # "CD8+ T cell" and "CD8-positive..." are one vote

    m = by["m"]
    assert m.ensemble_status == "deliberated" and len(m.rounds) == 1 and m.deliberation_calls == 3
    assert m.initial_proportion == pytest.approx(1 / 3) and m.consensus_proportion == 1
    assert m.general.lower() == "monocyte" and m.arbiter is None

    n = by["n"]
    assert n.ensemble_status == "arbitrated" and len(n.rounds) == 2 and n.deliberation_calls == 6
    assert n.general == "Natural killer cell" and n.arbiter.reasoning == "GNLY and NKG7 lead."
    assert n.arbiter.proposed_by_a_model and n.arbiter.model == "model-a"  # the first non-offline model

    deliberations = calls(fake_server, "DeliberationOutput")
    assert len(deliberations) == 9 and {cluster_of(r) for r in deliberations} == {"m", "n"}
    assert len(calls(fake_server, "ArbiterOutput")) == 1
    # the others are named neutrally, never by model
    # (clusters are discussed concurrently: pick cluster m's request, whatever arrived first)
    first = next(r for r in deliberations if r.body["model"] == "model-a" and cluster_of(r) == "m")
    assert "Annotator B" in first.text and "model-b" not in first.text and "You are Annotator A" in first.text
    assert "Macrophage" in first.text  # model-b's first answer is shown to model-a

    frame = pd.read_csv(tmp_path / "ens" / "summary.csv", dtype={"Cluster ID": str})
    assert list(frame.columns) == ENSEMBLE_COLUMNS + [f"{m} {p}" for m in result.models for p in MODEL_COLUMNS]
    row = frame.set_index("Cluster ID").loc["m"]
    assert row["model-b General"] == "Macrophage" and row["model-b Final General"] == "Monocyte"
    assert row["Ensemble Status"] == "deliberated" and row["Deliberation Calls"] == 3
    assert (frame["Tokens"] > 0).all()
    assert frame.set_index("Cluster ID").loc["n", "Tokens"] > frame.set_index("Cluster ID").loc["t", "Tokens"]

    out = tmp_path / "ens"
    assert {p.name for p in out.iterdir()} >= {"summary.csv", "ensemble.jsonl", "manifest.json", "report.html",
                                               "transcripts", "models", "clusters"}
    assert sorted(p.name for p in (out / "models").iterdir()) == ["model-a", "model-b", "model-c"]
    assert all((out / "models" / m / "results.jsonl").exists() for m in result.models)
    assert len(list((out / "transcripts").rglob("*-deliberation.json"))) == 9
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "ensemble" and manifest["status"] == "complete"
    assert manifest["counts"]["deliberation_calls"] == 9 and manifest["counts"]["arbitrated"] == 1
    assert len((out / "ensemble.jsonl").read_text().splitlines()) == 3
    page = (out / "clusters").glob("n-*.html")
    text = next(page).read_text()
    assert "Discussion round 2" in text and "GNLY and NKG7 lead." in text
    # each model's own run has its report, and the cluster page links to that model's page for n
    assert all((out / "models" / m / "report.html").exists() for m in result.models)
    links = re.findall(r'href="\.\./(models/[^"]+)"', text)
    assert sorted(link.split("/")[1] for link in links) == sorted(result.models)
    assert all((out / link).exists() and "/clusters/n-" in link for link in links)
    assert EnsembleResult.load(out).to_frame()["Ensemble Status"].tolist() == ["agreed", "deliberated", "arbitrated"]


def test_a_failing_and_a_slow_model_lose_their_votes_only(fake_server, tmp_path):
    first = {c: {**answers, "model-d": ("B cell", ""), "model-e": ("B cell", "")} for c, answers in FIRST.items()}
    script(fake_server, first)
    cassia.ontology.map_name("T cell")  # the ontology loaded before the clock starts
    with FakeLLMServer(api_key="sk-the-right-one") as locked, FakeLLMServer(latency=60) as slow:
        result = run(tmp_path, [*models(fake_server, ("model-a", "model-c")), f"{locked.url}:model-d",
                                f"{slow.url}:model-e"], timeout=5, rounds=1)
    by = {c.cluster: c for c in result.clusters}
    t = by["t"]
    assert t.answered == 2 and t.consensus_proportion == pytest.approx(2 / 4)
    # the locked server refuses model-d (401): its run stops after repeated auth failures
    assert {c.vote("model-d").initial.status for c in result.clusters} == {"failed"}
    assert "HTTP 401" in t.vote("model-d").initial.note
    assert t.vote("model-e").initial.status == "timed out" and "within 5 s" in t.vote("model-e").initial.note
    # two voters who agree: nobody to argue with, no call
    assert t.ensemble_status == "agreed" and t.deliberation_calls == 0
    frame = result.to_frame().set_index("Cluster ID")
    assert (frame["model-d Status"] == "failed").all() and frame.loc["t", "model-e Status"] == "timed out"
    assert frame["model-d General"].isna().all()
    assert frame.loc["t", "Models Answered"] == 2
    manifest = result.manifest
    statuses = {m["label"]: m["status"] for m in manifest["models"]}
    assert statuses == {"model-a": "complete", "model-c": "complete", "model-d": "failed", "model-e": "timed out"}
    assert manifest["status"] == "partial"
    # the failing and the slow model never take part in a discussion
    assert {r.body["model"] for r in calls(fake_server, "DeliberationOutput")} <= {"model-a", "model-c"}
    assert by["m"].deliberation_calls == 2


def test_every_model_failing_is_an_error(tmp_path):
    with FakeLLMServer(api_key="k1") as one, FakeLLMServer(api_key="k2") as two:
        with pytest.raises(cassia.ProviderError, match="every model of the ensemble failed"):
            run(tmp_path, [f"{one.url}:x", f"{two.url}:y"])
    assert json.loads((tmp_path / "ens" / "manifest.json").read_text())["status"] == "failed"


def test_a_failing_arbiter_leaves_the_majority_unresolved(fake_server, tmp_path):
    script(fake_server)
    fake_server.fail_when("You settle a disagreement", 400)
    result = run(tmp_path, models(fake_server), clusters=["n"], rounds=1)
    n = result.clusters[0]
    assert n.ensemble_status == "unresolved" and n.arbiter.status == "failed" and n.status == "ok"
    assert n.general.lower() == "natural killer cell"  # the first of three tied calls (majority rule)
    assert any("arbiter failed" in note for note in n.notes)


def test_the_arbiter_choosing_a_new_type_is_noted(fake_server, tmp_path):
    script(fake_server)
    fake_server.add_rule(lambda r: schema_name(r) == "ArbiterOutput",
                         {"general_type": "Mast cell", "detailed_type": "", "reasoning": "<script>x()</script>"})
    fake_server._rules.reverse()  # the new arbiter rule first
    result = run(tmp_path, models(fake_server), clusters=["n"], rounds=0, arbiter="model-b")
    n = result.clusters[0]
    assert n.ensemble_status == "arbitrated" and n.general == "Mast cell" and n.deliberation_calls == 0
    assert not n.arbiter.proposed_by_a_model and n.arbiter.model == "model-b"
    assert any("no model proposed" in note for note in n.notes)
    assert [r.body["model"] for r in calls(fake_server, "ArbiterOutput")] == ["model-b"]
    page = next((tmp_path / "ens" / "clusters").glob("n-*.html")).read_text()
    assert "&lt;script&gt;x()&lt;/script&gt;" in page and "<script>x()" not in page  # model text is escaped
    assert "no model proposed this type" in page


def test_resume_decides_again_only_clusters_whose_first_answer_changed(fake_server, tmp_path):
    script(fake_server)
    run(tmp_path, models(fake_server))
    out = tmp_path / "ens"
    seen = len(fake_server.requests)
    again = run(tmp_path, models(fake_server), resume=True)
    assert len(fake_server.requests) == seen  # model runs finished, every cluster already decided
    assert len((out / "ensemble.jsonl").read_text().splitlines()) == 3

    # model-c's first answer for t changes (as if its run had been redone)
    log = out / "models" / "model-c" / "results.jsonl"
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    for line in lines:
        if line["cluster"] == "t":
            line["annotation"]["main_cell_type"] = "B cell"
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    again = run(tmp_path, models(fake_server), resume=True)
    assert len(fake_server.requests) == seen  # 2 of 3 still agree: decided again, without a call
    records = (out / "ensemble.jsonl").read_text().splitlines()
    assert len(records) == 4 and json.loads(records[-1])["cluster"] == "t"
    t = {c.cluster: c for c in again.clusters}["t"]
    assert t.vote("model-c").initial.general == "B cell" and t.consensus_proportion == pytest.approx(2 / 3)
    assert read_ensemble(out)["m"].deliberation_calls == 3


def test_a_torn_record_is_decided_again_and_new_rules_decide_everything_again(fake_server, tmp_path):
    script(fake_server)
    run(tmp_path, models(fake_server))
    out = tmp_path / "ens"
    log = out / "ensemble.jsonl"
    lines = log.read_text().splitlines()
    torn = json.loads(lines[-1])["cluster"]
    log.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][: len(lines[-1]) // 2])  # a crash mid-write
    seen = len(fake_server.requests)
    again = run(tmp_path, models(fake_server), resume=True)
    assert len(fake_server.requests) == seen  # the cached discussion answers it again
    assert [c.cluster for c in again.clusters] == ["t", "m", "n"]
    assert set(read_ensemble(out)) == {"t", "m", "n"} and json.loads(log.read_text().splitlines()[-1])["cluster"] == torn
    # another threshold: every cluster is decided again under it
    relaxed = run(tmp_path, models(fake_server), resume=True, threshold=0.3)
    assert [c.ensemble_status for c in relaxed.clusters] == ["agreed", "agreed", "agreed"]


def test_an_existing_ensemble_needs_resume(fake_server, tmp_path):
    script(fake_server)
    run(tmp_path, models(fake_server), clusters=["t"])
    with pytest.raises(cassia.InputError, match="already holds an ensemble"):
        run(tmp_path, models(fake_server), clusters=["t"])


def test_offline_annotator_votes_and_keeps_its_answer(fake_server, tmp_path):
    first = {"t": {"model-a": ("B cell", "")}}
    script(fake_server, first)
    result = run(tmp_path, ["offline", f"{fake_server.url}:model-a"], clusters=["t"])
    t = result.clusters[0]
    offline = t.vote("offline")
    assert offline.initial.votes and "t cell" in offline.initial.general.lower()
    assert t.initial_proportion == pytest.approx(1 / 2) and t.rounds
    assert t.rounds[0].answers["offline"].note == "kept: the offline annotator does not deliberate"
    assert t.ensemble_status == "deliberated" and len(t.rounds) == 1 and t.rounds[0].calls == 1
    assert t.vote("model-a").final.general == "T cell" and t.arbiter is None
    assert [r.body["model"] for r in calls(fake_server, "DeliberationOutput")] == ["model-a"]


def test_consensus_is_written_into_an_anndata(fake_server, tmp_path):
    anndata = pytest.importorskip("anndata")
    import numpy as np

    script(fake_server)
    result = run(tmp_path, models(fake_server), clusters=["t", "m"])
    adata = anndata.AnnData(np.zeros((4, 2)), obs=pd.DataFrame({"leiden": ["t", "m", "m", "t"]},
                                                                index=[f"c{i}" for i in range(4)]))
    result.to_adata(adata, groupby="leiden", key_added="ens")
    assert adata.obs["ens_general"].tolist()[0] == "T cell"
    assert adata.obs["ens_general"].tolist()[1].lower() == "monocyte"
    assert adata.uns["ens"]["kind"] == "ensemble"


def test_cassia_ensemble_command(fake_server, tmp_path, capsys, monkeypatch):
    from cassia.cli import main

    monkeypatch.setenv("CASSIA_CACHE_DIR", str(tmp_path / "cache"))
    script(fake_server)
    csv = tmp_path / "markers.csv"
    MARKERS.to_csv(csv, index=False)
    code = main(["ensemble", "--input", str(csv), *sum((["--model", m] for m in models(fake_server)), []),
                 "--out", str(tmp_path / "ens"), "--rounds", "1", "--threshold", "0.6", "--json", "--quiet"])
    assert code == 0, capsys.readouterr().err
    printed = json.loads(capsys.readouterr().out)
    assert printed["status"] == "complete" and printed["counts"]["deliberated"] == 1
    assert [c["Ensemble Status"] for c in printed["clusters"]] == ["agreed", "deliberated", "arbitrated"]
    assert json.loads((tmp_path / "ens" / "manifest.json").read_text())["settings"]["rounds"] == 1

    one = main(["ensemble", "--input", str(csv), "--model", "offline", "--out", str(tmp_path / "one")])
    assert one == 2 and "at least two models" in capsys.readouterr().err
    assert not (tmp_path / "one").exists()


def test_a_failing_deliberation_call_keeps_the_previous_answer(fake_server, tmp_path):
    script(fake_server)
    fake_server.fail_when("You are Annotator B,", 400)  # model-b's deliberation calls fail
    result = run(tmp_path, models(fake_server), clusters=["m"], rounds=1)
    m = result.clusters[0]
    kept = m.rounds[0].answers["model-b"]
    assert kept.general == "Macrophage" and kept.note.startswith("kept: the deliberation call failed")
    assert m.vote("model-b").final.general == "Macrophage"
    assert any("model-b's deliberation call failed" in note for note in m.notes)
    # a and c now agree on a monocyte: 2 of 3 reach the threshold
    assert m.ensemble_status == "deliberated" and m.consensus_proportion == pytest.approx(2 / 3)
