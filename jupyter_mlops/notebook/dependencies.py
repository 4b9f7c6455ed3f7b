"""Edges between a notebook's functions, their run order, and the cycle that forbids one.

Once each function knows where its inputs come from, the plan is a graph: data edges
(a producer's names a consumer reads) and ``after`` edges from tags. This module turns that
into edges and a stable topological order, or a PlanError naming the cycle. It stands
apart from the parser because it is graph work on finished Functions: it reads no cells.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ..errors import PlanError
from .plan import Edge, Function


def function_edges(
    functions: list[Function],
    after_tags: Mapping[str, list[tuple[str, int, bool]]],
    notebook: str,
    warn: Callable[[int | None, str], None],
) -> list[Edge]:
    """Data edges (producer -> consumer, with the names passed) and ``after`` edges.

    ``after_tags`` maps a function to its (function, cell, lenient) after tags; lenient ones
    (Kale's prev: on a continuation cell) that name no other step are a warning, not an error.
    """
    by_name = {f.name: f for f in functions}
    edges: dict[tuple[str, str], list[str]] = {}
    for function in functions:
        for variable in function.data_inputs:
            edges.setdefault((function.sources[variable], function.name), []).append(variable)
        for after, cell, lenient in after_tags[function.name]:
            if lenient and (after not in by_name or after == function.name):
                what = "its own step" if after == function.name else "no step"
                warn(
                    cell,
                    f"tag prev:{after} on a continuation cell of step "
                    f"{function.name!r} names {what}; ignored, as Kale ignores it",
                )
                continue
            if after not in by_name:
                raise PlanError(
                    f"tag after:{after} names no function (functions: {', '.join(by_name)})",
                    notebook=notebook,
                    cell=cell,
                )
            if after == function.name:
                raise PlanError(
                    f"function {after!r} cannot run after itself", notebook=notebook, cell=cell
                )
            if after not in function.after:
                function.after.append(after)
            edges.setdefault((after, function.name), [])
    return [Edge(s, t, tuple(names)) for (s, t), names in edges.items()]


def run_order(
    functions: list[Function],
    edges: list[Edge],
    split_cells: Mapping[str, tuple[int, int]],
    notebook: str,
) -> list[Function]:
    """Topological order, ties broken by position in the notebook; cycles are errors.

    ``split_cells`` maps a function tagged on non-consecutive cells to two of them, for the hint.
    """
    position = {f.name: f.cells[0].index for f in functions}
    incoming = {f.name: {e.source for e in edges if e.target == f.name} for f in functions}
    ordered: list[str] = []
    ready = sorted((n for n, deps in incoming.items() if not deps), key=lambda n: position[n])
    while ready:
        name = ready.pop(0)
        ordered.append(name)
        for other, deps in incoming.items():
            if name in deps:
                deps.discard(name)
                if not deps and other not in ordered and other not in ready:
                    ready.append(other)
        ready.sort(key=lambda n: position[n])
    if len(ordered) < len(functions):
        cycle = find_cycle({k: set(v) for k, v in incoming.items() if k not in ordered})
        path = " -> ".join(f"{n} (cell {position[n]})" for n in cycle)
        hint = "split a function or move the cell that closes the loop"
        split = [n for n in cycle if n in split_cells]
        if split:
            first, again = split_cells[split[0]]
            hint = (
                f"function {split[0]!r} is tagged on cells {first} and {again}, not "
                "consecutive; if they are two functions, give them two names"
            )
        raise PlanError(
            f"the functions depend on each other in a cycle: {path}",
            notebook=notebook,
            cell=position[cycle[0]],
            hint=hint,
        )
    by_name = {f.name: f for f in functions}
    return [by_name[name] for name in ordered]


def find_cycle(graph: Mapping[str, set[str]]) -> list[str]:
    """One cycle in a graph of name -> names it depends on, first node repeated at the end."""
    for start in sorted(graph):
        path = [start]
        seen = {start}
        node = start
        while True:
            following = sorted(d for d in graph.get(node, set()) if d in graph)
            if not following:
                break
            node = following[0]
            if node in seen:
                loop = path[path.index(node) :]
                return [*loop, node][::-1]  # in run order: each feeds the next
            path.append(node)
            seen.add(node)
    return sorted(graph)
