#!/usr/bin/env bash
# Type-checks Examples/Embed/main.swift as a program outside this package would see the library:
# under another package name, so `package` declarations are invisible and only `public` counts.
# (Within the package, SwiftPM gives every target the same package name, so the example's own
# build cannot show this.) Run after `swift build`; test.sh runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
touch Examples/Embed/main.swift
line=$(swift build --product sloth-runner-embed-example -v 2>&1 | grep -E '/swiftc -module-name sloth_runner_embed_example ' | head -1)
[ -n "$line" ] || { echo "check-public-api: could not find the example's compile command" >&2; exit 1; }
python3 - "$line" <<'PY'
import shlex, subprocess, sys
tokens = shlex.split(sys.argv[1])
args, i = [tokens[0], "-typecheck", "Examples/Embed/main.swift", "-package-name", "an_embedding_program"], 1
while i < len(tokens):
    t = tokens[i]
    if t in ("-I", "-Xcc", "-target", "-swift-version", "-module-cache-path") and i + 1 < len(tokens):
        args += [t, tokens[i + 1]]; i += 2; continue
    i += 1
result = subprocess.run(args)
if result.returncode != 0:
    print("check-public-api: the embedding example needs something the library does not make public", file=sys.stderr)
sys.exit(result.returncode)
PY
echo "check-public-api: the embedding example builds on the public API alone"
