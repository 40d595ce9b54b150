"""The embedded reference sandbox of `fibrecert run` (no --target): a real service in a process of its
own, so that the suite and the sandbox each have a core (they would share one interpreter lock in one
process), started by forking the run's process (nothing to import again: it starts in milliseconds).

The child serves until the run tells it to stop, or until the run's process is gone (the pipe between
them closes): an interrupted or killed run never leaves a sandbox behind. Where fork is not available,
the sandbox runs in the run's own process.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class EmbeddedSandbox:
    target_file: Path
    ala_url: str
    ala_buyer_url: str
    fibrecafe_url: str
    _process: Any = None
    _conn: Any = None
    _inline: Any = None

    def reconfigure(self, defects: tuple[str, ...], target_file: Path, services: int | None = None,
                    timeout: float | None = None) -> Path:
        """Switch the running sandbox to `defects` and write a target file naming services still active
        (a self-test of every defect in turn against one sandbox), with `timeout` if given."""
        extra = {} if timeout is None else {"timeout": timeout}
        if self._inline is not None:
            self._inline.set_defects(defects)
            return self._inline.write_target(target_file, services=services, **extra)
        self._conn.send(json.dumps({"defects": list(defects), "target_file": str(target_file), "services": services,
                                    **extra}))
        answer = json.loads(self._conn.recv())
        if "error" in answer:
            raise ValueError(answer["error"])
        return Path(answer["target_file"])

    def stop(self) -> None:
        if self._inline is not None:
            self._inline.stop()
            self._inline = None
        if self._process is not None:
            try:
                self._conn.send("stop")
            except (OSError, EOFError, BrokenPipeError):
                pass
            self._process.join(10)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(5)
            self._process = None


def _serve(conn: Any, run_end: Any, state_dir: str, target_file: str, options: dict[str, Any]) -> None:
    # The fork copied the run's end of the pipe too: closed here, the pipe reads EOF when the run is gone.
    run_end.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the run handles Ctrl-C and tells us when to stop
    from fibrecert.sandbox import Sandbox

    try:
        sandbox = Sandbox(Path(state_dir), **options).start()
    except Exception as exc:  # noqa: BLE001 - reported to the run as one line
        conn.send(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        os._exit(2)
    written = sandbox.write_target(Path(target_file))
    conn.send(json.dumps({"target_file": str(written), "ala_url": sandbox.ala_url,
                          "ala_buyer_url": sandbox.ala_buyer_url, "fibrecafe_url": sandbox.fibrecafe_url}))
    try:
        while True:
            message = conn.recv()  # "stop", a new configuration, or EOFError when the run's process is gone
            if message == "stop":
                break
            config = json.loads(message)
            try:
                sandbox.set_defects(tuple(config["defects"]))
                written = sandbox.write_target(Path(config["target_file"]), services=config.get("services"),
                                               **({"timeout": config["timeout"]} if "timeout" in config else {}))
                conn.send(json.dumps({"target_file": str(written)}))
            except ValueError as exc:
                conn.send(json.dumps({"error": str(exc)}))
    except (EOFError, OSError):
        pass
    finally:
        sandbox.stop()
        os._exit(0)


def start(state_dir: Path, target_file: Path, **options: Any) -> EmbeddedSandbox:
    """Start the reference sandbox for a run; raises ValueError (e.g. an unknown defect) or OSError."""
    if "fork" not in multiprocessing.get_all_start_methods() or os.environ.get("FIBRECERT_INLINE_SANDBOX"):
        from fibrecert.sandbox import Sandbox

        sandbox = Sandbox(state_dir, **options).start()
        written = sandbox.write_target(target_file)
        return EmbeddedSandbox(written, sandbox.ala_url, sandbox.ala_buyer_url, sandbox.fibrecafe_url, _inline=sandbox)
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_serve, args=(child, parent, str(state_dir), str(target_file), options),
                          name="fibrecert-sandbox", daemon=True)
    process.start()
    child.close()
    if not parent.poll(60):
        process.kill()
        raise OSError("the embedded sandbox did not start within 60 s")
    try:
        info = json.loads(parent.recv())
    except EOFError:
        raise OSError("the embedded sandbox exited while starting") from None
    if "error" in info:
        process.join(5)
        message = info["error"]
        if message.startswith("ValueError: "):
            raise ValueError(message[len("ValueError: "):])
        raise OSError(message)
    return EmbeddedSandbox(Path(info["target_file"]), info["ala_url"], info["ala_buyer_url"], info["fibrecafe_url"],
                           _process=process, _conn=parent)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use fibrecert run (no --target) or fibrecert sandbox")
