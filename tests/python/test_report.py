"""The HTML report: every cluster present, content escaped, self-contained, readable from disk."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cassia.models import (
    ClusterResult,
    DiagnosisOutput,
    FormatterOutput,
    Message,
    ScorerOutput,
    StageInfo,
    Usage,
    ValidationRound,
    ValidatorOutput,
)
from cassia.report import render_report
from cassia.report.plot import histogram
from cassia.report.view import safe_link, settings_rows
from cassia.store import read_results, slug

EVIL = "<script>alert(1)</script>"


def _stages(tokens: int, cost: float | None = 0.0012) -> dict[str, StageInfo]:
    return {
        "annotation": StageInfo(provider="openai", model="gpt-4o-mini", usage=Usage(input_tokens=tokens, output_tokens=tokens // 4), cost_usd=cost, calls=2),
        "scoring": StageInfo(provider="anthropic", model="claude-3-5-haiku", usage=Usage(input_tokens=tokens // 2, output_tokens=90), cost_usd=cost, calls=1),
    }


def _ok(cluster: str, main: str, subs: list[str], markers: list[str], key: list[str], score: int | None, **kw) -> ClusterResult:
    conversation = [
        Message(role="system", content="You are a careful computational biologist. Reason step by step."),
        Message(role="user", content=f"Species: human. Tissue: large intestine.\nRanked markers: {', '.join(markers)}"),
        Message(role="assistant", content=f"Step 1. Key functional markers: {', '.join(key)}.\nStep 2. These point to {main}.\nFINAL ANNOTATION COMPLETED"),
    ]
    return ClusterResult(
        cluster=cluster,
        status="ok",
        markers=markers,
        tissue="large intestine",
        species="human",
        annotation=FormatterOutput(main_cell_type=main, sub_cell_types=subs, mixed_cell_types=kw.pop("mixed", []), key_markers=key),
        validated=True,
        iterations=1,
        validation=[ValidationRound(round=1, passed=True, llm=ValidatorOutput(cell_type=main, cited_genes=key, consistent=True, concerns=[], feedback="The markers support the call."))],
        conversation=conversation,
        score=None if score is None else ScorerOutput(score=score, reasoning=f"{len(key)} top-ranked markers agree on {main}.", possible_mixed_population=False),
        cell_ontology_id=kw.pop("cl", None),
        stages=_stages(1200),
        **kw,
    )


def sample_results() -> list[ClusterResult]:
    """Six clusters: high, mid and low scores, one unscored, one failed, one hostile."""
    t_cell = _ok("1", "T cell", ["CD4-positive, alpha-beta T cell", "regulatory T cell", "NK T cell"], ["CD3D", "CD3E", "IL7R", "CCR7", "LTB", "CD2", "TRAC", "MAL"], ["CD3D", "CD3E", "IL7R"], 88, cl="CL:0000084")
    plasma = _ok("2", "Plasma cell", ["IgA plasma cell", "IgG plasma cell"], ["JCHAIN", "IGHA1", "MZB1", "XBP1", "IGKC", "SDC1"], ["JCHAIN", "MZB1", "IGHA1"], 62, mixed=["B cell"], cl="CL:0000786")
    goblet = _ok("10", "Goblet cell", ["colonic goblet cell"], ["MUC2", "TFF3", "SPINK4", "FCGBP", "ZG16"], ["MUC2", "TFF3"], 41)
    unscored = _ok("11", "Enterocyte", ["colonocyte"], ["CA1", "SLC26A3", "AQP8", "GUCA2A"], ["CA1", "AQP8"], None)
    hostile = _ok(
        f"x{EVIL}",
        f"Fibroblast {EVIL}",
        [f"stromal <b>cell</b> {EVIL}"],
        ["COL1A1", "DCN", "LUM", "<img src=x onerror=alert(2)>"],
        ["COL1A1", "DCN"],
        79,
        pages={"Boost analysis": "boost/x.html", "Evil": "javascript:alert(3)"},
    )
    hostile.conversation.append(Message(role="user", content=f"Please revise. {EVIL} & check LUM"))
    failed = ClusterResult(
        cluster="7",
        status="failed",
        error="ModelOutputError: the formatter reply was not valid JSON after one repair retry; rerun with --resume",
        markers=["EPCAM", "KRT20", "CEACAM5"],
        iterations=3,
        validated=False,
        validation=[
            ValidationRound(round=r, passed=False, invented_genes=["LGR5"], unknown_cell_type=r == 3,
                            llm=ValidatorOutput(cell_type="Stem cell", cited_genes=["LGR5", "EPCAM"], consistent=False,
                                                concerns=["LGR5 is not in the marker list"], feedback="Use only the given markers."),
                            reasons=["invented gene LGR5"])
            for r in (1, 2, 3)
        ],
        diagnosis=DiagnosisOutput(main_cell_type="Epithelial cell", sub_cell_types=[], mixed_cell_types=[], key_markers=["EPCAM"],
                                  what_went_wrong="The annotator kept citing LGR5, which is not among the markers.", what_to_do="Boost this cluster or give more markers."),
        stages={"annotation": StageInfo(provider="openai", model="gpt-4o-mini", usage=Usage(input_tokens=3000, output_tokens=900), cost_usd=None, calls=6)},
    )
    return [t_cell, plasma, goblet, unscored, hostile, failed]


MANIFEST = {
    "status": "partial",
    "settings": {"tissue": "large intestine", "species": "human", "provider": "openai", "model": "gpt-4o-mini",
                 "api_key": "sk-should-never-show-1234567890", "score_threshold": 75, "n_genes": 50},
    "versions": {"cassia": "0.1.0", "python": "3.11"},
    "auth_token": "abcdef-secret",
    "counts": {"clusters": 6, "ok": 5, "failed": 1},
}


def _write_run(run_dir: Path, results: list[ClusterResult], *, truncated_tail: str | None = None) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "manifest.json").write_text(json.dumps(MANIFEST), encoding="utf-8")
    lines = [r.model_dump_json() for r in results]
    text = "\n".join(lines) + "\n" + (truncated_tail or "")
    (run_dir / "results.jsonl").write_text(text, encoding="utf-8")
    return run_dir


@pytest.fixture()
def rendered(tmp_path: Path) -> tuple[Path, list[ClusterResult]]:
    results = sample_results()
    index = render_report(tmp_path, results=results, manifest=MANIFEST)
    return index, results


def _pages(index: Path) -> list[str]:
    return [index.read_text(encoding="utf-8")] + [p.read_text(encoding="utf-8") for p in sorted((index.parent / "clusters").glob("*.html"))]


def test_every_cluster_is_in_the_index_and_has_a_page(rendered):
    index, results = rendered
    assert index == index.parent / "report.html"
    html = index.read_text(encoding="utf-8")
    for result in results:
        page = index.parent / "clusters" / f"{slug(result.cluster)}.html"
        assert page.is_file(), result.cluster
        assert f'href="clusters/{slug(result.cluster)}.html"' in html
        assert "../report.html" in page.read_text(encoding="utf-8")
    assert len(list((index.parent / "clusters").glob("*.html"))) == len(results)
    # natural order: 1, 2, 7, 10, 11, then the named cluster
    order = [m for m in re.findall(r'<tr id="row-([^"]+)"', html)]
    assert order[:5] == [slug(c) for c in ("1", "2", "7", "10", "11")]


def test_untrusted_text_is_escaped_everywhere(rendered):
    index, _ = rendered
    for html in _pages(index):
        assert "<script>alert" not in html
        assert "<img src=x" not in html
        assert "<b>cell</b>" not in html
        assert not re.search(r"href=\"\s*javascript:", html, re.I)
    hostile_page = (index.parent / "clusters" / f"{slug('x' + EVIL)}.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in hostile_page
    assert "Please revise." in hostile_page


def test_scores_are_coloured_by_the_threshold(rendered):
    index, _ = rendered
    html = index.read_text(encoding="utf-8")

    def badge(cluster: str) -> str:
        row = re.search(rf'<tr id="row-{re.escape(slug(cluster))}">(.*?)</tr>', html, re.S).group(1)
        return re.search(r'<span class="badge (score-\w+)">([^<]*)</span>', row).groups()

    assert badge("1") == ("score-high", "88")
    assert badge("x" + EVIL) == ("score-high", "79")
    assert badge("2") == ("score-mid", "62")
    assert badge("10") == ("score-low", "41")
    assert badge("11") == ("score-none", "not scored")
    assert badge("7") == ("score-none", "not scored")


def test_sort_script_and_self_contained_output(rendered):
    index, _ = rendered
    html = index.read_text(encoding="utf-8")
    assert 'id="clusters"' in html and 'addEventListener("click"' in html and "aria-sort" in html
    assert html.count('data-type="num"') == 3
    for page in _pages(index):
        assert not re.search(r"https?://", page), "reports must not reference the network"
        assert not re.search(r"<(link|img|iframe)\b|@import|url\(", page)
        assert not re.search(r"<script[^>]+src=", page)


def test_failed_and_unscored_clusters_are_explained(rendered):
    index, _ = rendered
    html = index.read_text(encoding="utf-8")
    failed_section = html.split('id="untrusted"', 1)[1].split("</section>", 1)[0]
    assert "not valid JSON after one repair retry" in failed_section
    assert f'clusters/{slug("7")}.html' in failed_section
    failed_page = (index.parent / "clusters" / f"{slug('7')}.html").read_text(encoding="utf-8")
    assert "This cluster failed." in failed_page
    assert "Diagnosis: validation never passed" in failed_page
    assert failed_page.count("did not pass") == 3 and "LGR5" in failed_page
    unscored = (index.parent / "clusters" / f"{slug('11')}.html").read_text(encoding="utf-8")
    assert "This cluster has no quality score." in unscored
    assert "2 clusters without a score are not shown." in html


def test_cluster_page_contents(rendered):
    index, _ = rendered
    page = (index.parent / "clusters" / f"{slug('1')}.html").read_text(encoding="utf-8")
    assert page.count('class="chip key"><span class="rank">') == 3  # CD3D, CD3E, IL7R highlighted in the ranked list
    assert '<span class="rank">8</span>MAL' in page
    assert "CL:0000084" in page and "regulatory T cell" in page
    assert "3 top-ranked markers agree on T cell." in page
    assert "FINAL ANNOTATION COMPLETED" in page and "System prompt" in page
    assert "gpt-4o-mini" in page and "claude-3-5-haiku" in page
    hostile = (index.parent / "clusters" / f"{slug('x' + EVIL)}.html").read_text(encoding="utf-8")
    assert 'href="../boost/x.html">Boost analysis</a>' in hostile
    assert "(not a link inside this report)" in hostile  # the javascript: link is shown as text, not linked


def test_manifest_settings_never_show_keys(rendered):
    index, _ = rendered
    html = index.read_text(encoding="utf-8")
    assert "large intestine" in html and "settings.model" in html and "versions.cassia" in html
    assert "sk-should-never-show" not in html and "abcdef-secret" not in html
    assert "api_key" not in html and "auth_token" not in html
    rows = dict(settings_rows({"usage": {"input_tokens": 5}, "hf_token": "x", "openai_key": "y"}))
    assert rows == {"usage.input_tokens": "5"}


def test_render_from_run_dir_with_truncated_last_line(tmp_path: Path):
    results = sample_results()
    revised = results[0].model_copy(update={"score": ScorerOutput(score=55, reasoning="Rescored.", possible_mixed_population=True)})
    run_dir = _write_run(tmp_path / "run", results + [revised], truncated_tail='{"cluster": "99", "status": "o')
    assert {r.cluster: r for r in read_results(run_dir)}["1"].score.score == 55  # later line for cluster 1 wins
    index = render_report(run_dir)
    html = index.read_text(encoding="utf-8")
    assert "Rescored." in (run_dir / "clusters" / f"{slug('1')}.html").read_text(encoding="utf-8")
    assert re.search(r'<span class="badge score-mid">55</span>', html)
    assert slug("99") not in html
    assert "Run status: <span" in html and "partial" in html
    assert len(list((run_dir / "clusters").glob("*.html"))) == 6


def test_not_a_run_directory_is_an_input_error_and_damaged_lines_are_skipped(tmp_path: Path):
    from cassia.errors import InputError

    with pytest.raises(InputError, match="not a CASSIA run directory"):
        render_report(tmp_path)
    (tmp_path / "manifest.json").write_text("{}", encoding="utf-8")
    good = sample_results()[0]
    # a line torn by a crash, followed by lines a resumed run appended: the torn line is skipped
    (tmp_path / "results.jsonl").write_text('{"cluster": "torn\n' + good.model_dump_json() + "\n", encoding="utf-8")
    html = render_report(tmp_path).read_text(encoding="utf-8")
    assert slug(good.cluster) in html


def test_slug_is_safe_stable_and_distinct():
    names = ["1", "1 ", "a/b", "a-b", "A B", EVIL, "", "../etc/passwd"]
    slugs = [slug(n) for n in names]
    assert len(set(slugs)) == len(names)
    assert all(re.fullmatch(r"[a-z0-9-]+", s) for s in slugs)
    assert slug("a/b") == slug("a/b") and slug("T cells").startswith("t-cells-")


def test_safe_link_only_allows_relative_paths_inside_the_run():
    assert safe_link("boost/c1.html") == "boost/c1.html"
    for bad in ("javascript:alert(1)", "https://example.org/x", "/etc/passwd", "//host/x", "../x.html", "", None, 3):
        assert safe_link(bad) is None


def test_histogram_bins_and_threshold():
    chart = histogram([0, 9, 10, 75, 79, 100, 100], 75)
    assert [b["count"] for b in chart["bars"]] == [2, 1, 0, 0, 0, 0, 0, 2, 0, 2]
    assert chart["bars"][9]["tone"] == "high" and chart["bars"][7]["tone"] == "mixed" and chart["bars"][0]["tone"] == "low"
    assert chart["bars"][0]["height"] > 0 and chart["bars"][2]["height"] == 0
    assert chart["left"] < chart["threshold"]["x"] < chart["right"]
    assert histogram([], 75) is None


def test_keys_in_model_text_or_errors_are_masked(tmp_path: Path, monkeypatch):
    secret = "cassia-report-LEAK-0123456789"
    monkeypatch.setenv("SOMEVENDOR_API_KEY", secret)
    result = sample_results()[0]
    result = result.model_copy(update={
        "status": "failed",
        "error": f"ProviderError: 401 for key {secret}",
        "conversation": [Message(role="assistant", content=f"echo {secret}")],
    })
    render_report(tmp_path, results=[result], manifest={"settings": {"note": f"x {secret}"}})
    for html in _pages(tmp_path / "report.html"):
        assert secret not in html
        assert "***" in html


def test_empty_run_renders(tmp_path: Path):
    html = render_report(tmp_path, results=[], manifest={}).read_text(encoding="utf-8")
    assert "No cluster has a score yet." in html and "no manifest.json" in html
    assert not (tmp_path / "clusters").exists()


def test_index_links_pages_other_steps_wrote(tmp_path: Path):
    results = sample_results()
    boosted = results[0].model_copy(update={"boosted": True, "pages": {"Annotation Boost": "boost/c1.html"}})
    (tmp_path / "subclusters.html").write_text("<html></html>", encoding="utf-8")
    html = render_report(tmp_path, results=[boosted, *results[1:]], manifest={}).read_text(encoding="utf-8")
    assert 'href="boost/c1.html"' in html  # from the index, relative to the run directory
    assert 'href="subclusters.html"' in html and "uncertainty.html" not in html
    page = (tmp_path / "clusters" / f"{slug(boosted.cluster)}.html").read_text(encoding="utf-8")
    assert 'href="../boost/c1.html"' in page
