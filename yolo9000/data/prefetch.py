"""Reading ahead: load the next items on a few threads while the caller works on the current ones.

Image decoding releases the GIL, so a small thread pool overlaps reading with the model (inference and
evaluation; training uses DataLoader workers instead).
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def batched(items: Sequence[T], n: int) -> Iterator[Sequence[T]]:
    """`items` in consecutive slices of at most `n`."""
    if n < 1:
        raise ValueError(f"batch size must be >= 1, got {n}")
    for i in range(0, len(items), n):
        yield items[i : i + n]


def prefetched(items: Iterable[T], load: Callable[[T], R], *, workers: int, depth: int) -> Iterator[tuple[T, R]]:
    """(item, load(item)) in the order of `items`, with at most `depth` loads in flight on `workers` threads
    (bounded memory); `workers` 0 loads each item in the calling thread when it is reached."""
    if workers <= 0:
        for item in items:
            yield item, load(item)
        return
    it = iter(items)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque[tuple[T, Future[R]]] = deque(
            (item, pool.submit(load, item)) for item in itertools.islice(it, max(1, depth))
        )
        while pending:
            item, fut = pending.popleft()
            for nxt in itertools.islice(it, 1):
                pending.append((nxt, pool.submit(load, nxt)))
            yield item, fut.result()
