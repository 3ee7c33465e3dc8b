"""environment.yml, pyproject.toml and the torch pin agree."""

import re
import tomllib

import yaml


def _name(req: str) -> str:
    return re.split(r"[<>=!~ \[]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_lists_the_same_dependencies_as_pyproject(repo):
    project = tomllib.loads((repo.root / "pyproject.toml").read_text())["project"]
    wanted = {_name(r): r for r in project["dependencies"]}
    for extra in ("course", "dev"):
        wanted.update({_name(r): r for r in project["optional-dependencies"][extra]})
    env = yaml.safe_load((repo.root / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    listed = {_name(r): r for r in pip}
    assert set(listed) == set(wanted)
    for name, req in listed.items():
        if name == "torch":
            continue  # the environment pins torch; the package accepts a range
        assert req.replace(" ", "") == wanted[name].replace(" ", ""), name


def test_torch_is_pinned_for_setup_and_a_range_for_the_package(repo):
    pin = (repo.root / "requirements" / "torch.txt").read_text()
    assert re.search(r"^torch==2\.13\.0$", pin, re.M)
    env = yaml.safe_load((repo.root / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert "torch==2.13.0" in pip
    project = tomllib.loads((repo.root / "pyproject.toml").read_text())["project"]
    torch_req = next(r for r in project["dependencies"] if _name(r) == "torch")
    assert "==" not in torch_req and ">=" in torch_req  # 2.11 on the GPU machine must satisfy it
    lo = re.search(r">=\s*([\d.]+)", torch_req).group(1)
    assert tuple(map(int, lo.split("."))) <= (2, 11)
