"""Timing discipline shared by every benchmark: the two sides of a comparison take turns over several rounds,
and each side is reported as min / median / max with the machine's load, so a slow spell of a shared machine
falls on both sides alike and a reader sees how much the numbers moved."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Spread:
    """Measurements of one quantity over rounds."""

    values: tuple[float, ...]

    @property
    def min(self) -> float:
        return min(self.values)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def max(self) -> float:
        return max(self.values)

    def map(self, fn: Callable[[float], float]) -> Spread:
        """The same rounds through `fn` (e.g. seconds -> items per second); min and max may swap, which is fine."""
        return Spread(tuple(fn(v) for v in self.values))

    def text(self, fmt: str = "{:.2f}") -> str:
        """'median (min–max)', the form every results file uses."""
        return f"{fmt.format(self.median)} ({fmt.format(self.min)}–{fmt.format(self.max)})"


def ratio(numerator: Spread, denominator: Spread) -> Spread:
    """Per-round ratios: round i of one side against round i of the other, which ran right beside it."""
    if len(numerator.values) != len(denominator.values):
        raise ValueError("ratios pair rounds: both sides need the same number of rounds")
    return Spread(tuple(n / d for n, d in zip(numerator.values, denominator.values)))


def take_turns(works: Mapping[str, Callable[[], object]], rounds: int) -> dict[str, list]:
    """Call each work once per round and collect what it returns; the order rotates each round so that neither
    side always runs first (warm caches, a neighbour's burst)."""
    if rounds < 1:
        raise ValueError("rounds must be at least 1")
    names = list(works)
    results: dict[str, list] = {name: [] for name in names}
    for r in range(rounds):
        for k in range(len(names)):
            name = names[(r + k) % len(names)]
            results[name].append(works[name]())
    return results


def alternate(
    works: Mapping[str, Callable[[], object]],
    rounds: int,
    clock: Callable[[], float] = time.perf_counter,
    warmup: bool = True,
    after: Callable[[], None] | None = None,
) -> dict[str, Spread]:
    """Time each work once per round with `take_turns`. `clock` is wall time by default (time.process_time for
    CPU time); `after` runs after each timed call (e.g. a CUDA synchronise) inside the timing."""
    if warmup:
        for work in works.values():
            work()

    def timed(work: Callable[[], object]) -> Callable[[], float]:
        def run() -> float:
            start = clock()
            work()
            if after is not None:
                after()
            return clock() - start

        return run

    times = take_turns({name: timed(work) for name, work in works.items()}, rounds)
    return {name: Spread(tuple(values)) for name, values in times.items()}


def cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


class Machine:
    """What the run ran on, and how busy the machine was before and after (the 1/5/15-minute load averages)."""

    def __init__(self) -> None:
        self.load_before = os.getloadavg()

    def lines(self, extra: str = "") -> list[str]:
        after = os.getloadavg()
        load = ", ".join(f"{v:.1f}" for v in self.load_before), ", ".join(f"{v:.1f}" for v in after)
        return [
            f"- CPU: {cpu_name()}, {os.cpu_count()} logical cores{extra}",
            f"- {platform.platform()}, Python {platform.python_version()}",
            f"- load average (1, 5, 15 min) before the run: {load[0]}; after: {load[1]}",
            f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        ]
