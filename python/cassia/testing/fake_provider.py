"""An in-process provider that answers from a script, for testing agent logic without HTTP.

Give it a function ``(request) -> reply`` or a mapping ``task -> [reply, reply, ...]`` (used in
order, the last one repeating; the task ``"*"`` catches every other task). A reply is a str
(the model's text), a dict or pydantic model (the structured answer), or an exception to raise.
Structured requests go through the same validation and single repair as real backends: a reply
that does not fit the schema makes the provider ask again, consuming the next reply.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from typing import Any, Callable, Mapping

from pydantic import BaseModel

from ..errors import ConfigError
from ..models import Message, Usage
from ..providers import structured
from ..providers.base import Completion, CompletionRequest, ProviderConfig
from ..providers.structured import RawReply

__all__ = ["ScriptedProvider"]

ScriptReply = Any  # str | dict | list | BaseModel | BaseException
Script = Callable[[CompletionRequest], Any] | Mapping[str, Any] | list


class ScriptedProvider:
    """A :class:`~cassia.providers.base.Provider` whose model is a script."""

    def __init__(self, script: Script, *, model: str = "scripted-1"):
        self.config = ProviderConfig(name="scripted", kind="openai", model=model)
        self.calls: list[CompletionRequest] = []
        if isinstance(script, list):
            script = {"*": script}
        if isinstance(script, Mapping):
            self._script: dict[str, list[ScriptReply]] | None = {
                task: list(replies) if isinstance(replies, (list, tuple)) else [replies]
                for task, replies in script.items()
            }
            self._function: Callable[[CompletionRequest], Any] | None = None
        elif callable(script):
            self._script, self._function = None, script
        else:
            raise ConfigError("ScriptedProvider needs a function (request -> reply) or a dict task -> replies")
        self._used: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"ScriptedProvider(model={self.config.model!r}, calls={len(self.calls)})"

    async def complete(self, request: CompletionRequest) -> Completion:
        send = self._sender(request)
        if request.schema is None:
            completion = await structured.complete_text(send, request)
        else:
            completion = await structured.complete_native(send, request)
        completion.provider = self.config.name
        completion.model = self.config.model
        return completion

    async def aclose(self) -> None:
        """Nothing to close; here so callers can treat every provider alike."""

    def _sender(self, request: CompletionRequest) -> structured.SendFn:
        async def send(messages: list[Message], system: str | None) -> RawReply:
            call = dataclasses.replace(request, messages=list(messages), system=system)
            self.calls.append(call)
            reply = await self._next_reply(call)
            if isinstance(reply, BaseException):
                raise reply
            data = None
            if isinstance(reply, BaseModel):
                data = reply.model_dump(mode="json")
                text = json.dumps(data)
            elif isinstance(reply, (dict, list)):
                data, text = reply, json.dumps(reply)
            else:
                text = str(reply)
            prompt = "\n".join([system or ""] + [m.content for m in messages])
            usage = Usage(input_tokens=len(prompt) // 4, output_tokens=len(text) // 4)
            return RawReply(text=text, usage=usage, model=self.config.model, data=data)

        return send

    async def _next_reply(self, request: CompletionRequest) -> ScriptReply:
        if self._function is not None:
            reply = self._function(request)
            return await reply if inspect.isawaitable(reply) else reply
        assert self._script is not None
        task = request.task if request.task in self._script else "*"
        replies = self._script.get(task)
        if not replies:
            raise ConfigError(
                f"ScriptedProvider has no reply for task {request.task!r}; add it to the script "
                "(or a '*' entry for every other task)"
            )
        index = self._used.get(task, 0)
        self._used[task] = index + 1
        return replies[min(index, len(replies) - 1)]
