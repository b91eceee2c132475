"""The warm interpreter the end-to-end tests start their commands with: to the caller it is
``python`` (argv, working directory, environment, streams, exit status, signals both ways)."""
import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.slow  # starts a fresh interpreter (the warm one)


def run(python, *args, **kwargs):
    return subprocess.run([python, *args], capture_output=True, text=True, timeout=60, **kwargs)


def test_a_command_gets_the_callers_argv_cwd_environment_and_streams(warm_python, tmp_path):
    script = tmp_path / "show.py"
    script.write_text("import os, sys\nprint(sys.argv, os.getcwd(), os.environ['ASKED'], sys.path[0], input())\n"
                      "print('to stderr', file=sys.stderr)\nsys.exit(7)\n")
    done = run(warm_python, str(script), "a", "b c", cwd=str(tmp_path), env=dict(os.environ, ASKED="yes"),
               input="from stdin\n")
    assert done.returncode == 7
    assert done.stdout == f"{[str(script), 'a', 'b c']} {tmp_path} yes {tmp_path} from stdin\n"
    assert done.stderr == "to stderr\n"


def test_modules_and_code_run_as_main_with_pythons_path_and_fresh_project_imports(warm_python, tmp_path):
    (tmp_path / "shown.py").write_text("import sys\nprint(__name__, sys.argv[1:], 'runtime' in sys.modules)\n")
    done = run(warm_python, "-m", "shown", "x", cwd=str(tmp_path))
    assert (done.returncode, done.stdout) == (0, "__main__ ['x'] False\n"), done.stderr
    done = run(warm_python, "-c", "import sys, torch; print(sys.argv, sys.path[0] == '', 'torch' in sys.modules)", "y")
    assert done.stdout == "['-c', 'y'] True True\n"
    done = run(warm_python, "-c", "raise ValueError('bad')")
    assert done.returncode == 1 and done.stderr.rstrip().endswith("ValueError: bad")
    done = run(warm_python, "-c", "import sys; sys.exit('said')")
    assert (done.returncode, done.stderr) == (1, "said\n")


def test_the_callers_pythonpath_comes_before_the_installed_packages(warm_python, tmp_path):
    (tmp_path / "extra").mkdir()
    (tmp_path / "extra" / "only_here.py").write_text("WHERE = 'extra'\n")
    code = "import sys, only_here; print(only_here.WHERE, sys.path.index(sys.argv[1]) < sys.path.index(sys.argv[2]))"
    site = next(p for p in sys.path if p.endswith("site-packages"))
    done = run(warm_python, "-c", code, str(tmp_path / "extra"), site, env=dict(os.environ, PYTHONPATH=str(tmp_path / "extra")))
    assert (done.returncode, done.stdout) == (0, "extra True\n"), done.stderr


def test_each_command_starts_from_new_random_states(warm_python):
    code = "import random, numpy; print(random.random(), numpy.random.rand())"
    assert run(warm_python, "-c", code).stdout != run(warm_python, "-c", code).stdout


def test_signals_reach_the_command_and_its_end_is_the_callers(warm_python, tmp_path):
    ready = tmp_path / "ready"
    code = ("import signal, sys, time, pathlib\n"
            "signal.signal(signal.SIGTERM, lambda *a: sys.exit(75))\n"
            f"pathlib.Path({str(ready)!r}).touch()\n"
            "time.sleep(60)\n")
    process = subprocess.Popen([warm_python, "-c", code])
    wait_for(ready)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 75
    assert run(warm_python, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)").returncode == -9


def test_a_killed_caller_takes_its_command_with_it(warm_python, tmp_path):
    pid_file = tmp_path / "pid"
    code = (f"import os, time; open({str(pid_file)!r} + '.new', 'w').write(str(os.getpid())); "
            f"os.rename({str(pid_file)!r} + '.new', {str(pid_file)!r}); time.sleep(60)")  # whole when it appears
    process = subprocess.Popen([warm_python, "-c", code])
    wait_for(pid_file)
    pid = int(pid_file.read_text())
    process.kill()
    process.wait()
    deadline = time.time() + 10
    while alive(pid) and time.time() < deadline:
        time.sleep(0.05)
    assert not alive(pid)


def test_what_it_cannot_reproduce_goes_to_the_real_interpreter(warm_python):
    done = run(warm_python, "-I", "-c", "import sys; print(sys.flags.isolated, 'torch' in sys.modules)")
    assert done.stdout == "1 False\n"
    done = run(warm_python, "-c", "import sys; print(sys.flags.hash_randomization, 'torch' in sys.modules)",
               env=dict(os.environ, PYTHONHASHSEED="0"))
    assert done.stdout == "0 False\n"


def wait_for(path, timeout=30):
    deadline = time.time() + timeout
    while not os.path.exists(path):
        assert time.time() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
