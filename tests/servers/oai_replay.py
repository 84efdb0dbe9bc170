"""Replays the recorded OAI-PMH exchanges of ``../shared/oai-pmh/recorded`` on 127.0.0.1.

``/<provider>/<any path>?<query>`` answers with the recorded body, status and headers of that
provider's exchange whose arguments match: verb + arguments compared as a dict, in decoded form
or exactly as recorded (some clients sent tokens unencoded, so both forms are tried). When several
exchanges match (a 301/302 and the answer after it), the first not yet served wins. Bodies whose
recording says ``Content-Encoding: gzip`` are gzipped again for clients that accept it;
``Location`` headers are rewritten to this server. Unknown requests get a 404.

    python -m tests.servers.oai_replay ../shared/oai-pmh/recorded   # prints the base URL
"""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tests.servers._http import Handler, serve


@dataclass
class Exchange:
    seq: int
    status: int
    headers: dict[str, str]
    body: bytes
    decoded: dict[str, str]
    raw: dict[str, str]


@dataclass
class Provider:
    name: str
    exchanges: list[Exchange]
    served: set[int] = field(default_factory=set)


def _raw_params(query: str) -> dict[str, str]:
    params = {}
    for part in query.split("&"):
        if "=" in part:
            key, value = part.split("=", 1)
            params[key] = value
    return params


def load_provider(folder: Path) -> Provider:
    index = json.loads((folder / "index.json").read_text(encoding="utf-8"))
    exchanges = []
    for e in index["exchanges"]:
        query = e.get("query") or ""
        headers = {k: v for k, v in (e.get("headers") or {}).items() if v}
        exchanges.append(
            Exchange(
                seq=e["seq"],
                status=e.get("status") or 200,
                headers=headers,
                body=(folder / e["body_file"]).read_bytes(),
                decoded={k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()},
                raw=_raw_params(query),
            )
        )
    return Provider(folder.name, exchanges)


class ReplayState:
    def __init__(self, root: Path) -> None:
        self.providers = {
            p.name: load_provider(p) for p in sorted(root.iterdir()) if (p / "index.json").is_file()
        }
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.lock = threading.Lock()

    def reset(self) -> None:
        with self.lock:
            for provider in self.providers.values():
                provider.served.clear()
            self.requests.clear()

    def match(self, provider: str, params: dict[str, str]) -> Exchange | None:
        with self.lock:
            self.requests.append((provider, params))
            found = self.providers.get(provider)
            if found is None:
                return None
            candidates = [e for e in found.exchanges if params in (e.decoded, e.raw)]
            if not candidates:
                return None
            fresh = [e for e in candidates if e.seq not in found.served]
            chosen = fresh[0] if fresh else candidates[-1]
            found.served.add(chosen.seq)
            return chosen


class ReplayHandler(Handler):
    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        provider = parts.path.strip("/").split("/", 1)[0]
        params = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        exchange = self.server.state.match(provider, params)
        if exchange is None:
            self.send_body(
                404, f"no recording of {provider} for {params}".encode(), content_type="text/plain"
            )
            return
        headers = dict(exchange.headers)
        content_type = headers.pop("Content-Type", "text/xml")
        if "Location" in headers:
            target = urlsplit(headers["Location"])
            headers["Location"] = f"{self.server.url}/{provider}{target.path}?{target.query}"
        self.send_body(exchange.status, exchange.body, content_type=content_type, headers=headers)


def replay_server(root: Path):
    """Context manager: a running replay server (``.url``, ``.state``)."""
    return serve(ReplayHandler, ReplayState(root))


if __name__ == "__main__":
    with replay_server(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/oai-pmh/recorded")) as server:
        print(server.url, flush=True)
        threading.Event().wait()
