"""Fuzzed bodies, headers, paths and query strings against a real uvicorn (fake engine):
never a 5xx, every error a JSON body in the one error shape."""

from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.service.helpers import TASK

KEYS = ["task", "texts", "records", "options", "input_field", "id_field", "id", "text"]
OPTIONS = ["num_examples", "max_tokens", "temperature", "seed", "parallel", "model"]
header_value = st.text(alphabet=string.printable.strip() + " ", max_size=60).map(str.strip)
scalar = st.none() | st.booleans() | st.integers() | st.text(max_size=30)
json_value = st.recursive(
    scalar | st.floats(allow_nan=False, allow_infinity=False),  # httpx cannot send NaN
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
shaped = st.fixed_dictionaries(
    {},
    optional={
        "task": st.sampled_from([TASK, "Task002_other", "", "../x"]) | st.text(max_size=20),
        "texts": st.lists(st.text(max_size=40) | json_value, max_size=10) | json_value,
        "records": st.lists(st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6),
                                            json_value, max_size=4), max_size=5) | json_value,
        "options": st.dictionaries(st.sampled_from(OPTIONS), json_value, max_size=3) | json_value,
        "input_field": json_value,
        "id_field": json_value,
        "extra": json_value,
    },
)  # fmt: skip
content_type = st.sampled_from(
    ["application/json", "text/csv", "application/x-ndjson", "text/plain", "multipart/form-data",
     "application/json; charset=latin-1", ""]
) | header_value  # fmt: skip


@st.composite
def requests(draw, key: str) -> dict:
    auth = draw(
        st.sampled_from([f"Bearer {key}"] * 6 + ["", "Bearer", "Basic x", f"bearer  {key}"])
        | st.sampled_from([f"Bearer {key}"])
        | header_value
    )
    headers = {"Content-Type": draw(content_type)}
    if auth:
        headers["Authorization"] = auth
    for name, value in draw(
        st.dictionaries(st.text(alphabet=string.ascii_letters + "-", min_size=1, max_size=12),
                        header_value, max_size=3)
    ).items():  # fmt: skip
        if name.lower() not in ("content-length", "transfer-encoding", "host", "authorization"):
            headers[name] = value
    kind = draw(st.sampled_from(["valid", "shaped", "json", "bytes"]))
    if kind == "valid":  # near misses and hits: the paths behind the checks run too
        texts = draw(st.lists(st.text(max_size=80), min_size=1, max_size=9))
        body = {"json": {"task": TASK, "texts": texts}}
        headers["Content-Type"] = "application/json"
    elif kind == "shaped":
        body = {"json": draw(shaped)}
    elif kind == "json":
        body = {"json": draw(json_value)}
    else:
        body = {"content": draw(st.binary(max_size=300))}
    target = draw(
        st.sampled_from(["POST /v1/extract", "POST /v1/jobs", "GET /v1/tasks/{x}",
                         "GET /v1/jobs/{x}", "GET /v1/jobs/{x}/records", "DELETE /v1/jobs/{x}",
                         "PUT /v1/extract", "GET /v1/nothing"])
    )  # fmt: skip
    method, path = target.split(" ")
    segment = draw(st.text(alphabet=string.ascii_letters + string.digits + "%._-", max_size=20))
    path = path.replace("{x}", segment or "x")
    params = draw(
        st.dictionaries(st.sampled_from(["task", "offset", "limit", "purge", "num_examples",
                                         "max_tokens", "temperature", "input_field"]),
                        header_value, max_size=3)
    )  # fmt: skip
    if method in ("GET", "DELETE"):
        body = {}
    return {"method": method, "url": path, "headers": headers, "params": params, **body}


def test_fuzzed_requests_get_4xx_json_errors_never_5xx(keyed):
    service, keys = keyed
    client = service.client()

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(requests(keys["all"]))
    def check(request):
        r = client.request(**request)
        assert r.status_code < 500, (r.status_code, r.text[:300])
        if r.status_code >= 400:
            assert r.headers["content-type"].startswith("application/json"), r.text[:200]
            error = r.json()["error"]
            assert error["status"] == r.status_code and error["message"]

    try:
        check()
    finally:
        client.close()
