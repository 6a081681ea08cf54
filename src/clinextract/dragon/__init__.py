"""DRAGON benchmark face: run job folders, write official predictions files, score them.

jobs.py          read `<TaskName>-fold<k>` job folders
adapters.py      one adapter per label type: schema from the job ↔ prediction value
instructions.py  our instructions for the 28 DRAGON tasks, a generic one otherwise
ner.py           entity texts → BIO tags over `text_parts`
logprobs.py      answer-token log-probabilities → probabilities for binary targets
inputs.py        rendering of inputs, truncation, token budgets, few-shot pool
runner.py        one job through the core pipeline → nlp-predictions-dataset.json
evaluate.py      the official scoring (dragon_eval 0.2.6), built in and cross-checked
cli.py           `clinextract dragon run|evaluate`
"""
