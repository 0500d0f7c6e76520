"""The ``webhooks`` module of a generated package (CODEGEN.md G20): what the document's
``webhooks`` and operations' ``callbacks`` deliver, as plain data for ``webhooks.py.jinja``.

Job: one event per webhook (received on ``/<webhook name>``) and per callback operation
(received on ``/callbacks/<operation>/<callback name>``): its handler method name, the
generated type of its JSON body and the status a handled delivery answers (the first 2xx the
document lists, else 200). An event without a JSON body gets a diagnostic and no receiver.

Never: pick a type itself (plan.py renders it) or let two events share a handler name.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from . import ir
from .clients import model_imports
from .diagnostics import Diagnostics, join_pointer
from .naming import snake
from .plan import Planner
from .render import Renderer

__all__ = ["webhooks_module"]


def _events(api: ir.Api) -> list[tuple[str, str, str, ir.Operation]]:
    """(name, path, handler, operation) of every webhook and callback."""
    found = [(w.path, "/" + quote(w.path, safe=".-_~"), w.python_name, w) for w in api.webhooks]
    for op in api.operations:
        for name, callback in op.callbacks:
            handler = f"{op.python_name}_{snake(name)}"
            path = f"/callbacks/{op.python_name}/{snake(name)}"
            if sum(1 for n, _ in op.callbacks if n == name) > 1:
                handler += f"_{callback.method.lower()}"
            found.append((f"{op.operation_id}.{name}", path, handler, callback))
    return found


def webhooks_module(
    api: ir.Api,
    *,
    package: str,
    api_name: str,
    planner: Planner,
    diagnostics: Diagnostics,
    renderer: Renderer,
) -> str | None:
    """The module's text, or ``None`` when the document has no receivable event."""
    events: list[dict[str, Any]] = []
    taken: set[str] = set()
    for name, path, wanted, op in _events(api):
        content = next(
            (c for c in (op.body.contents if op.body else ()) if "json" in c.media_type),
            None,
        )
        if content is None or content.type is None:
            diagnostics.report(
                join_pointer(op.pointer),
                f"webhook or callback {name!r} has no JSON body",
                "no receiver or sender generated for it; its models are generated",
                severity="info",
            )
            continue
        handler = wanted
        while handler in taken:
            handler += "_"
        taken.add(handler)
        statuses = [r.status for r in op.responses if r.status[:1] == "2" and r.status.isdigit()]
        requirements = op.security if op.security is not None else api.security
        schemes = sorted({name for requirement in requirements for name, _ in requirement})
        security = (
            f" The document authenticates deliveries with {', '.join(schemes)}: give the"
            " matching verifier (``_wh.BasicAuthVerifier`` for HTTP Basic; ``_wh.AllOf``"
            " combines it with a signature check)."
            if schemes
            else ""
        )
        events.append(
            {
                "name": name,
                "path": path,
                "method": op.method.upper(),
                "handler": handler,
                "annotation": planner.render(content.type),
                "status": int(statuses[0]) if statuses else 200,
                "doc": op.summary or op.description or f"The ``{name}`` event.",
                "security": security,
            }
        )
    if not events:
        return None
    return renderer.render(
        "webhooks.py.jinja",
        package=package,
        api_name=api_name,
        title=" ".join(api.title.split()),
        events=events,
        model_names=model_imports([e["annotation"] for e in events], planner.exported),
    )
