"""The home page's claims table is what the lab measures: regenerate it and compare with the shipped file."""

from core import claims, scenarios

# Seeds whose final metric sits within float32 rounding of the threshold may flip between CPUs
# (XLA's kernels differ with the instruction set); on the machine that wrote the file they match exactly.
TOLERANCE = 2


def test_shipped_claims_table_matches_a_fresh_measurement():
    shipped = claims.load()
    assert shipped is not None, "core/claims.json is missing: python -m core claims --write core/claims.json"
    fresh = claims.measure(shipped["seeds"])
    assert [c["scenario"] for c in fresh["cases"]] == [c["scenario"] for c in shipped["cases"]] == scenarios.POSTED
    for mine, theirs in zip(fresh["cases"], shipped["cases"]):
        assert mine["claim"] == theirs["claim"] and mine["criterion"] == theirs["criterion"]
        for preset in ("asked", "answered"):
            assert mine[preset]["seeds"] == theirs[preset]["seeds"] == shipped["seeds"]
            assert abs(mine[preset]["successes"] - theirs[preset]["successes"]) <= TOLERANCE, (mine["scenario"], preset, mine[preset], theirs[preset])
    segments = {c["scenario"]: c for c in fresh["cases"]}["segments"]
    assert segments["asked"]["successes"] == 0 and segments["answered"]["success_rate"] > 0.7
