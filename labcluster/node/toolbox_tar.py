"""`tar` and `test` for the toolbox: what `kubectl cp` runs in a container.

kubectl cp to a pod runs `test -d DEST` then `tar -xmf - -C DIR` with a tar stream on
stdin; from a pod, `tar cf - PATH` and reads the stream from stdout. These speak the
same options (old-style `cf`, bundled `-xmf`, `-C`, `--no-same-permissions`,
`--no-same-owner`, `-t`, `-v`, `-z`) with Python's tarfile, and see the container's
paths through its mount table (containerfs.py). Messages and exit codes are GNU tar's.
"""

from __future__ import annotations

import os
import posixpath
import stat
import sys
import tarfile
from dataclasses import dataclass, field
from typing import IO

from labcluster.node.containerfs import ContainerFS


class Usage(Exception):
    pass


@dataclass
class TarOptions:
    mode: str = ""  # c, x or t
    file: str = "-"
    directory: str | None = None
    verbose: bool = False
    gzip: bool = False
    keep_mtime: bool = True  # -m: don't restore modification times
    same_permissions: bool = True
    paths: list[str] = field(default_factory=list)


WITH_VALUE = {"f": "file", "C": "directory"}


def parse(args: list[str]) -> TarOptions:
    opts = TarOptions()
    queue = list(args)
    if queue and not queue[0].startswith("-"):  # old style: `tar cf - x`
        queue[0] = "-" + queue[0]
    pending: list[str] = []  # letters whose values come next, in order (old style)

    def flag(letter: str) -> None:
        if letter in "cxt":
            if opts.mode and opts.mode != letter:
                raise Usage("You may not specify more than one '-Acdtrux', '--delete' or  "
                            "'--test-label' option")
            opts.mode = letter
        elif letter == "v":
            opts.verbose = True
        elif letter == "z":
            opts.gzip = True
        elif letter == "m":
            opts.keep_mtime = False
        elif letter in "po":
            pass  # preserve permissions / no same owner: our defaults already
        else:
            raise Usage(f"invalid option -- '{letter}'")

    first = True
    while queue:
        arg = queue.pop(0)
        if arg == "--":
            opts.paths += queue
            break
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            if name in ("file", "directory"):
                setattr(opts, name, value if eq else queue.pop(0))
            elif name == "no-same-permissions":
                opts.same_permissions = False
            elif name in ("no-same-owner", "same-owner", "preserve-permissions",
                          "same-permissions"):
                pass
            elif name in ("extract", "get", "create", "list"):
                flag({"extract": "x", "get": "x", "create": "c", "list": "t"}[name])
            elif name == "verbose":
                opts.verbose = True
            elif name in ("gzip", "gunzip"):
                opts.gzip = True
            elif name == "touch":
                opts.keep_mtime = False
            else:
                raise Usage(f"unrecognized option '{arg}'")
        elif arg.startswith("-") and len(arg) > 1:
            letters = arg[1:]
            for i, letter in enumerate(letters):
                if letter in WITH_VALUE:
                    rest = letters[i + 1:]
                    if rest and not first:
                        setattr(opts, WITH_VALUE[letter], rest)
                        break
                    if first:  # old style: every value follows the bundle
                        pending.append(letter)
                        continue
                    setattr(opts, WITH_VALUE[letter], queue.pop(0) if queue else "")
                    break
                flag(letter)
            for letter in pending:
                if not queue:
                    raise Usage(f"option requires an argument -- '{letter}'")
                setattr(opts, WITH_VALUE[letter], queue.pop(0))
            pending = []
        else:
            opts.paths.append(arg)
        first = False
    if not opts.mode:
        raise Usage("You must specify one of the '-Acdtrux', '--delete' or '--test-label' "
                    "options")
    return opts


def _err(message: str) -> None:
    print(f"tar: {message}", file=sys.stderr)


def create(opts: TarOptions, fs: ContainerFS, out: IO[bytes]) -> int:
    if not opts.paths:
        _err("Cowardly refusing to create an empty archive")
        return 2
    failed = False
    warned = False
    cwd = fs.absolute(opts.directory) if opts.directory else fs.cwd
    with tarfile.open(fileobj=out, mode="w|gz" if opts.gzip else "w|",
                      format=tarfile.GNU_FORMAT) as archive:
        for given in opts.paths:
            arcname = posixpath.normpath(given)
            if arcname.startswith("/"):
                if not warned:
                    _err("Removing leading `/' from member names")
                    warned = True
                arcname = arcname.lstrip("/") or "."
            failed |= not _add(archive, fs, fs.absolute(given, cwd), arcname, opts)
    if failed:
        _err("Exiting with failure status due to previous errors")
        return 2
    return 0


def _add(archive: tarfile.TarFile, fs: ContainerFS, path: str, arcname: str,
         opts: TarOptions) -> bool:
    host = fs.host(path)
    try:
        info = archive.gettarinfo(str(host), arcname)
    except OSError as exc:
        _err(f"{path}: Cannot stat: {exc.strerror}")
        return False
    if info is None:
        _err(f"{path}: socket ignored")
        return True
    if opts.verbose:
        print(arcname + ("/" if info.isdir() else ""), file=sys.stderr)
    if info.isreg():
        try:
            with open(host, "rb") as f:
                archive.addfile(info, f)
        except OSError as exc:
            _err(f"{path}: Cannot open: {exc.strerror}")
            return False
        return True
    archive.addfile(info)
    ok = True
    if info.isdir():
        try:
            names = fs.children(path)
        except OSError as exc:
            _err(f"{path}: Cannot open: {exc.strerror}")
            return False
        for name in names:
            ok &= _add(archive, fs, posixpath.join(path, name),
                       posixpath.join(arcname, name), opts)
    return ok


def extract(opts: TarOptions, fs: ContainerFS, source: IO[bytes], listing: bool) -> int:
    base = fs.absolute(opts.directory) if opts.directory else fs.cwd
    if opts.directory and not fs.host(base).is_dir():
        _err(f"{opts.directory}: Cannot open: No such file or directory")
        _err("Error is not recoverable: exiting now")
        return 2
    umask = os.umask(0)
    os.umask(umask)
    failed = False
    try:
        archive = tarfile.open(fileobj=source, mode="r|*")  # noqa: SIM115 (with below)
    except tarfile.ReadError:
        _err("This does not look like a tar archive")
        _err("Exiting with failure status due to previous errors")
        return 2
    with archive:
        for member in archive:
            if listing:
                print(member.name + ("/" if member.isdir() and not member.name.endswith("/")
                                     else ""))
                continue
            if opts.verbose:
                print(member.name, file=sys.stderr)
            failed |= not _extract_one(archive, member, fs, base, opts, umask)
    if failed:
        _err("Exiting with failure status due to previous errors")
        return 2
    return 0


def _extract_one(archive: tarfile.TarFile, member: tarfile.TarInfo, fs: ContainerFS,
                 base: str, opts: TarOptions, umask: int) -> bool:
    name = member.name.lstrip("/")
    target = fs.absolute(name, base)
    host = fs.host(target)
    try:
        existing = host.parent
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not fs.inside(existing):  # checked before mkdir, which would follow a link
            raise PermissionError(13, "Permission denied")
        host.parent.mkdir(parents=True, exist_ok=True)
        if member.isdir():
            host.mkdir(exist_ok=True)
        elif member.issym():
            if host.is_symlink() or host.exists():
                host.unlink()
            os.symlink(member.linkname, host)
            return True
        elif member.islnk():
            source = fs.host(fs.absolute(member.linkname.lstrip("/"), base))
            if host.exists():
                host.unlink()
            os.link(source, host)
            return True
        elif member.isreg():
            data = archive.extractfile(member)
            if host.is_symlink():
                host.unlink()  # tar replaces a link, never writes through it
            with open(host, "wb") as f:
                while chunk := data.read(1 << 16) if data else b"":
                    f.write(chunk)
        else:
            return True  # devices, fifos: not in what kubectl cp sends
        mode = stat.S_IMODE(member.mode)
        os.chmod(host, mode if opts.same_permissions else mode & ~umask)
        if opts.keep_mtime:
            os.utime(host, (member.mtime, member.mtime))
    except OSError as exc:
        _err(f"{member.name}: Cannot open: {exc.strerror or exc}")
        return False
    return True


def tar(args: list[str]) -> int:
    try:
        opts = parse(args)
    except (Usage, IndexError) as exc:
        _err(str(exc) if str(exc) else "option requires an argument")
        print("Try 'tar --help' or 'tar --usage' for more information.", file=sys.stderr)
        return 2
    fs = ContainerFS()
    if opts.mode == "c":
        if opts.file == "-":
            return create(opts, fs, sys.stdout.buffer)
        with open(fs.host(fs.absolute(opts.file)), "wb") as f:
            return create(opts, fs, f)
    if opts.file == "-":
        return extract(opts, fs, sys.stdin.buffer, opts.mode == "t")
    try:
        with open(fs.host(fs.absolute(opts.file)), "rb") as f:
            return extract(opts, fs, f, opts.mode == "t")
    except OSError as exc:
        _err(f"{opts.file}: Cannot open: {exc.strerror}")
        return 2


def test(args: list[str]) -> int:
    """POSIX `test` for paths and strings; paths through the container's mount table."""
    if args and args[-1] == "]":
        args = args[:-1]
    negate = bool(args) and args[0] == "!"
    if negate:
        args = args[1:]
    fs = ContainerFS()
    checks = {"-e": os.path.lexists, "-f": os.path.isfile, "-d": os.path.isdir,
              "-L": os.path.islink, "-h": os.path.islink,
              "-s": lambda p: os.path.isfile(p) and os.path.getsize(p) > 0,
              "-r": lambda p: os.access(p, os.R_OK), "-w": lambda p: os.access(p, os.W_OK),
              "-x": lambda p: os.access(p, os.X_OK)}
    if not args:
        result = False
    elif len(args) == 1:
        result = args[0] != ""
    elif len(args) == 2 and args[0] in checks:
        result = bool(checks[args[0]](str(fs.host(fs.absolute(args[1])))))
    elif len(args) == 2 and args[0] in ("-n", "-z"):
        result = (args[1] != "") == (args[0] == "-n")
    elif len(args) == 3 and args[1] in ("=", "==", "!="):
        result = (args[0] == args[2]) == (args[1] != "!=")
    elif len(args) == 3 and args[1] in ("-eq", "-ne", "-lt", "-le", "-gt", "-ge"):
        try:
            a, b = int(args[0]), int(args[2])
        except ValueError:
            print("test: bad number", file=sys.stderr)
            return 2
        result = {"-eq": a == b, "-ne": a != b, "-lt": a < b, "-le": a <= b,
                  "-gt": a > b, "-ge": a >= b}[args[1]]
    else:
        print(f"test: {args[0]}: unknown operand", file=sys.stderr)
        return 2
    return 0 if result != negate else 1
