"""One example (or a few) for the ``--help`` of every command, kept in one table.

The table is keyed by the command's path (``"mdstore export"``); :func:`add_examples` puts the
lines into the command's epilog when the group hands the command out, so a command module needs no
change and a new command without an example fails ``tests/unit/cli/test_help_examples.py``.
"""

from __future__ import annotations

import click

#: command path → (command line, what it does)
EXAMPLES: dict[str, list[tuple[str, str]]] = {
    "": [
        ("contentcloud demo", "the whole pipeline on sample records, then serve it"),
        ("contentcloud --mdstore sqlite:///var/md.sqlite mdstore list", "another store"),
    ],
    "curator": [("contentcloud curator hash-password alice", "an account entry for the curator pages")],
    "curator hash-password": [
        ("contentcloud curator hash-password alice", "prompt for alice's password, print her entry"),
        ("contentcloud curator hash-password alice --password-stdin < pw.txt", "for scripts"),
    ],
    "curator new-token": [("contentcloud curator new-token ci", "a token for a script, and its entry")],
    "datasource": [("contentcloud datasource list", "every profile of the registry")],
    "datasource add": [
        ("contentcloud datasource add new-source.yaml", "validate it, write registry/<id>.yaml"),
        ("contentcloud datasource add edited.yaml --replace", "rewrite a registered source's profile"),
    ],
    "datasource history": [("contentcloud datasource history demo --limit 5", "the demo's last five runs")],
    "datasource list": [("contentcloud datasource list --json", "the profiles as JSON, invalid ones too")],
    "datasource remove": [("contentcloud datasource remove demo --yes", "delete the profile, keep the data")],
    "datasource run": [
        ("contentcloud datasource run demo", "collect, transform, index, rdf, publish in this process"),
        ("contentcloud datasource run demo --mode full --json", "a full harvest; the run report as JSON"),
    ],
    "datasource validate": [("contentcloud datasource validate registry/*.yaml", "one line per problem")],
    "demo": [
        ("contentcloud demo", "run the pipeline, then serve it on http://127.0.0.1:8080"),
        ("contentcloud demo --no-serve", "run the pipeline and exit (state in ./var)"),
        ("contentcloud demo --source-only --port 8090", "only the sample OAI-PMH source the demo harvests"),
    ],
    "download": [
        ("contentcloud download demo", "fetch the files the demo's records point to"),
        ("contentcloud download demo --failures", "list the files whose last attempt failed"),
    ],
    "harvest": [
        ("contentcloud harvest demo", "a full harvest"),
        ("contentcloud harvest demo --incremental", "only what changed since the last harvest"),
        ("contentcloud harvest demo --resume", "continue a harvest that stopped (exit code 4)"),
    ],
    "index": [
        ("contentcloud index demo", "feed what changed into the index"),
        ("contentcloud index --full demo", "rebuild the datasource's documents"),
        ("contentcloud index --check demo", "compare the index with the MDStore, feed nothing"),
    ],
    "map": [("contentcloud map preview demo --sample 2", "two records through the demo's chain")],
    "map check": [("contentcloud map check out.ttl", "check RDF against the PE/CIDOC-CRM ontology")],
    "map coverage": [
        ("contentcloud map coverage demo", "which source paths the chain reads"),
        ("contentcloud map coverage demo --mapping draft.x3ml --limit 100", "the same for a draft"),
    ],
    "map diff": [
        ("contentcloud map diff demo --mapping draft.xsl", "what a draft changes, record by record")
    ],
    "map preview": [
        ("contentcloud map preview demo --sample 2", "two records through the demo's chain"),
        (
            "contentcloud map preview demo --mapping draft.x3ml --policy policy.xml --ids oai:x:1",
            "one record, an X3ML draft with its generator policy",
        ),
        ("contentcloud map preview demo --mapping draft.xsl --record mine.xml", "a draft on your own record"),
        ("contentcloud map preview demo --strict", "exit 3 on any ontology issue or mapping finding too"),
    ],
    "map run": [
        (
            "contentcloud map run --mapping mappings/oai_dc2pe.xsl --input record.xml",
            "one file through one mapping",
        )
    ],
    "mdstore": [("contentcloud mdstore list", "every unit, its current version and counts")],
    "mdstore abort": [("contentcloud mdstore abort demo", "drop the demo's open (interrupted) harvest")],
    "mdstore errors": [
        ("contentcloud mdstore errors demo --layer transformed", "the last transform's errors")
    ],
    "mdstore export": [
        ("contentcloud mdstore export demo > demo.jsonl", "the current native records, JSON Lines"),
        ("contentcloud mdstore export demo --ids-only | head", "ids and whether they are deleted"),
    ],
    "mdstore gc": [
        ("contentcloud mdstore gc --keep 2", "keep 2 versions per unit besides current and leased")
    ],
    "mdstore list": [("contentcloud mdstore list --json", "the units as JSON")],
    "mdstore rollback": [("contentcloud mdstore rollback demo", "make the previous version current again")],
    "mdstore versions": [("contentcloud mdstore versions demo --layer transformed", "the kept versions")],
    "plugins": [("contentcloud plugins list", "harvesters, steps, backends, by kind")],
    "plugins list": [("contentcloud plugins list", "every registered plugin and its origin")],
    "publish": [
        ("contentcloud publish demo", "refresh the demo's records in the OAI-PMH publisher"),
        ("contentcloud publish", "every datasource"),
    ],
    "rdf": [
        ("contentcloud rdf demo", "load what changed into the demo's graph behind /sparql"),
        ("contentcloud rdf demo --full", "rebuild the graph, switched in when complete"),
        ("contentcloud rdf --check demo", "records whose triples disagree with the MDStore"),
    ],
    "serve": [("contentcloud serve --port 8080", "OAI-PMH at /oai, search at /solr, curator at /curator")],
    "settings": [("contentcloud settings show", "each setting, its value and its origin")],
    "settings show": [("CONTENTCLOUD_VAR=/srv/cc contentcloud settings show --json", "as JSON")],
    "transform": [
        ("contentcloud transform demo", "every record of the current native version"),
        ("contentcloud transform demo --incremental", "only records changed since the last run"),
    ],
    "x3ml": [
        (
            "contentcloud x3ml --mapping mappings/cmdi_metashare2pe.x3ml --input record.xml --format turtle",
            "the conformance command line",
        )
    ],
}


def examples_text(path: str) -> str | None:
    """The ``Examples:`` block of the command at ``path``, or None when the table has none."""
    rows = EXAMPLES.get(path)
    if not rows:
        return None
    width = max(len(line) for line, _ in rows)
    lines = [
        f"  {line:<{width}}  # {what}" if width <= 60 else f"  {line}\n      # {what}" for line, what in rows
    ]
    return "Examples:\n\n\b\n" + "\n".join(lines)


def add_examples(command: click.Command, path: str) -> click.Command:
    """Put the examples of ``path`` into ``command``'s epilog (once), and into its sub-commands'."""
    if not getattr(command, "_cc_examples", False):
        text = examples_text(path)
        if text and not command.epilog:
            command.epilog = text
        command._cc_examples = True  # type: ignore[attr-defined]
        if isinstance(command, click.Group) and not hasattr(command, "_cc_lazy"):
            for name, sub in command.commands.items():
                add_examples(sub, f"{path} {name}".strip())
    return command
