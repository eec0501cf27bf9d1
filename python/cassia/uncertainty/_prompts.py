"""Prompt templates of the uncertainty and merging agents (``*.j2`` beside them in this package).

Same settings as :mod:`cassia.agents.prompts` (strict undefined, no autoescape: prompts are plain
text for a model); a separate loader because these agents live in their own package.
"""

from __future__ import annotations

from functools import lru_cache

import jinja2


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("cassia", "uncertainty"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


def render(template: str, **variables) -> str:
    return environment().get_template(template).render(**variables).strip()
