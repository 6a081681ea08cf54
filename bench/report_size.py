"""`make bench-report`: how big report.html is and how fast it opens, at 100 and 10,000
records (synthetic run folders from tests/synthetic_run.py, ~840-character Dutch reports
with evidence and confidences), in headless Chromium.

    .venv/bin/python bench/report_size.py              # 100 and 10,000 records, 5 loads each
    .venv/bin/python bench/report_size.py --sizes 100 1000 --loads 5
    .venv/bin/python bench/report_size.py --sizes 60 --screenshot docs/report.png

Per size: the time to write the file (Python), its size, and per load in a fresh tab:
first contentful paint (the summary, drawn before the script runs), the moment the first
page of records is drawn (`records-drawn`, the script's own mark), the load event, the
JavaScript heap, and how long one filter (needs review) and one text search take over
all records. Medians of the loads. Writes bench/out/report_size.md and prints it.
Timings are only comparable side by side in one run on one machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import machine  # noqa: E402
from clinextract.report import write_report  # noqa: E402
from tests.studio.browser import chrome, ensure_chromium  # noqa: E402
from tests.synthetic_run import make_run  # noqa: E402

OUT = ROOT / "bench" / "out" / "report_size.md"

# Run in the page once its first contentful paint is recorded (paint entries arrive after
# the frame is presented, so this waits for it); the filters are timed synchronously.
MEASURE = """
const done = arguments[arguments.length - 1];
const measure = () => {
  const paints = performance.getEntriesByType('paint');
  const fcp = paints.find(e => e.name === 'first-contentful-paint');
  if (!fcp) return requestAnimationFrame(measure);
  const drawn = performance.getEntriesByName('records-drawn')[0];
  const nav = performance.getEntriesByType('navigation')[0];
  const time = (change) => {
    const t = performance.now(); change(); update(); return performance.now() - t;
  };
  const filter = time(() => { state.review = true; });
  time(() => { state.review = false; });
  const search = time(() => { state.q = 'lymfeklieren'; });
  time(() => { state.q = ''; });
  done({fcp: fcp.startTime, drawn: drawn && drawn.startTime, load: nav.loadEventEnd,
        heap: performance.memory ? performance.memory.usedJSHeapSize : null,
        filter, search, records: D.records.length});
};
measure();
"""


def measure(n: int, loads: int, workdir: Path) -> dict[str, float]:
    folder = make_run(workdir / f"n{n}", n)
    started = time.perf_counter()
    path = write_report(folder)
    written = time.perf_counter() - started
    samples = []
    driver = chrome(1400, 1000)
    driver.set_script_timeout(120)
    try:
        for _ in range(loads):
            driver.get("about:blank")
            driver.get(path.as_uri())
            sample = driver.execute_async_script(MEASURE)
            assert sample["records"] == n, sample
            samples.append(sample)
    finally:
        driver.quit()

    def median(key: str) -> float:
        return statistics.median(s[key] for s in samples if s[key] is not None)

    return {
        "n": n,
        "mb": path.stat().st_size / 1e6,
        "write_s": written,
        **{key: median(key) for key in ("fcp", "drawn", "load", "filter", "search")},
        "heap_mb": median("heap") / 1e6 if samples[0]["heap"] else float("nan"),
    }


def screenshot(root: Path, path: Path) -> None:
    """The top of the page and the first records, for docs/report.md."""
    folder = make_run(root, 60)
    driver = chrome(1280, 1900)
    try:
        driver.get(write_report(folder).as_uri())
        time.sleep(0.5)
        driver.save_screenshot(str(path))
    finally:
        driver.quit()


def render(rows: list[dict[str, float]], loads: int) -> str:
    info = machine.describe()
    lines = [
        "# report.html size and time to first paint",
        "",
        f"`make bench-report` on {info['cores']} cores ({info['cpu']}), load average "
        f"{info['load_before'][0]:.1f} before the run (other processes share the machine); "
        f"headless Chromium, median of {loads} loads in a fresh tab.",
        "",
        "| records | file | write (Python) | first contentful paint | records drawn "
        "| load event | JS heap | filter: needs review | search |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['n']:,} | {r['mb']:.2f} MB | {r['write_s']:.2f} s | {r['fcp']:.0f} ms "
            f"| {r['drawn']:.0f} ms | {r['load']:.0f} ms | {r['heap_mb']:.0f} MB "
            f"| {r['filter']:.0f} ms | {r['search']:.0f} ms |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 10_000])
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--screenshot", type=Path, help="also save the first size's page here")
    args = parser.parse_args(argv)
    ensure_chromium()
    with tempfile.TemporaryDirectory(prefix="report-size-") as tmp:
        rows = [measure(n, args.loads, Path(tmp)) for n in args.sizes]
        if args.screenshot:
            screenshot(Path(tmp) / f"n{args.sizes[0]}", args.screenshot)
    text = render(rows, args.loads)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
