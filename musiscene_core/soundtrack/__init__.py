"""Video background music: scene caption of the video's audio -> MusicGen -> loudness -> muxed into the video."""

from musiscene_core.soundtrack.make import SoundtrackResult, SoundtrackSettings, make_soundtrack, output_is_complete
from musiscene_core.soundtrack.video import VideoInfo, probe_video

__all__ = ["SoundtrackResult", "SoundtrackSettings", "VideoInfo", "make_soundtrack", "output_is_complete", "probe_video"]
