"""The provenance page and the runner's run counts."""

from __future__ import annotations

import json

from pose_helpers.chapters import provenance


def test_run_log_counts_distinct_runs_and_their_training_time(tmp_path):
    log = tmp_path / "runs.jsonl"
    lines = [
        {"event": "loaded", "study": "a", "key": "k1", "seconds": 60.0},
        {"event": "loaded", "study": "a", "key": "k1", "seconds": 60.0},  # read twice: one run
        {"event": "computed", "study": "b", "key": "k2", "seconds": 30.0},
        {"event": "loaded", "study": "b", "key": "k2", "seconds": 30.0},  # computed, then read
    ]
    log.write_text("\n".join(json.dumps(x) for x in lines) + "\n{broken\n")
    runs = provenance.read_run_log(log)
    assert runs == {
        "loaded": 1,
        "computed": 1,
        "studies": ["a", "b"],
        "record_seconds": 90.0,
        "computed_seconds": 30.0,
    }
    assert provenance.read_run_log(tmp_path / "missing.jsonl")["loaded"] == 0


def test_page_lists_every_executed_chapter(tmp_path):
    meta = {
        "profile": "book",
        "parameters": {"seed": 0},
        "fingerprint": "abc",
        "execution": provenance.execution_record(
            600.0, {"loaded": 3, "computed": 1, "record_seconds": 1200.0, "computed_seconds": 300.0}
        ),
    }
    (tmp_path / "one.ipynb").write_text(json.dumps({"metadata": {"pose_helpers": meta}}))
    (tmp_path / "old.ipynb").write_text(json.dumps({"metadata": {"pose_helpers": {}}}))
    page = provenance.write_page(tmp_path, ["one", "old", "never"]).read_text()
    assert "| [one](one.ipynb) | - | book |" in page and "3 / 1" in page
    # from store: 600 - 300 s = 5.0 min; from scratch: 600 - 300 + 1200 s = 25.0 min
    assert "| 10.0 | 3 / 1 | 5.0 | 25.0 | `abc` |" in page
    assert "before records" in page and "never" not in page
    # runs trained on two workers: 900 worker-seconds in a 600-s execution, no from-store time
    meta["execution"]["runs"]["computed_seconds"] = 900.0
    (tmp_path / "one.ipynb").write_text(json.dumps({"metadata": {"pose_helpers": meta}}))
    assert (
        "| 10.0 | 3 / 1 | - | 15.0 | `abc` |"
        in provenance.write_page(tmp_path, ["one"]).read_text()
    )
    assert "torch" in page and "`seed=0`" in page
