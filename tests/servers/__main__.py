"""Start one test server by hand: ``python -m tests.servers solr|solrcloud|mongo|fuseki``
(from the repository root).

``python -m tests.servers fetch`` only fetches every launcher's jars (``make servers`` runs it, so
the first test session does not pay for the download).

Prints the URL(s) on stdout and runs until Ctrl-C. Solr gets a fresh temporary home unless
``--home`` names one (then its cores survive between runs); SolrCloud always starts in a fresh
temporary directory, with the configset in ZooKeeper and no collection.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
from pathlib import Path

from tests.servers import (
    CONFIGSET_NAME,
    ServerError,
    ServerProcess,
    ensure_jars,
    start_fuseki,
    start_mongo,
    start_solr,
    start_solrcloud,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.servers", description=__doc__)
    parser.add_argument("server", choices=["solr", "solrcloud", "mongo", "fuseki", "fetch"])
    parser.add_argument("--port", type=int, default=0, help="port to bind (default: a free one)")
    parser.add_argument("--home", type=Path, help="solr: the Solr home (default: a temporary dir)")
    parser.add_argument(
        "--core",
        action="append",
        dest="cores",
        help=f"solr: a core to create from the configset (repeatable; default: {CONFIGSET_NAME})",
    )
    args = parser.parse_args(argv)

    if args.server == "fetch":
        try:
            for name in ("solr", "mongo", "fuseki"):
                print(f"{name}: {ensure_jars(name)}", flush=True)
        except ServerError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return 0
    try:
        server: ServerProcess
        if args.server == "solr":
            home = args.home or Path(tempfile.mkdtemp(prefix="contentcloud-solr-"))
            cores = args.cores or [CONFIGSET_NAME]
            server = start_solr(home, cores, port=args.port)
            print(server.url, flush=True)
            for core in cores:
                print(server.core_url(core), flush=True)
            print(f"home: {home}", file=sys.stderr)
        elif args.server == "solrcloud":
            if args.port or args.home:
                parser.error("solrcloud takes neither --port nor --home")
            server = start_solrcloud(tempfile.mkdtemp(prefix="contentcloud-solrcloud-"))
            print(server.url, flush=True)
            print(f"zk: {server.zk_address}", flush=True)
        elif args.server == "fuseki":
            server = start_fuseki(port=args.port)
            print(server.url, flush=True)
        else:
            server = start_mongo(port=args.port)
            print(server.url, flush=True)
    except ServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"started in {server.startup_seconds:.1f} s; Ctrl-C stops it", file=sys.stderr)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
