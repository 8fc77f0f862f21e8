"""The Merkle tree against references written from the RFC text alone, its proofs checked
by the auditor's own verifier (tools/verify_ledger.py).

The references (naive recursive MTH, PATH and PROOF from RFC 6962 §2.1 in
tests/support/reference.py, and root recomputation from RFC 9162 §2.1.3.2 / §2.1.4.2 here)
share no code with projections/merkle.py.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projections.merkle import (
    EMPTY_ROOT,
    MemoryNodeStore,
    MerkleError,
    MerkleTree,
    RightEdge,
    leaf_hash,
    node_hash,
)
from tests.support.auditor_tool import load_tool
from tests.support.reference import audit_path, consistency_proof, mth, sha256

tool = load_tool()
verify_inclusion, verify_consistency = tool.verify_inclusion, tool.verify_consistency
MAX = 300
LEAVES = tuple(hashlib.sha256(f"event-{i}".encode()).digest() for i in range(MAX))


def ref_root_from_inclusion(leaf: bytes, index: int, size: int, proof: list[bytes]) -> bytes | None:
    """RFC 9162 §2.1.3.2 as a root computation; None where the algorithm fails."""
    if index >= size:
        return None
    fn, sn, r = index, size - 1, sha256(b"\x00" + leaf)
    for p in proof:
        if sn == 0:
            return None
        if fn % 2 == 1 or fn == sn:
            r = sha256(b"\x01" + p + r)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn //= 2
                    sn //= 2
        else:
            r = sha256(b"\x01" + r + p)
        fn //= 2
        sn //= 2
    return r if sn == 0 else None


def ref_roots_from_consistency(
    first: int, second: int, first_root: bytes, proof: list[bytes]
) -> tuple[bytes, bytes] | None:
    """RFC 9162 §2.1.4.2 for 0 < first < second, returning (fr, sr)."""
    if not proof:
        return None
    path = list(proof)
    if (first & (first - 1)) == 0:
        path = [first_root, *path]
    fn, sn = first - 1, second - 1
    while fn % 2 == 1:
        fn //= 2
        sn //= 2
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return None
        if fn % 2 == 1 or fn == sn:
            fr = sha256(b"\x01" + c + fr)
            sr = sha256(b"\x01" + c + sr)
            while fn % 2 == 0 and fn != 0:
                fn //= 2
                sn //= 2
        else:
            sr = sha256(b"\x01" + sr + c)
        fn //= 2
        sn //= 2
    return (fr, sr) if sn == 0 else None


@pytest.fixture(scope="module")
def big_tree() -> MerkleTree:
    tree = MerkleTree()
    for leaf in LEAVES:
        tree.append_many([leaf])
    return tree


def grown(n: int) -> MerkleTree:
    tree = MerkleTree()
    tree.append_many(LEAVES[:n])
    return tree


def flip(value: bytes) -> bytes:
    return bytes([value[0] ^ 1]) + value[1:]


sizes = st.integers(min_value=1, max_value=MAX)


@st.composite
def size_and_index(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(sizes)
    return size, draw(st.integers(min_value=0, max_value=size - 1))


@st.composite
def two_sizes(draw: st.DrawFn) -> tuple[int, int]:
    second = draw(sizes)
    return draw(st.integers(min_value=1, max_value=second)), second


# Known vectors


def test_the_empty_tree_root_is_the_hash_of_nothing() -> None:
    expected = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert EMPTY_ROOT.hex() == expected
    assert tool.merkle_root([]).hex() == expected
    assert MerkleTree().root().hex() == expected


def test_a_one_leaf_tree_root_is_its_leaf_hash() -> None:
    tree = grown(1)
    assert tree.root() == leaf_hash(LEAVES[0]) == sha256(b"\x00" + LEAVES[0])
    assert tree.inclusion_proof(0, 1) == []


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    assert leaf_hash(b"").hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    assert node_hash(b"a", b"b") == sha256(b"\x01ab")


CT_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]
# The Certificate Transparency reference implementation's test roots.
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def test_roots_match_the_certificate_transparency_vectors() -> None:
    tree = MerkleTree()
    for n, (leaf, expected) in enumerate(zip(CT_LEAVES, CT_ROOTS, strict=True), start=1):
        tree.append_many([leaf])
        assert tree.root().hex() == expected
        assert tool.merkle_root(CT_LEAVES[:n]).hex() == expected
    assert [tree.root(n).hex() for n in range(1, 9)] == CT_ROOTS


# Roots


@settings(max_examples=200)
@given(st.integers(min_value=0, max_value=MAX))
def test_the_root_of_every_past_size_matches_the_naive_mth(big_tree: MerkleTree, n: int) -> None:
    expected = mth(LEAVES[:n])
    assert big_tree.root(n) == expected
    assert tool.merkle_root(LEAVES[:n]) == expected


@settings(max_examples=60)
@given(st.lists(st.binary(min_size=0, max_size=40), max_size=70))
def test_a_tree_grown_leaf_by_leaf_has_the_naive_root_at_each_step(leaves: list[bytes]) -> None:
    tree = MerkleTree()
    for n, leaf in enumerate(leaves, start=1):
        tree.append_many([leaf])
        assert tree.size == n
        assert tree.root() == mth(leaves[:n])


@settings(max_examples=60)
@given(st.lists(st.lists(st.binary(min_size=0, max_size=40), max_size=20), max_size=8))
def test_a_right_edge_extended_in_batches_has_the_naive_root_after_each(
    batches: list[list[bytes]],
) -> None:
    edge, seen = RightEdge(), []
    assert edge.root() == EMPTY_ROOT
    for batch in batches:
        edge.extend(batch)
        seen += batch
        assert edge.size == len(seen)
        assert edge.root() == mth(seen)


# Inclusion


@settings(max_examples=300)
@given(size_and_index())
def test_inclusion_proofs_match_the_rfc_path_and_verify(
    big_tree: MerkleTree, case: tuple[int, int]
) -> None:
    size, index = case
    proof = big_tree.inclusion_proof(index, size)
    expected_root = mth(LEAVES[:size])
    assert proof == audit_path(index, LEAVES[:size])
    assert ref_root_from_inclusion(LEAVES[index], index, size, proof) == expected_root
    assert verify_inclusion(LEAVES[index], index, size, proof, expected_root)
    assert grown(size).inclusion_proof(index, size) == proof


@settings(max_examples=300)
@given(size_and_index(), st.data())
def test_an_inclusion_proof_fails_for_a_wrong_leaf_index_size_or_root(
    big_tree: MerkleTree, case: tuple[int, int], data: st.DataObject
) -> None:
    size, index = case
    proof = big_tree.inclusion_proof(index, size)
    good_root = big_tree.root(size)
    leaf = LEAVES[index]
    other = data.draw(st.integers(min_value=0, max_value=MAX - 1).filter(lambda i: i != index))
    assert not verify_inclusion(LEAVES[other], index, size, proof, good_root)
    assert not verify_inclusion(leaf, other, size, proof, good_root)
    other_size = data.draw(sizes.filter(lambda s: s != size and s > index))
    assert not verify_inclusion(leaf, index, other_size, proof, big_tree.root(other_size))
    assert not verify_inclusion(leaf, index, size, proof, flip(good_root))
    assert not verify_inclusion(leaf, index, size, proof, big_tree.root(size - 1))
    if proof:
        at = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
        tampered = [*proof[:at], flip(proof[at]), *proof[at + 1 :]]
        assert not verify_inclusion(leaf, index, size, tampered, good_root)
        assert not verify_inclusion(leaf, index, size, proof[:-1], good_root)
    assert not verify_inclusion(leaf, index, size, [*proof, good_root], good_root)


def test_an_inclusion_proof_outside_the_tree_is_refused(big_tree: MerkleTree) -> None:
    assert not verify_inclusion(LEAVES[0], 5, 5, [], EMPTY_ROOT)
    assert not verify_inclusion(LEAVES[0], 0, 0, [], EMPTY_ROOT)
    with pytest.raises(ValueError):
        big_tree.inclusion_proof(5, 5)
    with pytest.raises(ValueError):
        big_tree.inclusion_proof(0, MAX + 1)
    with pytest.raises(ValueError):
        big_tree.inclusion_proof(-1, 3)


# Consistency


@settings(max_examples=300)
@given(two_sizes())
def test_consistency_proofs_match_the_rfc_proof_and_verify(
    big_tree: MerkleTree, case: tuple[int, int]
) -> None:
    first, second = case
    proof = big_tree.consistency_proof(first, second)
    first_root, second_root = mth(LEAVES[:first]), mth(LEAVES[:second])
    assert verify_consistency(first, second, first_root, second_root, proof)
    if first == second:
        assert proof == []
        return
    assert proof == consistency_proof(first, LEAVES[:second])
    assert ref_roots_from_consistency(first, second, first_root, proof) == (
        first_root,
        second_root,
    )


def test_every_pair_of_small_sizes_is_consistent() -> None:
    tree = grown(40)
    for second in range(41):
        for first in range(second + 1):
            proof = tree.consistency_proof(first, second)
            assert verify_consistency(first, second, tree.root(first), tree.root(second), proof)


@settings(max_examples=300)
@given(two_sizes(), st.data())
def test_a_consistency_proof_fails_for_wrong_roots_sizes_or_paths(
    big_tree: MerkleTree, case: tuple[int, int], data: st.DataObject
) -> None:
    first, second = case
    proof = big_tree.consistency_proof(first, second)
    r1, r2 = big_tree.root(first), big_tree.root(second)
    assert not verify_consistency(first, second, flip(r1), r2, proof)
    assert not verify_consistency(first, second, r1, flip(r2), proof)
    forked = MerkleTree()
    forked.append_many([*LEAVES[: first - 1], b"forged", *LEAVES[first:second]])
    assert not verify_consistency(first, second, r1, forked.root(), proof)
    if first == second:
        return
    other = data.draw(st.integers(min_value=1, max_value=second).filter(lambda f: f != first))
    assert not verify_consistency(other, second, big_tree.root(other), r2, proof)
    assert not verify_consistency(first, second - 1, r1, big_tree.root(second - 1), proof)
    assert not verify_consistency(second, first, r2, r1, proof)
    at = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
    tampered = [*proof[:at], flip(proof[at]), *proof[at + 1 :]]
    assert not verify_consistency(first, second, r1, r2, tampered)
    assert not verify_consistency(first, second, r1, r2, proof[:-1])
    assert not verify_consistency(first, second, r1, r2, [*proof, r2])


def test_the_empty_tree_is_a_prefix_of_every_tree(big_tree: MerkleTree) -> None:
    assert big_tree.consistency_proof(0, 17) == []
    assert verify_consistency(0, 17, EMPTY_ROOT, big_tree.root(17), [])
    assert not verify_consistency(0, 17, big_tree.root(1), big_tree.root(17), [])
    assert not verify_consistency(0, 17, EMPTY_ROOT, big_tree.root(17), [EMPTY_ROOT])


def test_a_consistency_proof_beyond_the_tree_is_refused(big_tree: MerkleTree) -> None:
    with pytest.raises(ValueError):
        big_tree.consistency_proof(3, MAX + 1)
    with pytest.raises(ValueError):
        big_tree.consistency_proof(4, 3)


@settings(max_examples=100)
@given(
    st.integers(min_value=0, max_value=64),
    st.integers(min_value=0, max_value=64),
    st.lists(st.binary(min_size=32, max_size=32), max_size=8),
    st.binary(min_size=32, max_size=32),
)
def test_verifiers_return_false_rather_than_raise_on_garbage(
    a: int, b: int, proof: list[bytes], some_root: bytes
) -> None:
    assert verify_inclusion(LEAVES[0], a, b, proof, some_root) in (True, False)
    assert verify_consistency(a, b, some_root, some_root, proof) in (True, False)


# Node store


class CountingStore(MemoryNodeStore):
    """Counts reads, and keeps what was put in ``nodes``."""

    def __init__(self) -> None:
        super().__init__()
        self.gets = 0
        self.nodes: dict[tuple[int, int], bytes] = {}

    def get(self, level: int, index: int) -> bytes | None:
        self.gets += 1
        return super().get(level, index)

    def put(self, level: int, index: int, value: bytes) -> None:
        super().put(level, index, value)
        self.nodes[(level, index)] = value


def test_only_complete_subtrees_are_stored_and_appends_never_read() -> None:
    store = CountingStore()
    tree = MerkleTree(store)
    for n in range(1, 101):
        tree.append_many([LEAVES[n - 1]])
        assert len(store.nodes) == 2 * n - bin(n).count("1")
    assert store.gets == 0
    for (level, index), value in store.nodes.items():
        start, end = index << level, (index + 1) << level
        assert end <= 100
        assert value == mth(LEAVES[start:end])


def labels(nodes: list[tuple[int, int, bytes]]) -> str:
    return " ".join(f"{level}:{index}" for level, index, _ in nodes)


def test_append_many_returns_exactly_the_nodes_it_stored() -> None:
    store = CountingStore()
    tree = MerkleTree(store)
    first = tree.append_many(LEAVES[:5])
    second = tree.append_many(LEAVES[5:8])
    assert labels(first) == "0:0 0:1 1:0 0:2 0:3 1:1 2:0 0:4"
    assert labels(second) == "0:5 1:2 0:6 0:7 1:3 2:1 3:0"
    assert {(lv, ix): v for lv, ix, v in first + second} == store.nodes
    assert tree.append_many([]) == []


@pytest.mark.parametrize("size", [1, 2, 3, 64, 255, 256, 257, 300])
def test_proofs_use_at_most_log_squared_lookups(size: int) -> None:
    store = CountingStore()
    tree = MerkleTree(store)
    tree.append_many(LEAVES[:size])
    bound = (size.bit_length() + 1) ** 2
    for index in (0, size // 2, size - 1):
        store.gets = 0
        tree.inclusion_proof(index, size)
        assert store.gets <= bound
    for first in (1, size // 3 or 1, size - 1 or 1):
        store.gets = 0
        tree.consistency_proof(first, size)
        assert store.gets <= bound
    store.gets = 0
    tree.root(size // 2)
    assert store.gets <= size.bit_length()


@pytest.mark.parametrize("split", [0, 1, 7, 8, 100, 299])
def test_a_tree_resumed_from_its_store_continues_like_the_original(
    big_tree: MerkleTree, split: int
) -> None:
    store = MemoryNodeStore()
    MerkleTree(store).append_many(LEAVES[:split])
    resumed = MerkleTree(store, size=split)
    assert resumed.root() == big_tree.root(split)
    resumed.append_many(LEAVES[split:])
    assert resumed.root() == big_tree.root()
    assert resumed.inclusion_proof(3, 250) == big_tree.inclusion_proof(3, 250)
    assert resumed.consistency_proof(5, 299) == big_tree.consistency_proof(5, 299)


def test_a_store_missing_a_node_is_reported() -> None:
    with pytest.raises(MerkleError):
        MerkleTree(MemoryNodeStore(), size=3)
