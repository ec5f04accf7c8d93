"""Paged KV cache of one instance, with vLLM V1's automatic prefix caching.

A request holds ceil(num_computed / block_size) blocks. Without prefix caching only the number of
free blocks matters (`PagedKVCache`). With it (`PrefixCachingKVCache`) blocks have identity, as in
vLLM's `BlockPool`:

- a full block is entered in the cache under a key that covers its tokens and every token before it
  (a chain: key_j = hash((key_{j-1}, tokens of block j))), so equal keys mean equal prefixes;
- blocks are shared by reference count; a block whose count drops to zero goes to the tail of one
  free queue but keeps its key, so a later request can still hit it;
- a new block is taken from the head of the free queue (least recently freed first), dropping its
  key if it had one; a request's blocks are freed tail first, so its last blocks are evicted first;
- a cache hit is a run of leading blocks and never the whole prompt: the last token is always
  recomputed to produce logits, so at most (num_tokens - 1) // block_size blocks hit;
- like vLLM, identical blocks computed at the same time are not de-duplicated: a key may name
  several blocks, and a lookup takes the one entered first.

Keys come from the request's content: prompt token ids (exact sharing), or block-level content ids
such as Mooncake's `hash_ids` (each covering `HASH_ID_TOKENS` tokens; per-block keys are derived so
sharing is exact at that granularity for any block size), or nothing (synthetic prompts share
nothing). Tokens without ids (generated output, synthetic prompts) get keys private to the request:
they can only be hit by the same request resumed after a preemption. vLLM enters such blocks in the
cache as soon as they are full; since nobody else can hit them, they are entered here only when the
request is preempted, which gives the same block choices with a smaller map.

With KV tiers (tiers.py) the prefix cache also finds blocks below device memory: `tier_run` continues
a request's device hit run in the tiers, `allocate_loading` gives the blocks to load into and
`finish_loading` enters them in the cache; cached blocks evicted from device memory are collected in
`evicted` for the instance to offload. An instance with tiers but without prefix caching uses this
class with `share=False`: no content keys, only a preempted request's own blocks, so that a swapped-out
request can find its blocks again.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from llmsim.runtime.request import Request

HASH_ID_TOKENS = 512  # tokens covered by one Mooncake hash id
_ROOT_KEY = 0x6C6C6D73696D  # parent key of a request's first block


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def shared_block_keys(req: Request, block_size: int) -> list[int]:
    """Keys of the request's full prompt blocks whose content is known (may be empty)."""
    keys: list[int] = []
    prev = _ROOT_KEY
    if req.token_ids is not None:
        ids = req.token_ids[: req.prompt_len].tolist()
        for j in range(len(ids) // block_size):
            prev = hash((prev, tuple(ids[j * block_size : (j + 1) * block_size])))
            keys.append(prev)
    elif req.hash_ids is not None:
        hids = req.hash_ids.tolist()
        known = min(req.prompt_len, len(hids) * HASH_ID_TOKENS)
        for j in range(known // block_size):
            start, end = j * block_size, (j + 1) * block_size
            segments: list[int] = []
            for h in range(start // HASH_ID_TOKENS, (end - 1) // HASH_ID_TOKENS + 1):
                base = h * HASH_ID_TOKENS
                segments += (hids[h], max(start, base) - base, min(end, base + HASH_ID_TOKENS) - base)
            prev = hash((prev, *segments))
            keys.append(prev)
    return keys


class PagedKVCache:
    """Paged KV blocks without prefix caching: only the free count matters."""

    __slots__ = ("block_size", "free_blocks", "hit_tokens", "num_blocks", "queried_tokens", "reused_tokens",
                 "tier_hit_tokens")

    prefix_caching = False
    tiers: tuple = ()
    evicted = None

    def __init__(self, num_blocks: int, block_size: int) -> None:
        self.num_blocks = num_blocks
        self.block_size = block_size
        self.free_blocks = num_blocks
        self.queried_tokens = 0
        self.hit_tokens = 0
        self.tier_hit_tokens = 0
        self.reused_tokens = 0  # tokens admitted as already computed (never, without caching)

    @property
    def num_free(self) -> int:
        return self.free_blocks

    def attach(self, req: Request) -> None:
        """Prepare a request that joins this instance (it holds no blocks yet)."""
        req.blocks = 0
        req.kv_capacity = 0

    def blocks_held(self, req: Request) -> int:
        return req.blocks  # type: ignore[return-value]

    def fits_full(self, req: Request, hit_blocks: list[int], num_tokens: int) -> bool:
        """Whether `num_tokens` tokens of a waiting request would fit in the free blocks."""
        return _ceil_div(num_tokens, self.block_size) <= self.free_blocks

    def lookup(self, req: Request) -> tuple[int, list[int]]:
        """Cached leading tokens of a waiting request and their blocks: none without caching."""
        return 0, []

    def record_lookup(self, queried: int, hit: int, tier_hit: int = 0) -> None:
        pass

    def allocate_received(self, req: Request, hit_blocks: list[int], num_tokens: int) -> bool:
        """Blocks for `num_tokens` tokens whose KV arrives from elsewhere (a prefill instance)."""
        return self.allocate_new(req, hit_blocks, num_tokens)

    def register_received(self, req: Request) -> None:
        """The KV of a received request has arrived (nothing to enter without caching)."""

    def allocate_new(self, req: Request, hit_blocks: list[int], num_new_tokens: int) -> bool:
        """Blocks for a waiting request about to compute `num_new_tokens`; False if they don't fit."""
        need = _ceil_div(num_new_tokens, self.block_size)
        if need > self.free_blocks:
            return False
        self.free_blocks -= need
        req.blocks = need
        req.kv_capacity = need * self.block_size
        return True

    def allocate(self, req: Request, num_new_tokens: int) -> bool:
        """Blocks for a running request to compute `num_new_tokens` more; False if they don't fit."""
        need = _ceil_div(req.num_computed + num_new_tokens, self.block_size) - req.blocks  # type: ignore[operator]
        if need > 0:
            if need > self.free_blocks:
                return False
            self.free_blocks -= need
            req.blocks += need  # type: ignore[operator]
            req.kv_capacity += need * self.block_size
        return True

    def trim(self, req: Request) -> None:
        """Release the blocks past the request's computed tokens (the slots of rejected drafts)."""
        keep = _ceil_div(req.num_computed, self.block_size)
        extra = req.blocks - keep  # type: ignore[operator]
        if extra > 0:
            self.free_blocks += extra
            req.blocks = keep
            req.kv_capacity = keep * self.block_size

    def settle(self, req: Request) -> None:
        """A request whose blocks were counted for it (decoders.py) holds ceil(num_computed /
        block_size) blocks: write that down."""
        blocks = _ceil_div(req.num_computed, self.block_size)
        req.blocks = blocks
        req.kv_capacity = blocks * self.block_size

    def take(self, n: int) -> None:
        """`n` blocks for requests that keep count of their own (decoders.py; they fit)."""
        self.free_blocks -= n

    def free(self, req: Request, preempted: bool = False) -> None:
        self.free_blocks += req.blocks  # type: ignore[operator]
        req.blocks = 0
        req.kv_capacity = 0

    def check_invariants(self, holders: Iterable[Request]) -> None:
        held = 0
        for r in holders:
            assert r.blocks == _ceil_div(r.num_computed, self.block_size), f"{r} holds {r.blocks} blocks"
            assert r.kv_capacity == r.blocks * self.block_size  # type: ignore[operator]
            held += r.blocks  # type: ignore[operator]
        assert 0 <= self.free_blocks <= self.num_blocks, f"free blocks {self.free_blocks}"
        assert held + self.free_blocks == self.num_blocks, (
            f"blocks leaked: {held} held + {self.free_blocks} free != {self.num_blocks}"
        )


class PrefixCachingKVCache:
    """Paged KV blocks with hash-chained prefix caching and LRU eviction (vLLM's BlockPool).

    Only blocks that can be found again need an identity: blocks entered in the cache, and a
    request's blocks its content keys cover (they will be entered when full). Every other block
    (generated tokens, synthetic prompts) is anonymous: a request holds its identity blocks as a
    list (`req.blocks`, always a prefix of its blocks) and the rest as a count (`req.n_anon`), and
    the free queue keeps runs of anonymous blocks as counts. Anonymous blocks are interchangeable, so
    this is exactly vLLM's pool (the same blocks are hit and evicted in the same order), at a cost
    per run instead of per block: a synthetic workload's requests take and free their blocks in
    O(1). Identity blocks get ids from a counter when they need one; a free block without a key
    loses its identity.
    """

    __slots__ = (
        "_dups",
        "_free_queue",
        "_key_of",
        "_map",
        "_next_block",
        "_next_run",
        "_refs",
        "block_size",
        "evicted",
        "hit_tokens",
        "num_blocks",
        "num_free",
        "prefix_caching",
        "queried_tokens",
        "reused_tokens",
        "tier_hit_tokens",
        "tiers",
    )

    def __init__(self, num_blocks: int, block_size: int, share: bool = True, tiers: tuple = ()) -> None:
        self.num_blocks = num_blocks
        self.block_size = block_size
        self.prefix_caching = share  # requests share blocks by content; False: only resumes hit
        self.tiers = tiers  # KVTier objects below device memory, fastest first
        self.evicted: list[object] | None = [] if tiers else None  # evicted keys, for offloading
        self.tier_hit_tokens = 0
        self.reused_tokens = 0  # tokens admitted as already computed (device or tier hits), every admission
        self._refs: dict[int, int] = {}  # identity block -> holders (0: free, and then cached)
        self._key_of: dict[int, object] = {}  # cached block -> its cache key
        # Free blocks in eviction order (head first): a cached block by its id (>= 0, value 1), a run
        # of anonymous blocks by a run id (< 0, value: its length). An OrderedDict gives O(1)
        # pop-from-head, append and removal from the middle, like vLLM's doubly linked free list.
        self._free_queue: OrderedDict[int, int] = OrderedDict()
        self.num_free = 0  # free blocks, cached or anonymous (a plain attribute: read every step)
        self._next_block = 0  # the next identity block id
        self._next_run = -1  # the next run id
        self._push_anon(num_blocks)
        self._map: dict[object, int] = {}  # key -> the first block entered under it
        self._dups: dict[object, list[int]] = {}  # key -> later blocks with the same key
        self.queried_tokens = 0
        self.hit_tokens = 0

    @property
    def num_cached(self) -> int:
        """Blocks currently holding a cache key (in use or evictable)."""
        return len(self._map) + sum(len(d) for d in self._dups.values())

    def attach(self, req: Request) -> None:
        """Prepare a request that joins this instance (it holds no blocks yet)."""
        req.blocks = []
        req.n_anon = 0
        req.kv_capacity = 0
        req.n_registered = 0
        if req.keys_bs != self._keys_tag():  # keys depend on the block size (a router may have built them)
            req.keys = None

    def _keys_tag(self) -> int:
        return self.block_size if self.prefix_caching else -self.block_size

    def keys_of(self, req: Request) -> list:
        """The request's content keys for this block size (none without sharing), built once."""
        tag = self.block_size if self.prefix_caching else -self.block_size
        if req.keys is None or req.keys_bs != tag:
            req.keys = shared_block_keys(req, self.block_size) if self.prefix_caching else []
            req.keys_bs = tag
        return req.keys

    def _key_at(self, req: Request, j: int) -> object:
        """Key of block j of the request: by content, or private to it (None: a block nobody could
        have cached, past its content and not its own resumed)."""
        keys = req.keys
        assert keys is not None
        if j < len(keys):
            return keys[j]
        return (req.rid, j) if req.preemptions else None

    def blocks_held(self, req: Request) -> int:
        return len(req.blocks) + req.n_anon  # type: ignore[arg-type]

    def record_lookup(self, queried: int, hit: int, tier_hit: int = 0) -> None:
        if self.prefix_caching:
            self.queried_tokens += queried
            self.hit_tokens += hit
            self.tier_hit_tokens += tier_hit

    # -- cache map --------------------------------------------------------------------------------

    def _enter(self, block: int, key: object) -> None:
        self._key_of[block] = key
        if key in self._map:
            self._dups.setdefault(key, []).append(block)
        else:
            self._map[key] = block

    def _evict(self, block: int, key: object) -> None:
        """Drop the cache entry of `block` (under `key`)."""
        dups = self._dups.get(key)
        if self._map[key] == block:
            if dups:
                self._map[key] = dups.pop(0)
                if not dups:
                    del self._dups[key]
            else:
                del self._map[key]
        else:
            assert dups is not None
            dups.remove(block)
            if not dups:
                del self._dups[key]

    # -- the free queue ---------------------------------------------------------------------------

    def _push_anon(self, n: int) -> None:
        """`n` anonymous blocks join the tail of the free queue (the tail run grows)."""
        if n <= 0:
            return
        self.num_free += n
        fq = self._free_queue
        if fq:
            last = next(reversed(fq))
            if last < 0:
                fq[last] += n  # (updating a value keeps its place)
                return
        fq[self._next_run] = n
        self._next_run -= 1

    def _release(self, b: int) -> None:
        """One holder of identity block `b` lets go; free, it stays cached if it has a key."""
        refs = self._refs
        left = refs[b] - 1
        assert left >= 0, f"block {b} freed twice"
        if left:
            refs[b] = left
        elif b in self._key_of:
            refs[b] = 0
            self._free_queue[b] = 1
            self.num_free += 1
        else:  # nothing could ever find it again: an anonymous free block
            del refs[b]
            self._push_anon(1)

    def _pop(self, n: int) -> None:
        """Take `n` blocks from the head of the free queue (the caller checked they are there),
        evicting their cached content."""
        if n <= 0:
            return
        self.num_free -= n
        fq = self._free_queue
        key_of = self._key_of
        evicted = self.evicted
        while n:
            b = next(iter(fq))
            if b < 0:
                run = fq[b]
                if run > n:
                    fq[b] = run - n
                    return
                del fq[b]
                n -= run
            else:
                del fq[b]
                key = key_of.pop(b)
                if evicted is not None:
                    evicted.append(key)
                self._evict(b, key)
                del self._refs[b]
                n -= 1

    def _new_ids(self, n: int) -> list[int]:
        """`n` fresh identity blocks, each held once."""
        first = self._next_block
        self._next_block = first + n
        ids = list(range(first, first + n))
        refs = self._refs
        for b in ids:
            refs[b] = 1
        return ids

    def _grow(self, req: Request, need: int, identity: int | None = None) -> None:
        """`need` more blocks at the end of the request's blocks (the caller checked they fit):
        identity blocks where its content keys reach (or the first `identity`), the rest anonymous."""
        self._pop(need)
        blocks: list[int] = req.blocks  # type: ignore[assignment]
        if identity is None:  # identity blocks are a prefix: none once an anonymous one is held
            identity = min(need, len(req.keys) - len(blocks)) if not req.n_anon else 0  # type: ignore[arg-type]
        if identity > 0:
            blocks += self._new_ids(identity)
            need -= identity
        req.n_anon += need

    def settle(self, req: Request) -> None:
        """A request whose blocks were counted for it (decoders.py) holds ceil(num_computed /
        block_size) blocks, the ones past its identity blocks anonymous: write that down."""
        held = _ceil_div(req.num_computed, self.block_size)
        req.n_anon = held - len(req.blocks)  # type: ignore[arg-type]
        req.kv_capacity = held * self.block_size

    def take(self, n: int) -> None:
        """`n` anonymous blocks for requests that keep count of their own (decoders.py; they fit)."""
        self._pop(n)

    def _take_hits(self, hit_blocks: list[int]) -> None:
        """Hold the hit blocks, taking those that sit in the free queue out of it."""
        refs = self._refs
        fq = self._free_queue
        for b in hit_blocks:
            if refs[b] == 0:
                del fq[b]
                self.num_free -= 1
            refs[b] += 1

    def _register(self, req: Request, upto: int) -> None:
        """Enter the request's known-content blocks [n_registered, upto) in the cache."""
        keys = req.keys
        assert keys is not None
        upto = min(upto, len(keys))
        blocks = req.blocks
        for j in range(req.n_registered, upto):
            self._enter(blocks[j], keys[j])  # type: ignore[index]
        if upto > req.n_registered:
            req.n_registered = upto

    # -- scheduler interface ----------------------------------------------------------------------

    def lookup(self, req: Request) -> tuple[int, list[int]]:
        """Cached leading tokens of a waiting request (block aligned, < num_tokens) and their blocks."""
        bs = self.block_size
        keys = self.keys_of(req)
        max_blocks = (req.num_tokens - 1) // bs
        get = self._map.get
        hits: list[int] = []
        n_shared = min(len(keys), max_blocks)
        for j in range(n_shared):
            b = get(keys[j])
            if b is None:
                return len(hits) * bs, hits
            hits.append(b)
        if req.preemptions:  # its own generated blocks, entered when it was preempted
            rid = req.rid
            for j in range(n_shared, max_blocks):
                b = get((rid, j))
                if b is None:
                    break
                hits.append(b)
        return len(hits) * bs, hits

    def tier_run(self, req: Request, start: int) -> list[tuple[int, object]]:
        """(tier index, key) of the blocks after the request's first `start` (its device hits) found
        in the tiers, as long as they run unbroken; like `lookup`, never the last token's block."""
        tiers = self.tiers
        out: list[tuple[int, object]] = []
        for j in range(start, (req.num_tokens - 1) // self.block_size):
            key = self._key_at(req, j)
            if key is None:
                break
            for t, tier in enumerate(tiers):
                if tier.has(key):
                    out.append((t, key))
                    break
            else:
                break
        return out

    def allocate_loading(self, req: Request, hit_blocks: list[int], n_load: int) -> bool:
        """Take the hit blocks and `n_load` blocks to load tier blocks into (not entered in the
        cache until loaded); False (and no change) if they do not fit."""
        if not self._take_for(req, hit_blocks, n_load, identity=n_load):
            return False
        req.n_registered = len(hit_blocks)
        return True

    def finish_loading(self, req: Request) -> None:
        """The loaded blocks have arrived: enter them in the cache and release the request's
        blocks, which stay cached at the young end of the free queue for its admission."""
        blocks: list[int] = req.blocks  # type: ignore[assignment]
        for j in range(req.n_registered, len(blocks)):
            self._enter(blocks[j], self._key_at(req, j))
        req.n_registered = len(blocks)
        self.free(req)

    def allocate_received(self, req: Request, hit_blocks: list[int], num_tokens: int) -> bool:
        """Blocks for `num_tokens` tokens whose KV arrives from a prefill instance, of which
        `hit_blocks` are cached here already; the rest are entered in the cache on arrival."""
        if not self._take_for(req, hit_blocks, _ceil_div(num_tokens, self.block_size) - len(hit_blocks)):
            return False
        req.n_registered = len(hit_blocks)
        return True

    def register_received(self, req: Request) -> None:
        """The KV of a received request has arrived: enter its full blocks in the cache."""
        self._register(req, req.num_computed // self.block_size)

    def _take_for(self, req: Request, hit_blocks: list[int], need: int, identity: int | None = None) -> bool:
        refs = self._refs
        evictable_hits = sum(1 for b in hit_blocks if refs[b] == 0)
        if need + evictable_hits > self.num_free:
            return False
        self._take_hits(hit_blocks)
        req.blocks = list(hit_blocks)
        req.n_anon = 0
        self._grow(req, need, identity)
        req.kv_capacity = (len(req.blocks) + req.n_anon) * self.block_size
        return True

    def held_keys(self, req: Request) -> list[object]:
        """Keys of the request's full computed blocks, as `free(preempted=True)` enters them (what
        swapping it out writes to a tier)."""
        keys = req.keys
        assert keys is not None
        n = len(keys)
        rid = req.rid
        return [keys[j] if j < n else (rid, j) for j in range(req.num_computed // self.block_size)]

    def fits_full(self, req: Request, hit_blocks: list[int], num_tokens: int) -> bool:
        """Whether `num_tokens` tokens of a waiting request would fit: its new blocks and the hit
        blocks that sit in the free queue must all come out of the free blocks."""
        refs = self._refs
        evictable_hits = sum(1 for b in hit_blocks if refs[b] == 0)
        need = _ceil_div(num_tokens, self.block_size) - len(hit_blocks)
        return need + evictable_hits <= self.num_free

    def allocate_new(self, req: Request, hit_blocks: list[int], num_new_tokens: int) -> bool:
        """Take the hit blocks and new ones for a waiting request; False (and no change) if short."""
        bs = self.block_size
        total = len(hit_blocks) * bs + num_new_tokens
        if not self._take_for(req, hit_blocks, _ceil_div(total, bs) - len(hit_blocks)):
            return False
        req.n_registered = len(hit_blocks)
        self.reused_tokens += len(hit_blocks) * bs
        self._register(req, min(total, req.num_tokens) // bs)
        return True

    def allocate(self, req: Request, num_new_tokens: int) -> bool:
        total = req.num_computed + num_new_tokens
        held = len(req.blocks) + req.n_anon  # type: ignore[arg-type]
        need = _ceil_div(total, self.block_size) - held
        if need > 0:
            if need > self.num_free:
                return False
            self._grow(req, need)
            req.kv_capacity = (held + need) * self.block_size
        if req.n_registered < len(req.keys):  # type: ignore[arg-type]
            self._register(req, min(total, req.num_tokens) // self.block_size)
        return True

    def trim(self, req: Request) -> None:
        """Release the blocks past the request's computed tokens (the slots of rejected drafts),
        tail first; they hold generated tokens, never entered in the cache."""
        blocks: list[int] = req.blocks  # type: ignore[assignment]
        keep = _ceil_div(req.num_computed, self.block_size)
        held = len(blocks) + req.n_anon
        if held <= keep:
            return
        assert req.n_registered <= keep, f"{req}: trimming cached blocks"
        anon_keep = max(keep - len(blocks), 0)
        self._push_anon(req.n_anon - anon_keep)
        req.n_anon = anon_keep
        for b in reversed(blocks[keep:]):
            self._release(b)
        del blocks[keep:]
        req.kv_capacity = keep * self.block_size

    def free(self, req: Request, preempted: bool = False) -> None:
        """Release the request's blocks, tail first; a preempted request's full blocks stay cached."""
        blocks: list[int] = req.blocks  # type: ignore[assignment]
        n_anon = req.n_anon
        if preempted:
            keys = req.keys
            assert keys is not None
            n_shared = len(keys)
            rid = req.rid
            full = req.num_computed // self.block_size
            if full > len(blocks):  # its full anonymous blocks get an identity for their keys
                named = full - len(blocks)
                blocks = blocks + self._new_ids(named)
                n_anon -= named
            for j in range(req.n_registered, full):
                self._enter(blocks[j], keys[j] if j < n_shared else (rid, j))
        self._push_anon(n_anon)
        for b in reversed(blocks):
            self._release(b)
        req.blocks = []
        req.n_anon = 0
        req.kv_capacity = 0
        req.n_registered = 0

    def check_invariants(self, holders: Iterable[Request]) -> None:
        counts: dict[int, int] = {}
        anon = 0
        for r in holders:
            blocks: list[int] = r.blocks  # type: ignore[assignment]
            assert len(set(blocks)) == len(blocks), f"{r} holds a block twice"
            assert len(blocks) + r.n_anon == _ceil_div(r.num_computed, self.block_size), (
                f"{r} holds {len(blocks) + r.n_anon} blocks"
            )
            assert r.kv_capacity == (len(blocks) + r.n_anon) * self.block_size
            for b in blocks:
                counts[b] = counts.get(b, 0) + 1
            anon += r.n_anon
        held = {b: c for b, c in self._refs.items() if c}
        assert counts == held, "reference counts do not match the requests holding the blocks"
        free = 0
        for b, n in self._free_queue.items():
            if b < 0:
                assert n > 0, f"empty run {b}"
                free += n
            else:
                assert n == 1 and self._refs.get(b) == 0, f"block {b} is free but referenced"
                assert b in self._key_of, f"free block {b} has no key"
                free += 1
        assert free == self.num_free, f"free count {self.num_free} != {free} in the free queue"
        assert sum(1 for c in self._refs.values() if c == 0) + sum(n for b, n in self._free_queue.items()
                                                                    if b < 0) == free
        assert len(held) + anon + free == self.num_blocks, (
            f"blocks leaked: {len(held)} + {anon} anonymous in use + {free} free != {self.num_blocks}"
        )
        entered = 0
        for key, b in self._map.items():
            assert self._key_of[b] == key
            entered += 1
        for key, bs in self._dups.items():
            assert bs and key in self._map
            for b in bs:
                assert self._key_of[b] == key
                entered += 1
        assert entered == len(self._key_of), "cache map out of sync"


def make_kv_cache(
    num_blocks: int, block_size: int, prefix_caching: bool, tiers: tuple = ()
) -> PagedKVCache | PrefixCachingKVCache:
    """The KV cache of an instance: with prefix caching or tiers, blocks have identity."""
    if prefix_caching or tiers:
        return PrefixCachingKVCache(num_blocks, block_size, share=prefix_caching, tiers=tiers)
    return PagedKVCache(num_blocks, block_size)
