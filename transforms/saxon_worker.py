"""The Saxon worker: one child process per compiled XSLT 2.0/3.0 stylesheet, confined by the kernel.

Why a process: SaxonC-HE's Python API has no URI resolver and no way to interrupt a running
transformation. In a process of its own, Saxon can be confined by Landlock
(:func:`transforms.confine.confine_to`) to reading the mappings directory — before it compiles,
so ``use-when``, static parameters and shadow attributes are held too — and a stylesheet that
loops can be killed at its time limit without taking the run down.

The protocol, on the child's stdin/stdout: each message is a 4-byte big-endian length and a JSON
object (JSON, not pickle: the parent must never run code the confined child sends). The first
request sets the worker up and compiles; each later one transforms one record::

    → {"root", "stylesheet", "params": {clark: str}, "vocabularies_param", "vocabularies": xml | null,
       "compile_time_limit": seconds, "memory_limit": bytes}
    ← {"ok": true} | {"error": message, "detail": text, "stage": "confine" | "compile"}
    → {"record": xml, "params": {name: str}, "time_limit": seconds}
    ← {"result": str} | {"error": message, "detail": Saxon's own text (it locates the error)}

This module imports only the standard library, saxonche and :mod:`transforms.confine`: whatever
the worker needs must be loaded before it confines itself.
"""

from __future__ import annotations

import json
import math
import os
import resource
import signal
import struct
import sys
from pathlib import Path
from typing import Any, BinaryIO

from transforms.confine import confine_to

ALLOWED_PROTOCOLS_FEATURE = "http://saxon.sf.net/feature/allowedProtocols"
#: the one protocol Saxon may dereference (no network even where Landlock has no network rules)
ALLOWED_PROTOCOLS = "file"

_HEADER = struct.Struct(">I")
#: the largest message accepted either way (a record, a result, the vocabularies)
MAX_MESSAGE = 1 << 30


def send(stream: BinaryIO, message: dict[str, Any]) -> None:
    data = json.dumps(message, ensure_ascii=False).encode("utf-8")
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def receive(stream: BinaryIO) -> dict[str, Any] | None:
    """The next message, ``None`` at the end of the stream."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    if size > MAX_MESSAGE:
        raise ValueError(f"message of {size} bytes is too large")
    data = stream.read(size)
    if len(data) < size:
        return None
    message = json.loads(data.decode("utf-8"))
    if not isinstance(message, dict):
        raise ValueError("a message must be a JSON object")
    return message


def _one_line(text: str) -> str:
    return " ".join(text.split())  # Saxon's messages span several lines


class _Worker:
    def __init__(self, setup: dict[str, Any]) -> None:
        from saxonche import PySaxonApiError, PySaxonProcessor

        self.api_error = PySaxonApiError
        self.processor = PySaxonProcessor(license=False)
        self.processor.set_configuration_property(ALLOWED_PROTOCOLS_FEATURE, ALLOWED_PROTOCOLS)
        self.compiler = self.processor.new_xslt30_processor()
        self.setup = setup
        self.executable: Any = None

    def compile(self) -> dict[str, Any]:
        setup, processor = self.setup, self.processor
        try:
            executable = self.compiler.compile_stylesheet(stylesheet_file=setup["stylesheet"])
        except self.api_error as exc:
            return {"error": _one_line(str(exc)), "detail": str(exc), "stage": "compile"}
        executable.set_capture_result_documents(True)
        executable.set_save_xsl_message(True)
        executable.set_property("!encoding", "UTF-8")  # Python str goes back: never another encoding
        for name, value in setup.get("params", {}).items():
            executable.set_parameter(name, processor.make_string_value(value))
        if setup.get("vocabularies_param") and setup.get("vocabularies") is not None:
            document = processor.parse_xml(xml_text=setup["vocabularies"])
            executable.set_parameter(setup["vocabularies_param"], document)
        self.executable = executable
        return {"ok": True}

    def transform(self, request: dict[str, Any]) -> dict[str, Any]:
        processor, executable = self.processor, self.executable
        for name, value in request.get("params", {}).items():
            executable.set_parameter(name, processor.make_string_value(value))
        try:
            node = processor.parse_xml(xml_text=request["record"])
            result = executable.transform_to_string(xdm_node=node)
        except self.api_error as exc:
            return {"error": self._message(exc), "detail": str(exc)}
        written = executable.get_result_documents()  # captured in memory, never written
        if written:
            return {
                "error": "xsl:result-document is refused: a mapping writes no files "
                f"(it tried {', '.join(sorted(str(uri) for uri in written))})"
            }
        return {"result": result or ""}

    def _message(self, exc: Exception) -> str:
        messages = self.executable.get_xsl_messages()
        self.executable.clear_xsl_messages()
        detail = _one_line(str(exc))
        if messages is not None and messages.size:
            texts = "; ".join(str(item) for item in messages)
            return f"{texts} ({detail})" if detail else texts
        return detail or "the transformation failed"


def _alarm(seconds: float) -> None:
    """Let the kernel end this process ``seconds`` (rounded up, plus a grace second) from now.

    The parent kills a worker that overruns; this alarm (default action: terminate) ends it even
    when the parent is gone, so a looping stylesheet never outlives its run. 0 cancels.
    """
    signal.alarm(math.ceil(seconds) + 1 if seconds else 0)


def main() -> None:
    """Serve one stylesheet until stdin closes."""
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    inbound = os.fdopen(0, "rb")
    outbound = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything Saxon prints goes to stderr, never into the protocol
    setup = receive(inbound)
    if setup is None:
        return
    _alarm(float(setup.get("compile_time_limit") or 0))
    if setup.get("memory_limit"):
        # a stylesheet that allocates without end kills this process, not the machine
        # (RLIMIT_AS would forbid the address space Saxon's isolate reserves; RLIMIT_DATA does not)
        limit = int(setup["memory_limit"])
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    worker = _Worker(setup)
    try:
        confine_to(Path(setup["root"]))
    except OSError as exc:
        send(outbound, {"error": str(exc), "stage": "confine"})
        return
    reply = worker.compile()
    _alarm(0)
    send(outbound, reply)
    if "error" in reply:
        return
    while (request := receive(inbound)) is not None:
        _alarm(float(request.get("time_limit") or 0))
        reply = worker.transform(request)
        _alarm(0)
        send(outbound, reply)


if __name__ == "__main__":
    main()
    sys.exit(0)
