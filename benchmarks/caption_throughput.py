"""Caption throughput: batched generation with a KV cache against the reference's one-track-at-a-time loop.

    python -m benchmarks.caption_throughput [--tracks 32] [--batch-size 16] [--max-new-tokens 64] [--rounds 3]
    python -m benchmarks.caption_throughput --real-size    # GPU only (see below)

Both modes caption the same tracks with the same weights in the same run:
* reference: one track per `generate` call (batch 1, KV cache), the way MU-LLaMA's inference scripts
  caption a catalog;
* batched: `--batch-size` tracks per call (left-padded prompts, one KV cache for the batch), the way
  `musiscene caption` and the tagging job's CaptionStage run.
Greedy decoding, so both modes should produce the same captions; the report counts how many do.
Features come from MERT run one track at a time on `--audio-seconds` of synthetic music per track (the
60 s MU-LLaMA looks at); the MERT time is reported too, for end-to-end captions per second.

Default mode: the tiny preset (random weights, built here in seconds) on the CPU.
`--real-size` (GPU only, never run in CI or tests): random weights in real-size architectures, built in
GPU memory without files: a MERT with MERT-v1-330M's configuration and a captioner with LLaMA-2-7B's
dimensions (4096 wide, 32 layers, 32 heads, FFN 11008, 32000-token vocabulary), MU-LLaMA's adapter
(25x1024 MERT features, 20 prefixed layers, LoRA rank 16), in bfloat16 on CUDA. It needs about 20 GB of
GPU memory and writes benchmarks/results/caption_throughput_real_size.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from benchmarks.rounds import Machine, Spread, alternate, ratio

RESULTS = Path(__file__).parent / "results"
SAMPLE_RATE = 24000


@dataclass
class Setup:
    name: str
    mert: object  # MertEncoder
    captioner: object  # MusiSceneCaptioner
    question: str
    device: torch.device
    description: list[str]


# ---------------------------------------------------------------------------------------------- models


def tiny_setup(workdir: Path) -> Setup:
    from musiscene_core.models.presets import resolve_model
    from musiscene_core.models.tiny_preset import make_tiny

    spec = resolve_model(str(make_tiny(workdir / "tiny")))
    captioner = spec.load_captioner("cpu")
    cfg = captioner.config
    return Setup(
        "tiny preset",
        spec.load_mert("cpu"),
        captioner,
        spec.question,
        torch.device("cpu"),
        [
            f"- model: the tiny preset (random weights): MERT {cfg.adapter.mert_layers - 1} layers x {cfg.adapter.mert_dim}, "
            f"LLaMA {cfg.llama.n_layers} layers x {cfg.llama.dim}, vocabulary {cfg.llama.vocab_size}, float32 on the CPU",
        ],
    )


MERT_V1_330M = {  # the architecture fields of m-a-p/MERT-v1-330M's config.json
    "model_type": "mert_model",
    "hidden_size": 1024,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
    "intermediate_size": 4096,
    "hidden_act": "gelu",
    "layer_norm_eps": 1e-5,
    "feat_extract_norm": "group",
    "feat_extract_activation": "gelu",
    "feat_proj_layer_norm": True,
    "conv_dim": [512] * 7,
    "conv_stride": [5, 2, 2, 2, 2, 2, 2],
    "conv_kernel": [10, 3, 3, 3, 3, 2, 2],
    "conv_bias": False,
    "num_conv_pos_embeddings": 128,
    "num_conv_pos_embedding_groups": 16,
    "do_stable_layer_norm": True,
    "sample_rate": 24000,
}
MERT_PREPROCESSOR = {
    "feature_extractor_type": "Wav2Vec2FeatureExtractor",
    "feature_size": 1,
    "sampling_rate": 24000,
    "do_normalize": True,
}


def random_mert(device: torch.device, dtype: torch.dtype, config: dict = MERT_V1_330M):
    from musiscene_core.models.mert.configuration import read_mert_spec
    from musiscene_core.models.mert.encoder import MertEncoder
    from musiscene_core.models.mert.modeling import MertModel

    spec = read_mert_spec(config, MERT_PREPROCESSOR, "benchmark")
    torch.manual_seed(0)
    with torch.device(device):
        model = MertModel(spec.hubert)  # PyTorch's default initialisation: random, activations of sane size
    parameters = sum(p.numel() for p in model.parameters())
    return MertEncoder(model.to(dtype=dtype), spec, "random-mert", device, dtype), parameters


def llama_7b_config():
    from musiscene_core.models.mullama.configuration import LlamaConfig, MuLlamaConfig, MusicAdapterConfig

    llama = LlamaConfig(dim=4096, n_layers=32, n_heads=32, vocab_size=32000, ffn_hidden_dim=11008, norm_eps=1e-5, lora_rank=16)
    return MuLlamaConfig(
        llama, MusicAdapterConfig(mert_layers=25, mert_dim=1024, dim=4096, hidden_dim=4 * 4096), prefix_layers=20
    )


def random_captioner(cfg, device: torch.device, dtype: torch.dtype, tokenizer_dir: Path):
    """A MusiSceneCaptioner of configuration `cfg` with random weights made on `device` (no files)."""
    from musiscene_core.models.mullama.captioner import MusiSceneCaptioner
    from musiscene_core.models.mullama.modeling import MuLlamaModel

    with torch.device("meta"):
        model = MuLlamaModel(cfg).to(dtype)
    model = model.to_empty(device=device)  # uninitialised memory in the final dtype; every parameter is filled below
    generator = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():
        for name, param in model.named_mullama_parameters().items():
            noise = torch.randn(param.shape, generator=generator, device=device, dtype=torch.float32)
            if name.endswith(".gate"):
                value = noise.clamp(-1, 1) * 0.5
            elif "norm" in name and name.endswith(".weight"):
                value = 1.0 + 0.1 * noise
            elif name.endswith(".bias"):
                value = 0.01 * noise
            elif name in ("prefix_query.weight", "llama.tok_embeddings.weight"):
                value = noise
            else:  # [out, in] weights (and the layer mix, [1, layers, 1]): unit-variance outputs
                value = noise / (param.shape[1] if param.dim() > 1 else 1) ** 0.5
            param.copy_(value)
            del noise, value
    model.requires_grad_(False)
    return MusiSceneCaptioner(model, padded_tokenizer(tokenizer_dir, cfg.llama.vocab_size), "random", None)


def padded_tokenizer(workdir: Path, n_words: int):
    """The tiny preset's SentencePiece model with unused pieces appended up to `n_words`, so the output
    layer has its real size and every id the random model emits decodes."""
    from sentencepiece import sentencepiece_model_pb2

    from musiscene_core.models.mullama.tiny import train_tiny_tokenizer
    from musiscene_core.models.mullama.tokenizer import LlamaTokenizer

    path = workdir / "tokenizer.model"
    train_tiny_tokenizer(path, 400)
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(path.read_bytes())
    for i in range(len(proto.pieces), n_words):
        piece = proto.pieces.add()
        piece.piece, piece.score = f"<unused_{i}>", -1e6 - i
    path.write_bytes(proto.SerializeToString())
    tokenizer = LlamaTokenizer(path)
    if tokenizer.n_words != n_words:
        raise RuntimeError(f"padded tokenizer has {tokenizer.n_words} pieces, not {n_words}")
    return tokenizer


def real_size_setup(workdir: Path, dtype_name: str) -> Setup:
    if not torch.cuda.is_available():
        raise SystemExit("--real-size needs a CUDA GPU (about 20 GB of memory); run the default tiny mode on a CPU.")
    from musiscene_core.models import MUSISCENE_QUESTION

    device, dtype = torch.device("cuda"), getattr(torch, dtype_name)
    mert, mert_params = random_mert(device, dtype)
    cfg = llama_7b_config()
    captioner = random_captioner(cfg, device, dtype, workdir)
    counts = {g: sum(p.numel() for p in ps.values()) for g, ps in captioner.parameter_groups().items()}
    return Setup(
        "real-size",
        mert,
        captioner,
        MUSISCENE_QUESTION,
        device,
        [
            f"- model: random weights in real-size architectures, {dtype_name} on {torch.cuda.get_device_name()}",
            f"- MERT: MERT-v1-330M configuration ({mert_params:,} parameters)",
            f"- captioner: LLaMA-2-7B dimensions (dim {cfg.llama.dim}, {cfg.llama.n_layers} layers, {cfg.llama.n_heads} heads, "
            f"FFN {cfg.llama.ffn_hidden_dim}, vocabulary {cfg.llama.vocab_size}) + MU-LLaMA adapter ({cfg.prefix_layers} prefixed "
            f"layers, LoRA rank {cfg.llama.lora_rank}): " + ", ".join(f"{g} {n:,}" for g, n in counts.items()) + " parameters",
        ],
    )


# ---------------------------------------------------------------------------------------------- measuring


def music_like(seconds: float, seed: int) -> np.ndarray:
    """Mono chords with harmonics, a noise pulse and a little hiss at 24 kHz; each seed a different piece."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    roots = rng.uniform(110, 330, size=4)
    root = roots[(t // 2.0).astype(int) % 4]
    signal = sum(0.1 / h * np.sin(2 * np.pi * root * ratio * h * t) for ratio in (1.0, 1.26, 1.5) for h in (1, 2, 3))
    beat = 60.0 / rng.uniform(70, 140)
    signal = signal + np.exp(-((t % beat) * 30.0)) * rng.standard_normal(len(t)) * 0.2 + 0.01 * rng.standard_normal(len(t))
    return signal.astype(np.float32)


def timed(work: Callable[[], object], device: torch.device) -> tuple[object, float]:
    """(result, wall-clock seconds) of one call, GPU work included."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    result = work()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return result, time.perf_counter() - start


@dataclass
class Measurement:
    tracks: int
    batch_size: int
    max_new_tokens: int
    audio_seconds: float
    mert_s: float
    reference_s: Spread  # seconds for all captions, per round
    batched_s: Spread
    reference_tokens: int
    batched_tokens: int
    identical: int  # tracks whose token sequences are the same in both modes
    common_prefix: float  # mean number of leading tokens the two modes agree on
    logits_difference: float  # max |first-token logits, batch 1 - batched| / max |logits|


def measure(setup: Setup, tracks: int, batch_size: int, max_new_tokens: int, rounds: int, audio_seconds: float) -> Measurement:
    audio = [music_like(audio_seconds, seed=i) for i in range(tracks)]
    # MERT one track per call, as the tagging stage and MU-LLaMA do; the same cost for both decoding modes.
    setup.mert.layer_means(audio[:1])  # warm-up
    features, mert_s = timed(lambda: np.stack([setup.mert.layer_means([a])[0] for a in audio]), setup.device)

    def generate(start: int, stop: int):
        return setup.captioner.generate(features[start:stop], setup.question, max_new_tokens=max_new_tokens)

    outputs: dict[str, list] = {}

    def reference():
        outputs["reference"] = [generate(i, i + 1) for i in range(tracks)]

    def batched():
        outputs["batched"] = [generate(s, s + batch_size) for s in range(0, tracks, batch_size)]

    sync = torch.cuda.synchronize if setup.device.type == "cuda" else None
    times = alternate({"reference": reference, "batched": batched}, rounds, after=sync)
    reference_s, batched_s = times["reference"], times["batched"]
    ref_results, batch_results = outputs["reference"], outputs["batched"]
    ref_ids = [ids for r in ref_results for ids in r.token_ids]
    batch_ids = [ids for r in batch_results for ids in r.token_ids]
    single = np.concatenate([setup.captioner.next_token_logits(features[i : i + 1], setup.question) for i in range(batch_size)])
    together = setup.captioner.next_token_logits(features[:batch_size], setup.question)
    return Measurement(
        tracks,
        batch_size,
        max_new_tokens,
        audio_seconds,
        mert_s,
        reference_s,
        batched_s,
        sum(map(len, ref_ids)),
        sum(map(len, batch_ids)),
        sum(a == b for a, b in zip(ref_ids, batch_ids)),
        float(np.mean([common_prefix(a, b) for a, b in zip(ref_ids, batch_ids)])),
        float(np.abs(single - together).max() / np.abs(single).max()),
    )


def common_prefix(a: list[int], b: list[int]) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def machine_lines(machine: Machine) -> list[str]:
    lines = machine.lines(f"; torch threads: {torch.get_num_threads()}")
    if torch.cuda.is_available():
        lines.insert(1, f"- GPU: {torch.cuda.get_device_name()} (CUDA {torch.version.cuda})")
    lines.append(f"- torch {torch.__version__}")
    return lines


def report(setup: Setup, m: Measurement, rounds: int, started: float, machine: Machine, command: str) -> str:
    def rate(count: float, secs: Spread) -> str:
        return secs.map(lambda t: count / t).text("{:,.2f}")

    end_to_end_ref = m.reference_s.map(lambda t: m.tracks / (m.mert_s + t))
    end_to_end_batched = m.batched_s.map(lambda t: m.tracks / (m.mert_s + t))
    return "\n".join(
        [
            f"# Caption throughput ({setup.name})",
            "",
            f"`{command}`",
            "",
            f"{m.tracks} tracks, greedy decoding, at most {m.max_new_tokens} new tokens per caption. Every number is the "
            f"median (min–max) over {rounds} rounds after a warm-up call; the two modes take turns in each round, on the "
            "same weights and features in the same run, and ratios pair each round's two runs.",
            "`reference` = one track per `generate` call (batch 1, KV cache), as MU-LLaMA's inference loops over a catalog; "
            f"`batched` = {m.batch_size} tracks per call (left-padded prompts, one KV cache), as `musiscene caption` and the "
            "tagging job run.",
            "",
            "| decoding | captions/s | new tokens/s | seconds for all captions | new tokens |",
            "|---|---:|---:|---:|---:|",
            f"| reference (batch 1) | {rate(m.tracks, m.reference_s)} | {rate(m.reference_tokens, m.reference_s)} | {m.reference_s.text()} | {m.reference_tokens:,} |",
            f"| batched (batch {m.batch_size}) | {rate(m.tracks, m.batched_s)} | {rate(m.batched_tokens, m.batched_s)} | {m.batched_s.text()} | {m.batched_tokens:,} |",
            "",
            f"**Batched / reference: {ratio(m.reference_s, m.batched_s).text('{:.1f}x')} captions per second.** "
            f"Identical token sequences in both modes: {m.identical} of {m.tracks} (on average the first "
            f"{m.common_prefix:.1f} tokens agree); first-token logits of batch 1 vs batch {m.batch_size} differ by at most "
            f"{m.logits_difference:.1e} of the largest logit."
            + (
                ""
                if m.identical == m.tracks
                else f" Batch 1 and batch {m.batch_size} run different matrix kernels whose roundings differ in half precision; "
                "where a random model's two best tokens are nearly tied, that flips a greedy choice and the sequences part."
            ),
            "",
            f"End to end with MERT ({m.audio_seconds:g} s of audio per track, one track per MERT call, "
            f"{m.mert_s / m.tracks * 1000:.0f} ms per track, one timing): reference {end_to_end_ref.text('{:,.2f}')} captions/s, "
            f"batched {end_to_end_batched.text('{:,.2f}')} captions/s ({ratio(end_to_end_batched, end_to_end_ref).text('{:.1f}x')}).",
            "",
            "Setup:",
            "",
            *setup.description,
            "",
            "Machine:",
            "",
            *machine_lines(machine),
            "",
            f"Run took {time.time() - started:.0f} s in all.",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=32, help="tracks captioned per round")
    parser.add_argument("--batch-size", type=int, default=16, help="tracks per batched generate call")
    parser.add_argument("--max-new-tokens", type=int, default=64, help="caption length limit")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per decoding mode (after a warm-up)")
    parser.add_argument("--audio-seconds", type=float, default=60.0, help="audio per track fed to MERT")
    parser.add_argument(
        "--real-size", action="store_true", help="GPU only: real-size architectures, random weights, bf16 on CUDA"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads [default: 1 in the tiny mode (steady timings on a shared machine), torch's own with --real-size]",
    )
    parser.add_argument("--dtype", choices=("bfloat16", "float16", "float32"), default="bfloat16", help="--real-size precision")
    parser.add_argument(
        "--out", type=Path, default=None, help="report path [default: benchmarks/results/caption_throughput(_real_size).md]"
    )
    args = parser.parse_args()

    started = time.time()
    machine = Machine()
    threads = args.threads or (None if args.real_size else 1)
    if threads:
        torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as scratch:
        setup = real_size_setup(Path(scratch), args.dtype) if args.real_size else tiny_setup(Path(scratch))
        print(f"built {setup.name} in {time.time() - started:.1f} s", flush=True)
        result = measure(setup, args.tracks, args.batch_size, args.max_new_tokens, args.rounds, args.audio_seconds)
    print(result, flush=True)
    out = args.out or RESULTS / ("caption_throughput_real_size.md" if args.real_size else "caption_throughput.md")
    out.parent.mkdir(parents=True, exist_ok=True)
    command = " ".join(["python -m benchmarks.caption_throughput", *sys.argv[1:]])
    out.write_text(report(setup, result, args.rounds, started, machine, command))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
