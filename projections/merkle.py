"""RFC 6962 Merkle tree over the global log (SPEC §5).

Leaves are the events' 32-byte hashes in position order. The tree stores every
complete (perfect) subtree node as ``(level, index)``: the node at level ``L``
and index ``i`` covers leaves ``[i * 2**L, (i + 1) * 2**L)``. Those nodes never
change once complete, so any past tree size is the fold of at most log2(n)
stored nodes, and every proof costs O(log^2 n) store look-ups. Checking proofs is the
auditor's side, in the stand-alone ``tools/verify_ledger.py``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Protocol

EMPTY_ROOT = hashlib.sha256(b"").digest()

Node = tuple[int, int, bytes]


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleError(Exception):
    pass


class NodeStore(Protocol):
    def get(self, level: int, index: int) -> bytes | None: ...

    def put(self, level: int, index: int, value: bytes) -> None: ...


class MemoryNodeStore:
    def __init__(self) -> None:
        self._nodes: dict[tuple[int, int], bytes] = {}

    def get(self, level: int, index: int) -> bytes | None:
        return self._nodes.get((level, index))

    def put(self, level: int, index: int, value: bytes) -> None:
        self._nodes[(level, index)] = value


class MerkleTree:
    """Append-only tree; ``size`` leaves, answers for any size up to it.

    Pass ``size`` with a store that already holds the nodes of that many
    leaves (e.g. loaded from ``merkle_nodes``) to resume without rehashing.
    """

    def __init__(self, store: NodeStore | None = None, size: int = 0) -> None:
        if size < 0:
            raise ValueError("size must be >= 0")
        self.store: NodeStore = store if store is not None else MemoryNodeStore()
        self._size = size
        # The right edge: perfect subtrees of the current size as (level, hash),
        # largest first. It is all the state an append needs.
        self._frontier: list[tuple[int, bytes]] = []
        start = 0
        for level in reversed(range(size.bit_length())):
            if size >> level & 1:
                self._frontier.append((level, self._node(level, start >> level)))
                start += 1 << level

    @property
    def size(self) -> int:
        return self._size

    def append_many(self, leaves: Iterable[bytes]) -> list[Node]:
        """Append raw leaves; put the new complete nodes into the store and return them.

        The returned ``(level, index, hash)`` nodes are exactly those put, so a
        caller can also write them to a database in one batch.
        """
        new: list[Node] = []
        for leaf in leaves:
            level, index, value = 0, self._size, leaf_hash(leaf)
            new.append((level, index, value))
            while self._frontier and self._frontier[-1][0] == level:
                value = node_hash(self._frontier.pop()[1], value)
                level, index = level + 1, index >> 1
                new.append((level, index, value))
            self._frontier.append((level, value))
            self._size += 1
        for level, index, value in new:
            self.store.put(level, index, value)
        return new

    def root(self, size: int | None = None) -> bytes:
        if size is None or size == self._size:
            return self._fold([value for _, value in self._frontier])
        self._check_size(size)
        return self._subtree(0, size) if size else EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """The RFC 6962 §2.1.1 audit path of leaf ``index`` in the tree of ``size`` leaves."""
        self._check_size(size)
        if not 0 <= index < size:
            raise ValueError(f"leaf index {index} is outside a tree of {size} leaves")
        path: list[bytes] = []
        start, end = 0, size
        while end - start > 1:
            k = _split(end - start)
            if index < start + k:
                path.append(self._subtree(start + k, end))
                end = start + k
            else:
                path.append(self._subtree(start, start + k))
                start += k
        path.reverse()
        return path

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """The RFC 6962 §2.1.2 proof that tree ``first`` is a prefix of tree ``second``.

        Empty when ``first`` is 0 or equals ``second``.
        """
        self._check_size(second)
        if not 0 <= first <= second:
            raise ValueError(f"first ({first}) must be between 0 and second ({second})")
        if first in (0, second):
            return []
        proof: list[bytes] = []
        start, end, m, whole = 0, second, first, True
        while m != end - start:
            k = _split(end - start)
            if m <= k:
                proof.append(self._subtree(start + k, end))
                end = start + k
            else:
                proof.append(self._subtree(start, start + k))
                start, m, whole = start + k, m - k, False
        if not whole:
            proof.append(self._subtree(start, end))
        proof.reverse()
        return proof

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= self._size:
            raise ValueError(f"tree size {size} is outside 0..{self._size}")

    def _node(self, level: int, index: int) -> bytes:
        value = self.store.get(level, index)
        if value is None:
            raise MerkleError(f"node store lacks node (level={level}, index={index})")
        return value

    def _subtree(self, start: int, end: int) -> bytes:
        """MTH of leaves [start, end); start is aligned as in every §2.1 split."""
        pieces: list[bytes] = []
        while start < end:
            level = (end - start).bit_length() - 1
            pieces.append(self._node(level, start >> level))
            start += 1 << level
        return self._fold(pieces)

    @staticmethod
    def _fold(pieces: Sequence[bytes]) -> bytes:
        if not pieces:
            return EMPTY_ROOT
        value = pieces[-1]
        for left in reversed(pieces[:-1]):
            value = node_hash(left, value)
        return value


class RightEdge:
    """A tree kept as its right edge alone: appends and the root, no nodes. What
    recomputing the root over a whole log needs, at two hashes a leaf on average."""

    def __init__(self) -> None:
        self.size = 0
        self._edge: list[bytes] = []  # the perfect subtrees of ``size``, largest first

    def extend(self, leaves: Iterable[bytes]) -> None:
        sha256, edge, size = hashlib.sha256, self._edge, self.size
        for leaf in leaves:
            value = sha256(b"\x00" + leaf).digest()
            carry = size  # each trailing 1 bit of the size is a subtree this leaf completes
            while carry & 1:
                value = sha256(b"\x01" + edge.pop() + value).digest()
                carry >>= 1
            edge.append(value)
            size += 1
        self.size = size

    def root(self) -> bytes:
        return MerkleTree._fold(self._edge)
