"""The two versions a review compares: git revisions of the project folder, or folders.

A revision is copied out of git into a temporary folder (`git ls-tree` and `git
cat-file`, read only: nothing is checked out, no hook or filter of the repository
runs, the working tree and the index are left alone); the working tree is the
project folder itself, read as it is.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import ClientflowError, UnknownName

WORKING_TREE = "working tree"
GIT = ("git", "-c", "core.fsmonitor=false", "-c", "core.quotepath=off")


@dataclass(frozen=True)
class Version:
    """One side of a review: what to call it and the folder its project is read from."""

    label: str
    root: Path
    prefix: str = ""  # what a path of the project is shown after: `HEAD:`, `old/`, nothing for the working tree
    revision: str | None = None  # the commit, when it came out of git

    def where(self, path: str) -> str:
        """A path of the project as a person finds it in this version: `HEAD:flows/x.yaml`, `old/flows/x.yaml`."""
        return f"{self.prefix}{path}"


def versions(project: Path, base: str | None, head: str | None, scratch: Path) -> tuple[Version, Version]:
    """BASE and HEAD as the command line gives them; revisions are written under `scratch`.

    No argument: the last commit (`HEAD`) against the working tree. One: that
    revision or folder against the working tree. Each argument is a folder when
    such a folder exists, else a git revision of the repository holding `project`.
    """
    given = [base or "HEAD", head]
    out: list[Version] = []
    for index, name in enumerate(given):
        if name is None:
            out.append(Version(WORKING_TREE, project))
        elif Path(name).is_dir():
            out.append(Version(name, Path(name), f"{PurePosixPath(name)}/"))
        else:
            out.append(_revision(project, name, scratch / ("base", "head")[index]))
    return out[0], out[1]


def _git(args: list[str], cwd: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run([*GIT, *args], cwd=cwd, input=stdin, capture_output=True, check=False)  # noqa: S603 - a fixed program, no shell
    except FileNotFoundError:
        raise ClientflowError("git is not installed, so revisions cannot be read; compare two folders instead: clientflow diff OLD_DIR NEW_DIR") from None


def _revision(project: Path, name: str, target: Path) -> Version:
    """The project folder as it was at revision `name`, copied into `target`."""
    if not project.is_dir():
        raise ClientflowError(f"there is no project folder {project}")
    found = _git(["rev-parse", "--show-toplevel", "--show-prefix"], project)
    if found.returncode != 0:
        raise ClientflowError(
            f"{project} is not in a git repository, so {name!r} names neither a folder nor a revision; compare two folders: clientflow diff OLD_DIR NEW_DIR"
        )
    top, prefix = (found.stdout.decode() + "\n").split("\n")[:2]
    top_path = Path(top)
    commit = _git(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{name}^{{commit}}"], top_path)
    if commit.returncode != 0 or name.startswith("-"):
        refs = _git(["for-each-ref", "--format=%(refname:short)", "refs/heads", "refs/tags"], top_path).stdout.decode().split()
        raise UnknownName("git revision or folder", name, ["HEAD", *refs])
    sha = commit.stdout.decode().strip()
    listing = _git(["ls-tree", "-r", "-z", "--full-tree", sha, "--", prefix or "."], top_path)
    files: list[tuple[str, str]] = []  # (object, path under the project folder)
    for entry in listing.stdout.decode("utf-8", "surrogateescape").split("\0"):
        meta, _, path = entry.partition("\t")
        parts = meta.split()
        if len(parts) == 3 and parts[1] == "blob" and parts[0] in ("100644", "100755"):  # symbolic links and submodules are left out
            files.append((parts[2], path[len(prefix) :]))
    shown = f"{name} ({sha[:7]})" if not sha.startswith(name) else sha[:7]
    if not files:
        raise ClientflowError(f"{shown} has no folder {prefix.rstrip('/') or '.'} in {top}; the project did not exist yet at that revision")
    _write(top_path, files, target)
    return Version(shown, target, f"{name}:", sha)


def _write(top: Path, files: list[tuple[str, str]], target: Path) -> None:
    """Write each blob to its path under `target` (one `git cat-file --batch` for them all)."""
    batch = _git(["cat-file", "--batch"], top, "".join(f"{obj}\n" for obj, _ in files).encode())
    data = batch.stdout
    offset = 0
    root = target.resolve()
    for _, path in files:
        end = data.index(b"\n", offset)
        size = int(data[offset:end].split()[2])
        content = data[end + 1 : end + 1 + size]
        offset = end + 1 + size + 1
        destination = (root / path).resolve()
        if root not in destination.parents:  # git refuses such paths; never write outside the folder anyway
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(content)
