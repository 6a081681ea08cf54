"""A task with unbounded numbers, as new users write them: six fields (two enums, a short
string, a boolean, two `Optional[int]` without bounds: age in years and lesion size in
mm), on synthetic Dutch reports that state both numbers. Built like the task on which
issue 17 measured 23–25 of 48 rows lost to a run-away age.

Deterministic: the same seed gives the same reports and truth, byte for byte.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TASK_NAME = "Task917_unbounded_numbers"
DESCRIPTION = (
    "Lees het verslag en leg vast: het geslacht en de leeftijd van de patiënt, de zijde en "
    "het orgaan van de laesie, of de laesie verdacht is voor maligniteit en de grootte in mm."
)
PARSER = '''"""Six fields, two unbounded integers (issue 17's bench task)."""

from typing import Literal, Optional

from pydantic import BaseModel, Field


class OutputParser(BaseModel):
    geslacht: Literal["man", "vrouw"] = Field(description="geslacht van de patiënt")
    leeftijd: Optional[int] = Field(None, description="leeftijd van de patiënt in jaren")
    zijde: Literal["links", "rechts"] = Field(description="zijde van de laesie")
    orgaan: str = Field(description="orgaan waarin de laesie ligt, in één woord")
    verdacht_maligne: bool = Field(description="is de laesie verdacht voor maligniteit")
    grootte_mm: Optional[int] = Field(None, description="grootste afmeting van de laesie in mm")
'''
FIELDS = ("geslacht", "leeftijd", "zijde", "orgaan", "verdacht_maligne", "grootte_mm")

ORGANS = {  # organ → (exam, how the lesion is described)
    "nier": ("CT abdomen", "een solide laesie in de {side} nier"),
    "lever": ("CT abdomen", "een hypodense laesie in de lever, {side} leverkwab"),
    "long": ("CT thorax", "een solide nodus in de {side} bovenkwab"),
    "borst": ("MRI mammae", "een aankleurende laesie in de {side} borst"),
    "schildklier": ("Echo hals", "een hypo-echogene nodus in de {side} schildklierkwab"),
    "bijnier": ("CT abdomen", "een ronde laesie in de {side} bijnier"),
}
SIDE_WORDS = {"links": "linker", "rechts": "rechter"}
COMPLAINTS = [
    "sinds enkele maanden vermoeidheid en gewichtsverlies",
    "toevalsbevinding bij eerder onderzoek",
    "pijn in de flank sinds twee weken",
    "controle na eerdere behandeling",
    "palpabele afwijking",
]
BENIGN = [
    "Glad begrensd, homogeen, zonder aankleuring: beeld past bij een benigne afwijking.",
    "Scherp begrensd en cysteus van aspect, passend bij een eenvoudige cyste.",
]
MALIGN = [
    "Onregelmatig begrensd met heterogene aankleuring, verdacht voor maligniteit.",
    "Spiculaire contour en groei ten opzichte van eerder, maligniteit niet uit te sluiten.",
]
NORMAL = [
    "Geen vergrote lymfeklieren.",
    "Geen vrij vocht.",
    "Overige organen zonder bijzonderheden.",
    "Geen ossale afwijkingen.",
    "De vaten zijn doorgankelijk.",
]


@dataclass(frozen=True)
class Report:
    id: str
    text: str
    truth: dict[str, Any]


def make_report(rng: random.Random, n: int) -> Report:
    organ = rng.choice(list(ORGANS))
    exam, lesion = ORGANS[organ]
    side = rng.choice(list(SIDE_WORDS))
    sex = rng.choice(["man", "vrouw"])
    age = rng.randint(19, 91)
    size = rng.randint(4, 85)
    malign = rng.random() < 0.45
    where = lesion.format(side=SIDE_WORDS[side])
    text = " ".join(
        [
            f"{exam}. Klinische vraagstelling: {sex.capitalize()}, {age} jaar, "
            f"{rng.choice(COMPLAINTS)}.",
            f"Bevindingen: {where[0].upper()}{where[1:]} van {size} mm.",
            rng.choice(MALIGN if malign else BENIGN),
            *rng.sample(NORMAL, k=3),
            f"Conclusie: laesie {SIDE_WORDS[side]} {organ} van {size} mm, "
            + ("verdacht voor maligniteit." if malign else "waarschijnlijk benigne."),
        ]
    )
    truth = {
        "geslacht": sex,
        "leeftijd": age,
        "zijde": side,
        "orgaan": organ,
        "verdacht_maligne": malign,
        "grootte_mm": size,
    }
    return Report(f"{n:03d}", text, truth)


def make_reports(count: int, seed: int = 917) -> list[Report]:
    rng = random.Random(seed)
    return [make_report(rng, n) for n in range(1, count + 1)]


def write_task(folder: Path, reports: list[Report], examples: list[Report]) -> Path:
    """tasks/Task917…json + parsers/…py + data/reports.csv + data/examples.json."""
    (folder / "tasks" / "parsers").mkdir(parents=True, exist_ok=True)
    (folder / "data").mkdir(parents=True, exist_ok=True)
    (folder / "tasks" / "parsers" / "unbounded.py").write_text(PARSER, encoding="utf-8")
    with (folder / "data" / "reports.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["uid", "verslag"])
        writer.writerows([r.id, r.text] for r in reports)
    (folder / "data" / "examples.json").write_text(
        json.dumps([{"input": e.text, "output": e.truth} for e in examples], ensure_ascii=False),
        encoding="utf-8",
    )
    spec = {
        "Description": DESCRIPTION,
        "Data_Path": "reports.csv",
        "Input_Field": "verslag",
        "Id_Field": "uid",
        "Parser_Format": "unbounded.py",
        "Example_Path": "examples.json",
    }
    path = folder / "tasks" / f"{TASK_NAME}.json"
    path.write_text(json.dumps(spec, ensure_ascii=False, indent=1), encoding="utf-8")
    return path
