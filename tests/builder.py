"""Real conda installations, built offline for tests and benchmarks.

Packages are real ``.conda`` files made with py-rattler-build, indexed into a local channel
with py-rattler, and installed into real environments through a real package cache with
py-rattler's installer. On top of what rattler writes, the builder adds what conda writes
(tarballs and ``urls.txt`` in the cache, ``info/repodata_record.json``, ``conda-meta/history``,
``~/.conda/environments.txt``) and the link styles conda produces (hardlink, symlink, copy).

Layout under ``root``::

    channel/            a local channel (linux-64 + noarch)
    base/               the root prefix (an environment), with base/envs/ its envs dir
    pkgs/               the package cache
    home/.conda/environments.txt

Use :meth:`Installation.environ` for the standalone ``conda-prune`` script and
:meth:`Installation.locations` to call the core directly.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

SUBDIR = "linux-64"
PYVER = "3.11"
SITE = f"lib/python{PYVER}/site-packages"


@dataclass
class Package:
    name: str
    version: str
    build: str
    depends: tuple[str, ...]
    files: dict[str, bytes]
    path: Path | None = None

    @property
    def dist(self) -> str:
        return f"{self.name}-{self.version}-{self.build}"


@dataclass
class Installation:
    root: Path
    packages: dict[str, Package] = field(default_factory=dict)
    _indexed: bool = False

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.channel = self.root / "channel"
        self.pkgs = self.root / "pkgs"
        self.base = self.root / "base"
        self.envs_dir = self.base / "envs"
        self.home = self.root / "home"
        for d in (self.channel / SUBDIR, self.channel / "noarch", self.pkgs, self.envs_dir, self.home / ".conda"):
            d.mkdir(parents=True, exist_ok=True)
        meta = self.base / "conda-meta"
        meta.mkdir(parents=True, exist_ok=True)
        (meta / "history").touch()

    # -- packages ---------------------------------------------------------------------------

    def package(
        self,
        name: str,
        version: str = "1.0",
        build: str = "0",
        depends: Iterable[str] = (),
        files: Mapping[str, bytes | str] | None = None,
        *,
        size: int = 0,
        metadata_only: bool = False,
        python_modules: Iterable[str] = (),
        dist_name: str | None = None,
        requires_dist: Iterable[str] = (),
        executables: Iterable[str] = (),
    ) -> Package:
        """Build one real ``.conda`` package into the channel.

        ``files`` maps prefix-relative paths to contents; ``size`` adds a payload file of that
        many bytes; ``python_modules`` adds ``site-packages/<module>/__init__.py`` plus a
        ``<dist_name>.dist-info`` installed by conda; ``executables`` adds ``bin/<name>``
        scripts. Without any of these the package gets one small file unless ``metadata_only``.
        """
        from rattler_build import assemble_package

        contents: dict[str, bytes] = {k: v.encode() if isinstance(v, str) else v for k, v in (files or {}).items()}
        if size:
            contents[f"share/{name}/payload.bin"] = (name.encode() * (size // max(len(name), 1) + 1))[:size]
        modules = list(python_modules)
        if modules:
            dist = dist_name or name
            for module in modules:
                if "." in module:  # a submodule of a namespace package
                    parts = module.split(".")
                    contents[f"{SITE}/{'/'.join(parts)}/__init__.py"] = f"# {module}\n".encode()
                else:
                    contents[f"{SITE}/{module}/__init__.py"] = f"# {module}\n".encode()
            info = f"{SITE}/{dist.replace('-', '_')}-{version}.dist-info"
            meta = f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n"
            meta += "".join(f"Requires-Dist: {r}\n" for r in requires_dist)
            contents[f"{info}/METADATA"] = meta.encode()
            contents[f"{info}/INSTALLER"] = b"conda\n"
            record_lines = [f"{p[len(SITE) + 1:]},," for p in contents if p.startswith(SITE + "/")]
            record_lines.append(f"{info[len(SITE) + 1:]}/RECORD,,")
            contents[f"{info}/RECORD"] = ("\n".join(record_lines) + "\n").encode()
            top = sorted({m.split(".")[0] for m in modules})
            contents[f"{info}/top_level.txt"] = ("\n".join(top) + "\n").encode()
        for exe in executables:
            contents[f"bin/{exe}"] = f"#!/bin/sh\necho {exe}\n".encode()
        if not contents and not metadata_only:
            contents[f"share/{name}/{name}.txt"] = f"{name} {version}\n".encode()

        stage = self.root / "stage" / f"{name}-{version}-{build}"
        if stage.exists():
            shutil.rmtree(stage)
        stage.mkdir(parents=True)
        for rel, data in contents.items():
            target = stage / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            if rel.startswith("bin/"):
                target.chmod(0o755)
        out = assemble_package(
            name=name,
            version=version,
            target_platform=SUBDIR,
            build_string=build,
            output_dir=self.channel / SUBDIR,
            files_dir=stage,
            depends=list(depends),
            compression_level=1,
            detect_prefix=False,
        )
        pkg = Package(name, version, build, tuple(depends), contents, Path(out.path))
        self.packages[pkg.dist] = pkg
        self._indexed = False
        return pkg

    def index(self) -> None:
        import rattler

        asyncio.run(rattler.index.index_fs(self.channel, write_zst=False, write_shards=False, force=True))
        self._indexed = True

    def _records(self) -> list:
        import rattler

        if not self._indexed:
            self.index()
        channel = rattler.Channel(self.channel.as_uri())
        records = []
        for sub in (SUBDIR, "noarch"):
            path = self.channel / sub / "repodata.json"
            if path.exists():
                records += rattler.RepoData.from_path(str(path)).into_repo_data(channel)
        return records

    def _select(self, specs: Iterable[str]) -> list:
        """The records for ``specs`` (``name``, ``name=version`` or a dist) and, transitively,
        their dependencies by name. Highest version wins where several match."""
        from conda_prune.specs import spec_name

        by_name: dict[str, list] = {}
        for rec in self._records():
            by_name.setdefault(rec.name.normalized, []).append(rec)

        def pick(spec: str):
            if spec in self.packages:
                pkg = self.packages[spec]
                return next(r for r in by_name[pkg.name] if str(r.version) == pkg.version and str(r.build) == pkg.build)
            name, _, version = spec.partition("=")
            candidates = by_name.get(name.strip().lower(), [])
            if version:
                candidates = [r for r in candidates if str(r.version) == version]
            if not candidates:
                raise KeyError(f"no package {spec!r} in the test channel")
            return max(candidates, key=lambda r: (r.version, r.build_number))

        chosen: dict[str, object] = {}
        todo = list(specs)
        while todo:
            spec = todo.pop()
            rec = pick(spec)
            if rec.name.normalized in chosen:
                continue
            chosen[rec.name.normalized] = rec
            todo += [spec_name(d) for d in rec.depends if not spec_name(d).startswith("__")]
        return list(chosen.values())

    # -- environments ---------------------------------------------------------------------------

    def prefix_of(self, name_or_path: str | Path) -> Path:
        p = Path(name_or_path)
        if p.is_absolute():
            return p
        return self.base if str(name_or_path) == "base" else self.envs_dir / str(name_or_path)

    def create_env(
        self,
        name_or_path: str | Path,
        specs: Iterable[str],
        *,
        link: str = "hardlink",
        register: bool = True,
        history: bool = True,
        requested: Iterable[str] | None = None,
        explicit: str | None = None,
    ) -> Path:
        """Install ``specs`` (with their dependencies) into a real environment.

        ``link``: "hardlink" (conda's default), "symlink" (as under ``always_softlink``: files
        are symlinks into the cache and records say softlink) or "copy". ``history`` writes
        conda's ``conda-meta/history`` naming ``requested`` (default: ``specs``).
        ``explicit``: write the history as an install from a lockfile does instead:
        ``"update-specs"`` as ``conda create --file explicit.txt`` (every package requested by
        URL spec), ``"urls-only"`` as tools that write only the ``+url`` lines.
        """
        import rattler

        prefix = self.prefix_of(name_or_path)
        specs = list(specs)
        records = self._select(specs)
        toml = ""
        if link == "copy":
            toml = "allow-hard-links = false\nallow-symbolic-links = false\nallow-ref-links = false\n"
        asyncio.run(
            rattler.install(
                records,
                prefix,
                cache_dir=self.pkgs,
                show_progress=False,
                config=rattler.Config.from_toml(toml),
            )
        )
        self.record_sources()
        if link == "symlink":
            self._convert_to_symlinks(prefix)
        if explicit:
            self.write_explicit_history(prefix, records, urls_only=explicit == "urls-only")
        elif history:
            self.write_history(prefix, [r for r in records], requested if requested is not None else specs)
        else:
            (prefix / "conda-meta" / "history").write_text("")
        if register and prefix != self.base:
            self.register(prefix)
        return prefix

    def _convert_to_symlinks(self, prefix: Path) -> None:
        """Make an environment look like one conda installs with ``always_softlink``."""
        for meta in (prefix / "conda-meta").glob("*.json"):
            data = json.loads(meta.read_text())
            source = Path(data["link"]["source"])
            for entry in data["paths_data"]["paths"]:
                target = prefix / entry["_path"]
                if target.is_file() and not target.is_symlink():
                    target.unlink()
                    target.symlink_to(source / entry["_path"])
                    entry["path_type"] = "softlink"
            data["link"]["type"] = 2
            meta.write_text(json.dumps(data, indent=2, sort_keys=True))

    def write_history(self, prefix: Path, records: Iterable, requested: Iterable[str]) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(1_700_000_000))
        lines = [f"==> {stamp} <==", f"# cmd: {self.base}/bin/conda create -p {prefix} {' '.join(requested)}", "# conda version: 26.7.1"]
        for rec in sorted(records, key=lambda r: r.name.normalized):
            lines.append(f"+{self.channel.as_uri()}::{rec.name.normalized}-{rec.version}-{rec.build}")
        lines.append(f"# update specs: {list(requested)!r}")
        (prefix / "conda-meta" / "history").write_text("\n".join(lines) + "\n")

    def _url_spec(self, rec) -> tuple[str, str]:
        """The ``+`` line and the update spec conda writes for a record installed by URL."""
        channel = f"{self.channel.as_uri()}/{rec.subdir}"
        name = rec.name.normalized
        return f"+{channel}::{name}-{rec.version}-{rec.build}", f"{channel}::{name}=={rec.version}={rec.build}"

    def write_explicit_history(self, prefix: Path, records: Iterable, *, urls_only: bool = False) -> None:
        """The history ``conda create -p PREFIX --file explicit.txt`` writes (read from conda's
        ``misc.explicit`` and checked against a real conda 26.7.1): the ``+`` lines sorted, then
        one ``update specs`` line of URL specs in the file's order. ``urls_only``: no specs."""
        records = list(records)
        lines = [
            "==> 2023-11-14 22:13:20 <==",
            f"# cmd: {self.base}/bin/conda create -p {prefix} --file explicit.txt",
            "# conda version: 26.7.1",
        ]
        lines += sorted(self._url_spec(r)[0] for r in records)
        if not urls_only:
            lines.append(f"# update specs: {[self._url_spec(r)[1] for r in records]!r}")
        (prefix / "conda-meta" / "history").write_text("\n".join(lines) + "\n")

    def install(self, prefix: Path, specs: Iterable[str], *, requested: Iterable[str] | None = None) -> list:
        """``conda install -p PREFIX SPECS`` on an existing environment: link ``specs`` and
        their dependencies, and append the history block conda writes (the ``+`` lines of the
        new packages and ``update specs`` naming ``requested``, default ``specs``)."""
        import rattler

        specs = list(specs)
        installed = [m.name[: -len(".json")] for m in (prefix / "conda-meta").glob("*.json")]
        before = {d for d in installed}
        records = self._select([*installed, *specs])
        asyncio.run(rattler.install(records, prefix, cache_dir=self.pkgs, show_progress=False))
        self.record_sources()
        added = [r for r in records if f"{r.name.normalized}-{r.version}-{r.build}" not in before]
        lines = [
            "==> 2023-11-15 09:00:00 <==",
            f"# cmd: {self.base}/bin/conda install -p {prefix} {' '.join(specs)}",
            "# conda version: 26.7.1",
        ]
        lines += sorted(f"+{self.channel.as_uri()}::{r.name.normalized}-{r.version}-{r.build}" for r in added)
        lines.append(f"# update specs: {list(requested if requested is not None else specs)!r}")
        with open(prefix / "conda-meta" / "history", "a") as fh:
            fh.write("\n".join(lines) + "\n")
        return added

    def register(self, prefix: Path) -> None:
        txt = self.home / ".conda" / "environments.txt"
        existing = txt.read_text().splitlines() if txt.exists() else []
        if str(prefix) not in existing:
            with open(txt, "a") as fh:
                fh.write(f"{prefix}\n")

    def remove_env(self, name_or_path: str | Path, *, unregister: bool = True) -> None:
        """Delete an environment's folder (as ``rm -rf`` or ``conda remove --all`` would)."""
        prefix = self.prefix_of(name_or_path)
        shutil.rmtree(prefix)
        if unregister:
            txt = self.home / ".conda" / "environments.txt"
            if txt.exists():
                kept = [line for line in txt.read_text().splitlines() if line != str(prefix)]
                txt.write_text("".join(f"{line}\n" for line in kept))

    def pip_install(
        self,
        prefix: Path,
        name: str,
        version: str = "1.0",
        modules: Iterable[str] = (),
        requires_dist: Iterable[str] = (),
        *,
        requested: bool = True,
        installer: str = "pip",
        files: Mapping[str, bytes | str] | None = None,
    ) -> Path:
        """Write a distribution the way pip installs one (files, dist-info, RECORD, REQUESTED).
        ``files``: more files, site-packages-relative, listed in RECORD too."""
        site = prefix / SITE
        modules = list(modules) or [name.replace("-", "_")]
        written = []
        for rel, data in (files or {}).items():
            target = site / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists() or target.is_symlink():
                target.unlink()  # pip replaces a file another installer put there (it may be a hardlink)
            target.write_bytes(data.encode() if isinstance(data, str) else data)
            written.append(rel)
        for module in modules:
            target = site / Path(*module.split(".")) / "__init__.py"
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists() or target.is_symlink():
                target.unlink()
            target.write_text(f"# {module} (pip)\n")
            written.append(target.relative_to(site).as_posix())
        info = site / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir(parents=True, exist_ok=True)
        meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        meta += "".join(f"Requires-Dist: {r}\n" for r in requires_dist)
        (info / "METADATA").write_text(meta)
        (info / "INSTALLER").write_text(f"{installer}\n")
        if requested:
            (info / "REQUESTED").write_text("")
        (info / "top_level.txt").write_text("\n".join(sorted({m.split('.')[0] for m in modules})) + "\n")
        rel_info = info.relative_to(site).as_posix()
        record = [_record_line(site, p) for p in written]
        record += [_record_line(site, f"{rel_info}/{f}") for f in ("METADATA", "INSTALLER", "top_level.txt")]
        record.append(f"{rel_info}/RECORD,,")
        (info / "RECORD").write_text("\n".join(record) + "\n")
        return info

    # -- what conda keeps in a package cache beyond rattler --------------------------------------

    def add_conda_cache_files(self) -> None:
        """Tarballs next to extracted entries, ``urls.txt`` and ``info/repodata_record.json``."""
        by_dist = {}
        for sub in (SUBDIR, "noarch"):
            path = self.channel / sub / "repodata.json"
            if path.exists():
                data = json.loads(path.read_text())
                for fn, rec in {**data.get("packages", {}), **data.get("packages.conda", {})}.items():
                    by_dist[fn.rsplit(".conda", 1)[0].rsplit(".tar.bz2", 1)[0]] = (sub, fn, rec)
        urls = []
        for entry in sorted(self.pkgs.iterdir()):
            if not (entry / "info" / "index.json").exists() or entry.name not in by_dist:
                continue
            sub, fn, rec = by_dist[entry.name]
            url = f"{self.channel.as_uri()}/{sub}/{fn}"
            tarball = self.pkgs / fn
            if not tarball.exists():
                shutil.copy2(self.channel / sub / fn, tarball)
            record = dict(rec, fn=fn, url=url, channel=self.channel.as_uri())
            (entry / "info" / "repodata_record.json").write_text(json.dumps(record, indent=2, sort_keys=True))
            urls.append(url)
        with open(self.pkgs / "urls.txt", "a") as fh:
            fh.writelines(f"{u}\n" for u in urls)

    def extract_to_cache(self, pkg: Package) -> Path:
        """Put a package into the cache without installing it (a download nobody linked)."""

        entry = self.pkgs / pkg.dist
        if not entry.exists():
            from rattler.package_streaming import extract

            extract(str(pkg.path), str(entry))
        self.record_sources()
        return entry

    def download_to_cache(self, pkg: Package) -> Path:
        """A tarball in the cache, never extracted, with its ``urls.txt`` line (as conda downloads)."""
        tarball = self.pkgs / pkg.path.name
        shutil.copy2(pkg.path, tarball)
        with open(self.pkgs / "urls.txt", "a") as fh:
            fh.write(f"{self.channel.as_uri()}/{pkg.path.parent.name}/{pkg.path.name}\n")
        return tarball

    def record_sources(self) -> None:
        """What conda writes into every entry it extracts: ``info/repodata_record.json`` with the
        ``url`` it came from (here the test channel). rattler's cache entries have none."""
        for entry in self.pkgs.iterdir():
            record = entry / "info" / "repodata_record.json"
            pkg = self.packages.get(entry.name)
            if pkg is None or record.exists() or not (entry / "info" / "index.json").is_file() or entry.is_symlink():
                continue
            sub = pkg.path.parent.name
            index = json.loads((entry / "info" / "index.json").read_text())
            data = dict(index, fn=pkg.path.name, url=f"{self.channel.as_uri()}/{sub}/{pkg.path.name}",
                        channel=self.channel.as_uri())
            record.write_text(json.dumps(data, indent=2, sort_keys=True))

    # -- configuration ----------------------------------------------------------------------

    def condarc(self) -> Path:
        path = self.root / "condarc"
        if not path.exists():
            path.write_text(f"pkgs_dirs:\n  - {self.pkgs}\nenvs_dirs:\n  - {self.envs_dir}\n")
        return path

    def environ(self, **extra: str) -> dict[str, str]:
        """Variables that point both conda and the standalone script at this installation only."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CONDA", "MAMBA", "_CE_", "_CONDA"))}
        env.update(
            HOME=str(self.home),
            CONDARC=str(self.condarc()),
            CONDA_PKGS_DIRS=str(self.pkgs),
            CONDA_ENVS_PATH=str(self.envs_dir),
            CONDA_ROOT_PREFIX=str(self.base),
            CONDA_ROOT=str(self.base),
            PYTHONPATH=os.pathsep.join(p for p in (str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH", "")) if p),
        )
        env.update(extra)
        return env

    def locations(self, keep: Iterable[str] = ()):
        from conda_prune.locations import Locations

        return Locations(
            root_prefix=self.base,
            pkgs_dirs=(self.pkgs,),
            envs_dirs=(self.envs_dir,),
            environments_txt=(self.home / ".conda" / "environments.txt",),
            keep=tuple(keep),
        )


def _record_line(site: Path, rel: str) -> str:
    """A RECORD line as pip writes it: path, urlsafe-base64 sha256 without padding, size."""
    import base64
    import hashlib

    data = (site / rel).read_bytes()
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{rel},sha256={digest},{len(data)}"


def python() -> str:
    return sys.executable
