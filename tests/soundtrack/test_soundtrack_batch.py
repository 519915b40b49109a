"""Batch soundtracks on local Ray: one per video, a bad video is an error row, a rerun skips the complete ones."""

import csv
import os

import pytest
from video_helpers import audio_seconds, video_packets, write_silent_video

from musiscene_core.audio import write_audio
from musiscene_core.data.synthetic import generate_piece

pytestmark = pytest.mark.integration


def _run(*args):
    from musiscene_core.cli import main

    try:
        main([str(a) for a in args])
        return 0
    except SystemExit as exc:
        return exc.code or 0


def test_batch_makes_reports_and_resumes(tmp_path, capsys):
    import ray

    src = tmp_path / "videos"
    (src / "day").mkdir(parents=True)
    write_audio(src / "a.mp4", generate_piece("calm_sea", seed=1, duration_s=3.0, sample_rate=16000), 16000, "mp4")
    write_silent_video(src / "day" / "b.mp4", 2.0)
    (src / "broken.mp4").write_bytes(b"not a video")
    out = tmp_path / "out"
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1")
    try:
        args = [
            "soundtrack",
            src,
            "--out",
            out,
            "--musicgen",
            "tiny",
            "--prompt-source",
            "text:rain at night",
            "--window",
            "2",
            "--stride",
            "1",
        ]
        assert _run(*args) == 1  # the broken video failed, the others were made
        rows = {os.path.basename(r["video"]): r for r in csv.DictReader((out / "soundtracks.csv").open())}
        assert rows["a.mp4"]["status"] == "ok" and rows["b.mp4"]["status"] == "ok" and rows["broken.mp4"]["status"] == "error"
        assert "not a readable video" in rows["broken.mp4"]["error"]
        assert video_packets(out / "day" / "b.mp4") == video_packets(src / "day" / "b.mp4")
        assert abs(audio_seconds(out / "a.mp4") - 3.0) <= 0.1
        first = (out / "a.mp4").stat().st_mtime_ns
        (out / "day" / "b.mp4").write_bytes((out / "day" / "b.mp4").read_bytes()[:2000])  # a damaged output is redone
        capsys.readouterr()
        assert _run(*args) == 1
        err = capsys.readouterr().err
        assert "1 already have a complete soundtrack, 2 to make" in err
        assert (out / "a.mp4").stat().st_mtime_ns == first
        assert abs(audio_seconds(out / "day" / "b.mp4") - 2.0) <= 0.1
    finally:
        ray.shutdown()
