"""Transformation throughput: the transform pipeline step over N records read from and written to
the MDStore, side by side with the issue's baselines, in one run.

* XSLT: ``mappings/oai_dc2pe.xsl`` (oai_dc → PE-flavoured RDF/XML) as a full transform run
  (read the native version, apply, write a new transformed version, commit), against a bare lxml
  loop applying the very same compiled stylesheet to the same records held in memory (parse,
  transform, serialize). Goal (issue 4): the step ≥ 0.6 of the bare loop. Each repeat also runs
  the step with the default N-Triples output right after the pair (issue 18: ≥ 0.6 of the same
  bare loop), and prints the load average: compare the CPU ratios on a shared machine.
* X3ML: ``mappings/cmdi_metashare2pe.x3ml`` (CMDI → PE, N-Triples) as a full transform run, with
  the engine alone on the same records in memory beside it. Goal: ≥ 1,000 records/s. Runs only
  when the engine (``transforms.x3ml``) is installed.
* Memory: peak RSS growth of the XSLT step at N/4 and at N records; flat means the two agree.

One process, so records/s are per core. The machine is shared and noisy: each pair is measured
``--repeat`` times, alternating, and the median ratio is reported.

    python bench/transform.py [--records 20000] [--repeat 3] [--no-x3ml]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import Phase, measure, print_rows  # noqa: E402
from contentcloud.pipeline.transform import transform  # noqa: E402
from mdstore import RecordInput, UnitKey, open_store  # noqa: E402
from transforms.registry import build_chain  # noqa: E402
from transforms.xslt import run_params  # noqa: E402

MAPPINGS = Path(__file__).resolve().parent.parent / "mappings"
LANGUAGES = ["en", "eng", "English", "de", "fr", "it", "fin", "nl"]
TYPES = ["info:eu-repo/semantics/article", "info:eu-repo/semantics/report", "Text", "dataset", "Image"]
RIGHTS = ["info:eu-repo/semantics/openAccess", "info:eu-repo/semantics/restrictedAccess", "CC-BY 4.0"]
DATES = ["2015-06-16", "16/06/2015", "ca. 1850", "1850-1860", "June 2015", "2001", "2019-11-03T10:22:01Z"]


def _words(i: int, n: int) -> str:
    digest = hashlib.sha256(str(i).encode()).hexdigest()
    return " ".join(digest[k : k + 6] for k in range(0, 6 * n, 6))


def oai_dc_record(i: int) -> bytes:
    """A realistic oai_dc record in its OAI <record> wrapper (~1.6 KB), varied by ``i``."""
    creators = "".join(
        f"<dc:creator>Author{i % 97}-{k}, {_words(i + k, 1)}</dc:creator>" for k in range(1 + i % 4)
    )
    subjects = "".join(f"<dc:subject>Topic {_words(i * 7 + k, 2)}</dc:subject>" for k in range(2 + i % 5))
    return (
        f'<record xmlns="http://www.openarchives.org/OAI/2.0/"><header><identifier>oai:bench.example.org:{i}'
        f"</identifier><datestamp>2024-01-01</datestamp><setSpec>bench</setSpec></header><metadata>"
        f'<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
        f'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Record {i}: {_words(i, 6)}</dc:title>'
        f"{creators}{subjects}<dc:description>{_words(i + 1, 40)}</dc:description>"
        f"<dc:date>{DATES[i % len(DATES)]}</dc:date>"
        f"<dc:type>{TYPES[i % len(TYPES)]}</dc:type><dc:identifier>https://bench.example.org/record/{i}"
        f"</dc:identifier><dc:identifier>doi:10.5555/bench.{i}</dc:identifier>"
        f"<dc:language>{LANGUAGES[i % len(LANGUAGES)]}</dc:language>"
        f"<dc:rights>{RIGHTS[i % len(RIGHTS)]}</dc:rights>"
        f"</oai_dc:dc></metadata></record>"
    ).encode()


def cmdi_record(i: int) -> bytes:
    """A CMDI 1.1 META-SHARE record shaped like the Kielipankki sample, varied by ``i``."""
    return (
        f'<CMD xmlns="http://www.clarin.eu/cmd/" CMDVersion="1.1"><Header><MdCreator>bench</MdCreator>'
        f"<MdCreationDate>2015-04-01</MdCreationDate><MdSelfLink>http://hdl.handle.net/bench/{i}</MdSelfLink>"
        f"<MdProfile>clarin.eu:cr1:p_1361876010571</MdProfile></Header><Resources><ResourceProxyList/>"
        f"<JournalFileProxyList/><ResourceRelationList/></Resources><Components><resourceInfo>"
        f'<identificationInfo><resourceName xml:lang="en">Corpus {i} {_words(i, 3)}</resourceName>'
        f'<description xml:lang="en">{_words(i + 1, 30)}</description>'
        f'<resourceShortName xml:lang="en">C{i}</resourceShortName>'
        f"<url>http://corpora.example.org/{i}/</url><identifier>http://urn.example.org/urn:nbn:bench-{i}</identifier>"
        f"<identifier>islrn.org/resources/{i:03d}-939</identifier></identificationInfo>"
        f"<distributionInfo><availability>available-unrestrictedUse</availability><licenceInfo>"
        f"<licence>CC-BY</licence><distributionRightsHolderOrganization><organizationInfo>"
        f'<organizationName xml:lang="en">University {i % 40}</organizationName></organizationInfo>'
        f"</distributionRightsHolderOrganization></licenceInfo></distributionInfo>"
        f"<resourceCreationInfo><resourceCreator><personInfo><surname>Surname{i % 300}</surname>"
        f"<givenName>Given{i % 17}</givenName></personInfo></resourceCreator>"
        f"<creationEndDate>20{i % 20:02d}-01-01</creationEndDate></resourceCreationInfo>"
        f"<usageInfo><foreseenUseInfo><useNLPSpecific>morphologicalAnalysis</useNLPSpecific></foreseenUseInfo>"
        f"</usageInfo><corpusInfo><resourceType>corpus</resourceType><corpusMediaType><corpusTextInfo>"
        f"<languageInfo><languageId>{['fin', 'swe', 'eng'][i % 3]}</languageId></languageInfo>"
        f"</corpusTextInfo></corpusMediaType></corpusInfo></resourceInfo></Components></CMD>"
    ).encode()


class timed:
    """``measure`` plus the CPU time of this process: on a shared machine wall time follows the
    neighbours' load, CPU time mostly follows our own work, so ratios are taken on both."""

    def __init__(self, label: str) -> None:
        self._measure = measure(label)
        self.cpu = 0.0

    def __enter__(self) -> Phase:
        self._cpu0 = time.process_time()
        self.phase = self._measure.__enter__()
        return self.phase

    def __exit__(self, *exc: object) -> None:
        self._measure.__exit__(*exc)
        self.cpu = time.process_time() - self._cpu0

    @property
    def cpu_rate(self) -> float:
        return self.phase.items / self.cpu if self.cpu else 0.0


def load_native(store, unit: UnitKey, make, n: int) -> list[bytes]:
    """Write N records as the native version; return their bodies as read back from the store."""
    tx = store.begin(unit, "full", nsprefix="bench")
    tx.upsert(RecordInput(f"oai:bench:{i:08d}", make(i)) for i in range(n))
    tx.commit()
    with store.reader(unit) as view:
        return [r.body_bytes() for r in view.records()]


def run_step(store, source: UnitKey, target: UnitKey, chain, label: str) -> timed:
    timer = timed(label)
    with timer as phase:
        summary = transform(store, source, target, chain, run_id=f"bench-{target.format}", max_error_rate=0.0)
        phase.items = summary.read
    if summary.errors or summary.read != summary.added:
        raise SystemExit(f"{label}: {summary.text()}")
    return timer


def bench_xslt(store, n: int, repeat: int) -> list[tuple[str, Phase, str]]:
    from lxml import etree

    from transforms.payload import safe_parser

    source = UnitKey("bench", "oai_dc")
    bodies = load_native(store, source, oai_dc_record, n)
    chain = build_chain(
        [{"type": "xslt", "mapping": "oai_dc2pe.xsl"}],
        base_dir=MAPPINGS,
        params=run_params("bench"),
        output="rdfxml",
    )
    nt_chain = build_chain(
        [{"type": "xslt", "mapping": "oai_dc2pe.xsl"}],
        base_dir=MAPPINGS,
        params=run_params("bench"),
        output="ntriples",
    )
    compiled = chain.steps[0].compiled
    parser = safe_parser()
    rows, wall, cpu, bare_rates, nt_wall, nt_cpu = [], [], [], [], [], []
    for r in range(repeat):
        bare = timed("bare lxml loop")
        with bare as phase:
            for body in bodies:
                bytes(compiled(etree.fromstring(body, parser)))
            phase.items = len(bodies)
        step = run_step(store, source, UnitKey("bench", f"PE{r}", "store", "transformed"), chain, "XSLT step")
        nt = run_step(
            store, source, UnitKey("bench", f"PE-nt{r}", "store", "transformed"), nt_chain, "XSLT step, NT"
        )
        wall.append(step.phase.rate / bare.phase.rate)
        cpu.append(step.cpu_rate / bare.cpu_rate)
        nt_wall.append(nt.phase.rate / bare.phase.rate)
        nt_cpu.append(nt.cpu_rate / bare.cpu_rate)
        bare_rates.append(bare.phase.rate)
        load = os.getloadavg()[0]
        rows += [
            (
                f"bare lxml loop (in memory) #{r + 1}",
                bare.phase,
                f"baseline; {bare.cpu_rate:.0f}/s of CPU ({bare.cpu:.2f} CPU s); load {load:.1f}",
            ),
            (
                f"XSLT step via MDStore #{r + 1}",
                step.phase,
                f"{wall[-1]:.2f} x baseline; {step.cpu_rate:.0f}/s of CPU = {cpu[-1]:.2f} x baseline",
            ),
            (
                f"XSLT step, N-Triples (default) #{r + 1}",
                nt.phase,
                f"{nt_wall[-1]:.2f} x baseline; {nt.cpu_rate:.0f}/s of CPU ({nt.cpu:.2f} CPU s) "
                f"= {nt_cpu[-1]:.2f} x baseline",
            ),
        ]
    rows.append(
        (
            "median ratio XSLT step / bare loop",
            Phase("", 0, 0.0, 0.0),
            f"wall {statistics.median(wall):.2f}, CPU {statistics.median(cpu):.2f} (goal >= 0.6)",
        )
    )
    rows.append(
        (
            "median ratio N-Triples step / bare",
            Phase("", 0, 0.0, 0.0),
            f"wall {statistics.median(nt_wall):.2f}, CPU {statistics.median(nt_cpu):.2f} (goal >= 0.6)",
        )
    )
    return rows


def _memory_phase(size: int) -> tuple[int, float, float]:
    """One XSLT step over ``size`` records in a fresh process: (records, seconds, peak RSS growth MB)."""
    with (
        tempfile.TemporaryDirectory(prefix="bench-transform-memory-") as name,
        open_store(f"sqlite:///{Path(name) / 'm.sqlite'}") as store,
    ):
        source = UnitKey("bench", "oai_dc")
        load_native(store, source, oai_dc_record, size)
        chain = build_chain(
            [{"type": "xslt", "mapping": "oai_dc2pe.xsl"}],
            base_dir=MAPPINGS,
            params=run_params("bench"),
            output="rdfxml",
        )
        step = run_step(store, source, UnitKey("bench", "PE", "store", "transformed"), chain, "memory")
        return step.phase.items, step.phase.seconds, step.phase.peak_mb


def bench_memory(n: int) -> list[tuple[str, Phase, str]]:
    """Peak RSS growth of the step alone, each size in a fresh process (a high-water mark left by
    earlier phases would hide any growth)."""
    import multiprocessing

    rows = []
    context = multiprocessing.get_context("spawn")
    for size in (max(n // 4, 1), n):
        with context.Pool(1) as pool:
            items, seconds, peak = pool.apply(_memory_phase, (size,))
        rows.append(
            (
                f"XSLT step, {size} records",
                Phase("", items, seconds, peak),
                "fresh process: peak RSS growth of the step",
            )
        )
    return rows


def bench_x3ml(store, n: int) -> list[tuple[str, Phase, str]]:
    try:
        import transforms.x3ml  # noqa: F401
    except ImportError:
        print("# X3ML: transforms.x3ml is not installed; skipped")
        return []
    source = UnitKey("bench", "cmdi")
    bodies = load_native(store, source, cmdi_record, n)
    chain = build_chain(
        [{"type": "x3ml", "mapping": "cmdi_metashare2pe.x3ml", "policy": "policies/contentcloud-policy.xml"}],
        base_dir=MAPPINGS,
        output="ntriples",
    )
    engine = chain.steps[0]._mapping
    bare = timed("X3ML engine alone")
    with bare as phase:
        for i, body in enumerate(bodies):
            engine.transform(body, record_id=f"bench::{i}").to_ntriples()
        phase.items = len(bodies)
    step = run_step(store, source, UnitKey("bench", "PE-x3ml", "store", "transformed"), chain, "X3ML step")
    return [
        ("X3ML engine alone (in memory)", bare.phase, f"engine; {bare.cpu_rate:.0f}/s of CPU"),
        (
            "X3ML step via MDStore",
            step.phase,
            f"{step.phase.rate:.0f}/s wall, {step.cpu_rate:.0f}/s of CPU "
            f"(goal >= 1000); {step.phase.rate / bare.phase.rate:.2f} x engine",
        ),
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-x3ml", action="store_true")
    args = ap.parse_args()
    n = args.records
    with tempfile.TemporaryDirectory(prefix="bench-transform-") as name:
        tmp = Path(name)
        print(
            f"# transform benchmark: {n} records, one process (records/s are per core; "
            f"{os.cpu_count()} cores on this machine), tmp={tmp}"
        )
        with open_store(f"sqlite:///{tmp / 'mdstore.sqlite'}") as store:
            rows = bench_xslt(store, n, args.repeat)
            x3ml_rows = [] if args.no_x3ml else bench_x3ml(store, n)
        print_rows(f"XSLT oai_dc -> PE RDF/XML, {n} records", rows)
        if x3ml_rows:
            print_rows(f"X3ML CMDI -> PE N-Triples, {n} records", x3ml_rows)
        print_rows("Memory: the XSLT step at N/4 and N records", bench_memory(n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
