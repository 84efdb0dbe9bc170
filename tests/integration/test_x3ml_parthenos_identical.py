"""The X3ML engine's output on the PARTHENOS material, pinned: every mapping over every sample.

Each of the 28 PARTHENOS mappings (the 24 generated CMDI mappings with the batch policy, and
Mapping365, 518, 523 and 549 with the v1.5 policy) runs over each of the 6 sample records of the
material (the 3 batch samples, the CLARIN-DK record, the two Mapping365 inputs; one record each
time) with test UUIDs and with reproducible UUIDs. The SHA-256 of the N-Triples and of the
warning messages of each run is compared with ``x3ml_parthenos_golden.json``, written by the
engine of commit 606d17d (before the execution plan of issue 18, with the
missing-prefix message given its space): a faster engine must not
change one byte of what it writes. Regenerate (only when the output is meant to change) with
``python tests/integration/test_x3ml_parthenos_identical.py --write``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PARTHENOS = PROJECT_ROOT.parent / "shared" / "parthenos"
GOLDEN = Path(__file__).with_name("x3ml_parthenos_golden.json")
BATCH = "batch_generation_14775"
V15 = "mappings/Mapping518/PARTHENOS-GeneratorPolicy_v1.5___06-11-2018162844___5606.xml"

pytestmark = pytest.mark.slow


def mappings() -> list[tuple[str, str, str | None]]:
    """(mapping, policy, engine era) paths relative to the PARTHENOS folder."""
    found: list[tuple[str, str, str | None]] = [
        (f"{BATCH}/mapping/{p.name}", f"{BATCH}/conf/policy.xml", None)
        for p in sorted((PARTHENOS / BATCH / "mapping").glob("*.xml"))
    ]
    found.append(("mappings/cmdi_dataset_365_official/Mapping365.x3ml", V15, "1.8.2"))
    for name in ("Mapping518/Mapping518", "Mapping523/Mapping523", "Mapping549_CLARIN-DKtei/Mapping549"):
        found.append((f"mappings/{name}.x3ml", V15, None))
    return found


def samples() -> list[str]:
    found = [f"{BATCH}/samples/{p.name}" for p in sorted((PARTHENOS / BATCH / "samples").glob("*.xml"))]
    found.append("mappings/Mapping518/oai_clarin_dk_dkclarin_527740___18-10-2018105001___402.xml")
    folder = PARTHENOS / "mappings/cmdi_dataset_365_official"
    found += [f"mappings/cmdi_dataset_365_official/{p.name}" for p in sorted(folder.glob("*___*.xml"))]
    return found


def digests() -> dict[str, str]:
    from transforms.x3ml import X3MLMapping

    logging.disable(logging.WARNING)
    out = {}
    for mapping_path, policy_path, compat in mappings():
        mapping = X3MLMapping.load(PARTHENOS / mapping_path, policy=PARTHENOS / policy_path, compat=compat)
        for sample in samples():
            data = (PARTHENOS / sample).read_bytes()
            for mode in ("test", "reproducible"):
                result = mapping.transform(data, record_id="golden", uuid_mode=mode)
                # warnings name the mapping file: its folder is this checkout's, not part of the output
                warnings = "\n".join(str(w).replace(str(PARTHENOS), "<parthenos>") for w in result.warnings)
                text = result.to_ntriples() + "\n--\n" + warnings
                key = f"{Path(mapping_path).stem} {Path(sample).stem[:40]} {mode}"
                out[key] = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return out


@pytest.fixture(scope="module")
def golden() -> dict[str, str]:
    if not PARTHENOS.is_dir():
        pytest.skip(f"{PARTHENOS} is absent: the PARTHENOS material is not available")
    return json.loads(GOLDEN.read_text(encoding="utf-8"))


def test_parthenos_output_identical(golden):
    current = digests()
    assert len(current) == 28 * 6 * 2
    changed = sorted(key for key in golden if current.get(key) != golden[key])
    assert sorted(current) == sorted(golden)
    assert changed == []


if __name__ == "__main__" and "--write" in sys.argv:
    sys.path.insert(0, str(PROJECT_ROOT))
    GOLDEN.write_text(json.dumps(digests(), indent=0, sort_keys=True) + "\n", encoding="utf-8")
