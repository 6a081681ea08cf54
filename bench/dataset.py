"""The benchmark task: synthetic Dutch radiology reports (~300 tokens) and a 5-field schema.

The reports are written for this project from sentence pools (no patient data). Each
report is generated together with its true field values, so the benchmark can also say
how often each variant got the fields right: speed bought with wrong answers is no gain.
Deterministic: the same seed gives the same reports, byte for byte.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent / "data"
TASK_NAME = "Task900_bench_radiology"

DESCRIPTION = (
    "Lees het radiologieverslag en bepaal het soort onderzoek, de onderzochte regio, of er "
    "een focale afwijking (nodus, laesie, cyste of massa) wordt beschreven, de grootste "
    "afmeting daarvan in millimeter en of er controle of vervolgonderzoek wordt geadviseerd."
)

# The schema as a user would write it: types, enums, descriptions; no grammar bounds.
SCHEMA: dict[str, Any] = {
    "title": "RadiologieVerslag",
    "type": "object",
    "properties": {
        "onderzoek": {
            "type": "string",
            "enum": ["CT", "MRI", "echografie", "röntgen"],
            "description": "Soort beeldvormend onderzoek.",
        },
        "regio": {
            "type": "string",
            "enum": ["thorax", "abdomen", "hoofd", "wervelkolom", "bekken"],
            "description": "Onderzochte lichaamsregio.",
        },
        "afwijking_aanwezig": {
            "type": "boolean",
            "description": "Wordt een focale afwijking (nodus, laesie, cyste, massa) beschreven?",
        },
        "grootte_mm": {
            "anyOf": [{"type": "integer"}, {"type": "null"}],
            "description": "Grootste afmeting van de afwijking in mm; null als er geen is.",
        },
        "controle_geadviseerd": {
            "type": "boolean",
            "description": "Wordt controle of vervolgonderzoek geadviseerd?",
        },
    },
    "required": [
        "onderzoek",
        "regio",
        "afwijking_aanwezig",
        "grootte_mm",
        "controle_geadviseerd",
    ],
}
FIELDS = tuple(SCHEMA["properties"])

MODALITIES = {  # modality -> (how the header names it, regions it is used for)
    "CT": ("CT", ("thorax", "abdomen", "hoofd", "wervelkolom", "bekken")),
    "MRI": ("MRI", ("hoofd", "wervelkolom", "bekken", "abdomen")),
    "echografie": ("Echografie", ("abdomen", "bekken")),
    "röntgen": ("Röntgenfoto", ("thorax", "wervelkolom", "bekken")),
}
REGION_WORDS = {
    "thorax": ("thorax", "longen"),
    "abdomen": ("abdomen", "bovenbuik"),
    "hoofd": ("hersenen", "cerebrum"),
    "wervelkolom": ("lumbale wervelkolom", "thoracolumbale wervelkolom"),
    "bekken": ("bekken", "kleine bekken"),
}
INDICATIONS = {
    "thorax": [
        "Sinds zes weken aanhoudende hoest en gewichtsverlies; rookt veertig pakjaren.",
        "Dyspnoe bij inspanning, subfebriele temperatuur, verhoogd CRP.",
        "Follow-up na eerder beschreven afwijking; patiënt heeft geen nieuwe klachten.",
        "Pijn op de borst rechts na een val, uitsluiten ribfractuur en pneumothorax.",
    ],
    "abdomen": [
        "Wisselende pijn in de rechter bovenbuik, licht verhoogde leverenzymen.",
        "Onbedoeld gewichtsverlies van acht kilo in drie maanden, verminderde eetlust.",
        "Hematurie zonder pijn; eerder geen urologische voorgeschiedenis.",
        "Stadiëring na recent vastgestelde colorectale tumor.",
    ],
    "hoofd": [
        "Sinds een maand toenemende hoofdpijn, vooral in de ochtend, met misselijkheid.",
        "Eenmalig insult zonder uitlokkende factor; neurologisch onderzoek zonder afwijkingen.",
        "Duizeligheid en gehoorverlies links; uitsluiten pathologie in de brughoek.",
        "Cognitieve achteruitgang volgens de familie, geheugenklachten sinds een jaar.",
    ],
    "wervelkolom": [
        "Lage rugpijn met uitstraling naar het linker been, tintelingen in de voet.",
        "Rugpijn na tillen, geen neurologische uitval; uitsluiten fractuur.",
        "Bekende osteoporose, nu acute pijn op thoracolumbaal niveau.",
        "Nachtelijke rugpijn bij voorgeschiedenis van mammacarcinoom.",
    ],
    "bekken": [
        "Pijn in de onderbuik links, onregelmatige menstruatie.",
        "Heupklachten rechts na een val van de trap; belast slecht.",
        "Verhoogd PSA, beoordeling van de prostaat en lymfeklieren gewenst.",
        "Palpabele zwelling in de lies; uitsluiten lymfadenopathie.",
    ],
}
NORMAL = {
    "thorax": [
        "De trachea is mediaan gelegen en de hoofdbronchi zijn vrij doorgankelijk.",
        "Geen pleuravocht aan beide zijden en geen pneumothorax.",
        "Het hart is niet vergroot; het mediastinum is niet verbreed.",
        "Geen pathologisch vergrote mediastinale of hilaire lymfeklieren.",
        "Geen consolidaties en geen tekenen van decompensatio cordis.",
        "Beperkt centrilobulair emfyseem in beide bovenvelden.",
        "De benige thorax laat degeneratieve veranderingen zien zonder fracturen.",
        "Het diafragma is glad begrensd en staat op normale hoogte.",
        "De aorta ascendens is niet verwijd en toont geringe atherosclerose.",
        "De schildklier is, voor zover afgebeeld, niet vergroot.",
        "In de bovenbuik, voor zover meegenomen, geen bijzonderheden.",
    ],
    "abdomen": [
        "De lever is normaal van grootte met een homogeen parenchym.",
        "De galblaas is dunwandig en bevat geen concrementen.",
        "De galwegen zijn niet verwijd; de ductus choledochus meet 4 mm.",
        "Het pancreas is goed te beoordelen en toont geen afwijkingen.",
        "De milt is normaal van grootte.",
        "Beide nieren zijn normaal gelegen zonder hydronefrose.",
        "Geen vrij vocht in de buikholte en geen vrije lucht.",
        "Geen vergrote lymfeklieren para-aortaal of mesenteriaal.",
        "De aorta abdominalis heeft een normale diameter.",
        "De bijnieren zijn slank en niet verdikt.",
        "De darmlissen zijn niet gedilateerd en tonen geen wandverdikking.",
    ],
    "hoofd": [
        "Het ventrikelsysteem is normaal van grootte en symmetrisch.",
        "Geen aanwijzingen voor een recent infarct of een bloeding.",
        "De middenlijnstructuren zijn niet verplaatst.",
        "Enkele periventriculaire witte-stofafwijkingen passend bij microangiopathie.",
        "De basale cisternen zijn vrij en de sulci zijn leeftijdsadequaat.",
        "De sinussen en het mastoïd zijn goed belucht.",
        "Het cerebellum en de hersenstam tonen geen afwijkingen.",
        "De orbitae zijn symmetrisch zonder retrobulbaire afwijkingen.",
        "De calvaria is intact zonder destructieve laesies.",
        "De hypofyse is normaal van grootte en aspect.",
        "Geen afwijkende aankleuring van de hersenvliezen.",
    ],
    "wervelkolom": [
        "De stand van de wervelkolom is normaal, de lordose is behouden.",
        "De wervelhoogtes zijn behouden zonder aanwijzingen voor fracturen.",
        "Discusdegeneratie op niveau L4-L5 en L5-S1 met geringe hoogtevermindering.",
        "Facetartrose op de onderste twee niveaus.",
        "Het wervelkanaal is ruim; geen compressie van de zenuwwortels.",
        "Het myelum toont een normaal signaal en eindigt op normale hoogte.",
        "Geen paravertebrale zwelling.",
        "De sacro-iliacale gewrichten zijn symmetrisch zonder tekenen van sacroiliitis.",
        "Modic type 2 veranderingen in de dekplaten van L5.",
        "De conus medullaris eindigt ter hoogte van L1.",
        "Geringe spondylolisthesis van L4 ten opzichte van L5, niet instabiel.",
    ],
    "bekken": [
        "De blaas is goed gevuld en dunwandig.",
        "De uterus is normaal van grootte met een regulier endometrium.",
        "Geen vrij vocht in het kleine bekken.",
        "Geen vergrote lymfeklieren langs de iliacale vaten.",
        "De heupgewrichten tonen geringe degeneratieve veranderingen.",
        "Het os sacrum en de bekkenring zijn intact.",
        "De prostaat is licht vergroot met een volume van ongeveer 45 ml.",
        "Het rectum en sigmoïd tonen geen wandverdikking.",
        "De weke delen rond de heupen zijn niet afwijkend.",
        "De vaginatop en parametria zijn niet afwijkend.",
        "Enkele flebolieten in het kleine bekken, zonder betekenis.",
    ],
}
LESIONS = {
    "thorax": [
        "een solide nodus in de rechter bovenkwab",
        "een deels solide nodus in de linker onderkwab",
        "een spiculair begrensde massa perihilair rechts",
    ],
    "abdomen": [
        "een hypodense laesie in leversegment 7",
        "een exofytische cyste aan de bovenpool van de linker nier",
        "een solide laesie in de pancreasstaart",
    ],
    "hoofd": [
        "een extra-axiale, aankleurende laesie frontaal links, passend bij een meningeoom",
        "een cysteuze laesie in de rechter temporaalkwab",
        "een laesie in de linker brughoek, passend bij een vestibulair schwannoom",
    ],
    "wervelkolom": [
        "een intradurale laesie op niveau Th12, passend bij een schwannoom",
        "een lytische laesie in het corpus van L3",
        "een perineurale cyste ter hoogte van S2",
    ],
    "bekken": [
        "een cysteuze laesie van het linker ovarium",
        "een vergrote lymfeklier langs de arteria iliaca externa rechts",
        "een solide laesie in de perifere zone van de prostaat links",
    ],
}
QUESTIONS = [
    "Verklaring voor de klachten? Graag beoordeling van de afgebeelde organen.",
    "Aanwijzingen voor een maligniteit of metastasen? Graag vergelijken met eerder onderzoek.",
    "Is er een afwijking die de klachten verklaart en die behandeling of controle vraagt?",
]
COMPARISONS = [
    "Vergelijking: geen eerder onderzoek beschikbaar.",
    "Vergelijking met het onderzoek van vorig jaar.",
    "Vergeleken met de opname van drie maanden geleden.",
]
TECHNIQUE = {
    "CT": "Techniek: spiraal-CT na intraveneus contrast, reconstructies in drie richtingen.",
    "MRI": "Techniek: T1- en T2-gewogen opnamen, diffusie en opnamen na gadolinium.",
    "echografie": "Techniek: transabdominale echografie met kleurendoppler.",
    "röntgen": "Techniek: opnamen in twee richtingen, staand.",
}
ADVICE_YES = [
    "Advies: controle over zes maanden met hetzelfde onderzoek.",
    "Geadviseerd wordt aanvullend onderzoek en bespreking in het multidisciplinair overleg.",
    "Advies: vervolgonderzoek met MRI ter verdere karakterisering.",
]
ADVICE_NO = [
    "Geen aanvullend onderzoek nodig.",
    "Geen controle geïndiceerd.",
    "Verder beleid aan de behandelaar; vanuit de radiologie geen vervolgonderzoek nodig.",
]


@dataclass(frozen=True)
class Report:
    id: str
    text: str
    truth: dict[str, Any]


def size_phrase(rng: random.Random, mm: int) -> str:
    """A size as radiologists write it: '14 mm', '1,4 cm' or '14 x 9 mm'."""
    style = rng.random()
    if style < 0.5:
        return f"van {mm} mm"
    if style < 0.75:
        other = max(2, mm - rng.randint(1, max(1, mm // 2)))
        return f"van {mm} x {other} mm"
    cm = f"{mm / 10:.1f}".replace(".", ",")
    return f"van {cm} cm"


def make_report(rng: random.Random, n: int) -> Report:
    modality = rng.choice(list(MODALITIES))
    header, regions = MODALITIES[modality]
    region = rng.choice(regions)
    lesion = rng.random() < 0.55
    size = rng.randint(4, 48) if lesion else None
    if lesion and size is not None and size % 10 == 0:
        size += 1  # whole centimetres would be written "2,0 cm"; keep it simple
    follow = (lesion and rng.random() < 0.7) or (not lesion and rng.random() < 0.1)
    findings = rng.sample(NORMAL[region], k=rng.randint(9, 10))
    lines = [
        f"Onderzoek: {header} {rng.choice(REGION_WORDS[region])}",
        f"Klinische gegevens: {rng.choice(INDICATIONS[region])}",
        f"Vraagstelling: {rng.choice(QUESTIONS)}",
        rng.choice(COMPARISONS),
        TECHNIQUE[modality],
        "",
        "Verslag:",
    ]
    if lesion and size is not None:
        where = rng.randint(1, len(findings) - 1)
        what = rng.choice(LESIONS[region])
        findings.insert(where, f"Er is {what} {size_phrase(rng, size)}.")
        conclusion = f"Conclusie: {what[0].upper()}{what[1:]} {size_phrase(rng, size)}."
    else:
        findings.append("Geen focale afwijkingen.")
        conclusion = "Conclusie: geen focale afwijkingen; verder geen bijzonderheden."
    lines.append(" ".join(findings))
    lines += ["", conclusion, rng.choice(ADVICE_YES if follow else ADVICE_NO)]
    truth = {
        "onderzoek": modality,
        "regio": region,
        "afwijking_aanwezig": lesion,
        "grootte_mm": size,
        "controle_geadviseerd": follow,
    }
    return Report(f"bench-{n:04d}", "\n".join(lines), truth)


def make_reports(count: int, seed: int = 2024) -> list[Report]:
    rng = random.Random(seed)
    return [make_report(rng, n) for n in range(count)]


def write_task(folder: Path, reports: list[Report], data_name: str = "reports.csv") -> Path:
    """Write the data, the truth and a task file; returns the task file's path."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / data_name).open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "text"])
        writer.writerows((r.id, r.text) for r in reports)
    truth = {r.id: r.truth for r in reports}
    (folder / "truth.json").write_text(json.dumps(truth, ensure_ascii=False, indent=1) + "\n")
    task = {
        "Description": DESCRIPTION,
        "Data_Path": data_name,
        "Input_Field": "text",
        "Id_Field": "id",
        "Parser_Format": SCHEMA,
    }
    path = folder / f"{TASK_NAME}.json"
    path.write_text(json.dumps(task, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


def accuracy(predictions: dict[str, dict[str, Any]], reports: list[Report]) -> float:
    """Share of fields equal to the truth (a missing or failed answer counts as wrong)."""
    right = total = 0
    for r in reports:
        got = predictions.get(r.id) or {}
        for name in FIELDS:
            total += 1
            right += got.get(name) == r.truth[name]
    return right / total if total else 0.0


if __name__ == "__main__":
    reports = make_reports(64)
    print(write_task(DATA_DIR, reports))
    print(reports[0].text)
