"""Where the standalone script looks: conda's search path and merge rules, the root prefix.

Every case builds a home folder (and, where needed, an installation) under a temp folder and
passes ``from_environment`` an explicit environment, so nothing of the machine's own
configuration is read. Where conda is importable, the same files are also read by conda
itself and the answers compared.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import in_time, needs_conda, plant_unreadable

from conda_prune import condarc
from conda_prune.envs import discover
from conda_prune.locations import from_environment


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def make_env(prefix: Path) -> Path:
    (prefix / "conda-meta").mkdir(parents=True)
    (prefix / "conda-meta" / "history").touch()
    return prefix


def make_root(root: Path) -> Path:
    """An installation conda may write to (``conda-meta/history`` exists)."""
    return make_env(root)


# -- which files are read ------------------------------------------------------------------------


def test_envs_dirs_in_a_condarc_d_file_finds_that_environment(tmp_path: Path) -> None:
    home = tmp_path / "home"
    project_envs = tmp_path / "team" / "envs"
    env = make_env(project_envs / "analysis")
    write(home / ".conda" / "condarc.d" / "team.yml", f"envs_dirs:\n  - {project_envs}\n")
    locs = from_environment({"HOME": str(home)})
    assert project_envs in locs.envs_dirs
    assert env in discover(locs).prefixes


def test_condarc_d_folders_of_the_installation_and_the_system_path_are_read(tmp_path: Path) -> None:
    home, root = tmp_path / "home", make_root(tmp_path / "miniforge3")
    write(root / "condarc.d" / "20-site.yaml", "pkgs_dirs: [/site/pkgs]\n")
    write(root / "condarc.d" / "10-first.yml", "pkgs_dirs: [/first/pkgs]\n")
    write(root / "condarc.d" / "notes.txt", "pkgs_dirs: [/not/read]\n")
    locs = from_environment({"HOME": str(home), "CONDA_ROOT": str(root)})
    # files of a folder are read in name order; the later one takes precedence
    assert locs.pkgs_dirs == (Path("/site/pkgs"), Path("/first/pkgs"))
    entries = [str(p) for p, _ in condarc.search_path({"CONDA_ROOT": str(root)}, home)]
    assert entries[:8] == [
        "/etc/conda/.condarc", "/etc/conda/condarc", "/etc/conda/condarc.d", "/etc/conda/.mambarc",
        "/var/lib/conda/.condarc", "/var/lib/conda/condarc", "/var/lib/conda/condarc.d",
        "/var/lib/conda/.mambarc",
    ]


def test_config_condarc_without_a_dot_is_read(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write(home / ".config" / "conda" / "condarc", "pkgs_dirs: [/xdg/pkgs]\n")
    assert from_environment({"HOME": str(home)}).pkgs_dirs == (Path("/xdg/pkgs"),)


def test_xdg_config_home_is_read(tmp_path: Path) -> None:
    home, xdg = tmp_path / "home", tmp_path / "xdg"
    write(xdg / "conda" / "condarc.d" / "a.yml", "pkgs_dirs: [/xdg/pkgs]\n")
    assert from_environment({"HOME": str(home), "XDG_CONFIG_HOME": str(xdg)}).pkgs_dirs == (Path("/xdg/pkgs"),)


def test_micromambas_files_are_read(tmp_path: Path) -> None:
    home, root = tmp_path / "home", make_root(tmp_path / "micromamba")
    write(home / ".mambarc", "envs_dirs: [/mamba/envs]\n")
    write(home / ".config" / "mamba" / "mambarc.d" / "x.yaml", "pkgs_dirs: [/mamba/pkgs]\n")
    write(root / ".mambarc", "pkgs_dirs: [/root/pkgs]\n")
    locs = from_environment({"HOME": str(home), "MAMBA_ROOT_PREFIX": str(root)})
    assert locs.pkgs_dirs == (Path("/mamba/pkgs"), Path("/root/pkgs"))
    assert locs.envs_dirs[0] == Path("/mamba/envs")
    assert root / ".mambarc" in locs.condarc_files


def test_the_target_environments_condarc_is_read(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = make_env(tmp_path / "envs" / "work")
    write(env / "condarc.d" / "env.yml", "pkgs_dirs: [/env/pkgs]\n")
    assert from_environment({"HOME": str(home), "CONDA_PREFIX": str(env)}).pkgs_dirs == (Path("/env/pkgs"),)
    # -p names the environment whose configuration counts, as in conda
    assert from_environment({"HOME": str(home)}, target_prefix=str(env)).pkgs_dirs == (Path("/env/pkgs"),)


def test_condarc_must_have_a_configuration_name_as_in_conda(tmp_path: Path) -> None:
    home = tmp_path / "home"
    rc = write(tmp_path / "myrc", "pkgs_dirs: [/ignored]\n")
    assert Path("/ignored") not in from_environment({"HOME": str(home), "CONDARC": str(rc)}).pkgs_dirs
    rc = write(tmp_path / "my.yml", "pkgs_dirs: [/read]\n")
    assert from_environment({"HOME": str(home), "CONDARC": str(rc)}).pkgs_dirs == (Path("/read"),)


def test_an_unparsable_file_gives_one_warning_and_the_rest_is_read(tmp_path: Path) -> None:
    home = tmp_path / "home"
    bad = write(home / ".condarc", "pkgs_dirs: [/from/bad\nenvs_dirs:\n")
    write(home / ".conda" / "condarc", "pkgs_dirs: [/from/good]\n")
    locs = from_environment({"HOME": str(home)})
    assert locs.pkgs_dirs == (Path("/from/good"),)
    assert len(locs.warnings) == 1 and str(bad) in locs.warnings[0] and "\n" not in locs.warnings[0]


def _plant(path: Path, how: str) -> None:
    if how == "deep":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("pkgs_dirs: " + "[" * 100_000 + "]" * 100_000 + "\n")
    else:
        plant_unreadable(path, how, b"pkgs_dirs: [/from/huge]\n")


@pytest.mark.parametrize("how, said", [
    ("fifo", "is a FIFO, not a regular file"),
    ("device", "is a character device, not a regular file"),
    ("huge", "over the 64 MiB read limit"),
    ("deep", "nested too deeply"),
])
@pytest.mark.parametrize("where", [".condarc", ".conda/condarc.d/team.yml"])
def test_a_configuration_file_that_is_not_a_regular_text_file_is_one_warning_not_a_hang(
        tmp_path: Path, how: str, said: str, where: str) -> None:
    home = tmp_path / "home"
    bad = home / where
    _plant(bad, how)
    write(home / ".conda" / "condarc", "pkgs_dirs: [/from/good]\n")
    locs = in_time(lambda: from_environment({"HOME": str(home)}))
    assert locs.pkgs_dirs == (Path("/from/good"),)
    (warning,) = locs.warnings
    assert str(bad) in warning and said in warning and "\n" not in warning
    if how != "deep":
        assert "make it a regular file" in warning


def test_a_condarc_that_is_a_symlink_to_a_regular_file_is_read(tmp_path: Path) -> None:
    home = tmp_path / "home"
    real = write(tmp_path / "dotfiles" / "condarc", "pkgs_dirs: [/from/dotfiles]\n")
    home.mkdir()
    (home / ".condarc").symlink_to(real)
    locs = from_environment({"HOME": str(home)})
    assert locs.pkgs_dirs == (Path("/from/dotfiles"),) and not locs.warnings


def test_values_of_the_wrong_type_are_ignored_with_a_warning(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write(home / ".condarc", "pkgs_dirs: /one/path\nenvs_dirs: [/ok]\n")
    locs = from_environment({"HOME": str(home)})
    assert locs.envs_dirs[0] == Path("/ok")
    assert Path("/one/path") not in locs.pkgs_dirs
    assert any("pkgs_dirs" in w for w in locs.warnings)


# -- how values merge ----------------------------------------------------------------------------


def test_later_files_come_first_and_environment_variables_add_in_front(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write(home / ".conda" / ".condarc", "pkgs_dirs: [/a, /shared]\nplugins:\n  prune_keep: [mkl]\n")
    rc = write(tmp_path / "rc.yml", "pkgs_dirs: [/shared, /b]\n")
    environ = {"HOME": str(home), "CONDARC": str(rc)}
    locs = from_environment(environ)
    assert locs.pkgs_dirs == (Path("/shared"), Path("/b"), Path("/a"))
    assert locs.keep == ("mkl",)
    # conda merges the environment variable with the files; it does not replace them
    locs = from_environment({**environ, "CONDA_PKGS_DIRS": "/x,/y:/z", "CONDA_PLUGINS_PRUNE_KEEP": "cuda*"})
    assert locs.pkgs_dirs == (Path("/x"), Path("/y:/z"), Path("/shared"), Path("/b"), Path("/a"))
    assert locs.keep == ("cuda*", "mkl")
    assert from_environment({**environ, "CONDA_PRUNE_KEEP": "only"}).keep == ("only",)


def test_final_top_and_bottom_markers(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write(home / ".conda" / ".condarc", "pkgs_dirs:  #!final\n  - /admin\n")
    write(home / ".condarc", "pkgs_dirs: [/user]\n")
    environ = {"HOME": str(home), "CONDA_PKGS_DIRS": "/env"}
    assert from_environment(environ).pkgs_dirs == (Path("/admin"),)
    write(home / ".conda" / ".condarc", "pkgs_dirs:\n  - /first  #!top\n  - /last  #!bottom\n  - /a\n")
    assert from_environment(environ).pkgs_dirs == (
        Path("/first"), Path("/env"), Path("/user"), Path("/a"), Path("/last"),
    )


def test_configured_envs_dirs_keep_the_default_ones_after_them(tmp_path: Path) -> None:
    home, root = tmp_path / "home", make_root(tmp_path / "miniforge3")
    write(home / ".condarc", "envs_dirs: [~/envs]\npkgs_dirs: [$HOME/pkgs]\n")
    locs = from_environment({"HOME": str(home), "CONDA_ROOT": str(root)})
    assert locs.envs_dirs == (home / "envs", root / "envs", home / ".conda" / "envs")
    assert locs.pkgs_dirs == (home / "pkgs",)
    env = make_env(root / "envs" / "old")
    assert env in discover(locs).prefixes


def test_a_cache_listed_under_two_names_is_one_cache(tmp_path: Path) -> None:
    home, pkgs = tmp_path / "home", tmp_path / "pkgs"
    pkgs.mkdir()
    (tmp_path / "pkgs-link").symlink_to(pkgs)
    write(home / ".condarc", f"pkgs_dirs: [{pkgs}]\n")
    locs = from_environment({"HOME": str(home), "CONDA_PKGS_DIRS": str(tmp_path / "pkgs-link")})
    assert locs.pkgs_dirs == (tmp_path / "pkgs-link",)


def test_envs_path_variable_splits_on_the_path_separator_only(tmp_path: Path) -> None:
    locs = from_environment({"HOME": str(tmp_path), "CONDA_ENVS_PATH": f"/e1{os.pathsep}/e2,x"})
    assert locs.envs_dirs[:2] == (Path("/e1"), Path("/e2,x"))


# -- the root prefix -----------------------------------------------------------------------------


def test_root_prefix_defaults(tmp_path: Path) -> None:
    root = make_root(tmp_path / "miniforge3")
    locs = from_environment({"HOME": str(tmp_path)})
    assert locs.root_prefix == root
    assert locs.pkgs_dirs == (root / "pkgs", tmp_path / ".conda" / "pkgs")
    assert locs.envs_dirs == (root / "envs", tmp_path / ".conda" / "envs")
    assert tmp_path / ".conda" / "environments.txt" in locs.environments_txt
    exe = tmp_path / "other" / "bin" / "conda"
    exe.parent.mkdir(parents=True)
    exe.touch()
    assert from_environment({"HOME": str(tmp_path), "CONDA_EXE": str(exe)}).root_prefix == tmp_path / "other"


def test_a_root_conda_cannot_write_to_comes_after_the_users_folders(tmp_path: Path) -> None:
    root = tmp_path / "shared"
    (root / "conda-meta").mkdir(parents=True)  # no history: conda takes the root as read-only
    locs = from_environment({"HOME": str(tmp_path), "CONDA_ROOT": str(root)})
    assert locs.pkgs_dirs == (tmp_path / ".conda" / "pkgs", root / "pkgs")


def test_root_prefix_setting_and_variable(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write(home / ".condarc", f"root_prefix: {tmp_path / 'from-rc'}\n")
    assert from_environment({"HOME": str(home)}).root_prefix == tmp_path / "from-rc"
    environ = {"HOME": str(home), "CONDA_ROOT_PREFIX": str(tmp_path / "from-env")}
    assert from_environment(environ).root_prefix == tmp_path / "from-env"


# -- the same answers as conda -------------------------------------------------------------------


def _scenario(tmp_path: Path, case: str) -> dict[str, str]:
    """Files and variables for one case; returns the environment to read them with."""
    home, inst = tmp_path / "home", tmp_path / "inst"
    root = make_root(tmp_path / "root")
    environ = {"HOME": str(home), "CONDA_ROOT": str(inst), "PATH": os.environ.get("PATH", "")}
    write(inst / ".condarc", f"root_prefix: {root}\npkgs_dirs: [/inst/pkgs]\n")
    if case == "condarc.d":
        write(inst / "condarc.d" / "b.yml", "envs_dirs: [/inst/b/envs]\n")
        write(inst / "condarc.d" / "a.yaml", "envs_dirs: [/inst/a/envs]\npkgs_dirs: [/inst/a/pkgs]\n")
        write(home / ".conda" / "condarc.d" / "team.yml", "envs_dirs: [~/team/envs]\n")
        write(home / ".config" / "conda" / "condarc", "pkgs_dirs: [/xdg/pkgs, /inst/pkgs]\n")
    elif case == "condarc and variables":
        rc = write(tmp_path / "rc" / "site.yml", "pkgs_dirs: [/rc/pkgs]\nenvs_path: [$HOME/rc/envs]\n")
        write(home / ".condarc", "pkgs_dirs: [/user/pkgs]\n")
        environ.update(CONDARC=str(rc), CONDA_PKGS_DIRS="/v1,/v2", CONDA_ENVS_DIRS=f"/e1{os.pathsep}/e2")
    elif case == "markers":
        write(home / ".conda" / "condarc", "pkgs_dirs:  #!final\n  - /admin/pkgs\n  - /b  #!bottom\n")
        write(home / ".condarc", "pkgs_dirs: [/user/pkgs]\nenvs_dirs:\n  - /u/envs\n  - /t/envs  #!top\n")
        environ.update(CONDA_PKGS_DIRS="/v1", CONDA_ENVS_DIRS="/v/envs")
    elif case == "active environment":
        env = make_env(tmp_path / "env")
        write(env / ".condarc", "pkgs_dirs: [/env/pkgs]\n")
        write(env / "condarc.d" / "x.yml", "envs_dirs: [/env/envs]\n")
        environ.update(CONDA_PREFIX=str(env), CONDA_ROOT_PREFIX=str(tmp_path / "other-root"))
    return environ


CONDA_SAYS = (
    "import json; from conda.base.context import context, reset_context; reset_context(); "
    "print(json.dumps([context.root_prefix, list(context.pkgs_dirs), list(context.envs_dirs)]))"
)


@needs_conda
@pytest.mark.parametrize("case", ["condarc.d", "condarc and variables", "markers", "active environment"])
def test_standalone_reading_agrees_with_conda(tmp_path: Path, case: str) -> None:
    environ = _scenario(tmp_path, case)
    work = tmp_path / "cwd"
    work.mkdir()
    run = subprocess.run([sys.executable, "-c", CONDA_SAYS], env=environ, cwd=work,
                         capture_output=True, text=True, check=True)
    root, pkgs, envs = json.loads(run.stdout)
    locs = from_environment(environ)
    assert (str(locs.root_prefix), [str(p) for p in locs.pkgs_dirs], [str(p) for p in locs.envs_dirs]) == (
        root, pkgs, envs,
    )
    assert not locs.warnings


def test_merge_sequence_follows_conda() -> None:
    m = condarc.Match
    low = m("low", ("/a", "/t1", "/b1"), flags=(None, "top", "bottom"))
    high = m("high", ("/c", "/a", "/t2", "/b2"), flags=(None, None, "top", "bottom"))
    assert condarc.merge_sequence([low, high]) == ("/t1", "/t2", "/c", "/a", "/b2", "/b1")
    assert condarc.merge_sequence([m("x", ("/x",), final=True), high]) == ("/x",)
    assert condarc.merge_sequence([]) == ()
