"""What the benchmark scripts print about the machine they ran on (each script words its own line)."""

from pathlib import Path


def cpu_model(default: str = "") -> str:
    """The CPU's model name from /proc/cpuinfo, or `default` where there is none."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return default


def memory_gib() -> float | None:
    """Total memory in GiB from /proc/meminfo, or None where it cannot be read."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return int(line.split()[1]) / 1024 / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None
