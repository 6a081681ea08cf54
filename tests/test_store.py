"""The run folder: append, crash recovery, configuration changes, atomic final file."""

from __future__ import annotations

import json

from clinextract.store import RunStore


def rec(row, status="success"):
    return {
        "row": row,
        "id": f"{row:03d}",
        "text_sha": f"sha{row}",
        "status": status,
        "error": None,
        "fields": {"x": row},
    }


def test_append_then_resume_sees_done_rows(tmp_path):
    store = RunStore(tmp_path, "cfg")
    store.append(rec(2))
    store.append(rec(0))
    store.close()
    again = RunStore(tmp_path, "cfg")
    assert again.done(0, "000", "sha0") and again.done(2, "002", "sha2")
    assert not again.done(1, "001", "sha1")
    assert not again.done(0, "000", "changed-text")  # the input row changed
    assert again.finished_rows == 2


def test_half_written_last_line_is_cut_before_appending(tmp_path):
    store = RunStore(tmp_path, "cfg")
    store.append(rec(0))
    store.close()
    with (tmp_path / "records.jsonl").open("a") as fh:
        fh.write('{"row": 1, "id": "001", "sta')  # killed mid-write
    again = RunStore(tmp_path, "cfg")
    again.append(rec(1))
    again.close()
    lines = (tmp_path / "records.jsonl").read_text().splitlines()
    assert [json.loads(line)["row"] for line in lines] == [0, 1]


def test_changed_configuration_moves_old_records_aside(tmp_path):
    store = RunStore(tmp_path, "old")
    store.append(rec(0))
    store.close()
    new = RunStore(tmp_path, "new")
    assert new.stale == 1 and not new.done(0, "000", "sha0")
    assert (tmp_path / "records.stale.jsonl").read_text().count("\n") == 1
    assert (tmp_path / "records.jsonl").read_text() == ""


def test_final_file_is_in_the_order_given(tmp_path):
    store = RunStore(tmp_path, "cfg")
    for row in (2, 0, 1):
        store.append(rec(row))
    with store.reader() as read:
        items = [read(r)["fields"] for r in range(3)]
    store.write_final(items)
    assert json.loads(store.predictions_path.read_text()) == [{"x": 0}, {"x": 1}, {"x": 2}]
    assert not list(tmp_path.glob(".nlp-predictions*"))  # no temporary left behind


def test_transient_failures_are_computed_again_on_resume(tmp_path):
    store = RunStore(tmp_path, "cfg")
    store.append({**rec(0, "failure"), "transient": True})
    store.append(rec(1, "failure"))  # a failure of the answer itself is final
    store.close()
    again = RunStore(tmp_path, "cfg")
    assert not again.done(0, "000", "sha0") and again.done(1, "001", "sha1")
    again.append(rec(0))
    with again.reader() as read:
        assert read(0)["status"] == "success"


def test_overwrite_starts_over(tmp_path):
    store = RunStore(tmp_path, "cfg")
    store.append(rec(0))
    store.close()
    assert not RunStore(tmp_path, "cfg", overwrite=True).done(0, "000", "sha0")


def _checkpoint_with(tmp_path, middle: str) -> None:
    """Records of rows 0, 1, 3, 4 with `middle` as a complete line after row 1."""
    store = RunStore(tmp_path, "cfg")
    for row in (0, 1, 3, 4):
        store.append(rec(row))
    store.close()
    path = tmp_path / "records.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join([*lines[:2], middle + "\n", *lines[2:]]))


def test_a_garbage_line_in_the_middle_is_dropped_and_later_rows_read_right(tmp_path):
    """A complete line that is not a record: dropped, the file rewritten, so the offsets
    of every later row point at that row's own line."""
    _checkpoint_with(tmp_path, 'garbage {"row": 2, "id"')
    store = RunStore(tmp_path, "cfg")
    store.append(rec(5))
    assert store.dropped == 1
    assert [r for r in range(6) if store.done(r, f"{r:03d}", f"sha{r}")] == [0, 1, 3, 4, 5]
    with store.reader() as read:
        assert [read(r)["fields"]["x"] for r in (0, 1, 3, 4, 5)] == [0, 1, 3, 4, 5]
    store.close()
    lines = (tmp_path / "records.jsonl").read_text().splitlines()
    assert [json.loads(line)["row"] for line in lines] == [0, 1, 3, 4, 5]


def test_valid_json_of_another_shape_is_not_a_record(tmp_path):
    _checkpoint_with(tmp_path, json.dumps({"row": "two", "status": "success"}))
    again = RunStore(tmp_path, "cfg")
    assert again.dropped == 1 and again.finished_rows == 4
    with again.reader() as read:
        assert read(4)["fields"] == {"x": 4}
    again.close()


def test_record_index_points_at_each_rows_last_record(tmp_path):
    from clinextract.store import RunFolder

    store = RunStore(tmp_path, "cfg")
    for record in (rec(1), {**rec(0, "failure"), "transient": True}, rec(0), rec(2)):
        store.append(record)
    store.close()
    with (tmp_path / "records.jsonl").open("a") as fh:
        fh.write("not a record\n")
    folder = RunFolder(tmp_path)
    index = folder.record_index()
    assert sorted(index) == [0, 1, 2]
    assert index[0].status == "success" and not index[0].transient  # the last line wins
    got = list(folder.records_at((row, index[row]) for row in (2, 0, 1)))
    assert [r["row"] for r in got] == [2, 0, 1] and got[1]["status"] == "success"
    # an index from before the checkpoint was rewritten: reading stops, never a wrong row
    stale = {0: index[2], 1: index[1]}
    assert [r["row"] for r in folder.records_at(sorted(stale.items()))] == []
