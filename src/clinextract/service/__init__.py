"""`clinextract service`: extraction over HTTP for EHR pipelines (the `service` extra).

One process loads one engine and shares it between every request. Sync requests and jobs
go through the same pipeline as `clinextract run`, so their records are the CLI's.

    cli.py       the `clinextract service` command and its key commands
    config.py    the service's own options (address, folders, limits)
    keys.py      the keys file (hashes only), bearer-key checks in constant time
    limits.py    body size, per-key concurrency and queue (413, 429 + Retry-After)
    catalog.py   the tasks the service offers (only those in --task-dir, by name)
    runs.py      a source through the pipeline with the shared engine; sync extraction
    uploads.py   a job's file streamed into its folder (raw body or multipart form)
    jobs.py      jobs as folders under --jobs-dir: upload, run, resume, cancel, records
    app.py       the FastAPI app: routes, JSON errors, the docs page without a CDN
"""
