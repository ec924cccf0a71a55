"""Programs an application runs: from shell scripts, Makefiles, Dockerfiles, CI files, Procfiles.

Every word in command position becomes an :data:`EXECUTABLE` use; the environment decides later
which of them are its own programs (``black``, ``pytest``), so ``git`` or ``apt-get`` simply
match nothing. Wrappers are seen through (``sudo``, ``env``, ``timeout 10``, ``xargs``,
``conda run -n ENV``, ``mpirun -n 4``, ``find -exec``), and so are interpreters:
``python -m pytest`` is a use of the *module* pytest, ``python -c "import x"`` and
``bash -c "..."`` are scanned as the code they carry, ``jupyter nbconvert`` also runs
``jupyter-nbconvert``.

Reading too much is the safe direction here: a word wrongly taken for a command can only keep a
package, never remove one.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Iterator

from .types import EXECUTABLE, MODULE, Use

# -- words to commands ---------------------------------------------------------------------------

#: programs that run another program given after their own options, and which of their options
#: take a value (so the value is not mistaken for the program)
WRAPPERS: dict[str, frozenset[str]] = {
    "sudo": frozenset({"-u", "-g", "-h", "-p", "-C", "-D", "-r", "-t", "-U", "-T"}),
    "env": frozenset({"-u", "-C", "--unset", "--chdir"}),
    "exec": frozenset({"-a"}),
    "command": frozenset(),
    "builtin": frozenset(),
    "nohup": frozenset(),
    "time": frozenset({"-f", "-o"}),
    "nice": frozenset({"-n"}),
    "ionice": frozenset({"-c", "-n", "-p"}),
    "timeout": frozenset({"-s", "-k", "--signal", "--kill-after"}),
    "xargs": frozenset({"-I", "-i", "-n", "-P", "-L", "-s", "-d", "-E", "-a", "--max-args", "--max-procs"}),
    "stdbuf": frozenset({"-i", "-o", "-e"}),
    "setsid": frozenset(),
    "unbuffer": frozenset(),
    "catchsegv": frozenset(),
    "strace": frozenset({"-o", "-e", "-p", "-s", "-u"}),
    "ltrace": frozenset({"-o", "-e", "-p", "-s", "-u"}),
    "valgrind": frozenset(),
    "taskset": frozenset(),
    "chrt": frozenset(),
    "numactl": frozenset({"-C", "-N", "-m", "-p", "-i"}),
    "watch": frozenset({"-n", "-d", "--interval"}),
    "flock": frozenset({"-w", "-E", "--timeout"}),
    "parallel": frozenset({"-j", "--jobs", "-S", "--sshlogin"}),
    "entr": frozenset(),
    "mpirun": frozenset({"-n", "-np", "-N", "-c", "-H", "--host", "--hostfile", "-machinefile", "-x", "--map-by", "--bind-to"}),
    "mpiexec": frozenset({"-n", "-np", "-N", "-c", "-H", "--host", "--hostfile", "-machinefile", "-x", "--map-by", "--bind-to"}),
    "srun": frozenset({"-n", "-N", "-c", "-p", "-t", "-J", "-w", "--ntasks", "--partition", "--time", "--mem"}),
    "xvfb-run": frozenset({"-n", "-s", "-e", "-f", "-p"}),
}
#: ``X run ...`` runners: conda run -n ENV cmd, pixi run cmd, uv run cmd, poetry run cmd, ...
RUNNERS: dict[str, frozenset[str]] = {
    "conda": frozenset({"-n", "--name", "-p", "--prefix", "--cwd"}),
    "mamba": frozenset({"-n", "--name", "-p", "--prefix", "--cwd"}),
    "micromamba": frozenset({"-n", "--name", "-p", "--prefix", "--cwd", "-r", "--root-prefix"}),
    "pixi": frozenset({"-e", "--environment", "--manifest-path"}),
    "uv": frozenset({"--with", "--python", "-p", "--project", "--directory", "--group", "--extra", "--package", "--env-file"}),
    "poetry": frozenset(),
    "pipenv": frozenset(),
    "hatch": frozenset(),
    "pdm": frozenset(),
    "rye": frozenset(),
    "coverage": frozenset({"--rcfile", "--source", "--include", "--omit", "--data-file", "--context"}),
}
_SHELL_KEYWORDS = frozenset({
    "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}", "[[", "]]", "case", "esac",
    "select", "coproc",
})
_SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "fish"})
#: a Python interpreter as a program name (``python3.11``, ``pythonw``, ``pypy3``)
PYTHON_PROGRAM = _PYTHON = re.compile(r"^(?:python|pythonw|pypy)(?:\d+(?:\.\d+)?t?)?(?:\.exe)?$")
_PY_VALUE_OPTS = frozenset({"-W", "-X", "-Q"})
_ASSIGNMENT = re.compile(r"^[A-Za-z_]\w*(?:\[[^\]]*\])?\+?=")
_SEPARATORS = frozenset({";", "&&", "||", "|", "&", "(", ")", ";;", "|&", ";&", ";;&", "\n"})
_REDIRECTS = re.compile(r"^\d*(?:>>?|<<?<?|>&|<&|&>>?|>\|)$")
_MODULE = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*$")
_PROGRAM = re.compile(r"^[\w.+@-]+$")

PythonScanner = Callable[[str, str, int], list[Use]]


def program_name(word: str) -> str | None:
    """``/opt/conda/bin/black`` -> ``black``, ``$CONDA_PREFIX/bin/pytest`` -> ``pytest``;
    None for a word that cannot name a program (a bare variable, a glob)."""
    word = word.strip().strip("\"'")
    if not word or word.startswith("-"):
        return None
    name = re.split(r"[/\\]", word)[-1]
    if name.lower().endswith((".exe", ".bat", ".cmd")):
        name = name[:-4]
    if not name or not _PROGRAM.match(name):
        return None
    return name


def argv_uses(
    words: list[str], path: str, line: int, how: str, python: PythonScanner | None = None, depth: int = 0
) -> list[Use]:
    """Uses in one command given as its words (``["python", "-m", "pytest", "-p", "xdist"]``)."""
    uses: list[Use] = []
    i = 0
    while i < len(words) and (_ASSIGNMENT.match(words[i]) or words[i] in _SHELL_KEYWORDS):
        i += 1
    if i >= len(words) or depth > 8:
        return uses
    if words[i] in ("for", "function", "export", "local", "declare", "readonly", "unset", "alias", "return", "cd"):
        return uses
    name = program_name(words[i])
    rest = words[i + 1 :]
    if name is None:
        return uses
    uses.append(Use(EXECUTABLE, name, path, line, how))

    def wrapped(after: list[str], value_options: frozenset[str], positional_numbers: bool = False) -> list[Use]:
        j = 0
        while j < len(after):
            word = after[j]
            if word == "--":
                j += 1
                break
            if word.startswith("-"):
                j += 2 if (word in value_options) else 1
                continue
            if _ASSIGNMENT.match(word) or (positional_numbers and re.match(r"^[\d.]+[smhd]?$|^0x[0-9a-fA-F]+$", word)):
                j += 1
                continue
            break
        return argv_uses(after[j:], path, line, how, python, depth + 1)

    if name in WRAPPERS:
        uses += wrapped(rest, WRAPPERS[name], positional_numbers=True)
    elif name in RUNNERS and rest and rest[0] == "run":
        after = rest[1:]
        if name == "coverage":
            uses.append(Use(MODULE, "coverage", path, line, "coverage run"))
            uses += _python_args(after, path, line, "coverage run", python, depth, options=RUNNERS[name])
        else:
            uses += wrapped(after, RUNNERS[name])
    elif _PYTHON.match(name):
        uses += _python_args(rest, path, line, f"{name}", python, depth)
    elif name in _SHELLS and "-c" in rest:
        code_at = rest.index("-c") + 1
        if code_at < len(rest):
            uses += shell_uses(rest[code_at], path, how, first_line=line, python=python, depth=depth + 1)
    elif name in ("Rscript", "R") and ("-e" in rest or "--expr" in rest):
        from .rlang import r_uses

        for j, word in enumerate(rest[:-1]):
            if word in ("-e", "--expr"):
                uses += r_uses(rest[j + 1], path, first_line=line)
    elif name == "jupyter" and rest and re.match(r"^[a-z][\w-]*$", rest[0]):
        uses.append(Use(EXECUTABLE, f"jupyter-{rest[0]}", path, line, how))
    elif name == "find":
        for j, word in enumerate(rest):
            if word in ("-exec", "-execdir", "-ok", "-okdir"):
                uses += argv_uses(rest[j + 1 :], path, line, how, python, depth + 1)
    if name in ("pytest", "py.test") or (uses and uses[-1].kind == MODULE and uses[-1].name == "pytest"):
        uses += _pytest_plugins(rest, path, line)
    return uses


def _python_args(
    rest: list[str], path: str, line: int, interpreter: str, python: PythonScanner | None, depth: int,
    options: frozenset[str] = frozenset(),
) -> list[Use]:
    uses: list[Use] = []
    j = 0
    while j < len(rest):
        word = rest[j]
        if word == "-m" and j + 1 < len(rest):
            module = rest[j + 1]
            if _MODULE.match(module):
                uses.append(Use(MODULE, module, path, line, f"{interpreter} -m"))
                if module == "pytest":
                    uses += _pytest_plugins(rest[j + 2 :], path, line)
            break
        if word.startswith("-m") and len(word) > 2 and _MODULE.match(word[2:]):
            uses.append(Use(MODULE, word[2:], path, line, f"{interpreter} -m"))
            break
        if word == "-c" and j + 1 < len(rest):
            if python is not None:
                uses += python(rest[j + 1], path, line)
            break
        if word.startswith("-"):
            j += 2 if word in _PY_VALUE_OPTS or word in options else 1
            continue
        break  # a script: the application's own file
    return uses


def _pytest_plugins(args: list[str], path: str, line: int) -> list[Use]:
    uses = []
    for j, word in enumerate(args):
        plugin = None
        if word == "-p" and j + 1 < len(args):
            plugin = args[j + 1]
        elif word.startswith("-p") and len(word) > 2 and not word.startswith("--"):
            plugin = word[2:]
        if plugin and not plugin.startswith("no:") and _MODULE.match(plugin):
            uses.append(Use(MODULE, plugin, path, line, "pytest -p"))
    return uses


# -- shell text to words --------------------------------------------------------------------------


def _strip_comment(line: str) -> str:
    """Cut a ``# comment``, leaving ``#`` inside quotes and words (``a#b``) alone."""
    quote = ""
    escaped = False
    for i, ch in enumerate(line):
        if escaped:
            escaped = False
            continue
        if ch == "\\" and quote != "'":
            escaped = True
            continue
        if quote:
            if ch == quote:
                quote = ""
            continue
        if ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t;&|()"):
            return line[:i]
    return line


def _tokens(text: str) -> list[str]:
    text = text.replace("`", " ; ").replace("$(", " ( ")
    try:
        lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = ""
        return list(lexer)
    except ValueError:  # an unbalanced quote: split plainly, which reads more, never less
        return re.findall(r"&&|\|\||[;&|()]|[^\s;&|()]+", text)


def _segments(tokens: list[str]) -> Iterator[list[str]]:
    current: list[str] = []
    skip_next = False
    for token in tokens:
        if skip_next:
            skip_next = False
            continue
        if token in _SEPARATORS or set(token) <= set(";&|()"):
            if current:
                yield current
            current = []
            continue
        if _REDIRECTS.match(token):
            skip_next = True  # the redirection's target
            continue
        if re.match(r"^\d*[<>]", token):
            continue  # a redirection written together with its target
        current.append(token)
    if current:
        yield current


_HEREDOC = re.compile(r"<<-?\s*(['\"]?)([A-Za-z_]\w*)\1")


def logical_lines(text: str, first_line: int = 1) -> Iterator[tuple[int, str, list[str]]]:
    """(line number, command text, heredoc body lines) with backslash continuations joined."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        start = i
        parts = [lines[i]]
        while parts[-1].endswith("\\") and i + 1 < len(lines):
            parts[-1] = parts[-1][:-1]
            i += 1
            parts.append(lines[i])
        i += 1
        command = " ".join(parts)
        body: list[str] = []
        for match in _HEREDOC.finditer(command):
            end = match.group(2)
            while i < len(lines) and lines[i].strip() != end:
                body.append(lines[i])
                i += 1
            i += 1
        yield first_line + start, command, body


def shell_uses(
    text: str, path: str, how: str = "shell", *, first_line: int = 1, python: PythonScanner | None = None,
    depth: int = 0,
) -> list[Use]:
    """Uses in shell code: every command of every line, pipelines and ``$(...)`` included."""
    uses: list[Use] = []
    if depth > 8:
        return uses
    for line, command, body in logical_lines(text, first_line):
        command = _strip_comment(command).strip()
        if not command:
            continue
        found: list[Use] = []
        for words in _segments(_tokens(command)):
            found += argv_uses(words, path, line, how, python, depth)
        uses += found
        if body:
            runs_python = any(u.kind == EXECUTABLE and _PYTHON.match(u.name) for u in found)
            if runs_python and python is not None:
                uses += python("\n".join(body), path, line + 1)
            else:
                uses += shell_uses("\n".join(body), path, how, first_line=line + 1, python=python, depth=depth + 1)
    return uses


# -- file formats --------------------------------------------------------------------------------

_MAKE_ASSIGN = re.compile(r"^\s*(?:export\s+|override\s+)?([A-Za-z_][\w.-]*)\s*(::?=|:::=|\?=|\+=|!=|=)\s*(.*)$")
_MAKE_VAR = re.compile(r"\$[({]([A-Za-z_][\w.-]*)[)}]")
_MAKE_SHELL = re.compile(r"\$[({]shell\s+([^)}]*)[)}]")


def makefile_uses(text: str, path: str, python: PythonScanner | None = None) -> list[Use]:
    """Recipe lines (tab-indented), ``$(shell ...)``, and what variables such as
    ``PYTHON ?= python3`` name, with ``$(VAR)`` replaced by its value in recipes."""
    variables: dict[str, str] = {}
    uses: list[Use] = []
    how = "Makefile"

    def expand(s: str) -> str:
        for _ in range(3):
            new = _MAKE_VAR.sub(lambda m: variables.get(m.group(1), m.group(0)), s)
            if new == s:
                break
            s = new
        return s

    for line, command, _ in logical_lines(text):
        for match in _MAKE_SHELL.finditer(command):
            uses += shell_uses(expand(match.group(1)), path, how, first_line=line, python=python)
        if command.startswith("\t"):
            recipe = command.lstrip("\t").lstrip("@+- ")
            uses += shell_uses(expand(recipe), path, how, first_line=line, python=python)
            continue
        assign = _MAKE_ASSIGN.match(command)
        if assign and not command.lstrip().startswith("#"):
            name, op, value = assign.groups()
            value = _strip_comment(value).strip()
            variables[name] = f"{variables.get(name, '')} {value}".strip() if op == "+=" else value
            if op == "!=":
                uses += shell_uses(expand(value), path, how, first_line=line, python=python)
            else:
                words = expand(value).split()
                if words and program_name(words[0]):
                    uses.append(Use(EXECUTABLE, program_name(words[0]) or "", path, line, how))
            continue
        if ";" in command and ":" in command.split(";", 1)[0]:  # target: deps ; recipe
            uses += shell_uses(expand(command.split(";", 1)[1]), path, how, first_line=line, python=python)
    return uses


_DOCKER_INSTRUCTION = re.compile(r"^\s*([A-Za-z]+)\s+(.*)$", re.S)


def dockerfile_uses(text: str, path: str, python: PythonScanner | None = None) -> list[Use]:
    """``RUN``, ``CMD``, ``ENTRYPOINT`` and ``HEALTHCHECK CMD`` in shell or exec (JSON) form."""
    uses: list[Use] = []
    how = "Dockerfile"
    lines = [ln for ln in text.splitlines()]
    # comment lines inside a continued instruction do not end it
    cleaned = "\n".join("" if ln.lstrip().startswith("#") else ln for ln in lines)
    for line, command, body in logical_lines(cleaned):
        match = _DOCKER_INSTRUCTION.match(command)
        if not match:
            continue
        instruction, rest = match.group(1).upper(), match.group(2).strip()
        if instruction == "HEALTHCHECK" and " CMD " in f" {rest} ".upper():
            instruction, rest = "CMD", re.split(r"(?i)\bCMD\b", rest, maxsplit=1)[1].strip()
        if instruction not in ("RUN", "CMD", "ENTRYPOINT"):
            if instruction not in _DOCKER_KNOWN:
                uses += shell_uses(command, path, how, first_line=line, python=python)
            continue
        while rest.startswith("--"):  # RUN --mount=... --network=...
            rest = rest.split(None, 1)[1] if " " in rest else ""
        if rest.startswith("["):
            try:
                argv = json.loads(rest)
            except (ValueError, RecursionError):  # ``CMD [[[[...`` nested too deeply: not an exec form
                argv = None
            if isinstance(argv, list) and all(isinstance(a, str) for a in argv):
                uses += argv_uses(list(argv), path, line, how, python)
                continue
        uses += shell_uses(rest, path, how, first_line=line, python=python)
        if body:
            uses += shell_uses("\n".join(body), path, how, first_line=line + 1, python=python)
    return uses


_DOCKER_KNOWN = frozenset({
    "FROM", "ENV", "ARG", "COPY", "ADD", "WORKDIR", "USER", "LABEL", "EXPOSE", "VOLUME", "SHELL",
    "STOPSIGNAL", "ONBUILD", "MAINTAINER", "HEALTHCHECK",
})

#: YAML keys whose values are commands, in CI files (GitHub, GitLab, Travis, Azure, CircleCI...),
#: docker-compose and pre-commit
_YAML_COMMAND_KEYS = (
    "run", "script", "scripts", "before_script", "after_script", "before_install", "install",
    "after_success", "after_failure", "before_deploy", "command", "commands", "entrypoint", "entry",
    "cmd", "inline", "bash", "pwsh", "sh", "powershell",
)
_YAML_KEY = re.compile(r"^(\s*)(-\s+)?(?:" + "|".join(_YAML_COMMAND_KEYS) + r")\s*:(?:\s+(.*?))?\s*$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def yaml_uses(text: str, path: str, how: str = "CI", python: PythonScanner | None = None) -> list[Use]:
    """Commands under command keys of a YAML file, read line by line (no YAML library needed):
    inline values, block scalars (``run: |``) and lists of commands."""
    uses: list[Use] = []
    lines = text.splitlines()
    for i, raw in enumerate(lines):
        match = _YAML_KEY.match(raw)
        if not match:
            continue
        key_indent = _indent(raw) + (len(match.group(2)) if match.group(2) else 0)
        value = (match.group(3) or "").split(" #", 1)[0].strip()
        if value.startswith(("|", ">")) or not value:
            block: list[tuple[int, str]] = []
            for j in range(i + 1, len(lines)):
                nxt = lines[j]
                if not nxt.strip():
                    continue
                deeper = _indent(nxt) > key_indent
                list_item = not value and _indent(nxt) == key_indent and nxt.lstrip().startswith("- ")
                if not (deeper or list_item):
                    break
                block.append((j + 1, nxt))
            if value.startswith(("|", ">")):
                if block:
                    base = min(_indent(b) for _, b in block)
                    code = "\n".join(b[base:] for _, b in block)
                    uses += shell_uses(code, path, how, first_line=block[0][0], python=python)
            else:
                for number, item in block:
                    stripped = item.strip()
                    if stripped.startswith("- "):
                        command = _unquote(stripped[2:])
                        if command.startswith(("|", ">")):
                            continue  # its lines follow, deeper; they are read as items below
                        uses += _yaml_value(command, path, number, how, python)
                    else:
                        uses += shell_uses(_unquote(stripped), path, how, first_line=number, python=python)
            continue
        uses += _yaml_value(value, path, i + 1, how, python)
    return uses


def _yaml_value(value: str, path: str, line: int, how: str, python: PythonScanner | None) -> list[Use]:
    if value.startswith("[") and value.endswith("]"):
        try:
            argv = json.loads(value)
        except (ValueError, RecursionError):  # ``run: [[[...]]]`` nested too deeply is no flow list either
            argv = [_unquote(v) for v in value[1:-1].split(",")]
        if isinstance(argv, list) and all(isinstance(a, str) for a in argv):
            return argv_uses([a.strip() for a in argv], path, line, how, python)
    return shell_uses(_unquote(value), path, how, first_line=line, python=python)


def procfile_uses(text: str, path: str, python: PythonScanner | None = None) -> list[Use]:
    uses: list[Use] = []
    for number, line in enumerate(text.splitlines(), start=1):
        name, sep, command = line.partition(":")
        if sep and re.match(r"^\s*[\w-]+\s*$", name):
            uses += shell_uses(command, path, "Procfile", first_line=number, python=python)
    return uses


_JENKINS = re.compile(r"\b(?:sh|bat|pwsh|powershell)\s*\(?\s*(?:script\s*:\s*)?('''|\"\"\"|'|\")(.*?)\1", re.S)


def jenkinsfile_uses(text: str, path: str, python: PythonScanner | None = None) -> list[Use]:
    uses: list[Use] = []
    for match in _JENKINS.finditer(text):
        line = text.count("\n", 0, match.start(2)) + 1
        uses += shell_uses(match.group(2), path, "Jenkinsfile", first_line=line, python=python)
    return uses


_INI_SECTION = re.compile(r"^\s*\[([^\]]+)\]")
_INI_COMMANDS = re.compile(r"^(commands(?:_pre|_post)?|allowlist_externals|whitelist_externals)\s*[=:]\s*(.*)$")
_ADDOPTS_P = re.compile(r"""(?:^|[\s"',\[])-p(?:\s+|["'],\s*["']|)(?!no:)([A-Za-z_][\w.]*)""")


def config_uses(text: str, path: str, python: PythonScanner | None = None) -> list[Use]:
    """tox.ini ``commands``, and pytest plugins named with ``-p`` in ``addopts`` (pytest.ini,
    setup.cfg, tox.ini, pyproject.toml)."""
    uses: list[Use] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        raw = lines[i]
        stripped = raw.strip()
        if "addopts" in stripped:
            block = [stripped]
            j = i + 1
            while j < len(lines) and lines[j][:1] in (" ", "\t") and lines[j].strip():
                block.append(lines[j].strip())
                j += 1
            for match in _ADDOPTS_P.finditer(" ".join(block)):
                uses.append(Use(MODULE, match.group(1), path, i + 1, "pytest -p"))
        command = _INI_COMMANDS.match(stripped)
        if command and not raw[:1].isspace():
            values = [(i + 1, command.group(2))]
            j = i + 1
            while j < len(lines) and (lines[j][:1] in (" ", "\t")) and lines[j].strip():
                values.append((j + 1, lines[j].strip()))
                j += 1
            for number, value in values:
                if command.group(1).endswith("externals"):
                    for word in value.split():
                        if program_name(word):
                            uses.append(Use(EXECUTABLE, program_name(word) or "", path, number, "tox"))
                elif value and not value.startswith("#"):
                    value = re.sub(r"\{[^}]*\}", "", value)  # tox substitutions
                    value = re.sub(r"^-\s*", "", value)  # '- cmd': ignore its exit code
                    uses += shell_uses(value, path, "tox", first_line=number, python=python)
            i = j
            continue
        i += 1
    return uses
