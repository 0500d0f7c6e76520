"""FlextApiConfig: the application settings of ``create_fastapi_app``.

Precedence: arguments > ``FLEXT_API_*`` environment variables > defaults. Everything is
validated at construction; an invalid value raises :class:`FlextApiConfigError` naming the
field (and the environment variable it came from), because no retry can fix a bad setting.

This module must never read the environment outside :meth:`FlextApiConfig.from_env`, and
never accept a value it cannot use (a negative limit, CORS credentials with a ``*`` origin).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["ENV_PREFIX", "FlextApiConfig", "FlextApiConfigError"]

ENV_PREFIX = "FLEXT_API_"

Environment = Literal["development", "production"]

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_ORIGIN = re.compile(r"\*|https?://[A-Za-z0-9.\-\[\]:]+")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "*"})


class FlextApiConfigError(ValueError):
    """A setting is invalid; ``field`` names it."""

    def __init__(self, field: str, problem: str, *, source: str | None = None) -> None:
        where = f" (from {source})" if source else ""
        super().__init__(f"FlextApiConfig.{field}{where}: {problem}")
        self.field = field
        self.problem = problem
        self.source = source


# The kind of each field drives both environment parsing and type checking.
_Kind = Literal["str", "optional_str", "bool", "optional_bool", "int", "optional_int", "float",
                "optional_float", "str_tuple"]  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class FlextApiConfig:
    """Settings for the application ``create_fastapi_app`` builds.

    ``expose_docs=None`` means: docs on in development, off in production.
    ``cors_origins=()`` means no CORS middleware at all. ``rate_limit=None`` turns rate
    limiting off; with ``redis_url`` set, the limit is shared through Redis, each Redis call
    bounded by ``redis_connect_timeout_seconds`` and ``redis_timeout_seconds``; when Redis
    fails, ``rate_limit_fail_open`` lets requests through (``True``) or answers 503.
    """

    title: str = "flext-api"
    version: str = "0.1.0"
    description: str = ""
    environment: Environment = "development"
    expose_docs: bool | None = None
    docs_url: str | None = "/docs"
    redoc_url: str | None = "/redoc"
    openapi_url: str | None = "/openapi.json"
    cors_origins: tuple[str, ...] = ()
    cors_allow_credentials: bool = False
    cors_allow_methods: tuple[str, ...] = ("GET", "POST", "PUT", "PATCH", "DELETE")
    cors_allow_headers: tuple[str, ...] = ("Authorization", "Content-Type", "X-Request-ID")
    request_id_header: str = "X-Request-ID"
    slow_request_ms: float | None = 1000.0
    access_log: bool = True
    access_log_skip_paths: tuple[str, ...] = ("/health", "/ready")
    metrics: bool = True
    health_path: str = "/health"
    ready_path: str = "/ready"
    metrics_path: str = "/metrics"
    max_body_bytes: int = 1_048_576
    body_timeout_seconds: float | None = 30.0
    allowed_content_types: tuple[str, ...] = (
        "application/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    )
    content_security_policy: str | None = "default-src 'none'; frame-ancestors 'none'"
    hsts_max_age: int = 31_536_000
    frame_options: str = "DENY"
    referrer_policy: str = "no-referrer"
    rate_limit: int | None = None
    rate_limit_window_seconds: float = 60.0
    rate_limit_fail_open: bool = True
    redis_url: str | None = None
    # Sub-second on purpose: every limited request waits on Redis, so a Redis that hangs
    # (accepts connections, never answers) must cost a request a fraction of a second, not
    # redis-py's default of 5 s per attempt times its retries.
    redis_connect_timeout_seconds: float = 0.5
    redis_timeout_seconds: float = 0.5
    ready_timeout_seconds: float = 2.0
    # Seconds /ready answers 503 after SIGTERM before the server stops accepting (0: stop at
    # once). Set it above the time the orchestrator takes to stop routing to the process.
    shutdown_drain_seconds: float = 0.0
    # OpenTelemetry server spans and metrics (flext_api.server.telemetry; the ``otel`` extra).
    otel: bool = False

    def __post_init__(self) -> None:
        for spec in dataclasses.fields(self):
            _check_type(spec.name, _KINDS[spec.name], getattr(self, spec.name))
        self._check_values()

    @property
    def docs_enabled(self) -> bool:
        """Whether the docs, ReDoc and OpenAPI URLs are served."""
        if self.expose_docs is None:
            return self.environment == "development"
        return self.expose_docs

    def _check_values(self) -> None:
        if self.environment not in ("development", "production"):
            raise FlextApiConfigError(
                "environment", f"must be 'development' or 'production', got {self.environment!r}"
            )
        if not self.title.strip():
            raise FlextApiConfigError("title", "must not be empty")
        for name in ("docs_url", "redoc_url", "openapi_url", "health_path", "ready_path",
                     "metrics_path"):  # fmt: skip
            value = getattr(self, name)
            if value is not None and not value.startswith("/"):
                raise FlextApiConfigError(name, f"must be a path starting with '/', got {value!r}")
        for path in self.access_log_skip_paths:
            if not path.startswith("/"):
                raise FlextApiConfigError(
                    "access_log_skip_paths", f"must hold paths starting with '/', got {path!r}"
                )
        for origin in self.cors_origins:
            if not _ORIGIN.fullmatch(origin):
                raise FlextApiConfigError(
                    "cors_origins",
                    f"{origin!r} is not an origin (scheme://host[:port] with no path, or '*')",
                )
        if self.cors_allow_credentials and "*" in self.cors_origins:
            raise FlextApiConfigError(
                "cors_allow_credentials",
                "cannot be used with the '*' origin (browsers refuse it); list the origins",
            )
        for method in self.cors_allow_methods:
            if method.upper() not in _METHODS:
                raise FlextApiConfigError("cors_allow_methods", f"unknown method {method!r}")
        for header in (*self.cors_allow_headers, self.request_id_header):
            if not _TOKEN.fullmatch(header):
                field = "request_id_header" if header == self.request_id_header else (
                    "cors_allow_headers")  # fmt: skip
                raise FlextApiConfigError(field, f"{header!r} is not a valid header name")
        for name in ("max_body_bytes", "rate_limit"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise FlextApiConfigError(name, f"must be at least 1, got {value}")
        for name in ("body_timeout_seconds", "rate_limit_window_seconds", "slow_request_ms",
                     "redis_connect_timeout_seconds", "redis_timeout_seconds",
                     "ready_timeout_seconds"):  # fmt: skip
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise FlextApiConfigError(name, f"must be greater than 0, got {value}")
        if not self.shutdown_drain_seconds >= 0:
            raise FlextApiConfigError(
                "shutdown_drain_seconds",
                f"must be 0 (off) or more, got {self.shutdown_drain_seconds}",
            )
        if self.hsts_max_age < 0:
            raise FlextApiConfigError(
                "hsts_max_age", f"must be 0 (off) or more, got {self.hsts_max_age}"
            )
        if self.frame_options.upper() not in ("DENY", "SAMEORIGIN"):
            raise FlextApiConfigError(
                "frame_options", f"must be 'DENY' or 'SAMEORIGIN', got {self.frame_options!r}"
            )
        if self.redis_url is not None and not self.redis_url.startswith(
            ("redis://", "rediss://", "unix://")
        ):
            raise FlextApiConfigError("redis_url", "must start with redis://, rediss:// or unix://")

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: object
    ) -> FlextApiConfig:
        """Build from ``FLEXT_API_<FIELD>`` variables, with ``overrides`` taking precedence.

        Lists are comma-separated; booleans are ``true/false/1/0/yes/no/on/off``; an empty
        value means ``None`` for optional fields. An unknown ``FLEXT_API_*`` variable is an
        error (a typo would otherwise be silently ignored).
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, raw in env.items():
            if not name.startswith(ENV_PREFIX):
                continue
            field = name[len(ENV_PREFIX) :].lower()
            if field not in _KINDS:
                raise FlextApiConfigError(
                    field, f"unknown setting; known: {', '.join(sorted(_KINDS))}", source=name
                )
            values[field] = _parse(field, _KINDS[field], raw, name)
        for field in overrides:
            if field not in _KINDS:
                raise FlextApiConfigError(
                    field, f"unknown setting; known: {', '.join(sorted(_KINDS))}"
                )
        values.update(overrides)
        try:
            return cls(**values)
        except FlextApiConfigError as error:
            source = ENV_PREFIX + error.field.upper()
            if error.field not in overrides and source in env:
                raise FlextApiConfigError(error.field, error.problem, source=source) from None
            raise

    def replace(self, **overrides: object) -> FlextApiConfig:
        """A copy with ``overrides`` applied (validated like a new config)."""
        for field in overrides:
            if field not in _KINDS:
                raise FlextApiConfigError(
                    field, f"unknown setting; known: {', '.join(sorted(_KINDS))}"
                )
        values: dict[str, Any] = dict(overrides)
        return dataclasses.replace(self, **values)


_KINDS: dict[str, _Kind] = {
    "title": "str",
    "version": "str",
    "description": "str",
    "environment": "str",
    "expose_docs": "optional_bool",
    "docs_url": "optional_str",
    "redoc_url": "optional_str",
    "openapi_url": "optional_str",
    "cors_origins": "str_tuple",
    "cors_allow_credentials": "bool",
    "cors_allow_methods": "str_tuple",
    "cors_allow_headers": "str_tuple",
    "request_id_header": "str",
    "slow_request_ms": "optional_float",
    "access_log": "bool",
    "access_log_skip_paths": "str_tuple",
    "metrics": "bool",
    "health_path": "str",
    "ready_path": "str",
    "metrics_path": "str",
    "max_body_bytes": "int",
    "body_timeout_seconds": "optional_float",
    "allowed_content_types": "str_tuple",
    "content_security_policy": "optional_str",
    "hsts_max_age": "int",
    "frame_options": "str",
    "referrer_policy": "str",
    "rate_limit": "optional_int",
    "rate_limit_window_seconds": "float",
    "rate_limit_fail_open": "bool",
    "redis_url": "optional_str",
    "redis_connect_timeout_seconds": "float",
    "redis_timeout_seconds": "float",
    "ready_timeout_seconds": "float",
    "shutdown_drain_seconds": "float",
    "otel": "bool",
}

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _parse(field: str, kind: _Kind, raw: str, source: str) -> object:
    text = raw.strip()
    if kind.startswith("optional_") and text == "":
        return None
    base = kind.removeprefix("optional_")
    if base == "str":
        return raw
    if base == "str_tuple":
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    if base == "bool":
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise FlextApiConfigError(field, f"expected true/false, got {raw!r}", source=source)
    try:
        return int(text) if base == "int" else float(text)
    except ValueError:
        raise FlextApiConfigError(
            field,
            f"expected {'an integer' if base == 'int' else 'a number'}, got {raw!r}",
            source=source,
        ) from None


def _check_type(field: str, kind: _Kind, value: object) -> None:
    if value is None and kind.startswith("optional_"):
        return
    base = kind.removeprefix("optional_")
    ok: bool
    if base == "str":
        ok = isinstance(value, str)
    elif base == "bool":
        ok = isinstance(value, bool)
    elif base == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif base == "float":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    else:
        ok = isinstance(value, tuple) and all(isinstance(item, str) for item in value)
    if not ok:
        expected = {
            "str": "a string",
            "bool": "a bool",
            "int": "an integer",
            "float": "a number",
            "str_tuple": "a tuple of strings",
        }[base]
        suffix = " or None" if kind.startswith("optional_") else ""
        raise FlextApiConfigError(field, f"expected {expected}{suffix}, got {value!r}")
