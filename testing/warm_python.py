"""A Python interpreter for the end-to-end tests that starts in a fraction of a second.

Most of a tiny ``train.py`` run is importing torch, torchvision and clip (about 4.5 s on the
2-core machines the suite is sized for; the training itself takes one). The end-to-end tests
start about a hundred such processes (protocol scripts, sweeps, runs killed and rerun), so they
run them through a *warm* interpreter instead: a server that imports those libraries once and
forks a child per command. The child becomes the command: it takes the caller's argv, working
directory, environment, standard streams and signals, runs the script or module as
``__main__`` as ``python`` would, and its exit status (or the signal that ended it) becomes the
caller's. Nothing of the project is imported before the fork, so what the command imports
(``runtime`` reading ``PLPP_DASSL``, the trainers' registries) is imported fresh, as in a new
interpreter.

``start(folder)`` starts the server and writes the executable standing in for
``python`` (for ``PY=`` in the scripts, the sweep's ``--python``, or a subprocess's argv[0]).
The caller's ``PYTHONPATH`` and ``PYTHONUNBUFFERED`` are taken on; what it cannot reproduce
(other interpreter options, settings read only at start-up such as ``PYTHONHASHSEED`` that
differ from the server's) it hands to the real interpreter, so a command always runs. The tests that check
the interpreter itself (``train.py``'s start-up, what imports torch) keep the real one.
"""
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Tuple

# Imported before the fork: third-party libraries whose import reads no per-run setting.
PRELOAD = ("numpy", "PIL.Image", "yaml", "torch", "torchvision", "clip")
# Stop signals the client passes on to the command (a test's SIGTERM, SLURM's USR1/USR2, Ctrl-C).
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGQUIT)
# Environment read at interpreter start that the child cannot take on after the fork.
START_ONLY = ("PYTHONHASHSEED", "PYTHONOPTIMIZE", "PYTHONWARNINGS", "PYTHONFAULTHANDLER", "PYTHONDEVMODE",
              "PYTHONMALLOC", "PYTHONINSPECT", "PYTHONNOUSERSITE", "PYTHONUTF8", "PYTHONIOENCODING", "PYTHONSAFEPATH")

CLIENT = '''#!{python} -SE
# Stands in for {python}: the command runs in a child of the warm interpreter at {socket}
# (testing/warm_python.py); anything it cannot run goes to the real interpreter.
import json, os, signal, socket, struct, sys
REAL, SOCKET, SERVER_ENV = {python!r}, {socket!r}, {server_env!r}
args = sys.argv[1:]
def real():
    os.execv(REAL, [REAL] + args)
rest = args[1:] if args[:1] == ["-u"] else args
if not rest or rest[0] not in ("-m", "-c") and rest[0].startswith("-") or any(
        os.environ.get(name) != value for name, value in SERVER_ENV.items()):
    real()
pid, pending = None, []
def forward(signum, frame):
    if pid is None:  # before the command exists: it gets the signal as soon as it does
        pending.append(signum)
        return
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass
for signum in {forwarded}:
    signal.signal(signum, forward)
try:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.connect(SOCKET)
    request = json.dumps({{"args": args, "cwd": os.getcwd(), "env": dict(os.environ)}}).encode()
    socket.send_fds(server, [b"R"], [0, 1, 2])
    server.sendall(struct.pack("!I", len(request)) + request)
    reply = server.makefile("r")
    pid = int(reply.readline())
except OSError:
    real()
for signum in pending:
    forward(signum, None)
how, value = (reply.readline().split() + ["lost", "1"])[:2]
if how == "signal":
    if int(value) != signal.SIGKILL:
        signal.signal(int(value), signal.SIG_DFL)
    os.kill(os.getpid(), int(value))
sys.exit(int(value))
'''


def start(folder: str) -> Tuple[str, subprocess.Popen]:
    """Start a warm interpreter (it ends with this process at the latest) and write its client in
    ``folder``; returns the client's path and the server."""
    path = os.path.join(folder, "python")
    sock = os.path.join(folder, "warm.sock")
    if len(sock) > 100:  # a socket's path has at most 107 bytes
        sock = os.path.join(tempfile.mkdtemp(prefix="plpp-warm-"), "warm.sock")
    server = subprocess.Popen([sys.executable, "-m", "testing.warm_python", sock], cwd=os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
    deadline = time.time() + 120
    while not os.path.exists(sock):
        if server.poll() is not None or time.time() > deadline:
            raise RuntimeError(f"the warm interpreter did not start (exit status {server.poll()})")
        time.sleep(0.05)
    server_env = {name: os.environ.get(name) for name in START_ONLY}
    with open(path, "w") as f:
        f.write(CLIENT.format(python=sys.executable, socket=sock, server_env=server_env,
                              forwarded=tuple(int(s) for s in FORWARDED)))
    os.chmod(path, 0o755)
    return path, server


def _die_with_parent() -> None:
    """In the server: end when the process that started it ends (PR_SET_PDEATHSIG)."""
    import ctypes

    ctypes.CDLL(None).prctl(1, signal.SIGTERM)


def serve(sock_path: str) -> None:
    """Accept commands on ``sock_path``; fork a child per command; tell each client its child's
    pid, then its exit status. A client that goes away takes its child with it (as SIGKILL)."""
    for name in PRELOAD:
        __import__(name)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(sock_path + ".new")
    listener.listen(64)
    os.rename(sock_path + ".new", sock_path)  # the path appears once it accepts
    clients: Dict[int, socket.socket] = {}  # child pid -> its client's connection
    while True:
        ready, _, _ = select.select([listener, *clients.values()], [], [], 0.05)
        for conn in ready:
            if conn is listener:
                accepted = _start(listener, clients.values())
                if accepted:
                    clients[accepted[0]] = accepted[1]
            else:  # the client closed or died: its command goes with it
                pid = next(p for p, c in clients.items() if c is conn)
                if not conn.recv(1, socket.MSG_PEEK):
                    _kill(pid)
        while clients:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if not pid:
                break
            conn = clients.pop(pid, None)
            if conn is not None:
                how = f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"exit {os.WEXITSTATUS(status)}"
                try:
                    conn.sendall(f"{how}\n".encode())
                except OSError:
                    pass
                conn.close()


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _start(listener: socket.socket, others) -> Optional[Tuple[int, socket.socket]]:
    conn, _ = listener.accept()
    try:
        _, fds, _, _ = socket.recv_fds(conn, 1, 3)
        size = struct.unpack("!I", _read(conn, 4))[0]
        request = json.loads(_read(conn, size))
    except (OSError, ValueError, struct.error):
        conn.close()
        return None
    pid = os.fork()
    if pid == 0:
        for held in (listener, conn, *others):
            held.close()
        _become(request, fds)  # never returns
    for fd in fds:
        os.close(fd)
    conn.sendall(f"{pid}\n".encode())
    return pid, conn


def _read(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise OSError("client went away")
        data += chunk
    return data


def _become(request: dict, fds: List[int]) -> None:
    """In the child: take on the caller's process state and run its command as ``__main__``."""
    import io
    import random

    import numpy as np
    import torch

    own_path = _pythonpath()  # the server's PYTHONPATH entries, before the caller's environment replaces it
    for signum in FORWARDED + (signal.SIGCHLD,):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # as Python sets it at start-up
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    args = list(request["args"])
    unbuffered = args[:1] == ["-u"] or bool(os.environ.get("PYTHONUNBUFFERED"))
    if args[:1] == ["-u"]:
        args = args[1:]
    sys.stdin = io.TextIOWrapper(open(0, "rb", closefd=False), line_buffering=False)
    for name, fd in (("stdout", 1), ("stderr", 2)):
        binary = open(fd, "wb", buffering=0 if unbuffered else -1, closefd=False)
        setattr(sys, name, io.TextIOWrapper(binary, line_buffering=name == "stderr" or os.isatty(fd),
                                            write_through=unbuffered, errors="backslashreplace" if fd == 2 else None))
    sys.__stdout__, sys.__stderr__, sys.__stdin__ = sys.stdout, sys.stderr, sys.stdin
    random.seed()  # a new interpreter's random states, not the server's
    np.random.seed()
    threads = os.environ.get("OMP_NUM_THREADS") or os.environ.get("MKL_NUM_THREADS")
    if threads and threads.isdigit() and int(threads) > 0:
        torch.set_num_threads(int(threads))
    extra = _pythonpath()
    base = [p for p in sys.path[1:] if p not in own_path and p not in extra]
    code = _run(args, extra, base)
    _end(code)


def _pythonpath() -> List[str]:
    return [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]


def _end(code: int) -> None:
    """End as the interpreter would (threads joined, atexit handlers run, the standard streams
    flushed), but without its teardown of every object: in a forked child that teardown copies
    the pages it touches and costs 1.3 s. A file left open with unflushed data loses it here (the
    project closes or flushes what it writes; run records and log.txt are flushed explicitly)."""
    import atexit
    import threading

    try:
        threading._shutdown()
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            stream.flush()
    except BaseException:  # an atexit handler's error does not change the status, as in Python
        pass
    if code < 0:  # ended by Ctrl-C: as Python does, by the signal itself
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    os._exit(code)


def _run(args: List[str], extra: List[str], base: List[str]) -> int:
    import runpy
    import traceback

    code = 0
    try:
        if args[0] == "-m":
            sys.argv = [args[1], *args[2:]]
            sys.path[:] = [os.getcwd(), *extra, *base]
            runpy.run_module(args[1], run_name="__main__", alter_sys=True)
        elif args[0] == "-c":
            sys.argv = ["-c", *args[2:]]
            sys.path[:] = ["", *extra, *base]
            exec(compile(args[1], "<string>", "exec"), {"__name__": "__main__"})
        else:
            sys.argv = list(args)
            sys.path[:] = [os.path.dirname(os.path.abspath(args[0])), *extra, *base]
            runpy.run_path(args[0], run_name="__main__")
    except SystemExit as e:
        code = _exit_code(e.code)
    except KeyboardInterrupt:
        traceback.print_exc()
        code = -signal.SIGINT
    except BaseException:
        traceback.print_exc()
        code = 1
    return code


def _exit_code(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value & 0xFF
    print(value, file=sys.stderr)
    return 1


if __name__ == "__main__":
    serve(sys.argv[1])
