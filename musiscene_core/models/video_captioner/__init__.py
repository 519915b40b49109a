"""Video captioning: a Hugging Face video (GIT-VATEX) or image (BLIP, GIT-COCO) captioner over sampled frames."""

from musiscene_core.models.video_captioner.captioner import (
    DEFAULT_VIDEO_CAPTIONER,
    VideoCaptioner,
    resolve_video_captioner,
)
from musiscene_core.models.video_captioner.tiny import make_tiny_video_captioner

__all__ = ["DEFAULT_VIDEO_CAPTIONER", "VideoCaptioner", "make_tiny_video_captioner", "resolve_video_captioner"]
