"""MERT (m-a-p/MERT-v1-95M and -330M) on transformers' HuBERT blocks, without the hub's custom code.

configuration  the published config.json / preprocessor_config.json -> a HubertConfig (no torch)
modeling       the network, with MERT's parameter names and padding-exact batching
checkpoint     finding and reading published checkpoints (safetensors or weights-only pickles)
encoder        MertEncoder: waveforms -> hidden states or per-layer time means
tiny           a tiny random MERT in the published layout, for tests and demos

Import from the submodules (or `MertEncoder` from `musiscene_core.models`); this package imports nothing.
"""
