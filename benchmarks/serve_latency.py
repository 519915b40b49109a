"""`musiscene serve` under load: /search latency and throughput with 50 concurrent clients, against SceneIndex.search.

    python -m benchmarks.serve_latency                        # 100k tracks, 50 clients, 3 rounds of each
    python -m benchmarks.serve_latency --rows 20000 --requests 300 --rounds 2   # a quick look

The catalog is a tagging output written as tables (tracks, captions, features) and indexed by
`build_index`, as `musiscene tag` would leave it: 100k rows of caption-like embeddings (MiniLM
embeddings of generated scene captions, blended and perturbed, see benchmarks.index_search) and
random audio embeddings. Queries are differently worded scene requests, embedded at search time
by the server, as a user's text would be.

Each round alternates between:
  http        `musiscene serve` in its own process on 127.0.0.1 (token on), 50 asyncio clients
              (httpx) each sending GET /search?q=...&k=10 back to back until the round's request
              count is reached (or its time limit passes);
  in-process  the same queries through `SceneIndex.search(q, k=10)` called one after another in
              this process: the cost of a search without HTTP, JSON and concurrency.
Latency is per request (client side for http); throughput is completed searches per second of the
round's wall time. Loopback only; every loop is bounded in count and in time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

# One torch thread in each process (this one and the server), as the tests do: on a loaded 2-core
# machine two threads per process spin against each other and a search slows twentyfold.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.index_search import _generated_texts, caption_like
from musiscene_core import tables
from musiscene_core.tagging.stages import policy_record

RESULTS = Path(__file__).parent / "results" / "serve_latency.md"
TOKEN = "benchmark-token-" + "0" * 24
AUDIO_DIM = 32
MODEL_VERSION = "benchmark-synthetic"
EMBED_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


@dataclass
class Round:
    kind: str
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds


def write_catalog(dst: Path, rows: int, seed: int) -> None:
    """A tagging output of `rows` ok tracks in one shard per table, then its index (build_index)."""
    from musiscene_core.index import build_index

    caption_vectors, _ = caption_like(rows, seed, embedding_cache=None)
    rng = np.random.default_rng(seed)
    audio = rng.standard_normal((rows, AUDIO_DIM), dtype=np.float32)
    audio /= np.linalg.norm(audio, axis=1, keepdims=True)
    ids = [f"{i:064x}" for i in range(rows)]
    now = datetime.now(timezone.utc)
    columns = {
        tables.TRACKS: pa.table(
            {
                "track_id": ids,
                "uri": [f"s3://catalog/track{i:06d}.flac" for i in range(rows)],
                "bytes": [5_000_000] * rows,
                "fingerprint": ["f"] * rows,
                "format": ["flac"] * rows,
                "duration_s": rng.uniform(30, 400, rows).round(1),
                "sample_rate": [44100] * rows,
                "channels": [2] * rows,
                "status": ["ok"] * rows,
                "error_kind": [None] * rows,
                "error": [None] * rows,
                "model_version": [MODEL_VERSION] * rows,
                "tagged_at": [now] * rows,
            },
            schema=tables.tracks_schema(),
        ),
        tables.CAPTIONS: pa.table(
            {
                "track_id": ids,
                "question": ["What type of scene the music is suitable for?"] * rows,
                "caption": [f"synthetic scene caption {i}" for i in range(rows)],
                "caption_embedding": pa.FixedSizeListArray.from_arrays(
                    pa.array(caption_vectors.ravel()), caption_vectors.shape[1]
                ),
                "embed_model": [EMBED_MODEL] * rows,
                "model_version": [MODEL_VERSION] * rows,
            },
            schema=tables.captions_schema(caption_vectors.shape[1]),
        ),
        # The features table through the project's own builder, so the benchmark's catalog keeps up with its schema.
        tables.FEATURES: tables.features_table(
            ids, np.zeros((rows, 1, 2), np.float32), audio, MODEL_VERSION, policy_record("whole", 30.0, 30.0)
        ),
    }
    for name, table in columns.items():
        (dst / name).mkdir(parents=True, exist_ok=True)
        pq.write_table(table, dst / name / "part-0.parquet")
    build_index(dst)


def queries() -> list[str]:
    return _generated_texts(np.random.default_rng(0))[1]


def start_server(dst: Path, port: int) -> subprocess.Popen:
    env = dict(os.environ, MUSISCENE_BENCH_TOKEN=TOKEN, HF_HUB_OFFLINE="1")
    command = [
        sys.executable,
        "-m",
        "musiscene_core",
        "serve",
        "--index",
        f"bench={dst}",
        "--port",
        str(port),
        "--token-env",
        "MUSISCENE_BENCH_TOKEN",
        "--reload-interval",
        "0",
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return process
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError("musiscene serve did not come up within 5 minutes")


async def http_round(port: int, texts: list[str], requests: int, clients: int, time_limit: float) -> Round:
    import httpx

    latencies: list[float] = []
    errors = 0
    counter = iter(range(requests))
    deadline = time.perf_counter() + time_limit
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {TOKEN}"}

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, headers=headers, timeout=60) as http:

        async def client() -> None:
            nonlocal errors
            for i in counter:
                if time.perf_counter() > deadline:
                    return
                started = time.perf_counter()
                response = await http.get("/search", params={"q": texts[i % len(texts)], "k": 10})
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200 or len(response.json()["hits"]) != 10:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        seconds = time.perf_counter() - started
    return _round("http", latencies, errors, seconds)


def in_process_round(index, texts: list[str], requests: int, offset: int, time_limit: float) -> Round:
    latencies = []
    deadline = time.perf_counter() + time_limit
    started = time.perf_counter()
    for i in range(requests):
        if time.perf_counter() > deadline:
            break
        began = time.perf_counter()
        hits = index.search(texts[(offset + i) % len(texts)], k=10)
        latencies.append(time.perf_counter() - began)
        assert len(hits) == 10
    return _round("in-process", latencies, 0, time.perf_counter() - started)


def _round(kind: str, latencies: list[float], errors: int, seconds: float) -> Round:
    ms = np.array(latencies) * 1000
    return Round(kind, len(latencies), errors, seconds, float(np.percentile(ms, 50)), float(np.percentile(ms, 99)))


def _spread(values: list[float], digits: int = 1) -> str:
    return f"{min(values):.{digits}f} / {statistics.median(values):.{digits}f} / {max(values):.{digits}f}"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def write_results(rounds: list[Round], args: argparse.Namespace, load_before, total_s: float, index_line: str) -> None:
    by_kind = {kind: [r for r in rounds if r.kind == kind] for kind in ("http", "in-process")}
    lines = [
        "# Search service: /search under 50 concurrent clients vs SceneIndex.search in-process",
        "",
        "`" + " ".join(["python -m benchmarks.serve_latency", *args.argv]) + "`",
        "",
        f"- machine: {_cpu_model()}, {os.cpu_count()} CPUs visible, {platform.system()} {platform.machine()}; "
        "load average before "
        f"{', '.join(f'{v:.1f}' for v in load_before)}, after {', '.join(f'{v:.1f}' for v in os.getloadavg())} "
        "(above the CPU count, other work shared the machine: compare the rows of one run only)",
        f"- index: {args.rows:,} tracks, {index_line}; queries: {len(queries())} scene requests embedded by MiniLM on each call",
        f"- http: `musiscene serve` (uvicorn, one process, token on) on 127.0.0.1, {args.clients} asyncio httpx clients, "
        f"{args.requests} requests per round; in-process: the same queries through `SceneIndex.search`, one after another",
        f"- OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} in both processes; "
        f"{args.rounds} rounds of each, alternated; min / median / max over rounds; total run time {total_s / 60:.1f} min",
        "",
        "| path | requests/round | errors | p50 ms | p99 ms | throughput searches/s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for kind, kind_rounds in by_kind.items():
        lines.append(
            f"| {kind} | {kind_rounds[0].requests} | {sum(r.errors for r in kind_rounds)} "
            f"| {_spread([r.p50_ms for r in kind_rounds])} | {_spread([r.p99_ms for r in kind_rounds])} "
            f"| {_spread([r.throughput for r in kind_rounds])} |"
        )
    http_tp = statistics.median(r.throughput for r in by_kind["http"])
    local_tp = statistics.median(r.throughput for r in by_kind["in-process"])
    lines += [
        "",
        f"Median throughput ratio http / in-process: {http_tp / local_tp:.2f}x. "
        "With 50 clients in flight a request's latency is mostly its wait for the one embedding lock and the two "
        "cores; the in-process column is one search at a time with nothing queued.",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=1000, help="searches per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each kind, alternated")
    parser.add_argument("--round-seconds", type=float, default=120.0, help="time limit of one round")
    parser.add_argument("--workdir", type=Path, default=None, help="keep (and reuse) the synthetic catalog here")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else argv
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from musiscene_core.index import SceneIndex

    load_before = os.getloadavg()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        dst = (args.workdir or Path(scratch)) / f"catalog-{args.rows}"
        if not (dst / tables.INDEX_DIR / "index.json").exists():
            print(f"writing and indexing {args.rows:,} synthetic tracks under {dst}", flush=True)
            write_catalog(dst, args.rows, seed=1)
        index = SceneIndex.load(dst)
        info = index.info.captions
        index_line = f"{info.factory} ({', '.join(f'{k}={v}' for k, v in info.search_params.items()) or 'exact'})"
        texts = queries()
        index.search(texts[0], k=10)  # load the embedder outside the timed rounds
        port = _free_port()
        server = start_server(dst, port)
        try:
            asyncio.run(http_round(port, texts, 100, args.clients, 60))  # warm-up
            rounds = []
            for number in range(args.rounds):
                for kind in ("http", "in-process") if number % 2 == 0 else ("in-process", "http"):
                    if kind == "http":
                        result = asyncio.run(http_round(port, texts, args.requests, args.clients, args.round_seconds))
                    else:
                        result = in_process_round(index, texts, args.requests, number * 7, args.round_seconds)
                    print(
                        f"round {number + 1} {kind}: p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, "
                        f"{result.throughput:.1f}/s, {result.errors} errors",
                        flush=True,
                    )
                    rounds.append(result)
        finally:
            server.terminate()
            server.wait(timeout=30)
    write_results(rounds, args, load_before, time.perf_counter() - started, index_line)


if __name__ == "__main__":
    main()
