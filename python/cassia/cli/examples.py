"""``cassia examples --out DIR``: a small project to copy from, one script per workflow.

The folder holds the example marker table, a shell and a Python script for each workflow
(offline first: it runs with no key and no network), three summary tables to practise
consensus on, and a README saying what each file does. Scripts call the ``cassia`` command
and the ``cassia`` Python package found on PATH.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pandas as pd

from ..errors import InputError

MARKERS = "markers/pbmc_small_markers.csv"
SHELL_HEAD = "#!/usr/bin/env bash\n# {what}\nset -euo pipefail\ncd \"$(dirname \"$0\")\"\n"
PY_HEAD = "#!/usr/bin/env python3\n\"\"\"{what}\"\"\"\nfrom pathlib import Path\n\nimport cassia\n\nHERE = Path(__file__).resolve().parent\nMARKERS = HERE / \"{markers}\"\n"
PROVIDER = 'PROVIDER="${CASSIA_PROVIDER:-openai}"   # or anthropic, openrouter, claude-cli, http://127.0.0.1:8000/v1 ...\n'
PY_PROVIDER = 'import os\n\nPROVIDER = os.environ.get("CASSIA_PROVIDER", "openai")  # or anthropic, claude-cli, a base URL ...\n'

# name -> (what it does, shell body, python body)
WORKFLOWS: dict[str, tuple[str, str, str]] = {
    "01_offline": (
        "Offline pipeline: the built-in knowledge-base annotator, no key and no network.",
        f"cassia validate {MARKERS} --n-genes 20\n"
        f"cassia pipeline --input {MARKERS} --tissue blood --species human --provider offline \\\n"
        "    --out runs/offline --resume\n"
        "echo \"open runs/offline/report.html\"\n",
        "result = cassia.run_pipeline(MARKERS, tissue=\"blood\", species=\"human\", provider=\"offline\",\n"
        "                             out_dir=HERE / \"runs\" / \"offline-py\", resume=True)\n"
        "print(result.to_frame()[[\"Cluster ID\", \"Predicted General Cell Type\", \"Score\"]].to_string(index=False))\n"
        "print(\"report:\", result.run_dir / \"report.html\")\n",
    ),
    "02_annotate": (
        "Annotate with a language model (Annotator and reviewer); the key comes from the environment.",
        PROVIDER +
        f"cassia annotate --input {MARKERS} --tissue blood --species human --provider \"$PROVIDER\" \\\n"
        "    --additional-info \"PBMCs from a healthy donor\" --out runs/annotate --resume\n",
        PY_PROVIDER +
        "result = cassia.run_batch(MARKERS, tissue=\"blood\", species=\"human\", provider=PROVIDER,\n"
        "                          additional_info=\"PBMCs from a healthy donor\", out_dir=HERE / \"runs\" / \"annotate-py\",\n"
        "                          resume=True)\n"
        "print(result.to_frame().head())\n",
    ),
    "03_pipeline": (
        "Full pipeline: annotate, score, boost clusters scoring below 75, render the report.",
        PROVIDER +
        f"cassia pipeline --input {MARKERS} --tissue blood --species human --provider \"$PROVIDER\" \\\n"
        "    --score-threshold 75 --out runs/pipeline --resume\n"
        "cassia report runs/pipeline   # re-renders the report from the stored results\n",
        PY_PROVIDER +
        "result = cassia.run_pipeline(MARKERS, tissue=\"blood\", species=\"human\", provider=PROVIDER,\n"
        "                             score_threshold=75, out_dir=HERE / \"runs\" / \"pipeline-py\", resume=True)\n"
        "print(result.run_dir / \"report.html\")\n",
    ),
    "04_boost": (
        "Annotation Boost: look genes up (no model), then re-examine one cluster or the weakest ones of a run "
        "(run 03_pipeline first).",
        PROVIDER +
        f"cassia boost query --markers {MARKERS} --cluster 1 --genes CD14,LYZ,FCGR3A,MS4A1\n"
        f"cassia boost run --run runs/pipeline --markers {MARKERS} --cluster 1 --provider \"$PROVIDER\"\n"
        f"cassia boost auto --run runs/pipeline --markers {MARKERS} --max-clusters 2 --provider \"$PROVIDER\"\n",
        PY_PROVIDER +
        "print(cassia.query_genes(MARKERS, \"1\", [\"CD14\", \"LYZ\", \"FCGR3A\", \"MS4A1\"]))\n"
        "boosted = cassia.run_annotation_boost(MARKERS, \"1\", provider=PROVIDER, out_dir=HERE / \"runs\" / \"boost-py\")\n"
        "print(boosted)\n",
    ),
    "05_subcluster": (
        "Subclustering: all subclusters of one population in one analysis (here the three PBMC clusters "
        "stand in for subclusters).",
        PROVIDER +
        f"cassia subcluster run --markers {MARKERS} --major-cluster-info \"human PBMC immune cells\" \\\n"
        "    --provider \"$PROVIDER\" --out runs/subcluster\n",
        PY_PROVIDER +
        "result = cassia.run_subclusters(MARKERS, major_cluster_info=\"human PBMC immune cells\", provider=PROVIDER,\n"
        "                                out_dir=HERE / \"runs\" / \"subcluster-py\")\n"
        "print(result.to_frame())\n",
    ),
    "06_agent_cli": (
        "Local agent CLIs use their own login (no CASSIA key): Claude Code, Codex CLI, Cursor Agent, "
        "or any command through a template.",
        f"cassia annotate --input {MARKERS} --tissue blood --provider claude-cli --out runs/claude-cli --limit 1\n"
        "# codex-cli and cursor-agent work the same way; any other tool through a template:\n"
        f"# cassia annotate --input {MARKERS} --tissue blood --out runs/shell \\\n"
        "#     --shell-command 'mytool --model {model} --in {prompt_file} --out {output_file}'\n",
        "result = cassia.run_batch(MARKERS, tissue=\"blood\", provider=\"claude-cli\", out_dir=HERE / \"runs\" / \"claude-py\",\n"
        "                          clusters=[\"0\"])\n"
        "print(result.to_frame())\n",
    ),
    "07_consensus": (
        "Consensus across runs or models: a deterministic majority vote over summary tables, no model.",
        "cassia consensus --inputs consensus/run_a.csv consensus/run_b.csv consensus/run_c.csv \\\n"
        "    --out consensus/consensus.csv\n",
        "from cassia.workflows.consensus import consensus\n\n"
        "table = consensus([HERE / \"consensus\" / f\"run_{x}.csv\" for x in \"abc\"])\n"
        "print(table.iloc[:, :6].to_string(index=False))\n",
    ),
    "08_uncertainty": (
        "Uncertainty: annotate every cluster several times and measure how much the answers agree (CS score).",
        PROVIDER +
        f"cassia uncertainty --input {MARKERS} --n 3 --tissue blood --provider \"$PROVIDER\" --out runs/uncertainty\n",
        PY_PROVIDER +
        "result = cassia.run_uncertainty(MARKERS, n=3, tissue=\"blood\", provider=PROVIDER,\n"
        "                                out_dir=HERE / \"runs\" / \"uncertainty-py\")\n"
        "print(result.to_frame()[[\"Cluster ID\", \"Consensus General Type\", \"CS\", \"Uncertain\"]])\n",
    ),
}

# Three "runs" that agree on cluster 1, half-agree on 0 and disagree on 2.
CONSENSUS_RUNS = {
    "run_a": [("0", "T cell", "CD8-positive, alpha-beta T cell"), ("1", "monocyte", "classical monocyte"),
              ("2", "B cell", "naive B cell")],
    "run_b": [("0", "T cell", "natural killer T cell"), ("1", "monocyte", "classical monocyte"),
              ("2", "dendritic cell", "plasmacytoid dendritic cell")],
    "run_c": [("0", "natural killer cell", "CD56-dim natural killer cell"), ("1", "monocyte", "non-classical monocyte"),
              ("2", "platelet", "platelet")],
}


def write_examples(out: Path, *, force: bool = False) -> list[Path]:
    """Write the example project into ``out``; returns the files written."""
    from ..markers.examples import example_markers_path

    if out.exists() and any(out.iterdir()) and not force:
        raise InputError(f"{out} is not empty; choose a new folder or pass --force to overwrite the example files")
    written: list[Path] = []

    def put(relative: str, text: str, *, executable: bool = False) -> None:
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        if executable:
            path.chmod(0o755)
        written.append(path)

    (out / "markers").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(example_markers_path(), out / MARKERS)
    written.append(out / MARKERS)
    for name, (what, shell, python) in WORKFLOWS.items():
        put(f"{name}.sh", SHELL_HEAD.format(what=what) + shell, executable=True)
        put(f"{name}.py", PY_HEAD.format(what=what, markers=MARKERS) + "\n" + python, executable=True)
    for run, rows in CONSENSUS_RUNS.items():
        frame = pd.DataFrame(rows, columns=["Cluster ID", "Predicted General Cell Type", "Predicted Detailed Cell Type"])
        path = out / "consensus" / f"{run}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False)
        written.append(path)
    put("README.md", _readme())
    return written


def _readme() -> str:
    lines = [
        "# CASSIA example project",
        "",
        f"`{MARKERS}`: Seurat `FindAllMarkers` output for the three clusters of `pbmc_small` (SeuratObject).",
        "Each workflow has a shell script (the `cassia` command) and a Python script (the `cassia` package).",
        "Start with `01_offline`: it needs no key and no network. The others read the backend from",
        "`CASSIA_PROVIDER` (default `openai`) and its key from the usual variable (`OPENAI_API_KEY`, ...);",
        "`cassia doctor` shows which keys and agent CLIs this machine has.",
        "",
    ]
    for name, (what, _, _) in WORKFLOWS.items():
        lines.append(f"- `{name}.sh` / `{name}.py`: {what}")
    lines += ["", "`consensus/run_*.csv`: three summary tables (one per run or model) for `07_consensus`.",
              "Runs are written under `runs/`; rerunning a script resumes its run instead of starting over.", ""]
    return "\n".join(lines)


def _examples(args: argparse.Namespace) -> int:
    out = Path(args.out)
    written = write_examples(out, force=args.force)
    print(f"wrote {len(written)} files to {out}; start with: bash {out / '01_offline.sh'}")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "examples", help="write a runnable example project (marker table, one script per workflow)",
        description="Write a small project: the example marker table, a shell and a Python script per workflow "
                    "(an offline one that needs no key), consensus inputs and a README.")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder to create")
    parser.add_argument("--force", action="store_true", help="write into a folder that is not empty")
    parser.set_defaults(handler=_examples)
