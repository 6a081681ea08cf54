"""What each task asks, in our own words, for the 28 DRAGON tasks; a generic instruction for
any other task name.

The reports of the real benchmark are Dutch radiology and pathology reports, so the
instructions name the Dutch words a report uses. They describe the task only: the
allowed labels, the number of sub-labels and the entity tags always come from the job's
own training labels (adapters.py), never from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Instruction:
    text: str
    answer: str = "answer"  # field name for a single answer
    sub_labels: tuple[str, ...] = ()  # field names for multi-label targets, in label order
    parts: tuple[str, ...] = ()  # names of the text_parts of a classification input
    entities: dict[str, str] = field(default_factory=dict)  # entity label → what it marks
    generic: bool = False


def _lesions(what: str) -> tuple[str, ...]:
    return tuple(f"lesion_{i}_{what}" for i in range(1, 6))


TASKS: dict[str, Instruction] = {
    "Task001_adhesion_clf": Instruction(
        "Does this radiology report describe adhesions (Dutch: adhesies, verklevingen, "
        "vergroeiingen)? true if adhesions are described as present, false otherwise.",
        answer="adhesions",
    ),
    "Task002_nodule_clf": Instruction(
        "Does this chest radiology report mention a pulmonary nodule (Dutch: longnodus, "
        "nodulus, noduli, longhaard)? true if a lung nodule is mentioned, false if not.",
        answer="pulmonary_nodule",
    ),
    "Task003_kidney_clf": Instruction(
        "Does this radiology report describe a kidney abnormality (Dutch: nier): a renal "
        "mass or carcinoma (niercelcarcinoom), a cyst (niercyste), a stone (niersteen), "
        "hydronephrosis or a (partial) nephrectomy? true if so, false for normal kidneys.",
        answer="kidney_abnormality",
    ),
    "Task004_skin_case_selection_clf": Instruction(
        "Should this skin pathology report be excluded from a case selection because it "
        "is incomplete or gives no conclusive diagnosis (Dutch: conclusie ontbreekt, "
        "aanvullend onderzoek volgt)? true to exclude, false for a complete diagnosis.",
        answer="exclude",
    ),
    "Task005_recist_timeline_clf": Instruction(
        "Is this CT report a baseline scan, before treatment (Dutch: uitgangssituatie, "
        "baseline, geen vergelijking), rather than a follow-up that compares with an earlier "
        "scan (Dutch: vergeleken met, in vergelijking met, afname, toename)? true = baseline.",
        answer="baseline",
    ),
    "Task006_pathology_tumor_origin_clf": Instruction(
        "Does this pathology report conclude that the cancer originates in the lung "
        "(Dutch: primair longcarcinoom, pulmonale origine, TTF-1 positief)? true if the "
        "primary tumour is in the lung, false if it comes from elsewhere.",
        answer="lung_origin",
    ),
    "Task007_nodule_diameter_presence_clf": Instruction(
        "Does this chest CT report give the size of a pulmonary nodule (a diameter in mm "
        "or cm, Dutch: nodus van 6 mm)? true if a nodule size is given, false otherwise.",
        answer="nodule_size_given",
    ),
    "Task008_pdac_size_presence_clf": Instruction(
        "Does this CT report give the size of a pancreatic tumour (pancreascarcinoom, "
        "PDAC, massa in de pancreaskop), in mm or cm? true if a size is given, else false.",
        answer="tumour_size_given",
    ),
    "Task009_pdac_diagnosis_clf": Instruction(
        "Classify the pancreas finding of this radiology report: pancreatic ductal "
        "adenocarcinoma (PDAC, pancreascarcinoom), another pancreatic disease (cyst, "
        "IPMN, pancreatitis, neuroendocrine tumour), or a normal pancreas.",
        answer="diagnosis",
    ),
    "Task010_prostate_radiology_clf": Instruction(
        "Count the prostate lesions in this MRI report that have a PI-RADS score of 3 or "
        "higher (Dutch: laesie, PI-RADS 3, 4 of 5). Answer the count as one of the labels.",
        answer="lesions_pirads_3_or_more",
    ),
    "Task011_prostate_pathology_clf": Instruction(
        "Count the prostate cancer lesions in this pathology report with a Gleason score of "
        "7 or higher (3+4, 4+3, 4+4, … ; ISUP grade 2 or higher). Answer the count as one "
        "of the labels.",
        answer="lesions_gleason_7_or_more",
    ),
    "Task012_pathology_tissue_type_clf": Instruction(
        "What kind of tissue sample does this pathology report describe: a biopsy (biopt, "
        "naaldbiopt), a resection (resectie, -ectomie) or an excision (excisie)?",
        answer="tissue_type",
    ),
    "Task013_pathology_tissue_origin_clf": Instruction(
        "From which organ or body site does the tissue in this pathology report come? "
        "Choose the label that fits; rare origins are labelled as other.",
        answer="tissue_origin",
    ),
    "Task014_textual_entailment_clf": Instruction(
        "Given a premise from a clinical report and a hypothesis, decide whether the "
        "premise entails the hypothesis, contradicts it, or is neutral towards it.",
        answer="relation",
        parts=("Premise", "Hypothesis"),
    ),
    "Task015_colon_pathology_clf": Instruction(
        "The report covers several colon samples numbered with Roman numerals. For the "
        "sample with the given numeral only, say which findings apply: a biopsy, cancer "
        "(carcinoom), high-grade dysplasia (hooggradige dysplasie), a hyperplastic polyp, "
        "low-grade dysplasia (laaggradige dysplasie), non-informative material, a serrated "
        "lesion (serrated/sessiel getand).",
        sub_labels=(
            "biopsy",
            "cancer",
            "high_grade_dysplasia",
            "hyperplastic_polyp",
            "low_grade_dysplasia",
            "non_informative",
            "serrated",
        ),
        parts=("Sample numeral", "Report"),
    ),
    "Task016_recist_lesion_size_presence_clf": Instruction(
        "This CT report follows target lesions 1 to 5. For each target lesion, is its size "
        "given in this report? true if a measurement is given, false if not or if there "
        "is no such lesion.",
        sub_labels=_lesions("size_given"),
    ),
    "Task017_pdac_attributes_clf": Instruction(
        "For the pancreatic tumour in this CT report give its attenuation (hyperdense, "
        "hypodense, isodense or not mentioned) and its location in the pancreas (head "
        "= kop, body = corpus, tail = staart, or not mentioned).",
        sub_labels=("attenuation", "location"),
    ),
    "Task018_osteoarthritis_clf": Instruction(
        "Give the Kellgren-Lawrence osteoarthritis grade (0-4) of the left and of the right "
        "joint in this radiology report (Dutch: artrose, gewrichtsspleetversmalling, "
        "osteofyten); use the label for not assessable or prosthesis where it applies.",
        sub_labels=("left", "right"),
    ),
    "Task019_prostate_volume_reg": Instruction(
        "Give the prostate volume in cm³ (ml) stated in this MRI report (Dutch: prostaatvolume).",
        answer="prostate_volume_ml",
    ),
    "Task020_psa_reg": Instruction(
        "Give the PSA level in ng/ml stated in this report.", answer="psa_ng_ml"
    ),
    "Task021_psad_reg": Instruction(
        "Give the PSA density (PSAD) in ng/ml² stated in this report.", answer="psa_density"
    ),
    "Task022_pdac_size_reg": Instruction(
        "Give the size of the pancreatic tumour (largest diameter) in mm from this CT "
        "report; convert cm to mm.",
        answer="tumour_size_mm",
    ),
    "Task023_nodule_diameter_reg": Instruction(
        "Give the diameter in mm of the largest pulmonary nodule in this chest CT report; "
        "convert cm to mm.",
        answer="largest_nodule_mm",
    ),
    "Task024_recist_lesion_size_reg": Instruction(
        "This CT report follows target lesions 1 to 5. Give the size in mm of each target "
        "lesion in this report (convert cm to mm); null when a lesion has no size.",
        sub_labels=_lesions("mm"),
    ),
    "Task025_anonymisation_ner": Instruction(
        "Find the personal data in this report that must be anonymised: names of persons, "
        "dates, places, report and patient identifiers, times, ages and similar.",
    ),
    "Task026_medical_terminology_ner": Instruction(
        "Find every mention of a medical term (diagnoses, findings, anatomy, procedures) "
        "in this report.",
    ),
    "Task027_prostate_biopsy_ner": Instruction(
        "The report describes prostate biopsies, numbered. For each biopsy n give the words "
        "that state the needle location and the words that say whether the biopsy is "
        "representative, not representative or ambiguous.",
    ),
    "Task028_skin_pathology_ner": Instruction(
        "The report describes skin cases, numbered. For each case n give the words of the "
        "diagnosis (e.g. basal cell carcinoma, BCC), its subtype and how the tissue was "
        "acquired (biopt, excisie, shave).",
    ),
}

GENERIC = {
    "single_label_binary_classification_target": "Decide whether the statement this "
    "task is about holds for the report: true or false.",
    "single_label_multi_class_classification_target": "Classify the report: choose the "
    "one label that fits it.",
    "multi_label_binary_classification_target": "For each of the labels, decide whether "
    "it holds for the report: true or false.",
    "multi_label_multi_class_classification_target": "For each of the labels, choose the "
    "value that fits the report.",
    "single_label_regression_target": "Give the number this task asks for, as stated in "
    "the report.",
    "multi_label_regression_target": "Give each number this task asks for, as stated in "
    "the report; null where the report gives none.",
    "named_entity_recognition_target": "Find the entities of each type in the report.",
    "multi_label_named_entity_recognition_target": "Find the entities of each type in the "
    "report, each with the number of the item it belongs to.",
}


def instruction_for(task_name: str, label_name: str) -> Instruction:
    """Ours for a named DRAGON task; for any other name the generic instruction of its
    label type (the task's name is shown too: it may say what the task is about)."""
    if task_name in TASKS:
        return TASKS[task_name]
    return Instruction(f"{GENERIC[label_name]} (Task: {task_name}.)", generic=True)
