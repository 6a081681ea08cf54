"""Few-shot example selection (BM25)."""

from __future__ import annotations

from clinextract.examples import Example, ExamplePool


def test_asking_for_the_whole_pool_still_ranks_it() -> None:
    pool = ExamplePool(
        [Example("lever cyste", "a"), Example("long nodus", "b"), Example("nier steen", "c")]
    )
    chosen = pool.select("long nodus rechts", 3)
    assert len(chosen) == 3 and chosen[-1].output == "b"  # the most similar sits last
