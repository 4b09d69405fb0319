"""The purge's pure parts: the ranges it removes from each chain, its tallies, and what a redaction leaves."""

from __future__ import annotations

import hashlib

from leaim.governance.audit.retention import ExpiredLink, purged_ranges, redacted, tally


def link(chain: str, seq: int) -> ExpiredLink:
    return ExpiredLink(chain, seq, f"{seq - 1:064x}", f"{seq:064x}", f"e-{chain}-{seq}")


def test_consecutive_links_of_a_chain_make_one_range_with_the_hashes_on_both_sides() -> None:
    ranges = purged_ranges([link("a", 1), link("a", 2), link("a", 3), link("a", 7), link("b", 4)])

    assert [(item.chain_id, item.first_seq, item.last_seq) for item in ranges] == [
        ("a", 1, 3),
        ("a", 7, 7),
        ("b", 4, 4),
    ]
    first = ranges[0]
    assert (first.prev_hash, first.last_hash) == (f"{0:064x}", f"{3:064x}")
    assert first.links_sha256 == hashlib.sha256("".join(f"{seq:064x}" for seq in (1, 2, 3)).encode()).hexdigest()
    assert purged_ranges([]) == []


def test_a_tally_does_not_depend_on_the_order_and_changes_with_any_entry() -> None:
    assert tally(["b", "a"]) == tally(["a", "b"])
    assert tally(["a", "b"]).count == 2
    assert tally(["a", "c"]).sha256 != tally(["a", "b"]).sha256
    assert tally([]).sha256 == hashlib.sha256(b"").hexdigest()


def test_a_redaction_empties_the_inputs_and_features_or_the_reasons_and_nothing_else() -> None:
    content = {
        "decision_id": "d-1",
        "outcome": "declined",
        "inputs": {"amount": 12.5},
        "features": {"log_amount": 2.5},
        "response": {"outcome": "declined", "reasons": [{"code": "AMT01"}], "principal_reasons": [{"code": "AMT01"}]},
    }

    inputs = redacted(content, ["inputs"])
    both = redacted(content, ["inputs", "reasons"])

    assert (inputs["inputs"], inputs["features"], inputs["response"]) == ({}, None, content["response"])
    assert both["response"] == {"outcome": "declined", "reasons": [], "principal_reasons": None}
    assert both["outcome"] == "declined"
    assert content["inputs"] == {"amount": 12.5}
