#!/usr/bin/env python3
"""Writes a source-like tree of text files with a few planted keyward keys.

usage: gen_tree.py DIR [MEGABYTES] [KEYS]

Deterministic (seeded). Prints the planted keys' hints, never the keys, and the total size.
"""
import base64
import os
import random
import sys
import zlib

def make_key(rng, vendor, env):
    body = f"{vendor}_{env}_" + base64.urlsafe_b64encode(rng.randbytes(32)).decode().rstrip("=")
    crc = zlib.crc32(body.encode()).to_bytes(4, "big")
    return body + base64.urlsafe_b64encode(crc).decode().rstrip("=")

def main():
    root = sys.argv[1]
    megabytes = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    nkeys = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    rng = random.Random(20261128)
    words = ["user", "config", "token", "request", "handler", "value", "index", "buffer",
             "session", "api", "key", "client", "server", "cache", "store", "item", "result",
             "error", "count", "limit", "offset", "name", "path", "id", "data", "live", "test"]
    def ident():
        return "_".join(rng.choice(words) for _ in range(rng.randint(1, 3)))
    def b64(n):
        return base64.urlsafe_b64encode(rng.randbytes(n)).decode().rstrip("=")
    templates = [
        lambda: f"    let {ident()} = {ident()}(&{ident()}, {rng.randint(0, 9999)});",
        lambda: f"def {ident()}(self, {ident()}, {ident()}=None):",
        lambda: f"        return self.{ident()}[{ident()}] + {rng.random():.4f}",
        lambda: f'  "{ident()}": "{ident()}",',
        lambda: f'  "{ident()}_id": {rng.randint(0, 10**9)},',
        lambda: f"{ident().upper()}={b64(rng.randint(12, 40))}",
        lambda: f"// {' '.join(rng.choice(words) for _ in range(rng.randint(4, 12)))}.",
        lambda: f"  {ident()}: {ident()}-{rng.randint(1, 99)}",
        lambda: f"const {ident()} = require('{ident()}/{ident()}');",
        lambda: f"    assert_eq!({ident()}.len(), {rng.randint(0, 64)});",
        lambda: f'    "sha": "{b64(30)}", "etag": "{b64(16)}",',
        lambda: "",
    ]
    pool = [rng.choice(templates)() for _ in range(50_000)]
    exts = [".rs", ".py", ".js", ".json", ".yaml", ".env", ".md", ".toml"]
    target = megabytes * 1024 * 1024
    total, files = 0, []
    os.makedirs(root, exist_ok=True)
    d = 0
    while total < target:
        sub = os.path.join(root, f"pkg{d // 100:03d}", f"mod{d % 100:02d}")
        os.makedirs(sub, exist_ok=True)
        for i in range(10):
            size = rng.randint(4_000, 100_000)
            lines, n = [], 0
            while n < size:
                line = rng.choice(pool)
                lines.append(line)
                n += len(line) + 1
            path = os.path.join(sub, f"file{i}{rng.choice(exts)}")
            with open(path, "w") as f:
                f.write("\n".join(lines) + "\n")
            files.append(path)
            total += n
        d += 1
    planted = []
    for i in range(nkeys):
        vendor, env = [("sk", "live"), ("sk", "test"), ("acme", "staging"), ("sk", "dev")][i % 4]
        key = make_key(rng, vendor, env)
        path = rng.choice(files)
        with open(path, "a") as f:
            f.write(f'API_KEY = "{key}"\n')
        planted.append((path, key[: len(vendor) + len(env) + 6]))
    for path, hint in planted:
        print(f"planted {hint}... in {os.path.relpath(path, root)}")
    print(f"{len(files)} files, {total / 1048576:.0f} MiB")

if __name__ == "__main__":
    main()
