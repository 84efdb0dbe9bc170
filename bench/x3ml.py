"""The X3ML engine against itself as it was at a base commit, side by side in one run.

Cases: the PARTHENOS CMDI mappings the issue names, over the CLARIN-DK sample record
(``Mapping518/oai_clarin_dk_…``):

* ``Mapping549``: the hand-made mapping ``Mapping549_CLARIN-DKtei`` with the PARTHENOS policy 1.5;
* ``p_1380106710826``: the generated mapping for that CMDI profile with the batch policy.

Each record is a copy of the sample whose identifier (``527740``) is replaced by a counter, so
that no two records give the same URIs; per record the engine parses the bytes, runs the mapping
with reproducible UUIDs and writes N-Triples, as the pipeline's transform step does.

The baseline is the ``transforms`` and ``mdstore`` packages of ``--baseline-rev`` (default: the
merge base of HEAD and ``main``), extracted with ``git archive`` into a temporary folder. Every
measurement runs in a fresh child process, baseline and current engine alternating for
``--rounds`` rounds, so that a busy machine slows both alike; the figure kept per engine is its
best round, by CPU time of the child (load average printed before and after). Before timing,
the outputs of both engines for the first records are compared line for line.

``--stream-mb N`` also measures the streaming reader: a file of N MB of sample records under one
root element, transformed by ``contentcloud x3ml --stream`` in a child process, whose peak
anonymous memory (``RssAnon`` sampled every 20 ms, and ``VmHWM``) is printed beside the file size.

``--xslt-probe`` measures what compiling a mapping to a stylesheet could give at best (see
:func:`xslt_probe`), the figure that decides between an execution plan and a stylesheet.

``--split`` splits a record's CPU time in the current engine (see :func:`split`): parsing, the
lxml XPath calls, N-Triples, and the engine's own work; the first three bound any plan that asks
lxml the same questions.

    python bench/x3ml.py [--records 2000] [--rounds 3] [--baseline-rev REV] [--stream-mb 100] [--xslt-probe]
                         [--split]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
PARTHENOS = SHARED / "parthenos"
RECORD = "mappings/Mapping518/oai_clarin_dk_dkclarin_527740___18-10-2018105001___402.xml"
CASES = {
    "Mapping549": (
        "mappings/Mapping549_CLARIN-DKtei/Mapping549.x3ml",
        "mappings/Mapping518/PARTHENOS-GeneratorPolicy_v1.5___06-11-2018162844___5606.xml",
    ),
    "p_1380106710826": (
        "batch_generation_14775/mapping/p_1380106710826.xml",
        "batch_generation_14775/conf/policy.xml",
    ),
}


def records(count: int) -> list[bytes]:
    sample = (PARTHENOS / RECORD).read_bytes()
    return [sample.replace(b"527740", str(1_000_000 + i).encode()) for i in range(count)]


# ---------------------------------------------------------------- child: one engine, one case


def worker(case: str, count: int, check: int) -> dict[str, object]:
    """Runs in a child whose ``sys.path`` starts with the engine under test."""
    import logging

    logging.disable(logging.WARNING)  # the mapping's load-time notes are not the measure
    from transforms.x3ml import X3MLMapping

    mapping_path, policy_path = CASES[case]
    mapping = X3MLMapping.load(PARTHENOS / mapping_path, policy=PARTHENOS / policy_path)
    data = records(count)
    mapping.transform(data[0], record_id="warm-up").to_ntriples()  # compiles run-time XPaths
    outputs = [mapping.transform(data[i], record_id=f"r{i}").to_ntriples() for i in range(check)]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    triples = 0
    for i, record in enumerate(data):
        triples += mapping.transform(record, record_id=f"r{i}").to_ntriples().count("\n")
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {"cpu": cpu, "wall": wall, "records": count, "triples": triples, "outputs": outputs}


def run_child(engine_path: Path, case: str, count: int, check: int) -> dict[str, object]:
    """``case`` may also be ``xslt-probe``."""
    env = dict(os.environ, PYTHONPATH=str(engine_path))
    proc = subprocess.run(
        [sys.executable, "-P", __file__, "--worker", case, "--records", str(count), "--check", str(check)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"bench child failed ({engine_path}, {case}):\n{proc.stderr}")
    return json.loads(proc.stdout)


def xslt_probe(count: int) -> dict[str, object]:
    """What a mapping compiled to a stylesheet could reach: the XPath evaluations the engine makes
    for ``p_1380106710826`` on the sample (logged in one run) replayed as one lxml stylesheet that
    writes a line per evaluation, with a Python extension function (an MD5, as URI shortening
    and name UUIDs need) on every fourth. No caches, no dedup, no warnings: an upper bound."""
    import hashlib
    import logging
    from xml.sax.saxutils import quoteattr

    from lxml import etree

    logging.disable(logging.WARNING)
    import transforms.x3ml.xpath as xpath_module
    from transforms.x3ml import X3MLMapping

    calls: list[tuple[object, object]] = []
    for method in ("nodes", "string", "boolean"):
        original = getattr(xpath_module.XPathExpr, method)

        def logged(self, node, doc, _original=original):  # type: ignore[no-untyped-def]
            calls.append((self, node))
            return _original(self, node, doc)

        setattr(xpath_module.XPathExpr, method, logged)
    mapping_path, policy_path = CASES["p_1380106710826"]
    mapping = X3MLMapping.load(PARTHENOS / mapping_path, policy=PARTHENOS / policy_path)
    sample = (PARTHENOS / RECORD).read_bytes()
    tree = etree.ElementTree(etree.fromstring(sample))
    mapping.transform(tree, record_id="probe")
    body = []
    for k, (expr, node) in enumerate(calls):
        if not isinstance(node, etree._Element):
            continue
        function = "e:digest" if k % 4 == 0 else "normalize-space"
        body.append(
            f"<xsl:for-each select={quoteattr(tree.getpath(node))}><xsl:text>&lt;http://x/</xsl:text>"
            f"<xsl:value-of select={quoteattr(function + '(string(' + expr.source + '))')}/>"
            f'<xsl:text>&gt; &lt;http://p&gt; "</xsl:text><xsl:value-of select={quoteattr(expr.source)}/>'
            '<xsl:text>" .&#10;</xsl:text></xsl:for-each>'
        )
    declarations = " ".join(
        f'xmlns:{p}="{u}"' for p, u in mapping.compiler.namespaces.items() if p and p != "xml"
    )
    stylesheet = etree.XSLT(
        etree.fromstring(
            '<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform" '
            f'xmlns:e="urn:bench" {declarations} exclude-result-prefixes="e"><xsl:output method="text"/>'
            f'<xsl:template match="/">{"".join(body)}</xsl:template></xsl:stylesheet>'
        )
    )
    etree.FunctionNamespace("urn:bench")["digest"] = lambda _c, s: hashlib.md5(str(s).encode()).hexdigest()  # noqa: S324
    data = records(count)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    lines = 0
    for record in data:
        lines += str(stylesheet(etree.fromstring(record))).count("\n")
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {"cpu": cpu, "wall": wall, "records": count, "evaluations": len(body), "lines": lines // count}


def split(case: str, count: int) -> dict[str, object]:
    """Where a record's CPU time goes in the current engine: parsing, the lxml XPath calls the
    engine makes for it (logged in one run, replayed alone on each record's own nodes), writing
    N-Triples, and the rest (the engine's own Python work). The first three are the floor of
    any execution plan that still asks lxml the same questions."""
    import logging

    from lxml import etree

    logging.disable(logging.WARNING)
    import transforms.x3ml.xpath as xpath_module
    from transforms.x3ml import X3MLMapping
    from transforms.x3ml.loader import parse_input

    mapping_path, policy_path = CASES[case]
    mapping = X3MLMapping.load(PARTHENOS / mapping_path, policy=PARTHENOS / policy_path)
    data = records(count)
    mapping.transform(data[0], record_id="warm-up")
    calls: list[tuple[object, object]] = []
    expr_class = xpath_module.XPathExpr
    original_string, original_nodes = expr_class._lxml_string, expr_class.nodes

    def logged_string(self, node):  # type: ignore[no-untyped-def]
        calls.append((self._lxml, node))
        return original_string(self, node)

    def logged_nodes(self, node, doc):  # type: ignore[no-untyped-def]
        before = len(doc.memo)
        found = original_nodes(self, node, doc)
        if len(doc.memo) > before:  # lxml was asked (not the run's memo)
            calls.append((self._lxml, node))
        return found

    expr_class._lxml_string, expr_class.nodes = logged_string, logged_nodes
    try:
        tree = parse_input(data[1], record_id="split")
        mapping.transform(tree, record_id="split")
    finally:
        expr_class._lxml_string, expr_class.nodes = original_string, original_nodes
    order = {el: k for k, el in enumerate(tree.iter())}
    replay = [(xpath, order[node]) for xpath, node in calls if isinstance(node, etree._Element)]
    per_record = []
    for record in data:
        elements = list(parse_input(record, record_id="split").iter())
        per_record.append([elements[k] for _, k in replay])
    functions = [xpath for xpath, _ in replay]

    def cpu_us(run) -> float:  # type: ignore[no-untyped-def]
        start = time.process_time()
        run()
        return (time.process_time() - start) / count * 1e6

    total = cpu_us(
        lambda: [mapping.transform(r, record_id=f"r{i}").to_ntriples() for i, r in enumerate(data)]
    )
    parse = cpu_us(lambda: [parse_input(r, record_id="split") for r in data])

    def evaluate() -> None:
        for nodes in per_record:
            for function, node in zip(functions, nodes, strict=True):
                function(node)

    xpath = cpu_us(evaluate)
    results = [mapping.transform(r, record_id=f"r{i}") for i, r in enumerate(data[:50])]
    output = cpu_us(lambda: [results[i % 50].graph.to_ntriples() for i in range(count)])
    return {"total": total, "parse": parse, "xpath": xpath, "calls": len(replay), "output": output}


# ---------------------------------------------------------------- streaming memory


def make_big_input(path: Path, megabytes: int) -> int:
    sample = (PARTHENOS / RECORD).read_bytes()
    body = sample[sample.index(b"<cmd:CMD") :]
    written = count = 0
    with path.open("wb") as out:
        out.write(b'<?xml version="1.0" encoding="UTF-8"?>\n<records>\n')
        while written < megabytes * 2**20:
            chunk = body.replace(b"527740", str(1_000_000 + count).encode()) + b"\n"
            out.write(chunk)
            written += len(chunk)
            count += 1
        out.write(b"</records>\n")
    return count


def peak_of(command: list[str], env: dict[str, str], stdout: Path) -> tuple[float, float, float, int]:
    """Wall seconds, peak RssAnon MB (sampled), VmHWM MB and exit status of ``command``."""
    start = time.perf_counter()
    with stdout.open("wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.DEVNULL)
        peak_anon = hwm = 0
        status_path = Path(f"/proc/{proc.pid}/status")
        while proc.poll() is None:
            try:
                for line in status_path.read_text().splitlines():
                    if line.startswith("RssAnon:"):
                        peak_anon = max(peak_anon, int(line.split()[1]))
                    elif line.startswith("VmHWM:"):
                        hwm = max(hwm, int(line.split()[1]))
            except (OSError, ValueError):
                pass
            time.sleep(0.02)
    return time.perf_counter() - start, peak_anon / 1024, hwm / 1024, proc.returncode


def stream_bench(megabytes: int) -> None:
    mapping_path, policy_path = CASES["p_1380106710826"]
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "big.xml"
        count = make_big_input(big, megabytes)
        size = big.stat().st_size / 2**20
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        command = [
            sys.executable,
            "-P",
            "-c",
            "from contentcloud.cli import main; main()",
            "x3ml",
            "--stream",
            "--quiet",
            "--mapping",
            str(PARTHENOS / mapping_path),
            "--policy",
            str(PARTHENOS / policy_path),
            "--input",
            str(big),
        ]
        cpu0 = os.times()
        wall, anon, hwm, status = peak_of(command, env, Path(tmp) / "out.nt")
        cpu1 = os.times()
        cpu = (cpu1.children_user - cpu0.children_user) + (cpu1.children_system - cpu0.children_system)
        lines = sum(1 for _ in (Path(tmp) / "out.nt").open("rb"))
    print(
        f"\n## streaming input (contentcloud x3ml --stream, p_1380106710826)\n"
        f"input {size:.0f} MB, {count} records; exit {status}; {lines} triples; {wall:.1f} s wall, "
        f"{cpu:.1f} s CPU ({count / cpu:,.0f} records/CPU s); peak RssAnon {anon:.0f} MB, VmHWM {hwm:.0f} MB"
    )


# ---------------------------------------------------------------- parent


def baseline_tree(rev: str | None, target: Path) -> str:
    if rev is None:
        rev = subprocess.run(
            ["git", "merge-base", "HEAD", "main"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    archive = subprocess.run(
        ["git", "archive", "--format=tar", rev, "transforms", "mdstore"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    archive_path = target / "base.tar"
    archive_path.write_bytes(archive)
    with tarfile.open(archive_path) as tar:
        tar.extractall(target, filter="data")
    return rev


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--baseline-rev", help="commit of the baseline engine (default: merge base with main)"
    )
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    parser.add_argument("--stream-mb", type=int, default=0, help="also measure streaming an N MB input")
    parser.add_argument("--xslt-probe", action="store_true", help="also measure the stylesheet upper bound")
    parser.add_argument(
        "--split", action="store_true", help="also split a record's CPU time (parse, XPath, output, engine)"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--check", type=int, default=20, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker == "xslt-probe":
        print(json.dumps(xslt_probe(args.records)))
        return 0
    if args.worker and args.worker.startswith("split:"):
        print(json.dumps(split(args.worker[len("split:") :], args.records)))
        return 0
    if args.worker:
        print(json.dumps(worker(args.worker, args.records, args.check)))
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        rev = baseline_tree(args.baseline_rev, base)
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "transforms"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"baseline: {rev[:12]}; current: {head}{' + uncommitted changes' if dirty else ''}")
        print(f"{args.records} records per child, {args.rounds} rounds, best round kept (CPU time)\n")
        print(
            f"{'case':18s} {'engine':9s} {'records/CPU s':>14s} {'records/s wall':>15s} "
            f"{'triples/rec':>12s}  rounds (rec/CPU s)"
        )
        for case in args.cases:
            results: dict[str, list[dict[str, object]]] = {"baseline": [], "current": []}
            for _ in range(args.rounds):
                results["baseline"].append(run_child(base, case, args.records, args.check))
                results["current"].append(run_child(ROOT, case, args.records, args.check))
            same = results["baseline"][0]["outputs"] == results["current"][0]["outputs"]
            rates = {}
            for engine, runs in results.items():
                best = min(runs, key=lambda r: r["cpu"])
                rates[engine] = best["records"] / best["cpu"]
                every = ", ".join(f"{r['records'] / r['cpu']:,.0f}" for r in runs)
                print(
                    f"{case:18s} {engine:9s} {rates[engine]:14,.0f} {best['records'] / best['wall']:15,.0f} "
                    f"{best['triples'] / best['records']:12.0f}  {every}"
                )
            print(
                f"{case:18s} speed-up {rates['current'] / rates['baseline']:.2f}x per CPU second; "
                f"output of the first {args.check} records {'identical' if same else 'DIFFERENT'}"
            )
            if not same:
                return 1
        if args.xslt_probe:
            probe = min(
                (run_child(ROOT, "xslt-probe", args.records, 0) for _ in range(args.rounds)),
                key=lambda r: r["cpu"],
            )
            print(
                f"\n## upper bound of a compiled stylesheet (p_1380106710826's {probe['evaluations']} XPath "
                f"evaluations replayed in lxml XSLT, {probe['lines']} lines/record)\n"
                f"xslt probe: {probe['records'] / probe['cpu']:,.0f} records/CPU s, "
                f"{probe['records'] / probe['wall']:,.0f} records/s wall"
            )
        if args.split:
            print("\n## where a record's CPU time goes (current engine; best of the rounds)")
            for case in args.cases:
                parts = min(
                    (run_child(ROOT, "split:" + case, args.records, 0) for _ in range(args.rounds)),
                    key=lambda r: r["total"],
                )
                floor = parts["parse"] + parts["xpath"] + parts["output"]
                print(
                    f"{case}: {parts['total']:,.0f} us = parse {parts['parse']:.0f} + lxml XPath "
                    f"({parts['calls']} calls) {parts['xpath']:.0f} + N-Triples {parts['output']:.0f} "
                    f"+ engine {parts['total'] - floor:,.0f}; floor without the engine "
                    f"{floor:.0f} us = {1e6 / floor:,.0f} records/CPU s"
                )
        if args.stream_mb:
            stream_bench(args.stream_mb)
        print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
