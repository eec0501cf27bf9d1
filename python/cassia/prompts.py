"""One jinja2 environment for every agent prompt.

Templates live beside the code that uses them: the agents' prompts in ``agents/``, the RAG
context block in ``rag/`` and the grading judge's in ``evaluate/``. Names are unique across those
folders, so one loader serves them all. (HTML pages have their own, autoescaping environment in
:mod:`cassia.report.render`.)
"""

from __future__ import annotations

from functools import lru_cache

import jinja2

TEMPLATE_PACKAGES = ("agents", "rag", "evaluate")


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader([jinja2.PackageLoader("cassia", folder) for folder in TEMPLATE_PACKAGES]),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # prompts are plain text for a model, not HTML
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        auto_reload=False,  # packaged templates never change under a run: no stat of the file per render
    )


def render(template: str, **variables) -> str:
    return environment().get_template(template).render(**variables).strip()
