"""A preloading fork server for the stage commands, so a stage make starts costs milliseconds, not a second.

Every stage process imports the same libraries (numpy, pandas, pyarrow, scipy, pandera, plotnine, ...):
about 0.5 to 1.7 CPU-s each, 9 CPU-s per cold `make all` in eleven stage processes, 4.5 s of it on the
critical path. When ``LSP_RAP_STAGE_SERVER=1`` (the Makefile exports it; ``=0`` turns it off), a stage
command in a make recipe (``python -m pipeline analyse``) is a client: it connects over a Unix socket to a
server that has imported those libraries once, and sends its arguments, working directory, environment,
umask and CPU affinity, with its stdin, stdout and stderr descriptors (SCM_RIGHTS). The server forks a
child that takes all of them on, imports the pipeline's own modules afresh (so an edit is always seen) and
runs the command exactly as ``python -m pipeline`` would; its output goes straight to make, and its exit
status comes back to the client, which exits with it. make still runs one command per stage, so every
stage keeps its file targets.

Safety, in the order it matters:
- Same bytes: the child's state is a fresh process's (environment, argv, cwd, sys.path, signal handlers,
  stdio, umask, affinity, numpy's global seed drawn afresh); the libraries are imported by the server
  before anything runs, never used by it. tests/test_stage_server.py compares every output byte for byte.
- No stale server: the server is found by a key of everything its imports depend on (the interpreter and
  its flags, the installed packages: ``<venv>/.installed`` and site-packages' distributions, this file's
  bytes, the environment variables libraries read at import, the user, the nice value). A new install or
  an edit of this file makes a new key, so the old server is never asked again; it refuses any request
  whose key is not its own, and exits after ``LSP_RAP_STAGE_SERVER_IDLE`` seconds (default 90) without
  work, or when its socket is removed. Sockets live in ``$XDG_RUNTIME_DIR`` (emptied at logout and
  reboot) or in a private ``/tmp/lsp-rap-<uid>`` folder; only the same user may connect.
- Killing make kills the stage: when a client's connection closes (make killed it, or it was killed with
  make's process group) the server SIGKILLs the child's process group at once; SIGINT, SIGTERM and SIGHUP
  sent to the client are forwarded to it. A child dies with the server (PR_SET_PDEATHSIG).
- Never worse than without it: if the server cannot be reached, refuses or stops before the child
  starts, the client runs the stage itself, exactly as before. The first client that finds no server
  starts one in the background and waits for its socket (a server listens before it imports anything,
  within about 0.1 s); the server imports the first stage's libraries (``PRELOAD_FIRST``), which that
  stage would otherwise have imported itself, forks it, and imports the rest between requests, so the
  build's first stages (ingest, validate, derive) pay no imports of their own while it preloads.

Standard library only at import: the client part runs in every stage command before anything else.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import os
import signal
import socket
import struct
import sys
import time
from pathlib import Path
from typing import Any

ENABLE = "LSP_RAP_STAGE_SERVER"
IDLE = "LSP_RAP_STAGE_SERVER_IDLE"
# Set by `lsp-rap run` for the stages it starts (pipeline.core.paths.RUNNER_ENV; this module imports nothing
# of the pipeline's, so the name is written here too and a test holds the two equal).
RUNNER = "LSP_RAP_RUNNER"
DEFAULT_IDLE_SECONDS = 90.0
# The libraries the stages import, measured (python -X importtime and sys.modules after each stage): the
# chain's first (ingest's: pandas, pyarrow, YAML and the spreadsheet reader; every stage needs the first
# five), imported before the server serves anyone; then, between requests, pandera for validate, derive,
# analyse and nonresponse, scipy.stats for the statistics, the figures', the report's and the
# spreadsheets'. A module not listed (or not yet imported when a stage starts) is imported by the stage
# itself, as without the server.
PRELOAD_FIRST = (
    "numpy",
    "pandas",
    "pyarrow",
    "pyarrow.parquet",
    "yaml",
    "dateutil",
    "python_calamine",
)
PRELOAD = (
    *PRELOAD_FIRST,
    # Submodules the libraries import only when first used (reading parquet, writing CSV, a pandera
    # validation, a plotnine layout): each stage process, and each figure worker, would import them again.
    "pyarrow.dataset",
    "pandas.io.formats.csvs",
    "pandas.core.reshape.reshape",
    "pandera.pandas",
    "pandera.backends.pandas.register",
    "pandera.backends.pandas.builtin_checks",
    "scipy.stats",
    "scipy.optimize",
    "scipy.linalg",
    "scipy.special",
    "scipy.sparse",
    "jinja2",
    "markupsafe",
    "xlsxwriter",
    "gptables",
    "matplotlib",
    "matplotlib.pyplot",
    "mizani",
    "plotnine",
    "plotnine._mpl.layout_manager",
    "plotnine._mpl.offsetbox",
    "plotnine.mapping._atomic",
    "PIL.Image",
)
# Environment variables that libraries or the interpreter read once, at start-up or import, so a server is
# only shared by clients that agree on them (everything else is the child's own: it gets the client's whole
# environment). BLAS thread counts are fixed when numpy loads: pipeline/__init__.py sets them to one first.
KEYED_PREFIXES = (
    "PYTHON",
    "LC_",
    "NPY_",
    "NUMPY_",
    "OPENBLAS_",
    "OMP_",
    "MKL_",
    "GOTO",
    "BLIS_",
    "KMP_",
    "VECLIB_",
    "MPL",
    "PANDAS_",
    "ARROW_",
    "PYARROW_",
    "SCIPY_",
    "XDG_",
)
KEYED_NAMES = ("LANG", "LANGUAGE", "HOME", "TZ", "TMPDIR")
# How long a client waits for a server's answer before running the stage itself; how long the client that
# started a server waits for its socket to appear (it appears before the server imports anything).
CONNECT_TIMEOUT = 2.0
START_TIMEOUT = 10.0
LISTEN_TIMEOUT = 2.0
_HEADER = struct.Struct("!I")
_FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def enabled(environment: dict[str, str] | os._Environ[str] | None = None) -> bool:
    """Whether a stage command goes through the server: ``LSP_RAP_STAGE_SERVER=1`` (the Makefile and
    ``lsp-rap run`` set it unless it is set already), started by a runner of many stages (a make recipe,
    ``MAKELEVEL``, or ``lsp-rap run``, ``LSP_RAP_RUNNER=1``), on a platform that can. A stage process run by
    hand or by the benchmark (which clears make's variables) stays whole: its time and memory are all its
    own."""
    environment = os.environ if environment is None else environment
    return (
        environment.get(ENABLE, "0") == "1"
        and ("MAKELEVEL" in environment or environment.get(RUNNER, "") == "1")
        and sys.platform.startswith("linux")
        and hasattr(socket, "send_fds")
        and hasattr(os, "pidfd_open")
        and hasattr(os, "fork")
    )


# ------------------------------------------------------------------------------------------------ the key


def _site_packages() -> list[str]:
    return sorted({path for path in sys.path[1:] if path.endswith("site-packages") and os.path.isdir(path)})


def server_key(environment: dict[str, str] | None = None) -> str:
    """What a server's preloaded state depends on, hashed: clients with the same key may share it."""
    environment = dict(os.environ) if environment is None else environment
    digest = hashlib.sha256()

    def add(label: str, value: object) -> None:
        digest.update(f"{label}={value!r}\n".encode("utf-8", "surrogateescape"))

    add("uid", os.getuid())
    add("executable", os.path.realpath(sys.executable))
    add("version", sys.version)
    add("flags", tuple(sys.flags))
    add("warnoptions", sys.warnoptions)
    add("xoptions", sorted(sys._xoptions.items()))
    add("path", sys.path[1:])  # sys.path[0] is the project, which the child takes from the client
    add("nice", os.getpriority(os.PRIO_PROCESS, 0))
    add("server", Path(__file__).read_bytes())
    stamp = Path(sys.prefix) / ".installed"
    add("installed", stamp.read_bytes() if stamp.is_file() else None)
    for site in _site_packages():
        add(site, sorted(name for name in os.listdir(site) if name.endswith((".dist-info", ".egg-info"))))
    for name in sorted(environment):
        if name.startswith(KEYED_PREFIXES) or name in KEYED_NAMES:
            add(f"env:{name}", environment[name])
    return digest.hexdigest()[:32]


def socket_folder() -> Path | None:
    """The user's private folder for server sockets, made if need be; None if it is not safely private."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    folder = Path(runtime) / "lsp-rap" if runtime else Path("/tmp") / f"lsp-rap-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, parents=bool(runtime), exist_ok=True)
        state = folder.lstat()
    except OSError:
        return None
    private = state.st_uid == os.getuid() and (state.st_mode & 0o077) == 0 and folder.is_dir()
    return folder if private and not folder.is_symlink() else None


def _paths(folder: Path, key: str) -> tuple[Path, Path]:
    return folder / f"stage-{key}.sock", folder / f"stage-{key}.lock"


def log_path(folder: Path, key: str) -> Path:
    """The server's log: one line per request (who ran what, how it ended, what was refused or killed)."""
    return folder / f"stage-{key}.log"


# ------------------------------------------------------------------------------------------------ framing


def _send_message(connection: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    body = json.dumps(message).encode("utf-8", "surrogateescape")
    data = _HEADER.pack(len(body)) + body
    if fds:
        sent = socket.send_fds(connection, [data], fds)
        data = data[sent:]
    # Never an empty send: sendall(b"") still writes once, and the peer may already have answered and
    # closed (a refusal), which would turn a finished exchange into a broken pipe.
    if data:
        connection.sendall(data)


def _receive_exactly(connection: socket.socket, size: int, buffer: bytearray) -> bytes | None:
    while len(buffer) < size:
        chunk = connection.recv(max(size - len(buffer), 4096))
        if not chunk:
            return None
        buffer += chunk
    taken = bytes(buffer[:size])
    del buffer[:size]
    return taken


def _receive_request(connection: socket.socket) -> tuple[dict[str, Any], list[int]] | None:
    """A client's request and the descriptors sent with it; None if it is malformed or cut short."""
    data, fds, _flags, _address = socket.recv_fds(connection, 65536, 3)
    buffer = bytearray(data)
    header = _receive_exactly(connection, _HEADER.size, buffer) if data else None
    body = _receive_exactly(connection, _HEADER.unpack(header)[0], buffer) if header else None
    if body is None or len(fds) != 3:
        for fd in fds:
            os.close(fd)
        return None
    return json.loads(body.decode("utf-8", "surrogateescape")), list(fds)


class _Replies:
    """Length-prefixed JSON messages read from one socket."""

    def __init__(self, connection: socket.socket) -> None:
        self.connection = connection
        self.buffer = bytearray()

    def next(self) -> dict[str, Any] | None:
        header = _receive_exactly(self.connection, _HEADER.size, self.buffer)
        if header is None:
            return None
        body = _receive_exactly(self.connection, _HEADER.unpack(header)[0], self.buffer)
        return None if body is None else json.loads(body.decode("utf-8", "surrogateescape"))


# ------------------------------------------------------------------------------------------------- client


def run_through_server(arguments: list[str]) -> int | None:
    """Run ``python -m pipeline <arguments>`` in a child of the server; its exit status, or None if the
    server could not start the child (the caller then runs the command itself). A child killed by a
    signal kills this process with the same signal."""
    try:
        folder = socket_folder()
        if folder is None:
            return None
        key = server_key()
        path, lock = _paths(folder, key)
        connection = _connect(path)
        if connection is None:
            _start_server(key, lock)
            connection = _connect_when_listening(path)
        if connection is None:
            return None
    except OSError:
        return None
    # Signals are forwarded from before the request is sent, so none is lost in between; one that came
    # while the server could not take the stage is raised again here, for the stage run in-process.
    received: list[int] = []
    previous = {number: signal.getsignal(number) for number in _FORWARDED_SIGNALS}

    def forward(number: int, _frame: object) -> None:
        received.append(number)
        with contextlib.suppress(OSError):
            _send_message(connection, {"signal": number})

    reply: dict[str, Any] | None = None
    with connection:
        replies = _Replies(connection)
        for number in _FORWARDED_SIGNALS:
            signal.signal(number, forward)
        try:
            try:
                for stream in (sys.stdout, sys.stderr):
                    stream.flush()
                umask = os.umask(0o022)
                os.umask(umask)
                request = {
                    "key": key,
                    "argv": [sys.argv[0], *arguments],
                    "arguments": arguments,
                    "cwd": os.getcwd(),
                    "path": sys.path,
                    "environment": dict(os.environ),
                    "umask": umask,
                    "affinity": sorted(os.sched_getaffinity(0)),
                }
                _send_message(connection, request, [0, 1, 2])
                connection.settimeout(START_TIMEOUT)
                started = replies.next()
            except (OSError, ValueError):
                started = None
            if not started or "started" not in started:
                started = None  # refused (another key) or gone: run here
            else:
                connection.settimeout(None)
                while True:
                    try:
                        reply = replies.next()
                    except OSError:
                        reply = None
                    if reply is None:
                        # The server died under the child (which dies with it): the stage did not finish.
                        print(
                            f"error: {arguments[0]}: the stage server stopped while the stage ran; "
                            f"run again, or set {ENABLE}=0",
                            file=sys.stderr,
                        )
                        return 1
                    if "exit" in reply:
                        break
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
    if reply is None:
        for number in received[:1]:
            os.kill(os.getpid(), number)  # as it would have reached this process without the server
        return None
    code = int(reply["exit"])
    if code < 0:  # killed by a signal: so is this process, as make would see it without the server
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        return 128 - code
    return code


def _connect(path: Path) -> socket.socket | None:
    if not path.exists():
        return None
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.settimeout(CONNECT_TIMEOUT)
    try:
        connection.connect(str(path))
    except OSError:
        connection.close()
        return None
    return connection


def _connect_when_listening(path: Path) -> socket.socket | None:
    """A connection to the server just started (by this client or another), once its socket appears."""
    deadline = time.monotonic() + LISTEN_TIMEOUT
    while time.monotonic() < deadline:
        if path.exists():
            return _connect(path)
        time.sleep(0.005)
    return None


def _start_server(key: str, lock: Path) -> None:
    """Start a server in the background unless one holds the lock (it is starting: its socket will appear)."""
    import fcntl
    import subprocess

    try:
        descriptor = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(descriptor)
        return
    os.close(descriptor)  # free: the server takes the lock itself (a second one started meanwhile exits)
    flags = subprocess._args_from_interpreter_flags()  # type: ignore[attr-defined]
    subprocess.Popen(
        [sys.executable, *flags, "-m", "pipeline.core.stage_server", "serve", key],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # out of make's process group and terminal: it outlives this stage
        close_fds=True,
    )


# ------------------------------------------------------------------------------------------------- server


class _Server:
    def __init__(self, key: str, folder: Path, idle_seconds: float) -> None:
        import selectors

        self.key = key
        self.path, self.lock_path = _paths(folder, key)
        self.log_path = log_path(folder, key)
        self.bytecode = bytecode_folder(folder, key)
        self.log_file: Any = None
        self.idle_seconds = idle_seconds
        self.selector = selectors.DefaultSelector()
        self.listener: socket.socket | None = None
        self.lock_fd = -1
        self.children: dict[int, tuple[socket.socket, int]] = {}  # pid -> (connection, pidfd)
        self.unread: dict[int, bytearray] = {}  # pid -> the part of a client's message not yet complete
        self.pid = os.getpid()
        self.socket_inode = -1

    def lock(self) -> bool:
        import fcntl

        self.lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self.lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        os.ftruncate(self.lock_fd, 0)
        os.write(self.lock_fd, f"{os.getpid()}\n".encode())  # who holds it (make clean-servers, the tests)
        self.log_file = open(self.log_path, "w", encoding="utf-8", buffering=1)  # noqa: SIM115 (the server's life)
        self.log("server started: preloading")
        return True

    def log(self, line: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.log_file.write(f"{time.strftime('%H:%M:%S')} {line}\n")

    def listen(self) -> None:
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        temporary.unlink(missing_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(temporary))
        os.chmod(temporary, 0o600)
        listener.listen(64)
        os.replace(temporary, self.path)  # appears ready: a client never finds a half-started server
        self.socket_inode = self.path.stat().st_ino
        self.listener = listener
        self.selector.register(listener, 1, ("listener", None))

    def close(self) -> None:
        if os.getpid() != self.pid:
            return
        import shutil

        shutil.rmtree(self.bytecode, ignore_errors=True)
        try:
            if self.path.stat().st_ino == self.socket_inode:
                self.path.unlink()
        except OSError:
            pass
        for pid in list(self.children):
            self._kill(pid)

    def _kill(self, pid: int) -> None:
        for kill in (os.killpg, os.kill):
            with contextlib.suppress(OSError):
                kill(pid, signal.SIGKILL)

    def socket_is_ours(self) -> bool:
        try:
            return self.path.stat().st_ino == self.socket_inode
        except OSError:
            return False

    def handle(self, events: list[tuple[Any, int]]) -> None:
        """Take the connections, client messages and ended children that ``events`` report."""
        for selected, _mask in events:
            kind, value = selected.data
            if kind == "listener":
                self._accept()
            elif kind == "connection":
                self._client_spoke(value)
            elif kind == "child":
                self._child_ended(value)

    def handle_pending(self) -> None:
        """Between two preloaded libraries: serve whoever is waiting, without waiting for anyone."""
        self.handle(self.selector.select(timeout=0))

    def serve(self) -> None:
        last_activity = time.monotonic()
        while True:
            events = self.selector.select(timeout=min(5.0, self.idle_seconds))
            if events:
                last_activity = time.monotonic()
            self.handle(events)
            if self.children:
                last_activity = time.monotonic()
            elif time.monotonic() - last_activity > self.idle_seconds:
                self.log(f"idle for {self.idle_seconds:g} s: exiting")
                return
            elif not self.socket_is_ours():
                self.log("the socket was removed or replaced: exiting")
                return

    def _accept(self) -> None:
        assert self.listener is not None
        try:
            connection, _address = self.listener.accept()
        except OSError:
            return
        connection.settimeout(CONNECT_TIMEOUT)
        try:
            credentials = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            _pid, uid, _gid = struct.unpack("3i", credentials)
            received = _receive_request(connection) if uid == os.getuid() else None
        except (OSError, ValueError):
            received = None
        if received is None:
            connection.close()
            return
        request, fds = received
        if request.get("key") != self.key:
            for fd in fds:
                os.close(fd)
            # Logged before the reply: whoever hears the refusal finds it in the log.
            self.log(f"refused a request for key {request.get('key')!r}: this server is {self.key}")
            with contextlib.suppress(OSError):
                _send_message(connection, {"refused": "another environment"})
            connection.close()
            return
        pid = os.fork()
        if pid == 0:
            self._become_child(connection, request, fds)  # never returns
        with contextlib.suppress(OSError):
            os.setpgid(pid, pid)  # as the child does: whichever runs first, its group exists for a kill
        for fd in fds:
            os.close(fd)
        self.log(f"child {pid}: {' '.join(request['arguments'])} in {request['cwd']}")
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            self._kill(pid)
            os.waitpid(pid, 0)
            connection.close()
            return
        self.children[pid] = (connection, pidfd)
        connection.setblocking(False)
        self.selector.register(connection, 1, ("connection", pid))
        self.selector.register(pidfd, 1, ("child", pid))
        try:
            _send_message_nonblocking(connection, {"started": pid})
        except OSError:
            self._kill(pid)

    def _client_spoke(self, pid: int) -> None:
        connection, _pidfd = self.children[pid]
        try:
            data = connection.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            # The client is gone (make killed, or killed with it): so is its stage, at once.
            self._kill(pid)
            self.log(f"child {pid}: its client is gone: killed")
            self.selector.unregister(connection)
            return
        buffer = self.unread.setdefault(pid, bytearray())
        buffer += data
        while len(buffer) >= _HEADER.size:
            size = _HEADER.unpack(bytes(buffer[: _HEADER.size]))[0]
            if len(buffer) < _HEADER.size + size:
                break
            message = json.loads(bytes(buffer[_HEADER.size : _HEADER.size + size]))
            del buffer[: _HEADER.size + size]
            number = message.get("signal")
            if number in {int(s) for s in _FORWARDED_SIGNALS}:
                # The child's group: as the terminal signals make's group without the server.
                with contextlib.suppress(OSError):
                    os.killpg(pid, number)
                self.log(f"child {pid}: forwarded signal {number}")

    def _child_ended(self, pid: int) -> None:
        connection, pidfd = self.children.pop(pid)
        self.unread.pop(pid, None)
        self.selector.unregister(pidfd)
        os.close(pidfd)
        _pid, status, usage = os.wait4(pid, 0)
        # Its CPU is counted here, not in the client's (nor make's) process time: benchmarks read it here.
        self.log(
            f"child {pid}: exit status {os.waitstatus_to_exitcode(status)}, "
            f"{usage.ru_utime:.2f} s user, {usage.ru_stime:.2f} s system, "
            f"peak RSS {usage.ru_maxrss // 1024} MB"
        )
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(connection)
        try:
            connection.setblocking(True)
            connection.settimeout(CONNECT_TIMEOUT)
            _send_message(connection, {"exit": os.waitstatus_to_exitcode(status)})
        except OSError:
            pass
        connection.close()

    def _become_child(self, connection: socket.socket, request: dict[str, Any], fds: list[int]) -> None:
        """In the forked child: become the client's ``python -m pipeline <arguments>`` and run it."""
        try:
            os.setpgid(0, 0)
            _die_with_parent(self.pid)
            connection.close()
            for _pid, (other, pidfd) in self.children.items():
                other.close()
                os.close(pidfd)
            if self.listener is not None:
                self.listener.close()
            self.selector.close()
            os.close(self.lock_fd)  # the lock is the server's: a child must not keep it alive
            self.log_file.close()
            for number, handler in _STARTUP_SIGNALS.items():
                signal.signal(number, handler)
            for target, fd in enumerate(fds):
                os.dup2(fd, target, inheritable=True)
                os.close(fd)
            _fresh_stdio()
            os.umask(int(request["umask"]))
            with contextlib.suppress(OSError, ValueError):
                os.sched_setaffinity(0, request["affinity"])
            os.chdir(request["cwd"])
            os.environ.clear()
            os.environ.update(request["environment"])
            time.tzset()
            sys.argv[:] = request["argv"]
            sys.path[:] = request["path"]
            _forget_pipeline_and_state()
            sys.meta_path.insert(0, _PipelineBytecode(self.bytecode))
        except BaseException:  # the set-up failed; the client sees exit 70 (EX_SOFTWARE)
            os._exit(70)
        # From here on the child is the stage command, and it ends as the interpreter ends a fresh process
        # (non-daemon threads joined, atexit handlers run, stdio flushed, the same exit status) but without
        # tearing down the thousands of preloaded modules one by one: that alone costs about 0.6 CPU-s.
        code, interrupted = 0, False
        try:
            import pipeline.cli

            pipeline.cli.run(request["arguments"])
        except SystemExit as stop:
            code = _exit_status(stop.code)
        except KeyboardInterrupt:
            sys.excepthook(*sys.exc_info())
            interrupted = True
        except BaseException:  # shown as the interpreter shows an uncaught exception
            sys.excepthook(*sys.exc_info())
            code = 1
        _leave(code, interrupted)


def _exit_status(code: object) -> int:
    """The exit status the interpreter gives ``SystemExit(code)``, printing a message code as it does."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _leave(code: int, interrupted: bool) -> None:
    """End the child as Py_FinalizeEx ends a process, minus the module teardown; never returns."""
    try:
        import threading

        threading._shutdown()  # type: ignore[attr-defined]
    except BaseException:  # as the interpreter, go on to the exit
        pass
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            code = code or 120  # the interpreter's status when flushing stdout fails
    if interrupted:  # an uncaught KeyboardInterrupt: the process dies of SIGINT, as a fresh one does
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(code)


def _send_message_nonblocking(connection: socket.socket, message: dict[str, Any]) -> None:
    connection.setblocking(True)
    connection.settimeout(CONNECT_TIMEOUT)
    try:
        _send_message(connection, message)
    finally:
        connection.setblocking(False)


def _die_with_parent(server: int) -> None:
    """PR_SET_PDEATHSIG: the child is killed if the server dies (its client then sees the server go)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() != server:  # it died before the request above
        os._exit(70)


def _fresh_stdio() -> None:
    """sys.stdin/stdout/stderr over the client's descriptors, made as the interpreter makes them at start."""
    import io

    def text(fd: int, mode: str, stream: Any) -> io.TextIOWrapper:
        buffered = open(fd, mode + "b", closefd=False)  # noqa: SIM115 (lives as long as the process)
        interactive = os.isatty(fd)
        return io.TextIOWrapper(
            buffered,
            encoding=stream.encoding,
            errors=stream.errors,
            line_buffering=interactive or fd == 2,
            write_through=False,
        )

    sys.stdin = sys.__stdin__ = text(0, "r", sys.__stdin__)
    sys.stdout = sys.__stdout__ = text(1, "w", sys.__stdout__)
    sys.stderr = sys.__stderr__ = text(2, "w", sys.__stderr__)


def _forget_pipeline_and_state() -> None:
    """Drop the server's copy of the pipeline package (the child imports the client's, as edited) and give
    the child what a fresh process has: its own numpy seed and temporary folder."""
    import importlib
    import tempfile

    for name in [name for name in sys.modules if name == "pipeline" or name.startswith("pipeline.")]:
        del sys.modules[name]
    importlib.invalidate_caches()
    tempfile.tempdir = None
    random = sys.modules.get("numpy.random")
    if random is not None:
        random.seed()  # a fresh process draws its global seed from the OS; so does each child


def bytecode_folder(folder: Path, key: str) -> Path:
    """Where a server's children keep the pipeline's compiled modules while the server lives."""
    return folder / f"stage-{key}.bytecode"


class _PipelineBytecode:
    """The pipeline's own modules compiled once per server, not once per stage.

    Where ``PYTHONDONTWRITEBYTECODE=1`` is set (as on these machines), no ``__pycache__`` is written, so
    every stage process compiled the pipeline modules it imports from source: about 0.1 CPU-s per stage,
    the same modules again and again. A child of the server finds ``pipeline`` and its modules as Python
    would (the client's ``sys.path``: its project, as edited) and loads each one's code from the server's
    private folder, keyed by the module's path and its source's exact bytes, or compiles it there and then
    and stores it for the next stage. A changed source is a new key, so an edit is always seen; the
    folder goes with the server. Nothing is written into the project.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != "pipeline" and not fullname.startswith("pipeline."):
            return None
        from importlib.machinery import PathFinder, SourceFileLoader

        spec = PathFinder.find_spec(fullname, path, target)
        if spec is not None and type(spec.loader) is SourceFileLoader:
            spec.loader = _cached_loader(spec.loader.name, spec.loader.path, self.folder)
        return spec

    def invalidate_caches(self) -> None:
        pass


def _cached_source_loader() -> type:
    from importlib.machinery import SourceFileLoader
    from importlib.util import MAGIC_NUMBER

    class CachedSourceLoader(SourceFileLoader):
        """``SourceFileLoader`` whose compiled code is kept in ``folder``, by path and source bytes."""

        def __init__(self, fullname: str, path: str, folder: Path) -> None:
            super().__init__(fullname, path)
            self.folder = folder

        def get_code(self, fullname: str) -> Any:
            import marshal

            source = self.get_data(self.path)
            digest = hashlib.sha256(MAGIC_NUMBER + os.fsencode(self.path) + b"\0" + source).hexdigest()
            cached = self.folder / f"{digest}.code"
            with contextlib.suppress(OSError, ValueError, EOFError, TypeError):
                return marshal.loads(cached.read_bytes())
            code = self.source_to_code(source, self.path)
            with contextlib.suppress(OSError):
                self.folder.mkdir(mode=0o700, exist_ok=True)
                temporary = cached.with_name(f".{cached.name}.{os.getpid()}")
                temporary.write_bytes(marshal.dumps(code))
                os.replace(temporary, cached)  # whole or absent: a stage beside this one reads it
            return code

    return CachedSourceLoader


def _cached_loader(name: str, path: str, folder: Path) -> Any:
    global _LOADER
    if _LOADER is None:
        _LOADER = _cached_source_loader()
    return _LOADER(name, path, folder)


_LOADER: type | None = None
_STARTUP_SIGNALS: dict[int, Any] = {}


def preload(between: Any = None) -> list[str]:
    """Import the libraries the stages use, calling ``between()`` after each once ``PRELOAD_FIRST`` are
    in (a request is served between two imports, never during one); the names that could not be imported
    (the stages will say)."""
    import importlib
    import warnings

    missing = []
    for index, name in enumerate(PRELOAD, start=1):
        try:
            with warnings.catch_warnings():  # nothing is shown here, and no warning is used up
                warnings.simplefilter("ignore")
                importlib.import_module(name)
        except Exception:  # a library that does not import is the stage's to report
            missing.append(name)
        if between is not None and index >= len(PRELOAD_FIRST):
            between()
    return missing


def _remove_dead_servers_files(folder: Path, key: str) -> None:
    """The lock, log, socket and compiled code of every other key's server that is no longer running (its
    lock is free): each install or edit of this file leaves a key behind."""
    import fcntl
    import shutil

    for lock in folder.glob("stage-*.lock"):
        other = lock.name[len("stage-") : -len(".lock")]
        if other == key:
            continue
        try:
            descriptor = os.open(lock, os.O_RDWR)
        except OSError:
            continue
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            for path in (*_paths(folder, other), log_path(folder, other)):
                path.unlink(missing_ok=True)
            shutil.rmtree(bytecode_folder(folder, other), ignore_errors=True)  # a server killed outright
        except OSError:
            pass  # running (or starting): its files stay
        finally:
            os.close(descriptor)


def serve(key: str) -> None:
    """The server's life: lock, preload, listen, fork a child per request, exit when idle."""
    for number in (*_FORWARDED_SIGNALS, signal.SIGPIPE, signal.SIGCHLD, signal.SIGQUIT):
        _STARTUP_SIGNALS[number] = signal.getsignal(number)
    folder = socket_folder()
    if folder is None or key != server_key():
        return  # the client's key is computed the same way: a difference means it changed since
    try:
        idle_seconds = float(os.environ.get(IDLE, DEFAULT_IDLE_SECONDS))
    except ValueError:
        idle_seconds = DEFAULT_IDLE_SECONDS
    server = _Server(key, folder, idle_seconds)
    if not server.lock():
        return  # another server for this key is running or starting
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    _remove_dead_servers_files(folder, key)
    try:
        os.chdir("/")  # hold no project folder (pytest's temporary copies are deleted while it lives)
        # Listening at once: a request waits in the socket's queue until the first stage's libraries are
        # in, then is served between two imports, so no stage imports what the server is importing.
        server.listen()
        server.log("listening; preloading")
        missing = preload(between=server.handle_pending)
        # The preloaded objects are never freed: out of the collector's sight, a child's collections stay
        # as short as a fresh process's and do not write to (and so copy) the server's pages.
        gc.collect()
        gc.freeze()
        server.log(f"preloaded (could not import: {', '.join(missing) or 'none'})")
        server.serve()
    finally:
        server.close()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        serve(sys.argv[2])
    else:
        sys.exit("usage: python -m pipeline.core.stage_server serve KEY (started by the stage commands)")
