import numpy as np
import pytest

from llmsim.runtime.kv_cache import PagedKVCache, PrefixCachingKVCache, shared_block_keys
from llmsim.runtime.request import Request


def req(rid, prompt, output=10, ids=None, hash_ids=None):
    return Request(
        rid,
        0,
        0,
        prompt,
        output,
        None if ids is None else np.asarray(ids, dtype=np.int64),
        None if hash_ids is None else np.asarray(hash_ids, dtype=np.int64),
    )


def admit(kv, r, n=None):
    """Lookup + allocate as the scheduler does; returns the hit tokens."""
    hit, blocks = kv.lookup(r)
    n = r.num_tokens - hit if n is None else n
    assert kv.allocate_new(r, blocks, n)
    r.num_computed = hit + n
    return hit


def test_paged_counts_blocks_and_refuses_without_changing_state():
    kv = PagedKVCache(num_blocks=4, block_size=4)
    a, b = req(0, 6), req(1, 9)
    assert admit(kv, a) == 0 and a.blocks == 2 and kv.num_free == 2
    assert not kv.allocate_new(b, [], 9)  # needs 3
    assert kv.num_free == 2 and b.blocks == 0
    assert kv.allocate(a, 2)  # 8 tokens: still 2 blocks
    a.num_computed = 8
    assert kv.num_free == 2
    assert kv.allocate(a, 1) and kv.num_free == 1  # 9 tokens: 3 blocks
    a.num_computed = 9
    kv.check_invariants([a])
    kv.free(a)
    assert kv.num_free == 4 and a.blocks == 0
    kv.check_invariants([])


def test_prefix_hit_on_shared_prefix_never_the_whole_prompt():
    kv = PrefixCachingKVCache(num_blocks=20, block_size=16)
    shared = list(range(100, 132))  # two full blocks
    a = req(0, 40, ids=[*shared, *range(8)])
    b = req(1, 40, ids=[*shared, *range(50, 58)])
    assert admit(kv, a) == 0
    assert admit(kv, b) == 32  # both shared blocks, a's third block is partial
    assert b.blocks[:2] == a.blocks[:2]
    same = req(2, 32, ids=shared)
    assert admit(kv, same) == 16  # whole prompt cached, but the last token is recomputed
    kv.check_invariants([a, b, same])


def test_hit_accounting_is_separate_from_lookup():
    kv = PrefixCachingKVCache(num_blocks=8, block_size=4)
    a = req(0, 8, ids=range(8))
    admit(kv, a)
    b = req(1, 8, ids=range(8))
    hit, _ = kv.lookup(b)
    hit2, _ = kv.lookup(b)  # a retried lookup of a request that could not be admitted
    assert hit == hit2 == 4
    assert kv.queried_tokens == 0 and kv.hit_tokens == 0  # the scheduler records once, on admission


def test_freed_blocks_stay_cached_and_are_evicted_least_recently_freed_first():
    kv = PrefixCachingKVCache(num_blocks=6, block_size=2)
    a = req(0, 5, ids=[1, 2, 3, 4, 5])  # 3 blocks, 2 full
    b = req(1, 5, ids=[6, 7, 8, 9, 10])
    admit(kv, a)
    admit(kv, b)
    # a's two full blocks have an identity (their content can be found again), its partial third
    # block is anonymous
    assert len(a.blocks) == 2 and a.n_anon == 1 and kv.blocks_held(a) == 3
    a_blocks = list(a.blocks)
    kv.free(a)  # freed tail first: a's third block is evicted first, its first block last
    kv.free(b)
    kv.check_invariants([])
    assert kv.num_free == 6 and kv.num_cached == 4
    assert [b for b in kv._free_queue if b >= 0][:2] == [a_blocks[1], a_blocks[0]]
    # A newcomer with a's prompt still hits both of a's full blocks.
    a2 = req(2, 5, ids=[1, 2, 3, 4, 5])
    assert kv.lookup(a2)[0] == 4
    # Take two blocks: the first two in the free queue are a's partial block and a's second block.
    c = req(3, 4, ids=[20, 21, 22, 23])
    admit(kv, c)
    assert kv.num_cached == 3 + 2  # a's second block lost its content; c's two blocks are entered
    assert kv.lookup(a2)[0] == 2  # a's second block was evicted; its first survives
    b2 = req(4, 5, ids=[6, 7, 8, 9, 10])
    assert kv.lookup(b2)[0] == 4  # b was freed later: untouched
    kv.check_invariants([c])


def test_touching_an_evictable_hit_counts_against_free_blocks():
    kv = PrefixCachingKVCache(num_blocks=3, block_size=2)
    a = req(0, 5, ids=[1, 2, 3, 4, 5])
    admit(kv, a)  # 3 blocks, all in use
    kv.free(a)  # all free; 2 of them cached
    b = req(1, 5, ids=[1, 2, 3, 4, 5])
    hit, blocks = kv.lookup(b)
    assert hit == 4 and len(blocks) == 2
    # b needs its 2 hit blocks (taken from the free queue) and 1 new one: exactly 3 free.
    assert kv.allocate_new(b, blocks, 1)
    b.num_computed = 5
    assert kv.num_free == 0
    kv.check_invariants([b])


def test_shared_blocks_are_reference_counted():
    kv = PrefixCachingKVCache(num_blocks=10, block_size=4)
    a = req(0, 9, ids=range(9))
    b = req(1, 9, ids=range(9))
    admit(kv, a)
    admit(kv, b)
    assert kv.num_free == 10 - 3 - 1  # b shares a's two full blocks
    kv.free(a)
    assert kv.num_free == 10 - 3  # the shared blocks are still held by b
    kv.check_invariants([b])
    kv.free(b)
    assert kv.num_free == 10
    kv.check_invariants([])


def test_identical_blocks_computed_concurrently_are_not_deduplicated():
    kv = PrefixCachingKVCache(num_blocks=10, block_size=4)
    ids = list(range(12))
    a = req(0, 12, ids=ids)
    assert admit(kv, a, n=4) == 0  # first chunk: block 0 entered
    b = req(1, 12, ids=ids)
    assert admit(kv, b) == 4  # hits a's block 0, computes and enters blocks 1 and 2
    assert kv.allocate(a, 8)  # a's second chunk enters its own blocks 1 and 2: duplicates
    a.num_computed = 12
    kv.check_invariants([a, b])
    c = req(2, 12, ids=ids)
    hit, blocks = kv.lookup(c)
    assert hit == 8 and blocks == [a.blocks[0], b.blocks[1]]  # the first entered wins
    kv.free(b)
    kv.free(a)
    kv.check_invariants([])


def test_anonymous_blocks_are_counted_and_keep_their_place_in_the_free_queue():
    kv = PrefixCachingKVCache(num_blocks=12, block_size=4)
    a, b = req(0, 10), req(1, 6)  # synthetic prompts: nothing to share, every block anonymous
    admit(kv, a)
    admit(kv, b)
    assert a.blocks == [] and a.n_anon == 3 and b.n_anon == 2 and kv.num_free == 7
    a.num_output = 1
    a.num_computed = 10
    kv.free(a, preempted=True)  # its two full blocks are kept under private keys, the partial one is not
    assert kv.num_cached == 2 and kv.num_free == 10
    kv.check_invariants([b])
    kv.free(b)
    # The queue: 7 anonymous, a's partial block, a's second and first full blocks, b's two blocks.
    assert list(kv._free_queue.values()) == [8, 1, 1, 2]
    c = req(2, 35)
    admit(kv, c, n=32)  # 8 blocks: the anonymous run, nothing evicted
    assert kv.num_cached == 2
    kv.allocate(c, 3)  # a ninth: a's second block is evicted
    c.num_computed = 35
    a.num_computed, a.preemptions = 0, 1
    assert kv.lookup(a)[0] == 4
    kv.check_invariants([c])


def test_preempted_request_hits_its_own_generated_blocks():
    kv = PrefixCachingKVCache(num_blocks=10, block_size=4)
    r = req(7, 6, output=20)  # synthetic: no ids, nothing shared
    assert admit(kv, r) == 0
    r.num_output = 5  # it generated 5 tokens, computed 10
    assert kv.allocate(r, 4)
    r.num_computed = 10
    other = req(8, 6, output=20)
    assert kv.lookup(other)[0] == 0
    kv.free(r, preempted=True)
    r.num_computed = 0
    r.preemptions = 1
    kv.check_invariants([])
    hit, _ = kv.lookup(r)
    assert hit == 8  # two full blocks of prompt + output; the rest is recomputed
    assert kv.lookup(other)[0] == 0


@pytest.mark.parametrize("block_size", [1, 16, 64, 512, 48, 1000])
def test_mooncake_hash_ids_share_exactly_at_512_tokens(block_size):
    a = req(0, 1300, hash_ids=[11, 22, 33])
    b = req(1, 1300, hash_ids=[11, 22, 44])
    c = req(2, 1300, hash_ids=[11, 99, 33])
    ka, kb, kc = (shared_block_keys(r, block_size) for r in (a, b, c))
    assert len(ka) == 1300 // block_size

    def common(x, y):
        n = 0
        while n < min(len(x), len(y)) and x[n] == y[n]:
            n += 1
        return n

    assert common(ka, kb) == 1024 // block_size  # blocks entirely inside the two shared ids
    assert common(ka, kc) == 512 // block_size
    assert shared_block_keys(req(3, 1300, hash_ids=[11, 22, 33]), block_size) == ka


def test_token_id_keys_are_chained():
    a = req(0, 8, ids=[1, 2, 3, 4, 5, 6, 7, 8])
    b = req(1, 8, ids=[9, 9, 9, 9, 5, 6, 7, 8])  # same second block, different prefix
    ka, kb = shared_block_keys(a, 4), shared_block_keys(b, 4)
    assert ka[0] != kb[0] and ka[1] != kb[1]
    assert shared_block_keys(req(2, 8, ids=range(8)), 4) == shared_block_keys(req(3, 8, ids=range(8)), 4)
    assert shared_block_keys(req(4, 8), 4) == []  # synthetic prompt: no shared keys


def test_invariant_checks_catch_corruption():
    kv = PrefixCachingKVCache(num_blocks=4, block_size=2)
    a = req(0, 3, ids=[1, 2, 3])
    admit(kv, a)
    kv.check_invariants([a])
    with pytest.raises(AssertionError):
        kv.check_invariants([])  # a's blocks would be leaked
    kv.free(a)
    with pytest.raises(AssertionError, match="freed twice"):
        a.blocks = [0]  # its first block: free, still cached
        kv.free(a)
    paged = PagedKVCache(4, 2)
    b = req(1, 3)
    admit(paged, b)
    paged.free_blocks += 1
    with pytest.raises(AssertionError, match="leaked"):
        paged.check_invariants([b])
