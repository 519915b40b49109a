"""`musiscene soundtrack`: a 40-second video gets music beyond one MusicGen window, video packets untouched."""

import json

import pytest
from video_helpers import audio_seconds, video_packets, write_silent_video

from musiscene_core.cli import main
from musiscene_core.soundtrack import output_is_complete, probe_video


def cli(capsys, *args):
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    out, err = capsys.readouterr()
    return code, out, err


def test_soundtrack_of_a_40_second_video(capsys, video_40s, tiny_model, tmp_path):
    out = tmp_path / "with-music.mp4"
    code, stdout, err = cli(capsys, "soundtrack", video_40s, "--out", out, "--model", tiny_model, "--musicgen", "tiny", "--json")
    assert code == 0, err
    assert "random weights" in err and "MusicGen window 2/2" in err
    result = json.loads(stdout)
    assert result["prompt_source"] == "musiscene" and result["captioner"] and result["musicgen"] == "musicgen-tiny"
    assert video_packets(out) == video_packets(video_40s)
    assert abs(audio_seconds(out) - probe_video(video_40s).duration_s) <= 0.1
    assert output_is_complete(video_40s, out)


def test_video_without_audio_needs_a_text_prompt(capsys, tmp_path):
    silent = write_silent_video(tmp_path / "silent.mp4", 3.0)
    out = tmp_path / "out.mp4"
    code, _, err = cli(capsys, "soundtrack", silent, "--out", out, "--musicgen", "tiny")
    assert code == 2 and err.startswith("error: ") and "--prompt-source text:" in err and err.count("\n") == 1
    code, stdout, err = cli(
        capsys,
        "soundtrack",
        silent,
        "--out",
        out,
        "--musicgen",
        "tiny",
        "--mix",
        "under",
        "--prompt-source",
        "text:calm piano at dawn",
    )
    assert code == 0, err
    assert "prompt (text): calm piano at dawn" in stdout
    assert video_packets(out) == video_packets(silent)
    assert abs(audio_seconds(out) - 3.0) <= 0.1


@pytest.mark.parametrize("content", [b"", b"not a video at all\n" * 50, None])
def test_corrupt_video_is_one_sentence(capsys, video_40s, tmp_path, content):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(content if content is not None else video_40s.read_bytes()[:4000])  # None: a truncated copy
    code, _, err = cli(capsys, "soundtrack", bad, "--out", tmp_path / "o.mp4", "--musicgen", "tiny", "--prompt-source", "text:x")
    assert code == 2, err
    assert err.startswith("error: ") and "Traceback" not in err and err.count("\n") == 1
    assert not (tmp_path / "o.mp4").exists()


def test_a_video_codec_mp4_cannot_hold_is_one_sentence_before_any_model_loads(capsys, tmp_path):
    from musiscene_core.audio import write_audio
    from musiscene_core.data.synthetic import generate_piece

    webm = write_audio(
        tmp_path / "vp8.webm", generate_piece("calm_sea", seed=1, duration_s=2.0, sample_rate=16000), 16000, "webm"
    )
    code, _, err = cli(capsys, "soundtrack", webm, "--out", tmp_path / "o.mp4", "--musicgen", "no-such/model")
    assert code == 2 and "vp8" in err and "cannot be copied into an MP4" in err and err.count("\n") == 1


def test_mix_under_keeps_the_original_sound_and_replace_drops_it(capsys, tmp_path):
    import numpy as np

    from musiscene_core.audio import decode, write_audio
    from musiscene_core.data.synthetic import generate_piece

    video = write_audio(tmp_path / "v.mp4", generate_piece("neon_chase", seed=4, duration_s=4.0, sample_rate=16000), 16000, "mp4")
    original = decode(video, target_sr=16000).samples
    similarity = {}
    for mix in ("under", "replace"):
        out = tmp_path / f"{mix}.mp4"
        code, _, err = cli(
            capsys, "soundtrack", video, "--out", out, "--musicgen", "tiny", "--mix", mix, "--prompt-source", "text:a chase"
        )
        assert code == 0, err
        made = decode(out, target_sr=16000).samples
        n = min(len(made), len(original))
        similarity[mix] = abs(np.corrcoef(made[:n], original[:n])[0, 1])
    assert similarity["under"] > 0.9 > 0.3 > similarity["replace"]
