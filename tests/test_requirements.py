"""requirements*.txt and pyproject.toml say the same thing: the same pins and markers at run time, each
extra = its requirements file, every version pinned, and TensorFlow's two builds split by platform exactly
where the platform check (fmnist_core/platform_check.py) lets an install go ahead."""

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from fmnist_core import platform_check
from requirements_files import EXTRA_FILES, applies, key, marker_env, pyproject, read_requirements

ALL_FILES = ["requirements.txt", *EXTRA_FILES.values()]
TF_BUILDS = {"tensorflow", "tensorflow-cpu"}


def _keys(reqs) -> list:
    return sorted(key(r) for r in reqs)


def test_runtime_requirements_are_pyprojects_dependencies():
    declared = [Requirement(r) for r in pyproject()["project"]["dependencies"]]
    assert _keys(read_requirements("requirements.txt")) == _keys(declared)


@pytest.mark.parametrize("extra", sorted(EXTRA_FILES))
def test_each_extra_is_its_requirements_file(extra):
    declared = [Requirement(r) for r in pyproject()["project"]["optional-dependencies"][extra]]
    assert _keys(read_requirements(EXTRA_FILES[extra])) == _keys(declared)


def test_no_extra_beyond_the_requirements_files():
    assert set(pyproject()["project"]["optional-dependencies"]) == set(EXTRA_FILES)


@pytest.mark.parametrize("name", ALL_FILES)
def test_every_requirement_is_pinned_to_one_version_once(name):
    reqs = read_requirements(name)
    for req in reqs:
        (spec,) = req.specifier
        assert spec.operator == "==" and "*" not in spec.version, f"{name}: {req} is not pinned to one version"
    names = [canonicalize_name(r.name) for r in reqs if r.name not in TF_BUILDS]
    assert len(names) == len(set(names)), f"{name} lists a package twice"


def test_test_tools_and_umap_are_not_runtime_requirements():
    runtime = {canonicalize_name(r.name) for r in read_requirements("requirements.txt")}
    for extra in ("test", "umap"):
        optional = {canonicalize_name(r.name) for r in read_requirements(EXTRA_FILES[extra])}
        assert not runtime & optional, f"{sorted(runtime & optional)} belong to the {extra} extra only"


def test_requires_python_is_the_platform_checks_pythons():
    allowed = SpecifierSet(pyproject()["project"]["requires-python"])
    for minor in range(6, 16):
        assert (f"3.{minor}.0" in allowed) == ((3, minor) in platform_check.PYTHONS)


@pytest.mark.parametrize(
    "system, machine",
    [*platform_check.PLATFORMS, ("Darwin", "x86_64"), ("Windows", "ARM64"), ("Linux", "armv7l"), ("Linux", "ppc64le")],
)
def test_one_tensorflow_build_exactly_where_the_platform_check_allows(system, machine):
    tf = [r for r in read_requirements("requirements.txt") if r.name in TF_BUILDS]
    for python in platform_check.PYTHONS:
        chosen = [r.name for r in tf if applies(r, marker_env(system, machine, python))]
        supported = platform_check.problem(python, system, machine) is None
        assert len(chosen) == (1 if supported else 0), (system, machine, python, chosen)
        if supported:
            # tensorflow-cpu has wheels only for Linux x86_64 and Windows amd64.
            assert chosen == ["tensorflow-cpu" if machine in ("x86_64", "AMD64") else "tensorflow"]
