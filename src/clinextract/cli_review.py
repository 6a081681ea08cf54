"""The review loop's commands: `review export|import|stats`, `export` and `evaluate`.

Thin like cli.py: the work is in review.py, gold.py, export.py and evaluation.py; these
commands read their arguments, call them, and print one summary.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.table import Table

from .cli_common import out_console, run_guarded
from .errors import ConfigError

RUN_DIR = click.Path(path_type=Path, file_okay=False)
FILE = click.Path(path_type=Path, dir_okay=False)


@click.group("review")
def review_group() -> None:
    """Reviewers' decisions on a run: export them as gold, import labels, agreement."""


@review_group.command("export")
@click.argument("run_dir", type=RUN_DIR)
@click.option("--output", "-o", type=FILE, required=True, help="gold.csv or gold.json (.jsonl).")
@click.option(
    "--reviewer", default=None, help="Only this reviewer's decisions (default: anyone's latest)."
)
def review_export_cmd(run_dir: Path, output: Path, reviewer: str | None) -> None:
    """Write the reviewed values of RUN_DIR per id as a gold file (unreviewed fields absent)."""
    run_guarded(lambda: _review_export(run_dir, output, reviewer))


def _review_export(run_dir: Path, output: Path, reviewer: str | None) -> int:
    from .gold import write_gold
    from .review import RunReview

    review = RunReview(run_dir)
    gold = review.gold(reviewer)
    if not gold:
        who = f" by {reviewer}" if reviewer else ""
        raise ConfigError(f"{run_dir}: no reviewed values{who} to export")
    rows = write_gold(output, gold, review.columns, review.id_field)
    values = sum(len(v) for v in gold.values())
    out_console.print(f"{output}: {values} reviewed values of {rows} records", highlight=False)
    return 0


@review_group.command("import")
@click.argument("run_dir", type=RUN_DIR)
@click.argument("file", type=FILE)
@click.option("--reviewer", required=True, help="Whose labels these are.")
@click.option(
    "--id-field", default=None, help="The file's id column (default: the run's, id, uid)."
)
def review_import_cmd(run_dir: Path, file: Path, reviewer: str, id_field: str | None) -> None:
    """Existing labels (gold CSV or JSON, a Label Studio export) become decisions in RUN_DIR."""
    run_guarded(lambda: _review_import(run_dir, file, reviewer, id_field))


def _review_import(run_dir: Path, file: Path, reviewer: str, id_field: str | None) -> int:
    from .gold import read_gold
    from .review import ACCEPT, RunReview

    review = RunReview(run_dir)
    gold = read_gold(file, review.columns, id_field=id_field or review.id_field)
    decisions, unknown = review.import_gold(gold, reviewer)
    accepted = sum(d.action == ACCEPT for d in decisions)
    records = len({d.row for d in decisions})
    out_console.print(
        f"{review.folder.reviews_path}: {len(decisions)} decisions of {reviewer} on {records} "
        f"records ({accepted} keep the model's value, {len(decisions) - accepted} correct it)",
        highlight=False,
    )
    if unknown:
        shown = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        out_console.print(
            f"  [yellow]warning:[/yellow] {len(unknown)} ids in {file} have no record in "
            f"this run: {shown}",
            highlight=False,
        )
    return 0


@review_group.command("stats")
@click.argument("run_dir", type=RUN_DIR)
def review_stats_cmd(run_dir: Path) -> None:
    """Per field: values reviewed, agreement of the model with the reviewers, and Cohen's
    kappa between reviewers where two reviewed the same values."""
    run_guarded(lambda: _review_stats(run_dir))


def _review_stats(run_dir: Path) -> int:
    from .review import RunReview, stats

    review = RunReview(run_dir)
    found = stats(review)
    if not found:
        raise ConfigError(f"{run_dir}: no decisions yet ({review.folder.reviews_path})")
    table = Table(title=f"reviews of {run_dir} ({len(review.records)} records)")
    for name in ("field", "reviewed", "model agrees", "reviewers", "shared", "Cohen's kappa"):
        table.add_column(name, justify="left" if name == "field" else "right")
    for s in found:
        table.add_row(
            s.field,
            str(s.reviewed),
            "—" if s.agreement is None else f"{s.agreement:.0%}",
            str(s.reviewers),
            str(s.shared),
            "—" if s.kappa is None else f"{s.kappa:.2f}",
        )
    out_console.print(table)
    done = len(review.fully_reviewed())
    out_console.print(f"{done} of {len(review.records)} records fully reviewed", highlight=False)
    return 0


# --- export ---------------------------------------------------------------------------------


@click.command("export")
@click.argument("run_dir", type=RUN_DIR)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "jsonl", "parquet", "label-studio", "doccano"]),
    required=True,
    help="label-studio: tasks with pre-annotations (and the labeling config beside them); "
    "doccano: JSONL with [start, end, label] spans.",
)
@click.option("--output", "-o", type=FILE, required=True, help="The file to write.")
def export_cmd(run_dir: Path, fmt: str, output: Path) -> None:
    """Write the predictions of RUN_DIR as CSV, JSONL, Parquet, or for Label Studio or doccano
    (the file holds report text)."""
    run_guarded(lambda: _export(run_dir, fmt, output))


def _export(run_dir: Path, fmt: str, output: Path) -> int:
    from .export import export_run, label_config_path

    count = export_run(run_dir, fmt, output)
    out_console.print(f"{output}: {count} records ({fmt})", highlight=False)
    if fmt == "label-studio":
        out_console.print(f"  labeling config: {label_config_path(output)}", highlight=False)
    return 0


# --- evaluate -------------------------------------------------------------------------------


@click.command("evaluate")
@click.argument("run_dirs", nargs=-1, required=True, type=RUN_DIR)
@click.option(
    "--gold",
    "gold_source",
    type=click.Path(path_type=Path),
    required=True,
    help="A gold file (CSV/JSON/Label Studio) or a run folder whose reviews are the gold.",
)
@click.option("--id-field", default=None, help="The gold file's id column.")
@click.option(
    "--output", "-o", type=FILE, default=None, help="Also write the scores (.csv or .json)."
)
@click.option(
    "--resamples",
    type=click.IntRange(0),
    default=1000,
    show_default=True,
    help="Bootstrap resamples for the 95 % intervals (0: none).",
)
def evaluate_cmd(
    run_dirs: tuple[Path, ...],
    gold_source: Path,
    id_field: str | None,
    output: Path | None,
    resamples: int,
) -> None:
    """Per-field accuracy (F1 for lists and choices, MAE for numbers) of one or more runs
    against gold, with 95 % bootstrap intervals, on the rows all runs share."""
    run_guarded(lambda: _evaluate(run_dirs, gold_source, id_field, output, resamples))


def _evaluate(
    run_dirs: tuple[Path, ...],
    gold_source: Path,
    id_field: str | None,
    output: Path | None,
    resamples: int,
) -> int:
    from .evaluation import evaluate_runs, side_by_side
    from .store import RunFolder

    result, _ = evaluate_runs(list(run_dirs), gold_source, id_field=id_field, resamples=resamples)
    if result.matched == 0:
        raise ConfigError(f"no id of {gold_source} is in every run; check the id column")
    wide = side_by_side(result)
    table = Table(title=f"against {gold_source} · {result.matched} rows shared · 95 % intervals")
    for name in wide.columns:
        table.add_column(str(name), justify="left" if name in ("field", "metric") else "right")
    for row in wide.itertuples(index=False):
        table.add_row(*(str(cell) for cell in row))
    out_console.print(table)
    for label, run_dir in zip(result.runs, run_dirs, strict=True):
        manifest = RunFolder(run_dir).manifest()
        out_console.print(f"  {label}: {describe_run(manifest)}", highlight=False)
    if result.gold_only:
        out_console.print(
            f"  {len(result.gold_only)} gold rows are not in every run and are not scored",
            highlight=False,
        )
    if output is not None:
        _write_scores(output, result.long_table())
        out_console.print(f"scores: {output}", highlight=False)
    return 0


def describe_run(manifest: dict[str, Any]) -> str:
    """'model gemma-3-270m · 3 examples per report from 2 sources (8 reviewed records)'."""
    engine = manifest.get("engine") or {}
    examples = manifest.get("examples") or {}
    sources = examples.get("sources") or []
    reviewed = sum(s.get("count", 0) for s in sources if "reviews" in s)
    shots = examples.get("num_examples") or 0
    text = f"model {engine.get('model', '?')} · {shots} examples per report"
    if sources:
        text += f" from {len(sources)} source(s)"
    if reviewed:
        text += f" ({reviewed} reviewed records)"
    return text


def _write_scores(output: Path, table: Any) -> None:
    from .store import atomic_write

    if output.suffix.lower() == ".json":
        atomic_write(output, [table.to_json(orient="records", indent=1, force_ascii=False)])
    elif output.suffix.lower() == ".csv":
        atomic_write(output, [table.to_csv(index=False)])
    else:
        raise ConfigError(f"{output}: write scores as .csv or .json")
