"""A random tiny GIT video captioner, built offline in a second: same architecture and files as
`microsoft/git-base-vatex` (GIT with a temporal embedding per frame), so it loads through the same
code path. Its captions are noise; it exists for tests and offline demos."""

from __future__ import annotations

import json
from pathlib import Path

# Words for the tiny WordPiece vocabulary: enough for the tokenizer to round-trip simple captions.
_WORDS = (
    "a an the of in on at with and to is are man woman people person car street city night day sea beach "
    "forest room dog cat playing walking running driving dancing talking sitting standing video shows "
    "music light dark rain snow sun sky water road house crowd stage guitar piano scene slow fast"
).split()

TINY_NAME = "git-tiny"


def make_tiny_video_captioner(directory: str | Path, frames: int = 6, seed: int = 0, image_size: int = 32) -> Path:
    """Write a random tiny GIT captioner (config, safetensors, tokenizer, image processor) into `directory`."""
    import torch
    from transformers import (
        BertTokenizer,
        CLIPImageProcessor,
        GitConfig,
        GitForCausalLM,
        GitProcessor,
    )

    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    vocab = specials + sorted(set(_WORDS)) + letters + [f"##{c}" for c in letters] + list(".,!?'-")
    # The vocabulary goes in as a mapping: `vocab_file=` silently builds an empty vocabulary in transformers 5.
    tokenizer = BertTokenizer(vocab={word: i for i, word in enumerate(vocab)}, do_lower_case=True)
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
    )
    config = GitConfig(
        vision_config=dict(
            hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, image_size=image_size, patch_size=16
        ),
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=128,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id,
        num_image_with_embedding=frames,
    )
    torch.manual_seed(seed)
    model = GitForCausalLM(config).eval()
    model.save_pretrained(root)
    GitProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(root)
    (root / "musiscene_video_captioner.json").write_text(json.dumps({"name": TINY_NAME, "random_weights": True}, indent=2))
    return root
