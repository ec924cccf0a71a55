"""Where the standalone script looks: CONDA_PKGS_DIRS, .condarc files, the root prefix."""

from __future__ import annotations

from pathlib import Path

from conda_prune.locations import _load_minimal, from_environment


def test_minimal_condarc_reader_understands_lists_and_plugins() -> None:
    text = (
        "# comment\n"
        "pkgs_dirs:\n  - /data/pkgs   # shared\n  - '~/pkgs'\n"
        "envs_dirs: [/a/envs, \"/b/envs\"]\n"
        "always_softlink: true\n"
        "plugins:\n  prune_keep:\n    - cudatoolkit\n    - 'nvidia-*'\n"
    )
    data = _load_minimal(text)
    assert data["pkgs_dirs"] == ["/data/pkgs", "~/pkgs"]
    assert data["envs_dirs"] == ["/a/envs", "/b/envs"]
    assert data["always_softlink"] == "true"
    assert data["plugins"] == {"prune_keep": ["cudatoolkit", "nvidia-*"]}


def test_environment_variables_win_over_condarc(tmp_path: Path) -> None:
    rc = tmp_path / "rc"
    rc.write_text("pkgs_dirs:\n  - /from/condarc\nplugins:\n  prune_keep: [mkl]\n")
    locs = from_environment({"HOME": str(tmp_path), "CONDARC": str(rc)})
    assert locs.pkgs_dirs == (Path("/from/condarc"),) and locs.keep == ("mkl",)
    locs = from_environment({"HOME": str(tmp_path), "CONDARC": str(rc), "CONDA_PKGS_DIRS": "/x,/y"})
    assert locs.pkgs_dirs == (Path("/x"), Path("/y"))


def test_root_prefix_defaults(tmp_path: Path) -> None:
    root = tmp_path / "miniforge3"
    (root / "conda-meta").mkdir(parents=True)
    locs = from_environment({"HOME": str(tmp_path)})
    assert locs.root_prefix == root
    assert locs.pkgs_dirs == (root / "pkgs", tmp_path / ".conda" / "pkgs")
    assert locs.envs_dirs == (root / "envs", tmp_path / ".conda" / "envs")
    assert tmp_path / ".conda" / "environments.txt" in locs.environments_txt
    exe = tmp_path / "other" / "bin" / "conda"
    exe.parent.mkdir(parents=True)
    exe.touch()
    assert from_environment({"HOME": str(tmp_path), "CONDA_EXE": str(exe)}).root_prefix == tmp_path / "other"
