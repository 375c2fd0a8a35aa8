"""What sparknn writes to disk: outputs that appear whole or not at all, and temporary files
that do not outlive their process.

An output directory is written into a fresh directory beside it and renamed into place
(:func:`staged_directory`), so a loader sees the old set of files or the new one, never a
mix; single files go through a temporary name (:func:`atomic_file`). Both get the modes
``open`` and ``mkdir`` would give them (0666 / 0777 less the umask). :func:`check_output` is
the check every job makes of its output before it starts training.

Temporary artifacts (the package zip, the socket folder, the shared word2vec model, staged
outputs) carry their creator's pid in their name (:func:`owned_prefix`). A process killed
with SIGKILL cannot remove them, so each job sweeps, at start, the ones of this user whose
process is gone (:func:`sweep_stale`); SIGTERM is made to unwind the process
(:func:`exit_on_sigterm`), so that it removes its own.
"""

import fnmatch
import glob
import os
import re
import secrets
import shutil
import signal
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

from sparknn.errors import SparknnError

SHARED_MEMORY = "/dev/shm"
# "sparknn-<kind>-<pid>-<random>", with any suffix: see owned_prefix.
_OWNED = re.compile(r"sparknn-[a-z0-9]+-(\d+)-.+")


def owned_prefix(kind: str) -> str:
    """The name prefix of a temporary artifact of this process (for mkstemp/mkdtemp)."""
    return f"sparknn-{kind}-{os.getpid()}-"


def process_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs (a recycled pid counts: its artifacts stay)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def sweep_stale(folders=None, prefix: str = "") -> list[Path]:
    """Remove this user's artifacts named ``prefix`` + :func:`owned_prefix` in ``folders``
    (default: the temporary folder and shared memory) whose process is no longer running;
    return what was removed."""
    if folders is None:
        folders = [tempfile.gettempdir(), SHARED_MEMORY]
    removed = []
    for folder in folders:
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            match = _OWNED.fullmatch(name[len(prefix) :]) if name.startswith(prefix) else None
            if match is None or process_alive(int(match.group(1))):
                continue
            path = Path(folder, name)
            try:
                if path.lstat().st_uid != os.getuid():
                    continue
                _delete(path)
            except OSError:
                continue  # removed meanwhile, or not ours to remove
            removed.append(path)
    return removed


def _delete(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def exit_on_sigterm() -> None:
    """Make SIGTERM (what ``kill`` and cluster managers send) raise SystemExit in the main
    thread, so that ``finally`` blocks and atexit handlers run: the default action ends the
    process without them. Left alone where a handler is set already, or off the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _exit)


def _exit(signum, frame):
    raise SystemExit(128 + signum)


def default_mode(directory: bool = False) -> int:
    """The mode ``open`` (0666) or ``mkdir`` (0777) would create, less the umask."""
    umask = os.umask(0o077)  # read by setting it: files made meanwhile are private, not open
    os.umask(umask)
    return (0o777 if directory else 0o666) & ~umask


@contextmanager
def atomic_file(path, mode: str = "w"):
    """``with atomic_file(path, "wb") as handle:`` writes a temporary file beside ``path``,
    moved onto it when the block succeeds and removed when it fails."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    kwargs = {} if "b" in mode else {"encoding": "utf-8", "newline": "\n"}
    try:
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
        os.chmod(tmp, default_mode())  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _holds_something(path: Path) -> bool:
    """An empty directory is no output to lose; anything else is (unreadable ones too)."""
    if not os.path.lexists(path):
        return False
    if os.path.islink(path) or not os.path.isdir(path):
        return True
    try:
        return bool(os.listdir(path))
    except OSError:
        return True


def _local(path) -> Path | None:
    """``path`` as a local path, or None for a URI such as ``hdfs://...``."""
    text = str(path)
    if "://" in text:
        return Path(text[len("file://") :]) if text.startswith("file://") else None
    return Path(text)


def _read_paths(local: Path) -> list[Path]:
    """The paths a local input names: itself, or what its glob matches now."""
    if not any(c in str(local) for c in "*?["):
        return [local]
    return [Path(match) for match in glob.glob(str(local))]


def _overlap(output: Path, given) -> str | None:
    """How ``output`` overlaps the input ``given`` (a path, glob or URI), or None."""
    local = _local(given)
    if local is None:
        return None
    resolved, pattern = output.resolve(), local.resolve()
    if resolved == pattern:
        return f"is the input {given}"
    if fnmatch.fnmatch(str(resolved), str(pattern)):
        return f"matches the input {given}"
    for source in (path.resolve() for path in _read_paths(local)):
        shown = given if source == pattern else source  # a glob's: the match
        if source in resolved.parents:
            return f"lies inside the input {shown}"
        if resolved in source.parents:
            return f"contains the input {shown}"
    return None


def check_output(output, inputs=(), overwrite: bool = False, flag: str = "--output") -> Path:
    """Refuse, with one line, an output that cannot or must not be written: one that is,
    contains or lies inside an input; an existing file; an existing non-empty directory
    unless ``overwrite``; one whose folder cannot be written. Returns ``output`` as a Path."""
    output = Path(output)
    for given in [inputs] if isinstance(inputs, (str, os.PathLike)) else inputs:
        overlap = _overlap(output, given)
        if overlap is not None:
            raise SparknnError(f"{flag} {output} {overlap}; choose an output apart from it")
    if os.path.lexists(output) and not os.path.isdir(output):
        raise SparknnError(f"{flag} {output} is an existing file; give a directory path")
    if _holds_something(output) and not overwrite:
        raise SparknnError(f"{flag} {output} already exists; pass --overwrite to replace it")
    ancestor = output.resolve().parent
    while not os.path.exists(ancestor):  # False, not an error, where it cannot be seen
        ancestor = ancestor.parent
    if not os.path.isdir(ancestor):
        raise SparknnError(f"{flag} {output}: {ancestor} is a file, not a directory")
    try:  # rather than os.access, which answers yes to root: modes, mounts, ACLs all answer
        os.rmdir(tempfile.mkdtemp(dir=ancestor, prefix=f".{output.name}.probe-"))
    except OSError as error:
        raise SparknnError(
            f"{flag} {output}: cannot write in {ancestor} ({error.strerror})"
        ) from None
    return output


def _move_aside(path: Path) -> Path:
    """Rename ``path`` to a new name beside it, for removal."""
    while True:
        aside = path.with_name(f".{path.name}.{owned_prefix('old')}{secrets.token_hex(4)}")
        if not os.path.lexists(aside):
            os.rename(path, aside)
            return aside


def remove_directory(path) -> None:
    """Remove ``path`` at once for its readers: renamed aside, then deleted."""
    path = Path(path)
    if os.path.lexists(path):
        _delete(_move_aside(path))


@contextmanager
def staged_directory(output, overwrite: bool = False):
    """``with staged_directory(out) as folder:`` yields a fresh directory beside ``out``
    which, when the block succeeds, becomes ``out`` in one rename; an existing ``out``
    (refused unless ``overwrite``) is renamed aside just before and removed after. When the
    block fails the fresh directory is removed and ``out`` is left as it was. Leftovers of a
    killed process are swept from beside ``out`` first."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale([output.parent], prefix=f".{output.name}.")
    staging = tempfile.mkdtemp(dir=output.parent, prefix=f".{output.name}.{owned_prefix('tmp')}")
    aside = None
    try:
        yield Path(staging)
        os.chmod(staging, default_mode(directory=True))  # mkdtemp creates 0700
        if _holds_something(output):
            if not overwrite:
                raise SparknnError(f"{output} already exists; pass --overwrite to replace it")
            aside = _move_aside(output)
        try:
            os.replace(staging, output)  # also replaces an empty directory
        except BaseException:
            if aside is not None:
                os.replace(aside, output)
            raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if aside is not None:
        try:
            _delete(aside)
        except OSError:
            pass  # the new output is in place; what is left is named for the sweep
