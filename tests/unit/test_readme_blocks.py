"""The README's walkthrough runs block by block, each in a new shell, and writes nothing
into the checkout (it was run so on a fresh clone; this keeps its shape)."""

from __future__ import annotations

import re
from pathlib import Path

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
# every shell block from the walkthrough's first on (the set-up blocks before it run alone)
_ALL = re.findall(r"```sh\n(.*?)```", README, re.S)
BLOCKS = _ALL[next(i for i, b in enumerate(_ALL) if "LEDGER_WALKTHROUGH=$(mktemp -d)" in b):]
ENV = '"${TMPDIR:-/tmp}/exim-walkthrough.env"'
# where a command writes a file: a redirect, curl's -D, the verifier's --save-digest
WRITES = re.compile(r"(?:>>?|-D|--save-digest)\s+(\S+)")


def test_the_first_block_makes_a_temporary_directory_and_the_others_read_its_file():
    first, *later = BLOCKS
    assert "export LEDGER_WALKTHROUGH=$(mktemp -d)" in first and later
    for block in later:
        assert block.startswith(f". {ENV}\n"), block


def test_no_block_writes_into_the_checkout():
    for block in BLOCKS:
        for target in WRITES.findall(block):
            if target != "/dev/null":
                assert target.startswith(('"$LEDGER_WALKTHROUGH/', ENV)), target
