"""The run folder: append, crash recovery, configuration changes, atomic final file."""

from __future__ import annotations

import errno
import json
import os
import threading

import pytest

from clinextract.errors import WriteError
from clinextract.store import LOCK, RunFolder, RunFolderInUse, RunStore, is_record


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


# --- the lock, damage, write failures (issue 13) ---------------------------------------------


def test_a_second_store_on_the_folder_is_refused_naming_the_pid(tmp_path):
    store = RunStore(tmp_path, "cfg")
    assert (tmp_path / LOCK).read_text().strip() == str(os.getpid())
    with RunFolder(tmp_path).lock():  # the same thread: re-entrant (run_task, then RunStore)
        pass
    errors: list[BaseException] = []

    def other() -> None:
        try:
            RunStore(tmp_path, "cfg")
        except BaseException as exc:  # noqa: BLE001 - looked at below
            errors.append(exc)

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert isinstance(errors[0], RunFolderInUse)
    assert f"run folder in use by pid {os.getpid()}" in str(errors[0])
    store.close()
    RunStore(tmp_path, "cfg").close()  # released: the next run takes it


def test_a_row_with_two_final_records_is_dropped_and_computed_again(tmp_path):
    _checkpoint_with(tmp_path, json.dumps({**rec(3), "config": "cfg"}))  # row 3 twice
    store = RunStore(tmp_path, "cfg")
    assert store.dropped == 2 and not store.done(3, "003", "sha3")
    assert store.done(4, "004", "sha4")
    store.close()


def test_rows_computed_again_leave_one_line_each_after_the_final_write(tmp_path):
    store = RunStore(tmp_path, "cfg")
    store.append({**rec(0, "failure"), "transient": True})
    store.append(rec(1))
    store.close()
    again = RunStore(tmp_path, "cfg")
    assert not again.done(0, "000", "sha0")
    again.append(rec(0))
    again.write_final([])
    again.close()
    lines = [json.loads(x) for x in (tmp_path / "records.jsonl").read_text().splitlines()]
    assert [(x["row"], x["status"]) for x in lines] == [(0, "success"), (1, "success")]


def test_a_record_of_other_input_is_counted_and_not_reused(tmp_path):
    store = RunStore(tmp_path, "cfg")
    store.append(rec(0))
    assert not store.done(0, "000", "another text") and store.mismatched == 1
    store.close()


def test_a_failed_append_cuts_its_partial_line_and_says_which_file(tmp_path):
    store = RunStore(tmp_path, "cfg")
    store.append(rec(0))

    class Full:  # takes half the line, then the disk is full
        def __init__(self, fh):
            self.fh, self.calls = fh, 0

        def __getattr__(self, name):
            return getattr(self.fh, name)

        def write(self, data):
            self.calls += 1
            if self.calls > 1:
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.fh.write(bytes(data[: len(data) // 2]))

    store._fh = Full(store._fh)
    with pytest.raises(WriteError, match="records.jsonl: No space left on device"):
        store.append(rec(1))
    store._fh = store._fh.fh
    store.close()
    lines = (tmp_path / "records.jsonl").read_text().splitlines(keepends=True)
    assert len(lines) == 1 and lines[0].endswith("\n")
    assert RunStore(tmp_path, "cfg").dropped == 0


def test_temporary_files_of_a_killed_write_are_removed(tmp_path):
    (tmp_path / ".nlp-predictions-dataset.json.abc123").write_text("[")
    (tmp_path / ".manifest.json.x").write_text("{")
    RunStore(tmp_path, "cfg").close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["records.jsonl", "run.lock"]


def test_a_record_must_have_the_schemas_fields():
    assert is_record(rec(0), ["x"]) and not is_record(rec(0), ["x", "y"])
    assert not is_record({**rec(0), "status": "fine"}) and not is_record({**rec(0), "row": True})


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
