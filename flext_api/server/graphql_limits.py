"""How deep and how wide a GraphQL operation reaches, fragments expanded: the numbers the
server's depth and complexity limits judge. Pure: no I/O, no execution."""

from __future__ import annotations

from collections.abc import Mapping

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)

__all__ = ["measure_operation"]


def measure_operation(
    document: DocumentNode,
    operation: OperationDefinitionNode,
    max_depth: int,
    max_complexity: int,
) -> tuple[int, int]:
    """(deepest field level, field count) of ``operation``; counting stops once past a limit,
    so a hostile query costs at most the limits' worth of work."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    return _measure(operation.selection_set, fragments, 0, frozenset(), (max_depth, max_complexity))


def _measure(
    selection_set: SelectionSetNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    depth: int,
    visiting: frozenset[str],
    limits: tuple[int, int],
) -> tuple[int, int]:
    max_depth, max_complexity = limits
    deepest = depth
    count = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            count += 1
            inner_depth = depth + 1
            if selection.selection_set is not None and inner_depth <= max_depth:
                inner_depth, inner_count = _measure(
                    selection.selection_set,
                    fragments,
                    depth + 1,
                    visiting,
                    limits,
                )
                count += inner_count
            deepest = max(deepest, inner_depth)
        elif isinstance(selection, InlineFragmentNode):
            inner_depth, inner_count = _measure(
                selection.selection_set, fragments, depth, visiting, limits
            )
            deepest, count = max(deepest, inner_depth), count + inner_count
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            # Validation refuses cycles; the guard keeps this function total anyway.
            if fragment is not None and name not in visiting:
                inner_depth, inner_count = _measure(
                    fragment.selection_set,
                    fragments,
                    depth,
                    visiting | {name},
                    limits,
                )
                deepest, count = max(deepest, inner_depth), count + inner_count
        if deepest > max_depth or count > max_complexity:
            break
    return deepest, count
