"""What the fake LLM server says when nothing is scripted: schema-valid JSON or a short text.

A structured request is answered with the schema's first ``examples`` entry, else the example
of the loaded pydantic model with the schema's name (CASSIA's output models carry one, but
strict schemas on the wire drop ``examples``), else a minimal instance built from the schema.
A plain request gets a deterministic sentence naming genes from the last user message.
"""

from __future__ import annotations

import functools
import importlib
import json
import pkgutil
import re
from typing import Any

from pydantic import BaseModel

from ..providers.structured import SCHEMA_MARKER

__all__ = ["default_text", "example_for", "genes_in", "minimal_instance", "schema_in_prompt"]

_GENE = re.compile(r"\b[A-Z][A-Z0-9]{1,11}(?:-[A-Z0-9]{1,8})?\b")
# Upper-case words in prompts that are not genes.
_NOT_GENES = frozenset({"JSON", "RNA", "DNA", "SCRNA", "CSV", "TSV", "ID", "IDS", "OK", "NOTE", "FINAL", "THE", "AND", "NOT", "USE"})


def genes_in(text: str, limit: int = 3) -> list[str]:
    """The first ``limit`` distinct gene-like symbols (CD3D, MS4A1, HLA-DRA) in ``text``."""
    found: list[str] = []
    for match in _GENE.finditer(text):
        word = match.group(0)
        looks_like_gene = len(word) >= 3 or any(c.isdigit() for c in word)
        if looks_like_gene and word not in _NOT_GENES and word not in found:
            found.append(word)
        if len(found) == limit:
            break
    return found


def default_text(last_user_message: str) -> str:
    genes = genes_in(last_user_message)
    if not genes:
        return "Fake model reply: no marker genes were found in the request."
    return (
        f"Fake model reply. The leading markers {', '.join(genes)} were weighed together; "
        "the most likely cell type is T cell."
    )


def schema_in_prompt(text: str) -> dict[str, Any] | None:
    """The JSON schema a JSON-in-prompt request embeds after :data:`SCHEMA_MARKER`, if any."""
    at = text.rfind(SCHEMA_MARKER)
    if at < 0:
        return None
    rest = text[at + len(SCHEMA_MARKER) :].lstrip()
    try:
        schema, _ = json.JSONDecoder().raw_decode(rest)
    except json.JSONDecodeError:
        return None
    return schema if isinstance(schema, dict) else None


def example_for(schema: dict[str, Any], name: str | None = None) -> Any:
    """A reply that fits ``schema``: its example, a known model's example, or a minimal instance."""
    examples = schema.get("examples")
    if isinstance(examples, list) and examples:
        return examples[0]
    known = _model_example(name or schema.get("title"))
    if known is not None:
        return known
    return minimal_instance(schema)


def _all_models(cls: type = BaseModel) -> list[type[BaseModel]]:
    out = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_all_models(sub))
    return out


# Where CASSIA's output models live. The fake server stands in for a model that knows every
# agent's output, but it often runs as its own program (``python -m cassia.testing.fake_server``)
# in which nothing else was imported, and ``import cassia`` loads nothing eagerly: so the
# modules that define output models (every agent, the grading judge) are loaded by name the
# first time a schema is not found.
_OUTPUT_MODULES = ("cassia.models", "cassia.evaluate.judge")


@functools.lru_cache(maxsize=1)
def _load_output_models() -> None:
    agents = importlib.import_module("cassia.agents")
    for info in pkgutil.iter_modules(agents.__path__):
        importlib.import_module(f"cassia.agents.{info.name}")
    for module in _OUTPUT_MODULES:
        importlib.import_module(module)


def _model_example(name: str | None) -> Any:
    if not name:
        return None
    for attempt in range(2):
        for model in _all_models():
            if model.__name__ == name:
                examples = model.model_json_schema().get("examples")
                return examples[0] if isinstance(examples, list) and examples else None
        if attempt == 0:
            _load_output_models()
    return None


def minimal_instance(schema: dict[str, Any], root: dict[str, Any] | None = None) -> Any:
    """The smallest value that satisfies ``schema`` (enough for the types CASSIA sends)."""
    root = root or schema
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target[part]
        return minimal_instance(target, root)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            options = [o for o in schema[key] if o.get("type") != "null"] or schema[key]
            return minimal_instance(options[0], root)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        return {k: minimal_instance(v, root) for k, v in schema.get("properties", {}).items()}
    if kind == "array":
        item = minimal_instance(schema.get("items", {"type": "string"}), root)
        return [item] * int(schema.get("minItems", 0))
    if kind == "string":
        return "example".ljust(int(schema.get("minLength", 0)), "x")
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
        value = low + (1 if "exclusiveMinimum" in schema and "minimum" not in schema else 0)
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return True
    return None
