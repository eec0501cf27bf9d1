"""The ``shell`` backend: any command that turns a prompt into an answer, from a template.

The template (``command=`` / ``--shell-command`` / ``CASSIA_SHELL_COMMAND``) is split into an
argv list with :func:`shlex.split` once, then placeholders are replaced inside each argument:

- ``{prompt_file}``: a file holding the prompt (UTF-8);
- ``{output_file}``: where the command writes its answer (else its stdout is the answer);
- ``{prompt}``: the prompt itself, as one argument;
- ``{cluster}``: the cluster's filesystem-safe name (letters, digits and dashes only);
- ``{model}``: the model asked for; ``{task}``: annotator, validator, formatter, scorer, ...

When neither ``{prompt}`` nor ``{prompt_file}`` appears, the prompt goes to stdin. No shell
ever sees the marker names or notes as code: a template that would put ``{prompt}`` on the
command line of a shell or interpreter (``sh -c``, ``bash -lc``, ``env … sh``, ``python -c``,
``perl -e``, …), or send the prompt to one's stdin as its program, is refused
(:mod:`.guard`); use ``{prompt_file}`` there.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shlex
import shutil
from pathlib import Path

from ...errors import ConfigError, ProviderError
from ...store import slug
from ..base import CompletionRequest, ProviderConfig
from .base import AgentCLIProvider, Invocation, ToolReply
from .guard import check_template
from .process import ProcessOutcome

__all__ = ["COMMAND_ENV", "ShellCommandProvider"]

COMMAND_ENV = "CASSIA_SHELL_COMMAND"
PLACEHOLDER = re.compile(r"\{(prompt_file|output_file|prompt|cluster|model|task)\}")
_SAFE_MODEL = re.compile(r"^[\w.:/@+=-]+$")


def command_template(config: ProviderConfig) -> str:
    """The command template from the config's options, else the environment."""
    template = dict(config.options).get("command") or os.environ.get(COMMAND_ENV, "")
    if not str(template).strip():
        raise ConfigError(
            "the shell backend needs a command template with placeholders, e.g. "
            "'mytool --in {prompt_file} --out {output_file}': pass --shell-command (CLI), "
            f"get_provider('shell', command=...) (Python), or set {COMMAND_ENV}"
        )
    return str(template)


class ShellCommandProvider(AgentCLIProvider):
    """A user command template run with an argv list (no shell)."""

    program = "shell"

    def __init__(self, config: ProviderConfig):
        template = command_template(config)
        # The cache key names the backend by its base URL: give each template its own, so answers
        # cached for one command are never served for another.
        digest = hashlib.sha256(template.encode("utf-8")).hexdigest()[:12]
        super().__init__(dataclasses.replace(config, base_url=f"shell:{digest}"))
        try:
            self.template = shlex.split(template)
        except ValueError as err:
            raise ConfigError(f"the shell command template cannot be parsed ({err}); check its quotes") from None
        if not self.template:
            raise ConfigError("the shell command template is empty")
        used = {name for arg in self.template for name in PLACEHOLDER.findall(arg)}
        self.uses = used
        check_template(self.template)
        model = self.model_argument
        if "model" in used and model is not None and not _SAFE_MODEL.match(model):
            raise ConfigError(f"model name {model!r} contains characters not allowed in a shell command template")

    def executable(self) -> str:
        return self.template[0] if getattr(self, "template", None) else "shell"

    def who(self) -> str:
        return f"shell command {Path(self.executable()).name!r}"

    def available(self) -> bool:
        return shutil.which(self.executable()) is not None

    def invocation(self, prompt: str, request: CompletionRequest, workdir: Path) -> Invocation:
        prompt_file = workdir / "prompt.txt"
        output_file = workdir / "answer.txt"
        prompt_file.write_text(prompt, encoding="utf-8")
        cluster = str((request.context or {}).get("cluster") or "cluster")
        values = {
            "prompt_file": str(prompt_file),
            "output_file": str(output_file),
            "prompt": prompt,
            "cluster": slug(cluster),
            "model": self.model_argument or "",
            "task": str(request.task),
        }
        # One pass per argument, so text substituted in is never scanned for placeholders again.
        argv = [PLACEHOLDER.sub(lambda m: values[m.group(1)], arg) for arg in self.template]
        stdin = None if self.uses & {"prompt", "prompt_file"} else prompt
        # cwd=None: the user's command may use paths relative to where cassia runs.
        return Invocation(argv=argv + self.extra_args, stdin=stdin, cwd=None,
                          output_file=output_file if "output_file" in self.uses else None)

    def read(self, outcome: ProcessOutcome, invocation: Invocation) -> ToolReply:
        if outcome.returncode != 0:
            raise self.failure(outcome)
        if invocation.output_file is not None:
            if not invocation.output_file.exists():
                raise ProviderError(f"{self.who()} exited without writing {{output_file}}; make the command "
                                    "write its answer to that path, or drop {output_file} to use its stdout")
            text = invocation.output_file.read_text(encoding="utf-8", errors="replace")
        else:
            text = outcome.stdout
        return ToolReply(text=text.strip(), model=self.config.model)
