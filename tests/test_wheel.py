"""`pip install .` (not editable) gives a working `sentinel`: the wheel is built, installed with its
dependencies into a fresh venv, and run from a folder outside the checkout.

Needs the package index (PyPI, or pip's cache from `make install`): without it the install fails, and so
does this test (never skipped: CI can reach PyPI).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from sentinel.core import paths
from sentinel.core.ddocs import all_ddocs
from sentinel.core.embedded import EmbeddedServerError, PouchDBServer

CHECKOUT = Path(__file__).resolve().parents[1]
CHECKOUT_BIN = CHECKOUT / "node_modules" / "pouchdb-server" / "bin" / "pouchdb-server"
DATA_FOLDERS = ("settings", "ddocs")


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without anything that would point the installed Sentinel at the checkout or a
    database: no PYTHONPATH, no virtualenv, no COUCH_URL, no SENTINEL_POUCHDB_SERVER."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "COUCH_URL", paths.POUCHDB_SERVER_ENV)}
    return {**env, "LOG_LEVEL": "info", **extra}


def run(args: list[str], timeout: float = 300, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kwargs)


class Installed:
    def __init__(self, wheel: Path, venv: Path, outside: Path):
        self.wheel, self.venv, self.outside = wheel, venv, outside
        self.python, self.sentinel = venv / "bin" / "python", venv / "bin" / "sentinel"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("wheel")
    dist, venv, outside = root / "dist", root / "venv", root / "elsewhere"
    outside.mkdir()
    built = run([sys.executable, "-m", "pip", "wheel", str(CHECKOUT), "--no-deps", "-w", str(dist)], cwd=CHECKOUT)
    assert built.returncode == 0, built.stdout + built.stderr
    [wheel] = dist.glob("sentinel_couch-*.whl")
    made = run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    assert made.returncode == 0, made.stdout + made.stderr
    # the test venv's pip installs into the new venv (with the dependencies, from the index or pip's cache)
    done = run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--quiet", str(wheel)], env=clean_env())
    assert done.returncode == 0, f"could not install the wheel with its dependencies (is the package index reachable?)\n{done.stdout}{done.stderr}"
    return Installed(wheel, venv, outside)


def test_the_wheel_holds_the_settings_and_design_documents(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    for folder in DATA_FOLDERS:
        expected = {f"sentinel/_data/{folder}/{name}" for name in files_under(CHECKOUT / folder)}
        assert expected and expected <= names, expected - names
    assert {"sentinel/__init__.py", "sentinel/daemon/cli.py", "transitions/__init__.py"} <= names
    assert not [n for n in names if n.startswith(("tests/", "bench/", "node_modules/", "settings/", "ddocs/"))]


def test_the_installed_package_is_not_the_checkout(installed: Installed) -> None:
    probe = (
        "import json, sentinel, transitions, sentinel.core.paths as p, sentinel.core.ddocs as d, sentinel.core.settings as s; "
        "print(json.dumps({'sentinel': sentinel.__file__, 'transitions': transitions.__file__, 'installed': p.INSTALLED, "
        "'data': str(p.DATA_ROOT), 'defaults': s.load_defaults(), 'ddocs': d.all_ddocs()}))"
    )
    done = run([str(installed.python), "-c", probe], cwd=installed.outside, env=clean_env())
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    venv = installed.venv.resolve()
    for key in ("sentinel", "transitions", "data"):
        assert Path(seen[key]).resolve().is_relative_to(venv), (key, seen[key])
    assert seen["installed"] is True
    for folder in DATA_FOLDERS:  # every file, byte for byte
        data = Path(seen["data"]) / folder
        assert files_under(data) == files_under(CHECKOUT / folder)
        assert all((data / name).read_bytes() == (CHECKOUT / folder / name).read_bytes() for name in files_under(data))
    assert seen["defaults"] == json.loads((CHECKOUT / "settings" / "defaults.json").read_text())
    assert seen["ddocs"] == json.loads(json.dumps(all_ddocs(CHECKOUT / "ddocs")))


def test_check_config_runs_outside_the_checkout(installed: Installed) -> None:
    settings = installed.outside / "my-settings.json"
    settings.write_text(json.dumps({"transitions": {"update_clinics": True, "generate_shortcode_on_contacts": True}}))
    done = run([str(installed.sentinel), "check-config", settings.name], cwd=installed.outside, env=clean_env())
    assert done.returncode == 0, done.stdout + done.stderr


def wait_for_line(log: Path, text: str, process: subprocess.Popen[bytes], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = log.read_text() if log.exists() else ""
        if text in content:
            return content
        assert process.poll() is None, f"sentinel exited with {process.returncode} before {text!r}:\n{content}"
        time.sleep(0.1)
    raise AssertionError(f"no {text!r} within {timeout}s:\n{log.read_text()}")


def test_run_embedded_with_the_server_named_by_the_environment(installed: Installed) -> None:
    assert CHECKOUT_BIN.is_file(), "PouchDB Server is not installed in the checkout (`make install`)"
    log = installed.outside / "run.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(installed.sentinel), "run", "--embedded"],
            cwd=installed.outside,
            env=clean_env(**{paths.POUCHDB_SERVER_ENV: str(CHECKOUT_BIN)}),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        content = wait_for_line(log, "Following medic from seq", process, timeout=60)
        url = content.split("Embedded PouchDB Server on ", 1)[1].split()[0]
        assert httpx.get(url + "/medic/_design/sentinel").status_code == 200  # the design documents of the wheel
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    content = log.read_text()
    assert "Received SIGTERM" in content and "Traceback" not in content, content
    with pytest.raises(httpx.TransportError):  # the embedded server stopped with it
        httpx.get(url + "/", timeout=2)


def test_run_embedded_without_any_pouchdb_server_says_how_to_get_one(installed: Installed) -> None:
    done = run([str(installed.sentinel), "run", "--embedded"], cwd=installed.outside, env=clean_env(), timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert str(installed.outside / "node_modules" / "pouchdb-server" / "bin" / "pouchdb-server") in done.stderr
    assert str(CHECKOUT) not in done.stderr  # an installed wheel does not look in the checkout
    for hint in (f"npm install pouchdb-server@{paths.POUCHDB_SERVER_VERSION}", paths.POUCHDB_SERVER_ENV, "COUCH_URL"):
        assert hint in done.stderr, done.stderr


# --- without a wheel: the lookup itself ------------------------------------------------------------------
def test_the_pinned_version_in_the_message_is_the_lock_files() -> None:
    lock = json.loads((CHECKOUT / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/pouchdb-server"]["version"] == paths.POUCHDB_SERVER_VERSION


def test_the_environment_variable_wins_and_must_name_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(paths.POUCHDB_SERVER_ENV, str(CHECKOUT / "node_modules" / "pouchdb-server"))  # its package folder will do
    assert paths.find_pouchdb_server() == CHECKOUT_BIN
    monkeypatch.setenv(paths.POUCHDB_SERVER_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(EmbeddedServerError, match=f"not where {paths.POUCHDB_SERVER_ENV} says"):
        PouchDBServer()
    monkeypatch.delenv(paths.POUCHDB_SERVER_ENV)
    assert paths.find_pouchdb_server() == CHECKOUT_BIN  # from the checkout, its node_modules


def test_the_current_folders_node_modules_count(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(paths.POUCHDB_SERVER_ENV, raising=False)
    monkeypatch.setattr(paths, "POUCHDB_SERVER_BIN", tmp_path / "no-checkout-bin")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(EmbeddedServerError, match="npm install pouchdb-server@"):
        PouchDBServer()
    here = tmp_path / "node_modules" / "pouchdb-server" / "bin" / "pouchdb-server"
    here.parent.mkdir(parents=True)
    here.write_text("")
    assert paths.find_pouchdb_server() == here
