"""A synthetic run folder of N records with evidence and confidences, written through the
store as the pipeline writes one: for the report's tests and its size benchmark
(bench/report_size.py), without a model.

Each report is built together with its values, so every evidence span is where the
value really is: `onderzoek`, `regio`, `nodus.aanwezig` ("nodus van 6 mm") around
`nodus.grootte_mm` ("6 mm", nested: overlapping spans), `bevindingen[n]` (sentences),
`controle` (fuzzy or not found). Every 10th record fails (null fields, error, raw
output), every 7th is partial (a size out of range), a low confidence needs review.
Row 3 holds text that must be escaped (`</script>`, `<b>`, `&`, quotes) and an emoji
before its first value (offsets count code points). Deterministic for a seed.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from clinextract.store import RunFolder, RunStore, write_json

TASK = "Task001_synthetic"
INPUT, ID = "verslag", "uid"
CONFIG = "synthetic-config"
TRICKY = "Let op: </script><script>alert(\"x\")</script> & <b>vet</b> 'quote' 🙂\n"
FAILURE_RAW = 'de nodus is rechts {"onderzoek": '
# the fields' JSON Schema (the manifest keeps it, as the pipeline's does)
SCHEMA = {
    "type": "object",
    "properties": {
        "onderzoek": {"type": "string", "enum": ["CT", "MRI", "echografie"]},
        "regio": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "nodus": {
            "type": "object",
            "properties": {
                "aanwezig": {"type": "boolean"},
                "grootte_mm": {
                    "anyOf": [{"type": "integer", "minimum": 0, "maximum": 300}, {"type": "null"}]
                },
            },
            "required": ["aanwezig", "grootte_mm"],
        },
        "bevindingen": {"type": "array", "items": {"type": "string"}},
        "controle": {"type": "boolean"},
    },
    "required": ["onderzoek", "regio", "nodus", "bevindingen", "controle"],
}

MODALITIES = (("CT", "thorax"), ("MRI", "hoofd"), ("CT", "abdomen"), ("echografie", "abdomen"))
INDICATIONS = (
    "Sinds zes weken aanhoudende hoest en gewichtsverlies; rookt veertig pakjaren.",
    "Controle na eerder beschreven afwijking, patiënt zonder nieuwe klachten.",
    "Pijn rechts in de flank sinds enkele dagen, koorts tot 38,5 graden.",
    "Hoofdpijn en duizeligheid, neurologisch onderzoek zonder uitval.",
)
TECHNIQUE = (
    "Onderzoek verricht na intraveneuze toediening van contrast, coupes van 1 mm.",
    "Blanco en na contrast, reconstructies in drie richtingen.",
    "Opnamen in inspiratie, zonder bewegingsartefacten van betekenis.",
)
HISTORY = (
    "Voorgeschiedenis: hypertensie, diabetes mellitus type 2, status na appendectomie.",
    "Voorgeschiedenis: COPD GOLD II, eerder mammacarcinoom links, behandeld in 2015.",
    "Voorgeschiedenis: blanco, geen bekende allergieën, geen medicatie.",
)
COMPARISON = (
    "Vergelijking met het onderzoek van vorig jaar: destijds geen afwijkingen beschreven.",
    "Er is geen eerder beeldvormend onderzoek beschikbaar ter vergelijking.",
    "Vergeleken met de vorige opname van drie maanden geleden, die elders werd verricht.",
)
FINDINGS = (
    "Geen pleuravocht.",
    "Normale hilaire structuren.",
    "Geen pathologisch vergrote lymfeklieren.",
    "Lever en milt van normale grootte.",
    "Geen vrij vocht in het abdomen.",
    "Geen aanwijzingen voor metastasen.",
    "Degeneratieve veranderingen van de wervelkolom, passend bij de leeftijd.",
    "Het mediastinum is niet verbreed en de trachea ligt in de middellijn.",
    "Beide nieren zijn normaal van grootte en vorm zonder stuwing.",
    "Geen afwijkingen aan de ossale structuren in het afgebeelde gebied.",
)
SIDES = ("rechter bovenkwab", "linker onderkwab", "rechter nier", "linker hemisfeer")


def synthetic_report(rng: random.Random, tricky: bool) -> tuple[str, dict, dict]:
    """(text, fields, evidence) for one report; evidence offsets point at the values."""
    modality, region = rng.choice(MODALITIES)
    size = rng.choice([None, rng.randint(3, 45)])
    findings = rng.sample(FINDINGS, rng.randint(3, 6))
    follow_up = size is not None and size >= 8
    parts: list[str] = [TRICKY] if tricky else []
    evidence: dict[str, list[dict[str, Any]]] = {}

    def add(text: str, *marks: tuple[str, str, str]) -> None:
        """Append `text`; each (path, quoted part, match) is a span inside it."""
        start = sum(len(p) for p in parts)
        parts.append(text)
        for path, quote, match in marks:
            at = start + text.index(quote)
            evidence.setdefault(path, []).append(
                {"text": quote, "start": at, "end": at + len(quote), "match": match}
            )

    add(
        f"Onderzoek: {modality} {region}.\n",
        ("onderzoek", modality, "exact"),
        ("regio", region, "exact"),
    )
    indication, technique = rng.sample(INDICATIONS, 2), rng.sample(TECHNIQUE, 2)
    add(f"Indicatie: {' '.join(indication)}\nTechniek: {' '.join(technique)}\n")
    add(f"{rng.choice(HISTORY)}\n{rng.choice(COMPARISON)}\n")
    if size is None:
        add("Bevindingen: geen focale afwijkingen. ")
    else:
        where = rng.choice(SIDES)
        nodule = f"nodus van {size} mm"
        add(
            f"Bevindingen: in de {where} een {nodule}, scherp begrensd. ",
            ("nodus.aanwezig", nodule, "exact"),
            ("nodus.grootte_mm", f"{size} mm", "exact"),
        )
    for n, sentence in enumerate(findings):
        add(sentence + " ", (f"bevindingen[{n}]", sentence, "exact" if n % 2 == 0 else "fuzzy"))
    if follow_up:
        add(
            "\nConclusie: solitaire afwijking zoals beschreven; controle-CT over drie maanden "
            "geadviseerd ter beoordeling van de groei.",
            ("controle", "controle", "fuzzy"),
        )
    else:
        add("\nConclusie: geen afwijkingen die verdere actie of vervolgonderzoek vereisen.")
        evidence["controle"] = [{"text": None, "start": None, "end": None, "match": "none"}]
    fields = {
        "onderzoek": modality,
        "regio": region,
        "nodus": {"aanwezig": size is not None, "grootte_mm": size},
        "bevindingen": findings,
        "controle": follow_up,
    }
    return "".join(parts), fields, evidence


def leaf_paths(fields: dict[str, Any]) -> list[str]:
    out = ["onderzoek", "regio", "nodus.aanwezig", "nodus.grootte_mm", "controle"]
    return out + [f"bevindingen[{n}]" for n in range(len(fields["bevindingen"]))]


def synthetic_record(row: int, rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    """(input row, checkpoint record) for row `row`."""
    text, fields, evidence = synthetic_report(rng, tricky=row == 3)
    item = {ID: f"r{row:05d}", INPUT: text, "leeftijd": str(rng.randint(30, 90))}
    confidence = {p: round(rng.uniform(0.3, 1.0), 3) for p in leaf_paths(fields)}
    record: dict[str, Any] = {
        "row": row,
        "id": item[ID],
        "text_sha": f"{row:016x}",
        "status": "success",
        "error": None,
        "fields": fields,
        "confidence": confidence,
        "evidence": evidence,
        "raw_output": json.dumps(fields, ensure_ascii=False),
        "attempts": 1,
        "prompt_tokens": 300,
        "completion_tokens": 40,
        "seconds": 1.0,
    }
    if row % 10 == 9:
        nulls = {k: None for k in fields} | {"nodus": None, "bevindingen": []}
        record.update(
            status="failure",
            error="invalid answer after repair: Expecting value: line 1 column 1 (char 0)",
            fields=nulls,
            confidence={},
            evidence={},
            raw_output=FAILURE_RAW,
            attempts=2,
        )
    elif row % 7 == 6:
        fields["nodus"]["grootte_mm"] = None
        record["field_errors"] = {"nodus.grootte_mm": "Input should be less than or equal to 300"}
        record["status"] = "partial"
        record["evidence"].pop("nodus.grootte_mm", None)
        record["confidence"].pop("nodus.grootte_mm", None)
    record["needs_review"] = (
        record["status"] != "success" or min(record["confidence"].values(), default=0) < 0.5
    )
    return item, record


def make_run(root: Path, n: int, *, seed: int = 0, complete: bool = True) -> RunFolder:
    """`root/reports.jsonl` (the data file) and the run folder `root/run/TASK-run0` with
    n records; `complete=False` leaves it as an interrupted run (no predictions file)."""
    rng = random.Random(seed)
    folder = RunFolder(root / "run" / f"{TASK}-run0")
    data = root / "reports.jsonl"
    store = RunStore(folder, CONFIG, overwrite=True)
    items = []
    with data.open("w", encoding="utf-8") as fh:
        for row in range(n):
            item, record = synthetic_record(row, rng)
            fh.write(json.dumps(item, ensure_ascii=False) + "\n")
            store.append(record)
            items.append(
                {
                    **item,
                    **record["fields"],
                    **{k: record.get(k) for k in ("status", "error", "field_errors")},
                    **{k: record.get(k) for k in ("needs_review", "confidence", "evidence")},
                }
            )
    counts = {"rows": n, "success": sum(i["status"] == "success" for i in items)}
    if complete:
        store.write_final(items)
    store.close()
    manifest = {
        "tool": "clinextract",
        "version": "test",
        "created": "2025-01-01T10:00:00+00:00",
        "finished": "2025-01-01T10:05:00+00:00" if complete else None,
        "status": "complete" if complete else "interrupted",
        "task": {"name": TASK, "input_field": INPUT, "data": str(data), "id_field": ID},
        "config_hash": CONFIG,
        "schema": SCHEMA,
        "engine": {"engine": "fake", "model": "synthetic"},
        "counts": counts,
        "timings": {"seconds": 300.0, "docs_per_s": n / 300},
        "warnings": [
            {
                "field": "controle",
                "message": "the same value in 80% of the records",
                "what_to_do": "add examples with the other value",
            }
        ],
    }
    write_json(folder.manifest_path, manifest, indent=2)
    return folder
