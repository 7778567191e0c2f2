#!/usr/bin/env python3
"""Writes keyward's shared test vectors from first principles.

Known answers (SHA-256, CRC32, base64url) come from Python's standard library, not from
keyward, so the Rust and JS implementations are checked against an independent one.
Every secret is derived from a fixed seed: the output is stable, and no key here is live.

    python3 tests/vectors/generate.py     # rewrites tests/vectors/*.json
"""
import base64, hashlib, hmac, ipaddress, json, os, zlib

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
        ver("revoked at a time the clock has not reached is revoked", {"revoked_at": "2026-06-01T12:00:01Z"}, "live", [], "revoked"),
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

    # Credentials: the values of the Authorization and X-API-Key headers (each a list of
    # the header's lines; [] when absent) -> the presented string, or a code. A front end
    # joins repeated lines with ", " as HTTP does.
    def cred(name, authorization, x_api_key, key=None, code=None):
        c = {"name": name, "input": {"authorization": authorization, "x_api_key": x_api_key}}
        if code:
            c["error"] = {"code": code}
        else:
            c["expect"] = {"key": key}
        return c

    credentials = [
        cred("bearer", ["Bearer " + live], [], live),
        cred("bearer, lowercase scheme", ["bearer " + live], [], live),
        cred("bearer, uppercase scheme", ["BEARER " + live], [], live),
        cred("bearer, mixed-case scheme", ["BeArEr " + live], [], live),
        cred("bearer, several spaces", ["Bearer    " + live], [], live),
        cred("bearer, a tab", ["Bearer\t" + live], [], live),
        cred("x-api-key", [], [live], live),
        cred("bearer with any token: parsing is the next step", ["Bearer not-a-key"], [], "not-a-key"),
        cred("nothing", [], [], code="missing_key"),
        cred("another scheme only", ["Basic dXNlcjpwYXNz"], [], code="missing_key"),
        cred("another scheme named like a key", ["Token " + live], [], code="missing_key"),
        cred("no space after the scheme", ["Bearer" + live], [], code="missing_key"),
        cred("an empty authorization", [""], [], code="missing_key"),
        cred("another scheme beside x-api-key", ["Basic dXNlcjpwYXNz"], [live], live),
        cred("bearer and x-api-key", ["Bearer " + live], [live], code="invalid_request"),
        cred("bearer and x-api-key holding different keys", ["Bearer " + live], [test], code="invalid_request"),
        cred("bare bearer", ["Bearer"], [], code="invalid_request"),
        cred("empty x-api-key", [], [""], code="invalid_request"),
        cred("two authorization lines", ["Bearer " + live, "Bearer " + live], [], code="invalid_request"),
        cred("two x-api-key lines", [], [live, live], code="invalid_request"),
        cred("another scheme and bearer", ["Basic dXNlcjpwYXNz", "Bearer " + live], [], code="invalid_request"),
        cred("two other schemes", ["Basic dXNlcjpwYXNz", "Basic dXNlcjpwYXNz"], [], code="invalid_request"),
        cred("a comma inside x-api-key", [], [live + "," + test], code="invalid_request"),
    ]
    write("credentials.json", credentials)

    # Checks: a presented string and what the lookup by its hash found -> the verdict, the
    # missing scope, the status and whether the refusal carries a challenge. Each case has
    # its own key (so a replay against one store never mixes two cases' records). `env`
    # null means the environment the presented key names; `record` null means no record.
    STATUS = {"valid": 200, "malformed": 401, "bad_checksum": 401, "unknown_key": 401,
              "wrong_environment": 401, "expired": 401, "revoked": 401, "insufficient_scope": 403}
    checks = []

    def check(name, key_env="live", record=None, env=None, scopes=(), code="valid", missing=None,
              presented=None, found=True, exact_time=False):
        i = len(checks)
        key = make_key("sk", key_env, f"keyward-check-{i}")
        rec = None
        if found:
            rec = {"id": f"key_{i:016d}", "hash": sha(key), "hint": key[:len(key_env) + 8], "name": name[:60],
                   "owner": "team-checks", "scopes": ["scans:read", "scans:trigger"], "env": key_env,
                   "created_at": "2026-01-01T00:00:00Z", **(record or {})}
        expect = {"code": code, "status": STATUS[code], "challenge": code != "valid"}
        if missing:
            expect["scope"] = missing
        c = {"name": name, "input": {"key": presented(key) if presented else key, "record": rec,
                                       "env": env, "scopes": list(scopes), "now": now}, "expect": expect}
        if exact_time:
            c["exact_time"] = True
        checks.append(c)

    check("valid in the key's own environment")
    check("valid in the environment asked for", env="live")
    check("valid with a held scope", scopes=["scans:read"])
    check("valid with a wildcard", record={"scopes": ["scans:*"]}, scopes=["scans:trigger"])
    check("valid admin", record={"scopes": ["admin"]}, scopes=["settings:write", "keys:write"], env="live")
    check("a test key in its own environment", key_env="test")
    check("a test key where live is asked for", key_env="test", env="live", code="wrong_environment")
    check("a record of another environment than the key names", record={"env": "test"}, code="wrong_environment")
    check("a record of another environment, that environment asked for", record={"env": "test"}, env="test")
    check("malformed: a prefix only", presented=lambda k: "sk_live_", found=False, code="malformed")
    check("malformed: bearer left in", presented=lambda k: "Bearer " + k, found=False, code="malformed")
    check("bad checksum: one character changed", presented=lambda k: k[:20] + flip(k[20]) + k[21:], found=False,
          code="bad_checksum")
    check("unknown: no record", found=False, code="unknown_key")
    check("unknown: the record found is another key's", record={"hash": sha("another key")}, code="unknown_key")
    check("revoked", record={"revoked_at": "2026-05-01T00:00:00Z", "revoked_by": "root",
                             "revocation_reason": "leaked"}, code="revoked")
    check("revoked beats expired and wrong environment", record={"revoked_at": "2026-05-01T00:00:00Z",
          "expires_at": "2026-05-02T00:00:00Z"}, env="test", code="revoked")
    check("expired a second ago", record={"expires_at": "2026-06-01T11:59:59Z"}, code="expired")
    check("expires exactly now", record={"expires_at": now}, code="expired", exact_time=True)
    check("expires in an hour", record={"expires_at": "2026-06-01T13:00:00Z"})
    check("expired beats wrong environment", record={"expires_at": "2026-05-01T00:00:00Z"}, env="test",
          code="expired")
    check("wrong environment beats a missing scope", env="test", scopes=["admin"], code="wrong_environment")
    check("a missing scope is named", scopes=["scans:read", "repos:read"], code="insufficient_scope",
          missing="repos:read")
    check("no scopes held", record={"scopes": []}, scopes=["scans:read"], code="insufficient_scope",
          missing="scans:read")
    check("a rotated key in its grace period", record={"rotated_to": "key_fedcba9876543210",
          "expires_at": "2026-06-01T13:00:00Z"}, scopes=["scans:read"])
    check("a rotated key after its grace period", record={"rotated_to": "key_fedcba9876543210",
          "expires_at": "2026-06-01T11:00:00Z"}, code="expired")
    write("checks.json", checks)

    # Gateway paths: a request path -> the canonical path that is matched and forwarded,
    # or refused (invalid_request) when it cannot be made canonical without guessing.
    def path(name, raw, canonical=None):
        c = {"name": name, "input": raw}
        if canonical is None:
            c["error"] = {"code": "invalid_request"}
        else:
            c["expect"] = canonical
        return c

    paths = [
        path("root", "/", "/"),
        path("plain", "/scans/42", "/scans/42"),
        path("trailing slash kept", "/scans/", "/scans/"),
        path("case is kept (matching folds it)", "/Admin", "/Admin"),
        path("encoded unreserved letters decoded", "/%61dmin", "/admin"),
        path("lower-case escape of a reserved byte kept, upper-cased", "/a%3fb", "/a%3Fb"),
        path("encoded space kept", "/a%20b", "/a%20b"),
        path("encoded tilde decoded", "/%7Euser", "/~user"),
        path("dot segment", "/./admin", "/admin"),
        path("dot-dot segment", "/scans/../admin", "/admin"),
        path("encoded dot-dot segment", "/scans/%2e%2E/admin", "/admin"),
        path("dot at the end", "/admin/.", "/admin/"),
        path("dot-dot at the end", "/admin/x/..", "/admin/"),
        path("double slash", "//admin", None),
        path("double slash inside", "/scans//admin", None),
        path("path parameter", "/admin;x", None),
        path("encoded semicolon", "/admin%3bx", None),
        path("encoded slash", "/admin%2Fx", None),
        path("encoded slash, lower case", "/admin%2fx", None),
        path("encoded backslash", "/admin%5Cx", None),
        path("raw backslash", "/admin\\x", None),
        path("invalid escape", "/admin%zz", None),
        path("truncated escape", "/admin%4", None),
        path("encoded NUL", "/admin%00", None),
        path("encoded newline", "/admin%0A", None),
        path("above the root", "/../admin", None),
        path("not absolute", "admin", None),
        path("raw space", "/a b", None),
        path("non-ASCII", "/adm\u00efn", None),
    ]
    write("paths.json", paths)

    # Rate limits (a sliding-window log, written again here independently) and credits.
    def parse_period(p):
        unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}[p[-1]]
        return int(p[:-1]) * unit

    def run_limits(limits, steps):
        windows = [[] for _ in limits]
        out = []
        for at, cost in steps:
            allowed, retry_at = True, at
            for l, w in zip(limits, windows):
                period = parse_period(l["period"]) * 1000
                w[:] = [(t, n) for t, n in w if t > at - period]
                used = sum(n for _, n in w) + cost
                if used > l["limit"]:
                    allowed = False
                    free = None
                    for t, n in w:
                        used -= n
                        if used <= l["limit"]:
                            free = t + period
                            break
                    retry_at = max(retry_at, free if free is not None else 2**62)
            if allowed:
                for w in windows:
                    w.append((at, cost))
            rows = []
            for l, w in zip(limits, windows):
                period = parse_period(l["period"]) * 1000
                rows.append({"name": l["name"], "remaining": max(0, l["limit"] - sum(n for _, n in w)),
                             "reset_ms": (w[0][0] + period - at) if w else 0})
            retry = None if allowed else (None if retry_at == 2**62 else retry_at - at)
            out.append({"allowed": allowed, "limits": rows, "retry_after_ms": retry})
        return out

    def lim(name, limits, steps):
        return {"name": name, "input": {"limits": limits, "steps": [{"at_ms": a, "cost": c} for a, c in steps]},
                "expect": run_limits(limits, steps)}

    per_min = {"name": "per-minute", "limit": 3, "period": "1m"}
    per_sec = {"name": "burst", "limit": 2, "period": "1s"}
    limits_cases = [
        lim("three per minute, then refused until the first falls out", [per_min],
            [(0, 1), (1000, 1), (2000, 1), (3000, 1), (59999, 1), (60000, 1), (60001, 1)]),
        lim("a refused use is not counted", [per_min], [(0, 3), (10, 1), (20, 1), (60000, 1)]),
        lim("a cost spends several units", [per_min], [(0, 2), (1, 2), (2, 1), (60000, 3)]),
        lim("a cost above the limit is never admitted", [per_min], [(0, 4), (120000, 4)]),
        lim("every limit must admit; a refusal counts against none", [per_min, per_sec],
            [(0, 1), (100, 1), (200, 1), (1100, 1), (1200, 1), (1300, 1), (60100, 1)]),
        lim("exact at the window's edge, not a fixed window's double", [{"name": "w", "limit": 2, "period": "10s"}],
            [(9000, 1), (9500, 1), (10000, 1), (10500, 1), (18999, 1), (19000, 1), (19499, 1), (19500, 1)]),
    ]
    write("limits.json", limits_cases)

    # Leases of a hot key (the object's side): a hand-back, then the use, then the lease.
    HOT_USES, HOT_SPAN_MS, SHARE_PERCENT, LEASE_PARTS = 100, 1000, 10, 4

    def admit_all(limits, windows, at, cost):
        ok = True
        for l, w in zip(limits, windows):
            period = parse_period(l["period"]) * 1000
            w[:] = [(t, n) for t, n in w if t > at - period]
            if sum(n for _, n in w) + cost > l["limit"]:
                ok = False
        if ok:
            for w in windows:
                w.append((at, cost))
        return ok

    def run_leases(limits, bound, steps):
        windows = [[] for _ in limits]
        grants = []
        out = []
        for at, cost, back in steps:
            if back is not None:
                g_at, g_units, unused = back
                if 0 < unused <= g_units:
                    for w in windows:
                        for i in range(len(w) - 1, -1, -1):
                            if w[i] == (g_at, g_units):
                                if unused == g_units:
                                    del w[i]
                                else:
                                    w[i] = (g_at, g_units - unused)
                                break
            allowed = admit_all(limits, windows, at, cost)
            grants = [(t, n) for t, n in grants if t > at - bound]
            lease = None
            hot = any(sum(n for t, n in w if t > at - HOT_SPAN_MS) >= HOT_USES for w in windows)
            if allowed and bound > 0 and cost > 0 and hot:
                granted = sum(n for _, n in grants)
                shares = [l["limit"] * SHARE_PERCENT // 100 for l in limits]
                units = min(min(max(0, sh - granted), -(-sh // LEASE_PARTS)) for sh in shares)
                if units >= cost and admit_all(limits, windows, at, units):
                    grants.append((at, units))
                    lease = {"at_ms": at, "units": units, "until_ms": at + bound}
            remaining = [max(0, l["limit"] - sum(n for _, n in w)) for l, w in zip(limits, windows)]
            out.append({"allowed": allowed, "lease": lease, "remaining": remaining})
        return out

    def leases(name, limits, bound, steps):
        return {"name": name,
                "input": {"limits": limits, "bound_ms": bound,
                          "steps": [{"at_ms": a, "cost": c, "back": b} for a, c, b in steps]},
                "expect": run_leases(limits, bound, steps)}

    per_min_1000 = [{"name": "m", "limit": 1000, "period": "1m"}]
    warm = [(t, 1, None) for t in range(99)]
    lease_cases = [
        leases("cold until 100 units in a second, then a quarter of the share", per_min_1000, 1000,
               warm + [(99, 1, None), (100, 1, None), (101, 1, None), (102, 1, None), (103, 1, None)]),
        leases("a hand-back frees the unused units at the grant's time", per_min_1000, 1000,
               warm + [(99, 1, None), (500, 1, (99, 25, 20)), (501, 1, (99, 25, 30))]),
        leases("the share frees when a grant is older than the bound", per_min_1000, 500,
               warm + [(99, 1, None), (100, 1, None), (101, 1, None), (102, 1, None), (598, 1, None),
                       (599, 1, None), (600, 1, None)]),
        leases("a bound of 0 grants nothing", per_min_1000, 0, warm + [(99, 1, None), (100, 1, None)]),
        leases("every limit's share and what is left bound a lease", [{"name": "s", "limit": 120, "period": "1s"},
               {"name": "m", "limit": 1000, "period": "1m"}], 1000,
               [(0, 100, None), (1, 1, None), (2, 15, None), (3, 1, None)]),
    ]
    write("leases.json", lease_cases)

    def period_of(interval, iso):
        return iso[:10] if interval == "day" else (iso[:7] if interval == "month" else "once")

    def run_credits(credits, steps):
        c = dict(credits)
        out = []
        for now, cost in steps:
            interval = c.get("refill", {}).get("interval")
            p = period_of(interval, now)
            if c.get("refill") and c.get("period") != p:
                c["remaining"] = c["refill"]["amount"]
            c["period"] = p
            if c["remaining"] < cost:
                out.append({"allowed": False, "remaining": c["remaining"], "alert_due": False})
                continue
            c["remaining"] -= cost
            due = c.get("alert_below") is not None and c["remaining"] < c["alert_below"] and c.get("alerted") != p
            if due:
                c["alerted"] = p
            out.append({"allowed": True, "remaining": c["remaining"], "alert_due": due})
        return out

    def cred(name, credits, steps):
        return {"name": name, "input": {"credits": credits, "steps": [{"now": n, "cost": c} for n, c in steps]},
                "expect": run_credits(credits, steps)}

    d = "2026-06-01T"
    credit_cases = [
        cred("spend to zero, then usage is exceeded", {"remaining": 3},
             [(d + "10:00:00Z", 1), (d + "10:00:01Z", 2), (d + "10:00:02Z", 1)]),
        cred("a cost larger than the balance spends nothing", {"remaining": 4}, [(d + "10:00:00Z", 5), (d + "10:00:01Z", 4)]),
        cred("a daily refill sets the balance at the first use after midnight", {"remaining": 2, "refill": {"amount": 5, "interval": "day"}, "period": "2026-06-01"},
             [(d + "23:59:58Z", 2), (d + "23:59:59Z", 1), ("2026-06-02T00:00:00Z", 1), ("2026-06-02T00:00:01Z", 1)]),
        cred("a refill replaces, it does not add", {"remaining": 100, "refill": {"amount": 5, "interval": "day"}, "period": "2026-06-01"},
             [("2026-06-02T08:00:00Z", 1)]),
        cred("a monthly refill", {"remaining": 0, "refill": {"amount": 10, "interval": "month"}, "period": "2026-06"},
             [("2026-06-30T23:59:59Z", 1), ("2026-07-01T00:00:00Z", 1)]),
        cred("credits_low is due once per refill period", {"remaining": 5, "alert_below": 3, "refill": {"amount": 5, "interval": "day"}, "period": "2026-06-01"},
             [(d + "10:00:00Z", 2), (d + "10:00:01Z", 1), (d + "10:00:02Z", 1), ("2026-06-02T10:00:00Z", 3), ("2026-06-02T10:00:01Z", 1)]),
    ]
    write("credits.json", credit_cases)

    # The code table is a contract: codes are added, never renamed or re-numbered.
    # challenge: whether a refusal carries WWW-Authenticate: every 401 (RFC 7235 requires
    # one) and every refusal of the presented credential (RFC 6750).
    codes = [
        ("valid", 200, None, False), ("missing_key", 401, None, True),
        ("malformed", 401, "invalid_token", True), ("bad_checksum", 401, "invalid_token", True),
        ("unknown_key", 401, "invalid_token", True), ("wrong_environment", 401, "invalid_token", True),
        ("expired", 401, "invalid_token", True), ("revoked", 401, "invalid_token", True),
        ("insufficient_scope", 403, "insufficient_scope", True), ("rate_limited", 429, None, False),
        ("invalid_request", 400, "invalid_request", True), ("unauthorized", 401, "invalid_token", True),
        ("forbidden", 403, None, False), ("not_found", 404, None, False),
        ("method_not_allowed", 405, None, False), ("conflict", 409, None, False),
        ("payload_too_large", 413, None, False), ("unsupported_media_type", 415, None, False),
        ("undeclared_scope", 400, "invalid_request", False), ("invalid_scope", 400, "invalid_request", False),
        ("unknown_environment", 400, "invalid_request", False),
        ("scope_not_held", 403, "insufficient_scope", True), ("bad_signature", 401, None, True),
        ("internal", 500, None, False), ("unavailable", 503, None, False),
        ("usage_exceeded", 429, None, False),
        ("ip_not_allowed", 403, None, False), ("not_yet_valid", 401, "invalid_token", True),
        ("verifier_refused", 500, None, False),
    ]
    write("codes.json", [{"name": c, "input": c, "expect": {"status": st, "bearer_error": be, "challenge": ch}}
                         for c, st, be, ch in codes])

    # The gateway's signature over what it asserts to the origin (keyward_core::gateway::
    # signed_message, npm's keyward/origin): HMAC-SHA256 from Python's hmac module.
    secret = "test-vector-origin-secret-0123456789abcdef"
    signed = [
        ("a read with a query", "GET", "/repos/1?full=1", 1700000000, "key_0123456789abcdef", "team-ci", "repos:read"),
        ("a lower-case method is signed upper-case", "post", "/scans", 1764460800, "key_AbCdEfGhIjKlMnOp", "ops@example.com", "scans:read scans:write"),
        ("an owner stored before the grammar, as the header carries it", "DELETE", "/repos/7", 1764460801, "key_zzzzzzzzzzzzzzzz", "team%20a%2C%20admin", "admin"),
    ]
    origin_cases = []
    for name, method, target, ts, key_id, owner, scopes in signed:
        message = "\n".join(["keyward-origin-v1", method.upper(), target, str(ts), key_id, owner, scopes])
        origin_cases.append({
            "name": name, "method": method, "path_and_query": target, "timestamp": ts, "key_id": key_id,
            "owner": owner, "scopes": scopes, "message": message,
            "signature": "v1=" + hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest(),
        })
    with open(os.path.join(HERE, "origin_signature.json"), "w") as f:
        json.dump({
            "version": 1,
            "description": "The gateway's signature over what it asserts to the origin: HMAC-SHA256 under ORIGIN_SECRET of the signed message (keyward_core::gateway::signed_message), as 'v1=' and lowercase hex. Rust replays the message; npm's verifyGatewayRequest replays message and signature.",
            "secret": secret,
            "cases": origin_cases,
        }, f, indent=2, ensure_ascii=False)
        f.write("\n")
    write("restrictions.json", restriction_cases())


def canonical_ip(s):
    """A client address as keyward reads it (IPv4-mapped IPv6 as IPv4), or None. A zone id
    is refused (Python's ipaddress accepts one; keyward reads such an address as unknown)."""
    if "%" in s:
        return None
    try:
        ip = ipaddress.ip_address(s)
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def block(s):
    """A block as keyward reads it (strict: no host bits), IPv4-mapped /96+ as IPv4."""
    net = ipaddress.ip_network(s, strict=True)
    if net.version == 6 and net.prefixlen >= 96 and net.network_address.ipv4_mapped is not None:
        return ipaddress.ip_network(f"{net.network_address.ipv4_mapped}/{net.prefixlen - 96}")
    return net


def admitted(blocks, ip, not_before, now):
    """Python's ipaddress module decides, independently of keyward."""
    if not_before is not None and now < not_before:
        return "not_yet_valid"
    if not blocks:
        return "valid"
    client = canonical_ip(ip) if ip is not None else None
    if client is None:
        return "ip_not_allowed"
    nets = [block(b) for b in blocks]
    return "valid" if any(client.version == n.version and client in n for n in nets) else "ip_not_allowed"


def decided(key, request, blocks, ip, not_before, now):
    """A whole use: lifecycle first, then the restrictions, then environment and scopes
    (exact scopes only here; RFC 3339 strings with Z compare in time order)."""
    if key["revoked_at"] is not None:
        return "revoked"
    if key["expires_at"] is not None and key["expires_at"] <= now:
        return "expired"
    restricted = admitted(blocks, ip, not_before, now)
    if restricted != "valid":
        return restricted
    if key["env"] != request["env"]:
        return "wrong_environment"
    if any(s not in key["scopes"] for s in request["scopes"]):
        return "insufficient_scope"
    return "valid"


def contained(outer, inner):
    """inner ⊆ outer, by collapsing outer's blocks (a different algorithm from keyward's)."""
    if not outer:
        return True
    if not inner:
        return False
    outs = [block(b) for b in outer]
    for n in (block(b) for b in inner):
        same = ipaddress.collapse_addresses([o for o in outs if o.version == n.version])
        if not any(n.subnet_of(o) for o in same):
            return False
    return True


def restriction_cases():
    now = "2026-06-01T12:00:00Z"
    use = [
        ("no restriction, unknown address", [], None, None),
        ("bare IPv4 address is its /32", ["203.0.113.9"], "203.0.113.9", None),
        ("outside a bare IPv4 address", ["203.0.113.9"], "203.0.113.10", None),
        ("inside an IPv4 block", ["203.0.113.0/24"], "203.0.113.200", None),
        ("IPv4-mapped IPv6 client matches its IPv4 block", ["203.0.113.0/24"], "::ffff:203.0.113.9", None),
        ("IPv4-mapped IPv6 block matches an IPv4 client", ["::ffff:203.0.113.0/120"], "203.0.113.9", None),
        ("IPv4-compatible ::a.b.c.d is not mapped", ["203.0.113.0/24"], "::203.0.113.9", None),
        ("bare IPv6 address is its /128", ["2001:db8::1"], "2001:db8::1", None),
        ("outside a bare IPv6 address", ["2001:db8::1"], "2001:db8::2", None),
        ("inside an IPv6 block", ["2001:db8::/32"], "2001:db8:ffff::1", None),
        ("IPv4 /0 admits every IPv4 address", ["0.0.0.0/0"], "198.51.100.7", None),
        ("IPv4 /0 does not admit IPv6", ["0.0.0.0/0"], "2001:db8::1", None),
        ("IPv6 /0 does not admit an IPv4-mapped client", ["::/0"], "::ffff:198.51.100.7", None),
        ("overlapping blocks", ["10.0.0.0/8", "10.1.0.0/16", "10.1.2.3"], "10.1.2.3", None),
        ("unknown address fails closed", ["0.0.0.0/0", "::/0"], None, None),
        ("an address with a zone id is unknown", ["fe80::/10"], "fe80::1%eth0", None),
        ("garbage address is unknown", ["0.0.0.0/0"], "not-an-ip", None),
        ("before not_before", [], None, "2026-06-01T12:00:01Z"),
        ("at not_before", [], None, "2026-06-01T12:00:00Z"),
        ("not_before is checked before the address", ["203.0.113.0/24"], "198.51.100.1", "2026-07-01T00:00:00Z"),
    ]
    def stamp(t):
        return t  # RFC 3339 strings with Z compare in time order
    cases = [{"name": n, "input": {"allowed_ips": b, "ip": ip, "not_before": nb, "now": now},
              "expect": {"code": admitted(b, ip, nb and stamp(nb), stamp(now))}} for n, b, ip, nb in use]
    # A whole use, in the order every front end decides it: revoked, expired, not_before,
    # the address, the environment, the scopes. `key` is the record's lifecycle (default:
    # a live key holding scans:read, never expiring), `request` what the use asks
    # (default: env live, no scope).
    earlier, later = "2026-06-01T11:00:00Z", "2026-07-01T00:00:00Z"
    inside, outside = "203.0.113.9", "198.51.100.1"
    net = ["203.0.113.0/24"]
    order = [
        ("revoked before the address", net, outside, None, {"revoked_at": earlier}, {}),
        ("revoked with an unknown address", net, None, None, {"revoked_at": earlier}, {}),
        ("revoked before not_before", [], None, later, {"revoked_at": earlier}, {}),
        ("expired before not_before", [], None, later, {"expires_at": earlier}, {}),
        ("expired before the address", net, outside, None, {"expires_at": earlier}, {}),
        ("the address before the environment", net, outside, None, {"env": "test"}, {}),
        ("the address before a missing scope", net, outside, None, {}, {"scopes": ["scans:write"]}),
        ("not_before before the environment", [], None, later, {"env": "test"}, {}),
        ("inside the networks, the wrong environment", net, inside, None, {"env": "test"}, {}),
        ("inside the networks, a missing scope", net, inside, None, {}, {"scopes": ["scans:write"]}),
        ("inside the networks, the scope held", net, inside, None, {}, {"scopes": ["scans:read"]}),
        ("a later expiry does not refuse", net, inside, None, {"expires_at": later}, {}),
    ]
    for n, b, ip, nb, key, request in order:
        k = {"env": "live", "scopes": ["scans:read"], "expires_at": None, "revoked_at": None, **key}
        r = {"env": "live", "scopes": [], **request}
        cases.append({"name": n, "input": {"allowed_ips": b, "ip": ip, "not_before": nb, "now": now, "key": k, "request": r},
                      "expect": {"code": decided(k, r, b, ip, nb, now)}})
    hundred = [f"10.{i}.0.0/16" for i in range(100)]
    cases.append({"name": "a hundred blocks, the last one matches", "input": {"allowed_ips": hundred, "ip": "10.99.1.1", "not_before": None, "now": now},
                  "expect": {"code": admitted(hundred, "10.99.1.1", None, now)}})
    bad = [
        ("zone id refused", ["fe80::1%eth0"]), ("zone id on a block refused", ["fe80::%1/64"]),
        ("host bits past the prefix", ["10.0.0.1/8"]), ("IPv4 prefix too long", ["10.0.0.0/33"]),
        ("IPv6 prefix too long", ["::/129"]), ("empty prefix", ["10.0.0.0/"]), ("signed prefix", ["10.0.0.0/+8"]),
        ("not an address", ["example.com"]), ("short IPv4", ["10.0.0"]), ("space", [" 10.0.0.0/8"]),
        ("more than a hundred blocks", hundred + ["192.0.2.0/24"]),
    ]
    for n, b in bad:
        try:
            if len(b) > 100:
                raise ValueError
            for x in b:
                if "%" in x or x != x.strip() or "+" in x:
                    raise ValueError
                block(x)
            ok = True
        except ValueError:
            ok = False
        assert not ok, n
        cases.append({"name": n, "input": {"allowed_ips": b}, "error": {"code": "invalid_request"}})
    contain = [
        ("unrestricted contains everything", [], ["10.0.0.0/8"]),
        ("restricted never contains unrestricted", ["0.0.0.0/0", "::/0"], []),
        ("a smaller block", ["10.0.0.0/8"], ["10.1.0.0/16"]),
        ("the same block", ["10.0.0.0/8"], ["10.0.0.0/8"]),
        ("a wider block", ["10.0.0.0/16"], ["10.0.0.0/8"]),
        ("two halves cover the whole", ["10.0.0.0/25", "10.0.0.128/25"], ["10.0.0.0/24"]),
        ("halves that leave a gap", ["10.0.0.0/25", "10.0.1.0/25"], ["10.0.0.0/24"]),
        ("quarters that cover /0", ["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2", "192.0.0.0/2"], ["0.0.0.0/0"]),
        ("IPv6 inside IPv4 /0 is not", ["0.0.0.0/0"], ["::ffff:0:0/96", "2001:db8::/32"]),
        ("IPv4-mapped block inside its IPv4 block", ["203.0.113.0/24"], ["::ffff:203.0.113.128/121"]),
        ("one address outside", ["10.0.0.0/8", "2001:db8::/32"], ["10.1.1.1", "2001:db9::1"]),
    ]
    for n, outer, inner in contain:
        cases.append({"name": n, "input": {"outer": outer, "inner": inner}, "expect": {"contained": contained(outer, inner)}})
    return cases


if __name__ == "__main__":
    main()
