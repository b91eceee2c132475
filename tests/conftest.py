"""Test setup: make the repository importable (which also selects the Dassl engine), share the
tiny CLIP checkpoint, and make the suite independent of the machine, of the order of the tests
and of what earlier tests did to this process:

- a private HOME for the session (caches, matplotlib's config): nothing is read from or written
  to the user's ~/.cache or ~/.config, so a fresh HOME and a used one run the same suite;
- every test starts from the same process state (seeds, signal handlers, working directory,
  environment variables, torch threads and default dtype), restored after it whatever it did;
- ``PLPP_TEST_SHUFFLE=<seed>`` (or ``random``) runs the test files in a shuffled order and the
  tests of each file shuffled too; the seed is printed in the header, so an order that fails can
  be replayed. Tests stay grouped by file, so module fixtures are still built once.
"""
import os
import random
import shutil
import signal
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import runtime  # noqa: E402,F401  (selects the Dassl engine)

import pytest  # noqa: E402

# torch, numpy and clip are imported where they are used: the xdist controller, which runs no
# test, then starts its workers without importing them first (5 s).

SHUFFLE_ENV = "PLPP_TEST_SHUFFLE"
HOME_ENV = "PLPP_TEST_HOME"  # set once by the first pytest process; xdist workers inherit it
# Stop signals the code under test installs handlers for (train.py, the sweep and its jobs).
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2, signal.SIGHUP)


def private_home() -> str:
    """Point HOME and the XDG/matplotlib folders at a new empty folder; returns it.

    The project's virtualenv is found through ``PLPP_VENV`` (tests that source scripts/env.sh
    must not install a new one under the empty HOME).
    """
    home = tempfile.mkdtemp(prefix="plpp-test-home-")
    complete_venv = os.path.isfile(os.path.join(sys.prefix, ".complete"))
    if complete_venv:
        os.environ.setdefault("PLPP_VENV", sys.prefix)
    os.environ.update({
        HOME_ENV: home, "XDG_CACHE_HOME": os.path.join(home, ".cache"), "XDG_CONFIG_HOME": os.path.join(home, ".config"),
        "MPLCONFIGDIR": os.path.join(home, ".config", "matplotlib"), "TORCH_HOME": os.path.join(home, ".cache", "torch"),
    })
    if complete_venv or "PLPP_VENV" in os.environ:
        os.environ["HOME"] = home
    return home


def shuffle_seed(config) -> int:
    """The shuffle seed of ``PLPP_TEST_SHUFFLE`` (``random`` draws one, shared with xdist workers)."""
    value = os.environ.get(SHUFFLE_ENV, "").strip()
    if not value:
        return None
    if value == "random":
        value = str(random.SystemRandom().randrange(10**6))
        os.environ[SHUFFLE_ENV] = value
    try:
        return int(value)
    except ValueError:
        raise pytest.UsageError(f"{SHUFFLE_ENV} must be an integer seed or 'random', got {value!r}") from None


def pytest_configure(config):
    if HOME_ENV not in os.environ:
        config._plpp_home = private_home()
    config._plpp_shuffle = shuffle_seed(config)
    workers = getattr(config, "workerinput", {}).get("workercount")
    if workers and "OMP_NUM_THREADS" not in os.environ:  # an xdist worker: its share of the cores
        import torch

        threads = max(1, (os.cpu_count() or 1) // workers)
        os.environ["OMP_NUM_THREADS"] = str(threads)  # for the runs it starts too
        torch.set_num_threads(threads)


def pytest_unconfigure(config):
    home = getattr(config, "_plpp_home", None)
    if home:
        shutil.rmtree(home, ignore_errors=True)


def pytest_report_header(config):
    seed = config._plpp_shuffle
    order = f"shuffled, {SHUFFLE_ENV}={seed} replays it" if seed is not None else f"as written ({SHUFFLE_ENV}=random shuffles)"
    return [f"plpp: HOME={os.environ.get('HOME')} (private to this run); test order: {order}"]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if config._plpp_shuffle is not None:  # also under -q, which hides the header
        terminalreporter.write_line(f"plpp: tests ran in a shuffled order; {SHUFFLE_ENV}={config._plpp_shuffle} replays it")


def pytest_collection_modifyitems(session, config, items):
    """Shuffled order (``PLPP_TEST_SHUFFLE``); otherwise, in xdist workers, the files with the most
    end-to-end (slow) tests first, so that the two workers, which take a file at a time, finish
    together instead of one of them starting the longest file last."""
    seed = config._plpp_shuffle
    by_file = {}
    for item in items:
        by_file.setdefault(item.nodeid.split("::")[0], []).append(item)
    if seed is not None:
        rng = random.Random(seed)
        files = sorted(by_file)
        rng.shuffle(files)
        for name in files:
            rng.shuffle(by_file[name])
    elif hasattr(config, "workerinput"):
        files = sorted(by_file, key=lambda name: -sum(item.get_closest_marker("slow") is not None for item in by_file[name]))
    else:
        return
    items[:] = [item for name in files for item in by_file[name]]


@pytest.fixture(autouse=True)
def same_process_state():
    """Each test starts from the same seeds and Python's own Ctrl-C (a shell starts background jobs
    with SIGINT ignored, and Python then keeps it ignored); whatever a test changes in the signal
    handlers, working directory, environment, torch threads or default dtype is undone after it."""
    import numpy as np
    import torch

    handlers = {signum: signal.getsignal(signum) for signum in SIGNALS}
    cwd, environ = os.getcwd(), dict(os.environ)
    threads, dtype = torch.get_num_threads(), torch.get_default_dtype()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield
    for signum, handler in handlers.items():
        signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
    os.chdir(cwd)
    for key in set(os.environ) - set(environ):
        del os.environ[key]
    for key, value in environ.items():
        if os.environ.get(key) != value:
            os.environ[key] = value
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    torch.set_default_dtype(dtype)
    torch.set_grad_enabled(True)


@pytest.fixture(scope="session")
def tiny_clip_file(tmp_path_factory):
    """A tiny random ViT CLIP saved as a TorchScript archive, like the released weights."""
    from testing.tiny_clip import save_tiny_clip

    return save_tiny_clip(str(tmp_path_factory.mktemp("clip") / "tiny-vit.pt"), fmt="jit")


@pytest.fixture(scope="session")
def warm_python(tmp_path_factory):
    """The path of a ``python`` for end-to-end commands (``PY=`` of the scripts, the sweep's
    ``--python``) with torch, torchvision and clip imported once (testing/warm_python.py)."""
    from testing.warm_python import start

    client, server = start(str(tmp_path_factory.mktemp("warm")))
    yield client
    server.terminate()
    server.wait()


@pytest.fixture
def clip_checkpoint(tiny_clip_file, monkeypatch):
    """Point every CLIP load at the tiny checkpoint (the loader honours $CLIP_CHECKPOINT)."""
    monkeypatch.setenv("CLIP_CHECKPOINT", tiny_clip_file)
    return tiny_clip_file


@pytest.fixture(scope="session", autouse=True)
def feature_cache_dir(tmp_path_factory):
    """Evaluations cache image features in this session's temporary folder, never the user's."""
    previous = os.environ.get("PLPP_FEATURE_CACHE_DIR")
    os.environ["PLPP_FEATURE_CACHE_DIR"] = str(tmp_path_factory.mktemp("feature-cache"))
    yield
    if previous is None:
        del os.environ["PLPP_FEATURE_CACHE_DIR"]
    else:
        os.environ["PLPP_FEATURE_CACHE_DIR"] = previous
