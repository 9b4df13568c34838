"""One redaction for everything selfmoa persists or prints: configs, manifests, ids, URLs, logs and errors.

- :func:`redact` walks config-like data: values of secret-looking keys (``api_key``, ``hf_token``, ``password``,
  header names such as ``Authorization``) become ``***``, and every string goes through :func:`redact_text`.
  ``*_env`` keys name an environment variable, not a secret, and are kept.
- :func:`redact_url` drops the userinfo of a URL (``http://user:pass@host`` -> ``http://***@host``) and masks
  query parameters with secret-looking names (``?api_key=...``, ``&token=...``, ``&sig=...``).
- :func:`redact_text` does the same to every URL inside free text, and masks ``Bearer ...`` tokens,
  ``key=value`` pairs with secret-looking keys, and any value passed to :func:`register_secret` (an API key
  read from the environment, so that a server echoing it back cannot put it in a message).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"

_SECRET_WORDS = {"api_key", "apikey", "token", "secret", "password", "passwd", "pwd", "credential", "credentials",
                 "authorization", "auth", "cookie", "signature"}
_QUERY_WORDS = {"key", "sig", "code"}  # short query-parameter names that carry secrets in URLs
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s'\"<>`]+")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=\-]{4,}")
_PAIR = re.compile(r"([A-Za-z_][\w.\-]*)(['\"]?\s*[=:]\s*['\"]?)([^\s&,;'\"]+)")
_SECRETS: set[str] = set()


def is_secret_key(key: str) -> bool:
    """`api_key`, `hf_token`, `password`, `X-Api-Key`, `Authorization`... but not `max_new_tokens` or `api_key_env`."""
    lk = str(key).lower().replace("-", "_")
    if lk.endswith("_env"):
        return False
    last = lk.rsplit(".", 1)[-1]  # `--set generation.openai.api_key=...` names the key by its path
    parts = re.split(r"[_.]", last)
    return last in _SECRET_WORDS or any(p in _SECRET_WORDS for p in parts) or "api_key" in last


def register_secret(value: str | None) -> None:
    """Mask this exact value wherever :func:`redact_text` sees it (values shorter than 4 characters are ignored)."""
    if value and len(value) >= 4:
        _SECRETS.add(value)


def redact_url(url: str) -> str:
    """`url` without userinfo and with secret query parameters masked; unchanged when it holds neither."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(is_secret_key(k) or k.lower() in _QUERY_WORDS for k, _ in pairs):
            query = urlencode([(k, MASK if (is_secret_key(k) or k.lower() in _QUERY_WORDS) else v) for k, v in pairs],
                              safe="*")
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _mask_pair(m: re.Match) -> str:
    key, sep, value = m.group(1), m.group(2), m.group(3)
    if value == MASK or value.isdigit() or value.lower() in ("bearer", "basic") or not is_secret_key(key) or "://" in value:
        return m.group(0)
    return f"{key}{sep}{MASK}"


def redact_text(text: str) -> str:
    """Free text (a message, a log line, a command line) with URLs, bearer tokens and secret pairs masked."""
    if not isinstance(text, str) or not text:
        return text
    out = _URL.sub(lambda m: redact_url(m.group(0)), text)
    out = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", out)
    out = _PAIR.sub(_mask_pair, out)
    for secret in sorted(_SECRETS, key=len, reverse=True):
        out = out.replace(secret, MASK)
    return out


def _secret_value(key: Any, value: Any) -> bool:
    return is_secret_key(str(key)) and value not in (None, "") and not isinstance(value, (bool, int, float))


def redact(obj: Any) -> Any:
    """A copy of config-like data (dicts, lists, strings) with secrets masked; other values unchanged."""
    if isinstance(obj, dict):
        return {k: (MASK if _secret_value(k, v) else redact(v)) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [redact(v) for v in obj]
    if isinstance(obj, str):
        return redact_text(obj)
    return obj
