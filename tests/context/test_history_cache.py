"""The per-process history cache: topped up when a conversation grows, read again when its tail changed."""

from __future__ import annotations

from context.budget import HistoryMessage
from context.history_cache import HistoryCache


class Store:
    """Rows of one conversation as the database has them, counting what is read."""

    def __init__(self, digests: list[str]) -> None:
        self.digests = list(digests)
        self.reads: list[tuple[int, int]] = []

    def fetch(self, start: int, stop: int):
        self.reads.append((start, stop))
        return [(HistoryMessage(role="user", size=10, payload=f'"{d}"'), d) for d in self.digests[start:stop]]

    def tail(self) -> tuple[str, ...]:
        return tuple(self.digests[-8:])


def test_a_growing_conversation_is_read_once_then_only_its_new_rows():
    cache, store = HistoryCache(1 << 20), Store([f"m{i}" for i in range(20)])
    first = cache.rows(1, 20, store.tail(), store.fetch)
    assert [m.payload for m in first] == [f'"m{i}"' for i in range(20)]
    assert cache.rows(1, 20, store.tail(), store.fetch) is first
    store.digests += ["m20", "m21"]
    grown = cache.rows(1, 22, store.tail(), store.fetch)
    assert [m.payload for m in grown][-2:] == ['"m20"', '"m21"'] and len(grown) == 22
    assert store.reads == [(0, 20), (20, 22)]


def test_a_rewritten_tail_or_a_shorter_conversation_is_read_again():
    cache, store = HistoryCache(1 << 20), Store([f"m{i}" for i in range(10)])
    cache.rows(1, 10, store.tail(), store.fetch)
    store.digests[9] = "edited"
    assert cache.rows(1, 10, store.tail(), store.fetch)[-1].payload == '"edited"'
    store.digests = store.digests[:5]
    assert len(cache.rows(1, 5, store.tail(), store.fetch)) == 5
    store.digests += [f"n{i}" for i in range(30)]  # grew past what the row's tail can vouch for
    assert len(cache.rows(1, 35, store.tail(), store.fetch)) == 35
    assert store.reads == [(0, 10), (0, 10), (0, 5), (0, 35)]


def test_the_cache_is_bounded_by_bytes_least_recently_used_first():
    cache = HistoryCache(250)
    stores = {n: Store([f"c{n}m{i}" for i in range(10)]) for n in (1, 2, 3)}  # 100 bytes each
    for n, store in stores.items():
        cache.rows(n, 10, store.tail(), store.fetch)
    cache.rows(1, 10, stores[1].tail(), stores[1].fetch)  # 1 was evicted by 3: read again
    assert stores[1].reads == [(0, 10), (0, 10)]
    cache.rows(3, 10, stores[3].tail(), stores[3].fetch)
    assert stores[3].reads == [(0, 10)]
