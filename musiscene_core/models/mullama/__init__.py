"""MU-LLaMA and the MusiScene captioner: music adapter + LLaMA with LLaMA-Adapter prefix injection.

configuration  LLaMA / adapter shapes, the questions and MU-LLaMA's prompt template (no torch)
llama          the LLaMA transformer as MU-LLaMA runs it (biases, LoRA, adapter tokens)
adapter        the music adapter: MERT layer means -> one token in LLaMA's embedding space
modeling       adapter + prefix queries + LLaMA, with MU-LLaMA's state-dict keys
generation     batched decoding with a KV cache and left padding
tokenizer      LLaMA's SentencePiece tokenizer
checkpoint     MU-LLaMA's file formats: checkpoint.pth, Meta and Hugging Face LLaMA folders
captioner      MusiSceneCaptioner: loading, prompting, generation, training forward, saving, export
tiny           tiny random MU-LLaMA file sets in MU-LLaMA's own layout

Import from the submodules (or the public names of `musiscene_core.models`); this package imports nothing.
"""
