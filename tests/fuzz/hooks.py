"""Schemathesis hooks for keyward's API fuzz run (tests/fuzz/api.mjs).

Two rules of the API cannot be written in JSON Schema, so the document states them in
words and these hooks teach them to the generator. Each only fills in or renames values
that are valid either way, so a schema-invalid body stays invalid and the negative tests
keep their meaning; schemathesis also revalidates a case a hook edited.

- The root key belongs to no owner and no environment: with it `POST /v1/keys` must name
  `owner` and `env`, and `POST /v1/verify` must name `env` (in its body; `/v1/verify/header`
  in its query), any other key defaults them to its own. For the root key's run, absent
  or null ones are filled in.
- A webhook endpoint the fuzzer creates would be sent every key event it makes: a valid
  `https://` URL is pointed at a closed loopback port (`https://127.0.0.1:1/fuzz`, valid
  either way), so that no delivery leaves the machine.
- The names of a list of rate limits are unique (JSON Schema's `uniqueItems` compares
  whole items, not one field). A repeated name that is itself valid is renamed.
- HTTP takes the spaces and tabs around a header's value away in transit (RFC 9110,
  section 5.5), so a value the Worker cannot see is not sent: the body-less
  verification's `Keyward-Context-*` values lose them before the request.
- A key's restrictions have rules the schema states in words: each of `allowed_ips` is an
  IPv4 or IPv6 CIDR block with no bits set past its prefix, and `not_before` lies before
  the key's expiry. Strings in `allowed_ips` become distinct valid blocks and a `not_before`
  string a time long past, with an `expires_at` beside it (a PATCH) the day after it
  (strings either way). A PATCH's own `expires_at` that reads as a time before that day
  becomes that day too: the key it changes may hold such a `not_before` already (one
  made, or rotated from one made, with it). tests/e2e/restrictions.test.mjs and the PATCH
  tests perform every refusal of a bad block or time.
"""

import json
import os
import re
from datetime import datetime, timezone

import schemathesis

ROOT_RUN = os.environ.get("KEYWARD_FUZZ_ROOT") == "1"
LIMIT_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
# The endpoint URL's pattern, from the committed document (the one the Worker serves).
with open(os.path.join(os.path.dirname(__file__), "../../worker/openapi.json"), encoding="utf-8") as f:
    HTTPS_URL = re.compile(
        json.load(f)["components"]["schemas"]["CreateWebhook"]["properties"]["url"]["pattern"]
    )
LOOPBACK = "https://127.0.0.1:1/fuzz"
# The start the hooks give every key that names one, and the first expiry after it.
START = "2000-01-01T00:00:00Z"
FIRST_END = "2000-01-02T00:00:00Z"


def before_first_end(text):
    """Whether `text` reads as an RFC 3339 time before FIRST_END (a string that does not
    read as one is left as it is: the case stays a negative test)."""
    try:
        t = datetime.fromisoformat(re.sub(r"[zZ]$", "+00:00", text))
    except ValueError:
        return False
    return t.tzinfo is not None and t < datetime(2000, 1, 2, tzinfo=timezone.utc)


def unique_limit_names(limits):
    if not isinstance(limits, list):
        return
    seen = set()
    for item in limits:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        name = item["name"]
        if name in seen and LIMIT_NAME.fullmatch(name):
            k = 1
            while f"{name[:28]}-{k}" in seen or any(
                isinstance(o, dict) and o.get("name") == f"{name[:28]}-{k}" for o in limits
            ):
                k += 1
            name = f"{name[:28]}-{k}"
            item["name"] = name
        seen.add(name)


def restrictions(body, patch):
    ips = body.get("allowed_ips")
    if isinstance(ips, list):
        for i, item in enumerate(ips):
            if isinstance(item, str):
                ips[i] = f"10.{i // 256}.{i % 256}.0/24"
    if isinstance(body.get("not_before"), str):
        body["not_before"] = START
        # A PATCH may name the expiry too: it must come after the start.
        if isinstance(body.get("expires_at"), str):
            body["expires_at"] = FIRST_END
    elif patch and isinstance(body.get("expires_at"), str) and before_first_end(body["expires_at"]):
        # The key may already hold START as its not_before.
        body["expires_at"] = FIRST_END


@schemathesis.hook
def before_call(context, case, kwargs):
    """Runs before every request of every phase (schemathesis revalidates the edited
    case, so whether it is a positive or a negative test stays true)."""
    operation = context.operation
    if ROOT_RUN and operation is not None and operation.path == "/v1/verify/header":
        # The body-less form names the environment in its query.
        query = case.query if isinstance(case.query, dict) else {}
        if query.get("env") is None:
            query["env"] = "live"
            case.query = query
    if operation is not None and operation.path == "/v1/verify/header" and isinstance(case.headers, dict):
        for name, value in list(case.headers.items()):
            if name.lower().startswith("keyward-context-") and isinstance(value, str):
                case.headers[name] = value.strip(" \t")
    body = case.body
    if not isinstance(body, dict):
        return
    unique_limit_names(body.get("rate_limits"))
    url = body.get("url")
    if operation is not None and operation.path == "/v1/webhooks" and isinstance(url, str):
        if HTTPS_URL.search(url) and len(url) <= 2048:
            body["url"] = LOOPBACK
    if operation is not None and operation.path == "/v1/keys" and operation.method.upper() == "POST":
        restrictions(body, patch=False)
    if operation is not None and operation.path == "/v1/keys/{id}" and operation.method.upper() == "PATCH":
        restrictions(body, patch=True)
    if not ROOT_RUN or operation is None or operation.method.upper() != "POST":
        return
    if operation.path == "/v1/keys":
        if body.get("owner") is None:
            body["owner"] = "fuzz"
        if body.get("env") is None:
            body["env"] = "live"
    elif operation.path == "/v1/verify" and body.get("env") is None:
        body["env"] = "live"
