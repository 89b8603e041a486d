"""A real single-node Slurm cluster on this machine, for tests: install, start, stop.

Debian's slurm-wlm (22.05) and munge, daemons run as root: munged, slurmctld, slurmd. The node
has a fake GPU (gres ``gpu:1`` backed by /dev/null) so that GPU requests can be scheduled and
checked. Everything this module starts, it stops; files it puts under /etc are removed and
whatever was there before is put back.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

ETC_SLURM = Path("/etc/slurm")
MUNGE_KEY = Path("/etc/munge/munge.key")
PACKAGES = ("slurm-wlm", "munge")


class SlurmUnavailable(Exception):
    """Slurm can be neither found nor installed here (the reason is the message)."""


def _run(*cmd: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return proc


def ensure_installed() -> None:
    """Install slurm-wlm and munge with apt when missing (root only)."""
    missing = [d for d in ("slurmctld", "slurmd", "munged", "sbatch") if not _which(d)]
    if not missing:
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise SlurmUnavailable(
            f"Slurm is not installed ({', '.join(missing)} missing) and cannot be installed "
            "here (needs root and apt-get): apt-get install slurm-wlm munge"
        )
    _run("apt-get", "update", "-qq", timeout=300)
    _run("apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES, timeout=600)


def _which(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin")


def _munge_works() -> bool:
    return subprocess.run(["sh", "-c", "munge -n | unmunge"], capture_output=True).returncode == 0


def _available_memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    raise RuntimeError("no MemAvailable in /proc/meminfo")


@dataclass
class Cluster:
    """A running single-node cluster; ``stop()`` ends what ``start()`` began."""

    root: Path
    pids: dict[str, int] = field(default_factory=dict)
    backups: dict[Path, Path] = field(default_factory=dict)
    placed: list[Path] = field(default_factory=list)

    def start(self, *, timeout: float = 60) -> None:
        if os.geteuid() != 0:
            raise SlurmUnavailable("starting the Slurm daemons needs root")
        for daemon in ("slurmctld", "slurmd"):
            if subprocess.run(["pgrep", "-x", daemon], capture_output=True).returncode == 0:
                raise RuntimeError(f"a {daemon} is already running here; stop it first")
        (self.root / "state").mkdir(parents=True, exist_ok=True)
        (self.root / "spool").mkdir(parents=True, exist_ok=True)
        self._write_config()
        self._start_munge()
        self._spawn("slurmctld", _which("slurmctld"), "-D", "-i")
        self._spawn("slurmd", _which("slurmd"), "-D", "-N", "localhost")
        self._wait_idle(timeout)

    def _write_config(self) -> None:
        cpus = os.cpu_count() or 1
        memory = int(0.9 * _available_memory_mb())
        conf = self.root / "slurm.conf"
        conf.write_text(
            "\n".join(
                [
                    "ClusterName=twasnet-test",
                    "SlurmctldHost=localhost",
                    "AuthType=auth/munge",
                    "SlurmUser=root",
                    "SlurmdUser=root",
                    "ProctrackType=proctrack/linuxproc",
                    "TaskPlugin=task/none",
                    "SelectType=select/cons_tres",
                    "SelectTypeParameters=CR_Core_Memory",
                    "GresTypes=gpu",
                    "MpiDefault=none",
                    "ReturnToService=2",
                    # keep finished jobs visible to `scontrol show job` for the checks
                    "MinJobAge=3600",
                    "AccountingStorageType=accounting_storage/none",
                    "JobCompType=jobcomp/none",
                    f"StateSaveLocation={self.root / 'state'}",
                    f"SlurmdSpoolDir={self.root / 'spool'}",
                    f"SlurmctldPidFile={self.root / 'slurmctld.pid'}",
                    f"SlurmdPidFile={self.root / 'slurmd.pid'}",
                    f"SlurmctldLogFile={self.root / 'slurmctld.log'}",
                    f"SlurmdLogFile={self.root / 'slurmd.log'}",
                    f"NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} "
                    f"RealMemory={memory} Gres=gpu:1 State=UNKNOWN",
                    "PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP",
                    "",
                ]
            )
        )
        gres = self.root / "gres.conf"
        # without File= the node goes INVAL; /dev/null stands in for a device
        gres.write_text("NodeName=localhost Name=gpu Count=1 File=/dev/null\n")
        # The plugin's job step drops SLURM_CONF, so the config must sit at the default path.
        ETC_SLURM.mkdir(parents=True, exist_ok=True)
        for source in (conf, gres):
            self._place(ETC_SLURM / source.name, source)

    def _place(self, target: Path, source: Path) -> None:
        if target.exists() or target.is_symlink():
            backup = target.with_name(f"{target.name}.twasnet-test-backup")
            target.rename(backup)
            self.backups[target] = backup
        target.symlink_to(source)
        self.placed.append(target)

    def _start_munge(self) -> None:
        if _munge_works():
            return  # a working munged is already there: use it, and leave it running
        if not MUNGE_KEY.exists():
            MUNGE_KEY.parent.mkdir(parents=True, exist_ok=True)
            MUNGE_KEY.write_bytes(os.urandom(1024))
            MUNGE_KEY.chmod(0o400)
            self.placed.append(MUNGE_KEY)
        Path("/run/munge").mkdir(parents=True, exist_ok=True)
        self._spawn(
            "munged",
            _which("munged"),
            "--foreground",
            "--force",
            f"--log-file={self.root / 'munged.log'}",
            f"--pid-file={self.root / 'munged.pid'}",
        )
        for _ in range(100):
            if _munge_works():
                return
            time.sleep(0.1)
        raise RuntimeError(f"munged did not start:\n{self.logs()}")

    def _spawn(self, name: str, *cmd: str) -> None:
        log = (self.root / f"{name}.out").open("w")
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        self.pids[name] = proc.pid

    def _wait_idle(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            proc = _run("sinfo", "-h", "-N", "-o", "%T", check=False, timeout=10)
            state = proc.stdout.strip()
            if state == "idle":
                return
            time.sleep(0.5)
        raise RuntimeError(f"the Slurm node did not become idle (state {state!r}):\n{self.logs()}")

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text()[-3000:]}"
            for p in sorted(self.root.glob("*.log")) + sorted(self.root.glob("*.out"))
        )

    def stop(self) -> None:
        """Stop every daemon started here, then put /etc back as it was."""
        for name in ("slurmd", "slurmctld", "munged"):
            pid = self.pids.pop(name, None)
            if pid is not None:
                _terminate(pid)
        for target in reversed(self.placed):
            target.unlink(missing_ok=True)
        for target, backup in self.backups.items():
            backup.rename(target)
        self.placed.clear()
        self.backups.clear()


def _terminate(pid: int, *, grace: float = 10) -> None:
    try:
        os.kill(pid, 15)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return
        time.sleep(0.1)
    os.kill(pid, 9)
    os.waitpid(pid, 0)


def job_details(job_id: str) -> dict[str, str]:
    """``scontrol show job`` as key=value pairs (finished jobs stay visible for MinJobAge)."""
    text = _run("scontrol", "show", "job", "-o", job_id).stdout
    return dict(item.split("=", 1) for item in text.split() if "=" in item)
