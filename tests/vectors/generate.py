#!/usr/bin/env python3
"""Writes keyward's shared test vectors from first principles.

Known answers (SHA-256, CRC32, base64url) come from Python's standard library, not from
keyward, so the Rust and JS implementations are checked against an independent one.
Every secret is derived from a fixed seed: the output is stable, and no key here is live.

    python3 tests/vectors/generate.py     # rewrites tests/vectors/*.json
"""
import base64, hashlib, json, os, zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def make_key(vendor: str, env: str, seed: str) -> str:
    secret = b64(hashlib.sha256(seed.encode()).digest())
    body = f"{vendor}_{env}_{secret}"
    return body + b64(zlib.crc32(body.encode()).to_bytes(4, "big"))


def sha(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()


def ok(name, key):
    vendor, env, rest = key.split("_", 2)
    return {"name": name, "input": key,
            "expect": {"vendor": vendor, "env": env, "hint": f"{vendor}_{env}_{rest[:4]}", "hash": sha(key)}}


def err(name, inp, code, part=None):
    e = {"code": code}
    if part:
        e["part"] = part
    return {"name": name, "input": inp, "error": e}


def seeded_with(chars):
    """The first seeded sk_live key whose secret holds every one of chars."""
    i = 0
    while True:
        k = make_key("sk", "live", f"keyward-vector-{i}")
        if all(c in k[8:8 + 43] for c in chars):
            return k
        i += 1


def flip(ch):
    return "B" if ch != "B" else "C"


def write(name, cases):
    with open(os.path.join(HERE, name), "w") as f:
        json.dump({"version": 1, "cases": cases}, f, indent=2, ensure_ascii=False)
        f.write("\n")


def main():
    live = make_key("sk", "live", "keyward-vector-live")
    test = make_key("sk", "test", "keyward-vector-test")
    longest = make_key("v" * 16, "e" * 16, "keyward-vector-longest")
    shortest = make_key("a", "b", "keyward-vector-shortest")
    under = seeded_with("_-")
    secret_start = len("sk_live_")

    parse = [
        ok("live key", live),
        ok("test key", test),
        ok("custom vendor and env", make_key("acme9", "staging", "keyward-vector-acme")),
        ok("longest vendor and env", longest),
        ok("one-letter vendor and env", shortest),
        ok("secret holding '_' and '-'", under),
        err("empty string", "", "malformed", "length"),
        err("only the prefix", "sk_live_", "malformed", "secret"),
        err("no underscore", "sk", "malformed", "prefix"),
        err("one underscore", "sk_live", "malformed", "prefix"),
        err("secret one short", live[:-7] + live[-6:], "malformed", "secret"),
        err("secret one long", live[:-6] + "A" + live[-6:], "malformed", "secret"),
        err("checksum missing", live[:-6], "malformed", "secret"),
        err("flipped checksum character", live[:-1] + flip(live[-1]), "bad_checksum"),
        err("flipped first checksum character", live[:-6] + flip(live[-6]) + live[-5:], "bad_checksum"),
        err("flipped secret character", live[:20] + flip(live[20]) + live[21:], "bad_checksum"),
        err("vendor changed", "sx" + live[2:], "bad_checksum"),
        err("env changed", test.replace("sk_test_", "sk_tesx_", 1), "bad_checksum"),
        err("uppercase vendor", "SK" + live[2:], "malformed", "vendor"),
        err("empty vendor", live[2:], "malformed", "vendor"),
        err("vendor starting with a digit", "9k" + live[2:], "malformed", "vendor"),
        err("vendor of 17 characters", "v" * 17 + live[2:], "malformed", "vendor"),
        err("one character past the longest key", "v" + longest, "malformed", "length"),
        err("empty env", "sk__" + live[secret_start:], "malformed", "environment"),
        err("env with a dash", "sk_li-e_" + live[secret_start:], "malformed", "environment"),
        err("non-ASCII vendor", "şk" + live[2:], "malformed", "vendor"),
        err("non-ASCII in the secret", live[:30] + "é" + live[32:], "malformed", "secret"),
        err("emoji in the checksum", live[:-4] + "😀", "malformed", "checksum"),
        err("NUL in the secret", live[:30] + "\u0000" + live[31:], "malformed", "secret"),
        err("newline at the end", live + "\n", "malformed", "secret"),
        err("space at the start", " " + live, "malformed", "vendor"),
        err("padding in the checksum", live[:-1] + "=", "malformed", "checksum"),
        err("dot in the secret", live[:30] + "." + live[31:], "malformed", "secret"),
        err("bearer scheme left in", "Bearer " + live, "malformed", "vendor"),
        err("10,000 characters", {"repeat": "a", "times": 10000}, "malformed", "length"),
        err("1 MB of a key-like prefix", {"prefix": "sk_live_", "repeat": "A", "times": 1048576}, "malformed", "length"),
        err("1 MB of underscores", {"repeat": "_", "times": 1048576}, "malformed", "length"),
    ]
    write("parse.json", parse)

    checksum = []
    for name, body in [("live body", live[:-6]), ("test body", test[:-6]), ("longest body", longest[:-6]),
                       ("body with '_' and '-'", under[:-6]), ("empty", ""), ("ascii text", "keyward")]:
        checksum.append({"name": name, "input": body, "expect": b64(zlib.crc32(body.encode()).to_bytes(4, "big"))})
    write("checksum.json", checksum)

    hashes = [{"name": n, "input": k, "expect": sha(k)} for n, k in
              [("live key", live), ("test key", test), ("longest key", longest), ("empty string", ""), ("abc", "abc")]]
    write("hash.json", hashes)

    scope_parse = [{"name": f"valid {s}", "input": s, "expect": s} for s in
                   ["admin", "keys:read", "scans:*", "web-hooks:billing_v2", "a:b", "x" * 30 + ":" + "y" * 33]]
    scope_parse += [err(f"invalid {n}", s, "invalid_scope") for n, s in
                    [("empty", ""), ("no action", "scans"), ("empty action", "scans:"), ("empty resource", ":read"),
                     ("uppercase", "Scans:read"), ("two colons", "a:b:c"), ("star resource", "*:read"),
                     ("star everything", "*"), ("space", "scans: read"), ("unicode", "scäns:read"),
                     ("digit first", "1scans:read"), ("65 characters", "x" * 30 + ":" + "y" * 34),
                     ("admin with action", "admin:read"), ("star inside action", "scans:re*d")]]
    write("scope_parse.json", scope_parse)

    def grant(name, held, required, expect):
        return {"name": name, "input": {"held": held, "required": required}, "expect": expect}

    grants = [
        grant("exact scope", ["scans:read"], "scans:read", True),
        grant("other action", ["scans:read"], "scans:trigger", False),
        grant("other resource", ["scans:read"], "repos:read", False),
        grant("wildcard action", ["scans:*"], "scans:trigger", True),
        grant("wildcard grants wildcard", ["scans:*"], "scans:*", True),
        grant("action does not grant wildcard", ["scans:read"], "scans:*", False),
        grant("wildcard is per resource", ["scans:*"], "repos:read", False),
        grant("admin grants any scope", ["admin"], "settings:write", True),
        grant("admin grants admin", ["admin"], "admin", True),
        grant("wildcard does not grant admin", ["scans:*"], "admin", False),
        grant("nothing grants nothing", [], "scans:read", False),
        grant("prefix is not a match", ["scan:read"], "scans:read", False),
        grant("one of many", ["repos:read", "scans:read", "settings:read"], "scans:read", True),
    ]
    write("scope_grants.json", grants)

    now = "2026-06-01T12:00:00Z"
    record = {"id": "key_0123456789abcdef", "hash": sha(live), "hint": live[:12], "name": "ci", "owner": "team-ci",
              "scopes": ["scans:read", "scans:trigger"], "env": "live", "created_at": "2026-01-01T00:00:00Z"}

    def ver(name, overrides, env, scopes, code, rec=True):
        r = None if not rec else {**record, **overrides}
        return {"name": name, "input": {"record": r, "env": env, "scopes": scopes, "now": now}, "expect": {"code": code}}

    verify = [
        ver("valid with no scope needed", {}, "live", [], "valid"),
        ver("valid with a held scope", {}, "live", ["scans:read"], "valid"),
        ver("valid with every held scope", {}, "live", ["scans:read", "scans:trigger"], "valid"),
        ver("unknown key", {}, "live", [], "unknown_key", rec=False),
        ver("wrong environment", {}, "test", [], "wrong_environment"),
        ver("expired a second ago", {"expires_at": "2026-06-01T11:59:59Z"}, "live", [], "expired"),
        ver("expires exactly now", {"expires_at": now}, "live", [], "expired"),
        ver("expires in a second", {"expires_at": "2026-06-01T12:00:01Z"}, "live", [], "valid"),
        ver("revoked", {"revoked_at": "2026-05-01T00:00:00Z", "revoked_by": "root", "revocation_reason": "leaked"}, "live", [], "revoked"),
        ver("revoked beats expired", {"revoked_at": "2026-05-01T00:00:00Z", "expires_at": "2026-05-02T00:00:00Z"}, "live", [], "revoked"),
        ver("revoked beats wrong environment", {"revoked_at": "2026-05-01T00:00:00Z"}, "test", [], "revoked"),
        ver("expired beats wrong environment", {"expires_at": "2026-05-01T00:00:00Z"}, "test", [], "expired"),
        ver("wrong environment beats scope", {}, "test", ["admin"], "wrong_environment"),
        ver("insufficient scope", {}, "live", ["settings:write"], "insufficient_scope"),
        ver("one of two scopes missing", {}, "live", ["scans:read", "repos:read"], "insufficient_scope"),
        ver("wildcard key", {"scopes": ["scans:*"]}, "live", ["scans:read"], "valid"),
        ver("admin key", {"scopes": ["admin"]}, "live", ["settings:write", "keys:write"], "valid"),
        ver("empty scopes need nothing", {"scopes": []}, "live", [], "valid"),
        ver("empty scopes lack a scope", {"scopes": []}, "live", ["scans:read"], "insufficient_scope"),
        ver("rotated key in its grace period", {"rotated_to": "key_fedcba9876543210", "expires_at": "2026-06-01T13:00:00Z"}, "live", ["scans:read"], "valid"),
        ver("rotated key after its grace period", {"rotated_to": "key_fedcba9876543210", "expires_at": "2026-06-01T11:00:00Z"}, "live", ["scans:read"], "expired"),
    ]
    write("verify.json", verify)

    # The code table is a contract: codes are added, never renamed or re-numbered.
    codes = [
        ("valid", 200, None), ("missing_key", 401, None), ("malformed", 400, "invalid_request"),
        ("bad_checksum", 401, "invalid_token"), ("unknown_key", 401, "invalid_token"),
        ("wrong_environment", 401, "invalid_token"), ("expired", 401, "invalid_token"),
        ("revoked", 401, "invalid_token"), ("insufficient_scope", 403, "insufficient_scope"),
        ("rate_limited", 429, None), ("invalid_request", 400, "invalid_request"),
        ("unauthorized", 401, "invalid_token"), ("forbidden", 403, None), ("not_found", 404, None),
        ("method_not_allowed", 405, None), ("conflict", 409, None), ("payload_too_large", 413, None),
        ("unsupported_media_type", 415, None), ("undeclared_scope", 400, "invalid_request"),
        ("invalid_scope", 400, "invalid_request"), ("unknown_environment", 400, "invalid_request"),
        ("scope_not_held", 403, "insufficient_scope"), ("bad_signature", 401, None),
        ("internal", 500, None), ("unavailable", 503, None),
    ]
    write("codes.json", [{"name": c, "input": c, "expect": {"status": st, "bearer_error": be}} for c, st, be in codes])


if __name__ == "__main__":
    main()
