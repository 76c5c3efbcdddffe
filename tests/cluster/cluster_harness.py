"""Real services for the cluster tests and the scale benchmark: PostgreSQL and a two-node Ray
cluster, started from their own packages in temp folders, on loopback only.

Everything here must run inside a private network namespace (``unshare -n`` with ``lo`` up):
outside one, Ray advertises and connects to the machine's external address, even with
``--node-ip-address 127.0.0.1``. ``in_private_netns()`` checks it; ``run_in_netns`` re-executes
a command inside a fresh one. Clean-up kills exactly the processes in our namespace (by pid),
never by name: ``ray stop`` would kill every Ray process of the machine.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
PG_BINS = [Path("/usr/lib/postgresql") / v / "bin" for v in ("17", "16", "15")]


def in_private_netns() -> bool:
    """True when the only network interface is loopback (a namespace made by ``unshare -n``)."""
    return [name for _, name in socket.if_nameindex()] == ["lo"]  # (/sys/class/net shows the host's)


def can_make_netns() -> str | None:
    """None if we can run ``unshare -n`` (root), else why not."""
    if os.geteuid() != 0:
        return "making a private network namespace (unshare -n) needs root"
    if not shutil.which("unshare") or not shutil.which("ip"):
        return "unshare and ip (util-linux, iproute2) are needed"
    return None


def run_in_netns(argv: list[str], env=None, timeout=None, cwd=None, capture=True) -> subprocess.CompletedProcess:
    """Run ``argv`` inside a new network namespace with only loopback up; kills what it leaves behind.
    ``capture=False`` lets its output through as it comes (a long benchmark)."""
    script = 'ip link set lo up && exec "$@"'
    out = subprocess.PIPE if capture else None
    proc = subprocess.Popen(
        ["unshare", "-n", "sh", "-c", script, "sh", *argv],
        env=env,
        cwd=cwd,
        stdout=out,
        stderr=subprocess.STDOUT if capture else None,
        text=True,
    )
    ns = None
    for _ in range(100):  # the namespace's identity, read while the child lives
        try:
            ns = os.readlink(f"/proc/{proc.pid}/ns/net")
            if ns != os.readlink("/proc/self/ns/net"):
                break
        except OSError:
            break
        time.sleep(0.01)
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            out, _ = proc.communicate()
        if ns:
            kill_namespace(ns)
    return subprocess.CompletedProcess(argv, proc.returncode, out, None)


def namespace_pids(ns: str) -> list[int]:
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if os.readlink(f"/proc/{d}/ns/net") == ns:
                    pids.append(int(d))
            except OSError:
                pass
    return pids


def kill_namespace(ns: str, spare=()) -> None:
    """SIGKILL every process in network namespace ``ns`` except ``spare`` (our own process tree)."""
    for pid in namespace_pids(ns):
        if pid not in spare:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def my_ancestors() -> set[int]:
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            break
    return pids


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- PostgreSQL (Debian's package)


def _pg_tool(name: str) -> str:
    for d in PG_BINS:
        if (d / name).exists():
            return str(d / name)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} not found: apt-get install postgresql")
    return found


class Postgres:
    """A throwaway server: ``initdb`` in a temp folder, ``pg_ctl start`` on a free loopback port.

    As root, the server runs as the ``postgres`` user (Debian's package makes it), else ``nobody``:
    PostgreSQL refuses to run as root.
    """

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="fmnist-pg-"))
        self.port = free_port()
        self.user = None
        if os.geteuid() == 0:
            self.user = "postgres" if _has_user("postgres") else "nobody"
            os.chown(self.dir, pwd.getpwnam(self.user).pw_uid, pwd.getpwnam(self.user).pw_gid)
        self.data = self.dir / "data"

    def _run(self, argv, **kw):
        if self.user:
            argv = ["runuser", "-u", self.user, "--", *argv]
        return subprocess.run(argv, check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)

    def start(self) -> str:
        self._run([_pg_tool("initdb"), "-D", str(self.data), "-U", "fmnist", "--auth=trust", "-E", "UTF8", "--no-sync"])
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100"
        self._run([_pg_tool("pg_ctl"), "-D", str(self.data), "-o", opts, "-l", str(self.dir / "log"), "-w", "start"])
        return self.url

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://fmnist@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        try:
            self._run([_pg_tool("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"])
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


# ---------------------------------------------------------------- Ray (head + worker nodes)


class RayCluster:
    """``ray start --head`` plus ``workers`` more nodes, each ``--num-cpus 1`` with its own temp dir."""

    def __init__(self, workers: int = 1, cpus_per_node: int = 1):
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="fr-", dir="/tmp"))  # short: Ray's socket paths have a limit
        self.workers, self.cpus = workers, cpus_per_node
        self.node_dirs: list[Path] = []
        self.env = dict(
            os.environ,
            RAY_USAGE_STATS_ENABLED="0",
            RAY_health_check_period_ms="1000",
            RAY_health_check_failure_threshold="3",
        )

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _start(self, args: list[str], name: str) -> None:
        tmp = self.root / name
        self.node_dirs.append(tmp)
        subprocess.run(
            [
                str(VENV_BIN / "ray"),
                "start",
                *args,
                "--num-cpus",
                str(self.cpus),
                "--temp-dir",
                str(tmp),
                "--node-ip-address",
                "127.0.0.1",
                "--object-store-memory",
                str(80 * 2**20),
                "--disable-usage-stats",
            ],
            check=True,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=180,
        )

    def start(self) -> str:
        # Whatever already runs in our namespace (the test runner, a shell, PostgreSQL) is not Ray's.
        self.before = set(namespace_pids(os.readlink("/proc/self/ns/net")))
        self._start(["--head", "--port", str(self.port), "--include-dashboard=false"], "head")
        for i in range(self.workers):
            self._start(["--address", self.address], f"w{i}")
        return self.address

    def raylet_pid(self, node: int) -> int:
        """The raylet of node ``node`` (0 = head), found by its temp dir in its command line."""
        marker = f"--temp_dir={self.node_dirs[node]}"
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    cmd = Path(f"/proc/{d}/cmdline").read_bytes().split(b"\0")
                except OSError:
                    continue
                if cmd and cmd[0].endswith(b"/raylet") and marker.encode() in cmd:
                    return int(d)
        raise LookupError(f"no raylet for node {node}")

    def stop(self) -> None:
        """Kill the processes that appeared in our namespace since ``start`` (Ray's daemons and workers),
        sparing our own process tree and PostgreSQL's (another user)."""
        if in_private_netns() and hasattr(self, "before"):
            ns = os.readlink("/proc/self/ns/net")
            others = {p for p in namespace_pids(ns) if _uid(p) not in (None, os.geteuid())}
            kill_namespace(ns, spare=self.before | my_ancestors() | others)
        shutil.rmtree(self.root, ignore_errors=True)


def _uid(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None
