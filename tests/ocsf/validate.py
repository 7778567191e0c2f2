"""Validates newline-delimited OCSF events on stdin against ocsf-1.3.0-iam.schema.json
(jsonschema, with format checks), and that type_uid is class_uid * 100 + activity_id.
Prints one line per invalid event; exits 1 if any, 0 when every event is valid."""

import json
import os
import sys

import jsonschema

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "ocsf-1.3.0-iam.schema.json"), encoding="utf-8") as f:
    SCHEMA = json.load(f)
validator = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())

bad = 0
count = 0
for n, line in enumerate(sys.stdin, 1):
    if not line.strip():
        continue
    count += 1
    event = json.loads(line)
    problems = [e.message for e in validator.iter_errors(event)]
    if event.get("type_uid") != event.get("class_uid", 0) * 100 + event.get("activity_id", -1):
        problems.append("type_uid is not class_uid * 100 + activity_id")
    for p in problems:
        bad += 1
        print(f"line {n}: {p}")
print(f"{count} events, {bad} problems", file=sys.stderr)
sys.exit(1 if bad or count == 0 else 0)
