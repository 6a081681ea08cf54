"""`clinextract dragon run` and `clinextract dragon evaluate`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from ..cli_common import err_console, out_console, run_guarded, settings_from, settings_options

# Settings that a DRAGON run decides itself: the data comes from the job folders and the
# output folder is the OUTPUT argument.
NOT_FOR_DRAGON = ("task_dir", "data_dir", "example_dir", "output_dir", "run_name", "id_field")


def _split(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple:
    """`--tasks 101,102 --tasks 103` → ("101", "102", "103")."""
    out = []
    for value in values:
        out += [v for v in value.replace(",", " ").split() if v]
    if param.name == "folds":
        try:
            return tuple(int(v) for v in out)
        except ValueError as exc:
            raise click.BadParameter("folds are numbers, e.g. --folds 0,1") from exc
    return tuple(out)


def more_folds(ctx: click.Context, folds: tuple) -> tuple:
    """The official evaluator's spelling `--folds 0 1 2 3 4`: click takes the first number
    as the option's value and leaves the rest as extra arguments, which are folds too."""
    extra = list(ctx.args)
    if extra and folds and all(v.replace(",", "").isdigit() for v in extra):
        return (*folds, *(int(v) for value in extra for v in value.replace(",", " ").split()))
    if extra:
        raise click.UsageError(f"unexpected extra arguments: {' '.join(extra)}", ctx)
    return folds


FOLDS_SPELLINGS = {"allow_extra_args": True}


@click.group("dragon")
def dragon_group() -> None:
    """Run DRAGON benchmark jobs and score them like the official evaluator."""


@dragon_group.command("run", context_settings=FOLDS_SPELLINGS)
@click.argument("input_dir", metavar="INPUT", type=click.Path(path_type=Path))
@click.argument("output", required=False, type=click.Path(path_type=Path))
@click.option(
    "--tasks",
    multiple=True,
    callback=_split,
    help="Tasks to run (names or parts of "
    "names, e.g. 101 or Task101; comma-separated or repeated). Default: all.",
)
@click.option(
    "--folds", multiple=True, callback=_split, help="Folds to run, e.g. 0,1. Default: all found."
)
@click.option(
    "--limit",
    type=int,
    default=None,
    help="Only the first N test cases of each job "
    "(a quick look; the evaluator then needs ground truth for just those cases).",
)
@settings_options(exclude=NOT_FOR_DRAGON)
@click.pass_context
def run_cmd(
    ctx: click.Context,
    input_dir: Path,
    output: Path | None,
    tasks: tuple,
    folds: tuple,
    limit: int | None,
    **options: Any,
) -> None:
    """Run every DRAGON job folder in INPUT (or the job folder INPUT) and write
    OUTPUT/<TaskName>-fold<k>/nlp-predictions-dataset.json (default OUTPUT: output/dragon)."""
    folds = more_folds(ctx, folds)
    run_guarded(lambda: _run(input_dir, output, tasks, folds, limit, options))


def _run(
    input_dir: Path,
    output: Path | None,
    tasks: tuple,
    folds: tuple,
    limit: int | None,
    options: dict[str, Any],
) -> int:
    from ..engines import create_engine
    from ..progress import ProgressPrinter
    from .inputs import TokenCounter
    from .jobs import find_jobs
    from .runner import run_job

    settings = settings_from(options)
    output = output or Path("output") / "dragon"
    if limit is not None and limit < 1:
        raise click.BadParameter("--limit must be at least 1")
    jobs = find_jobs(input_dir, tasks, folds)
    err_console.print(f"{len(jobs)} job(s): {', '.join(j.name for j in jobs)}", highlight=False)
    err_console.print(f"starting the {settings.engine} engine ...", highlight=False)
    with create_engine(settings) as engine:
        count = TokenCounter(engine)
        with ProgressPrinter(err_console, verbose=settings.verbose) as printer:
            for job in jobs:
                printer.new_run()
                result = run_job(
                    job,
                    settings,
                    engine,
                    output,
                    count=count,
                    limit=limit,
                    on_progress=printer.update,
                    say=printer.status,
                )
                s = result.summary
                out_console.print(
                    f"[bold]{job.name}[/bold]: {result.cases} cases, {s.failures} failed, "
                    f"{result.truncated} cut to fit · {s.docs_per_s:.2f} docs/s · "
                    f"{s.seconds:.0f} s"
                    + (
                        f" · examples {result.examples_given}/{result.examples_asked}"
                        if result.examples_asked
                        else ""
                    ),
                    highlight=False,
                )
                out_console.print(f"  predictions: {result.predictions_path}", highlight=False)
        count.close()
    return 0


@dragon_group.command("evaluate", context_settings=FOLDS_SPELLINGS)
@click.argument("pred", type=click.Path(path_type=Path))
@click.argument("gt", type=click.Path(path_type=Path))
@click.option(
    "--tasks",
    multiple=True,
    callback=_split,
    help="Tasks to score (names or parts). Default: every ground-truth task with predictions.",
)
@click.option(
    "--folds",
    multiple=True,
    callback=_split,
    help="Folds to score. Default: the folds found in PRED.",
)
@click.option(
    "--output",
    "-o",
    "output",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the metrics JSON (official shape) here.",
)
@click.option(
    "--scorer",
    type=click.Choice(["auto", "official", "builtin"]),
    default="auto",
    show_default=True,
    help="official: the dragon_eval package; builtin: our "
    "re-implementation (same numbers); auto: the package when installed.",
)
@click.pass_context
def evaluate_cmd(
    ctx: click.Context,
    pred: Path,
    gt: Path,
    tasks: tuple,
    folds: tuple,
    output: Path | None,
    scorer: str,
) -> None:
    """Score PRED/<TaskName>-fold<k>/nlp-predictions-dataset.json against GT/<TaskName>.json
    exactly like dragon_eval 0.2.6."""
    folds = more_folds(ctx, folds)
    run_guarded(lambda: _evaluate(pred, gt, tasks, folds, output, scorer))


def _evaluate(
    pred: Path, gt: Path, tasks: tuple, folds: tuple, output: Path | None, scorer: str
) -> int:
    from .evaluate import evaluate, task_kind

    metrics = evaluate(pred, gt, tasks, folds, scorer)
    out_console.print(metrics_table(metrics, task_kind))
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(metrics, indent=2) + "\n")
        out_console.print(f"metrics: {output}", highlight=False)
    return 0


def metrics_table(metrics: dict[str, Any], kind_of: Any) -> Table:
    folds = sorted({job.rsplit("-fold", 1)[1] for s in metrics["case"].values() for job in s})
    table = Table(
        title=f"DRAGON scores (dragon_eval {metrics.get('version')}, "
        f"{metrics.get('scorer', 'official')} scorer)"
    )
    table.add_column("task")
    table.add_column("metric")
    for fold in folds:
        table.add_column(f"fold {fold}", justify="right")
    table.add_column("mean ± std", justify="right")
    for task, scores in metrics["case"].items():
        agg = metrics["aggregates"][task]
        row = [scores.get(f"{task}-fold{f}") for f in folds]
        try:
            kind = kind_of(task)
        except Exception:
            kind = ""
        table.add_row(
            task,
            kind,
            *("" if v is None else f"{v:.4f}" for v in row),
            f"{agg['mean']:.4f} ± {agg['std']:.4f}",
        )
    overall = metrics["aggregates"]["overall"]
    table.add_row(
        "[bold]overall[/bold]",
        "",
        *([""] * len(folds)),
        f"[bold]{overall['mean']:.4f}[/bold] ± {overall['std']:.4f}",
    )
    return table
