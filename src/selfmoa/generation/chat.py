"""Turn a request's messages into model input, the same way for every backend.

1. :func:`prepare_messages` adds ``model.system_prompt`` when the conversation has no system message
   (the openai and vllm backends send exactly these messages);
2. :func:`render_prompt` renders them with the tokenizer's chat template
   (``apply_chat_template(..., add_generation_prompt=True)``), or with :data:`FALLBACK_TEMPLATE` when the
   tokenizer has none (base models).

A conversation that ends with an assistant message is a *prefill*: the model continues that message (the
rendered prompt ends with its text) and the completion holds only the continuation. The openai backend
asks the server for the same with vLLM's ``continue_final_message``.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from selfmoa.errors import SelfmoaError

#: Plain template for tokenizers without a chat template (base models): "System: ...\n\nUser: ...\n\nAssistant:".
FALLBACK_TEMPLATE = (
    "{% for message in messages %}"
    "{{ message['role'] | capitalize }}: {{ message['content'] }}\n\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}"
)

_ROLES = ("system", "user", "assistant")


def _as_dict(message: Any) -> dict[str, str]:
    if isinstance(message, Mapping):
        role, content = message.get("role"), message.get("content")
    else:  # selfmoa.records.Message or any object with role/content
        role, content = getattr(message, "role", None), getattr(message, "content", None)
    if role not in _ROLES or not isinstance(content, str):
        raise SelfmoaError(
            f"messages: expected {{'role': system|user|assistant, 'content': text}}, got {str(message)[:80]!r}"
        )
    return {"role": role, "content": content}


def prepare_messages(messages: Iterable[Any], system_prompt: str | None = None) -> list[dict[str, str]]:
    """Messages as plain dicts, with `system_prompt` first when given and the conversation has no system message."""
    out = [_as_dict(m) for m in messages]
    if not out:
        raise SelfmoaError("messages: a generation request needs at least one message")
    if system_prompt and not any(m["role"] == "system" for m in out):
        out.insert(0, {"role": "system", "content": system_prompt})
    return out


def has_chat_template(tokenizer) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def split_prefill(messages: list[dict[str, str]]) -> tuple[list[dict[str, str]], str]:
    """(the conversation before the answer, the assistant prefill or "")."""
    if len(messages) > 1 and messages[-1]["role"] == "assistant":
        return messages[:-1], messages[-1]["content"]
    return messages, ""


def render_prompt(tokenizer, messages: list[dict[str, str]]) -> str:
    """The prompt text for `messages` (already prepared), ending where the assistant's answer starts, or, when
    the last message is an assistant prefill, right after its text."""
    template = None if has_chat_template(tokenizer) else FALLBACK_TEMPLATE
    head, prefill = split_prefill(messages)
    text = tokenizer.apply_chat_template(head, chat_template=template, tokenize=False, add_generation_prompt=True)
    if prefill:
        text += prefill if template is None else " " + prefill
    return text


def encode_prompt(tokenizer, messages: list[dict[str, str]], max_context: int | None = None) -> tuple[list[int], bool]:
    """Token ids of the rendered prompt, truncated from the left to `max_context`; returns (ids, truncated).

    Chat templates already write the special tokens they need (BOS etc.), so they are not added again;
    the plain fallback template lets the tokenizer add its usual ones.
    """
    text = render_prompt(tokenizer, messages)
    ids = tokenizer(text, add_special_tokens=not has_chat_template(tokenizer))["input_ids"]
    ids = list(ids)
    if max_context is not None and len(ids) > max_context:
        return ids[-max_context:], True
    return ids, False
