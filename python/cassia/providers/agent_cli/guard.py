"""Keep prompt text away from shells and interpreters.

The prompt carries marker names and model output, so it is untrusted text. A shell or an
interpreter (``sh``, ``bash``, ``env … sh``, ``python -c``, ``perl -e``, ``watch``, ``ssh``, …)
may run its arguments or its stdin as code, so wherever one appears in the command line,
recognised by basename (``/usr/bin/python3.11`` is python) whatever flags come first, the
prompt must reach the command as a file (``{prompt_file}``) or as data on stdin of a script
that reads it. :func:`check_template` refuses a template early with the fix;
:func:`check_argv` checks every actual invocation of every backend just before it starts.
"""

from __future__ import annotations

import re
import shlex
from pathlib import PurePath

from ...errors import ConfigError

__all__ = ["check_argv", "check_template", "interpreter_in", "stdin_runs_as_code"]

SHELLS = frozenset({
    "sh", "bash", "rbash", "zsh", "dash", "ash", "ksh", "mksh", "pdksh", "yash", "csh", "tcsh", "fish",
    "busybox", "elvish", "nu", "xonsh", "pwsh", "powershell", "cmd",
})
INTERPRETERS = SHELLS | frozenset({
    "python", "pypy", "ipython", "perl", "ruby", "irb", "node", "nodejs", "deno", "bun", "php", "lua",
    "luajit", "tclsh", "wish", "expect", "rscript", "r", "julia", "osascript", "awk", "gawk", "mawk",
    "nawk", "jshell", "groovy", "scala", "sqlite3", "gdb", "vim", "vi", "nvim", "ex", "emacs",
    # these hand their argument to a shell
    "watch", "script", "flock", "su", "runuser", "ssh", "parallel", "tmux", "screen", "eval", "xargs",
})
# Flags after which the next argument is the program text, so stdin is left to be data.
INLINE_SCRIPT = frozenset({"-c", "-e", "-E", "-r", "--eval", "-Command", "-command", "/c", "/C"})
READ_STDIN = frozenset({"-", "-s", "--stdin"})
_VERSION = re.compile(r"[\d.]+$")
FIX = ("pass the prompt as a file ({prompt_file}) or on stdin to a script that reads it, e.g. "
       "sh -c 'mytool --in \"$0\"' {prompt_file}")


def _name(token: str) -> str:
    base = PurePath(token.replace("\\", "/")).name.lower()
    base = base[:-4] if base.endswith(".exe") else base
    return _VERSION.sub("", base) or base  # python3.11 -> python, perl5 -> perl


def _tokens(word: str) -> list[str]:
    """A word and, for words that hold a command (``env -S 'sh -c …'``), the words inside it."""
    try:
        inner = shlex.split(word)
    except ValueError:
        inner = word.split()
    return [word, *inner] if len(inner) > 1 else [word]


def interpreter_in(words: list[str]) -> tuple[int, str] | None:
    """The first word that names a shell or interpreter: (index, name), or None."""
    for index, word in enumerate(words):
        for token in _tokens(word):
            name = _name(token)
            if name in INTERPRETERS:
                return index, name
    return None


def stdin_runs_as_code(words: list[str]) -> str | None:
    """The interpreter that would run stdin as its program (``sh``, ``python -``), or None."""
    found = interpreter_in(words)
    if found is None:
        return None
    index, name = found
    args = words[index + 1:]
    skip = False
    for position, arg in enumerate(args):
        if skip:
            skip = False
            continue
        if arg in READ_STDIN:
            return name
        if arg in INLINE_SCRIPT and position + 1 < len(args):
            return None  # a script given inline: stdin is its data
        if name in SHELLS and arg in ("-o", "+o", "-O", "+O"):
            skip = True  # an option's value, not a script
            continue
        if not arg.startswith(("-", "+")):
            return None  # a script file
    return name


def check_template(words: list[str], placeholder: str = "{prompt}") -> None:
    """Refuse a command template that would hand the prompt to a shell or interpreter as code."""
    for index, word in enumerate(words):
        if placeholder in word:
            found = interpreter_in(words[: index + 1])
            if found is not None:
                raise ConfigError(
                    f"{placeholder} in a command run by {found[1]!r} would put marker names and model text "
                    f"on an interpreter's command line, where they could run as code; {FIX}")
    uses_file = any("{prompt_file}" in w or placeholder in w for w in words)
    if not uses_file:
        runner = stdin_runs_as_code(words)
        if runner is not None:
            raise ConfigError(f"the prompt would go to {runner!r} on stdin, which it runs as code; {FIX}")


def check_argv(argv: list[str], prompt: str, stdin: str | None, who: str) -> None:
    """Refuse an invocation that passes the prompt to a shell or interpreter as code."""
    if any("\0" in arg for arg in argv):
        raise ConfigError(f"{who}: a NUL character cannot be passed on a command line; {FIX}")
    holders = [i for i, arg in enumerate(argv) if prompt and prompt in arg]
    if holders:  # only the words before it: the prompt's own words are data to be judged, not parsed
        found = interpreter_in(argv[: holders[0]])
        if found is not None:
            raise ConfigError(f"{who}: the prompt would be an argument of {found[1]!r}, where it could run "
                              f"as code; {FIX}")
    if stdin is not None and stdin == prompt:
        runner = stdin_runs_as_code(argv)
        if runner is not None:
            raise ConfigError(f"{who}: the prompt would go to {runner!r} on stdin, which it runs as code; {FIX}")
