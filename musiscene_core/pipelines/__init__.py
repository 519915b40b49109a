"""The runners of the jobs: the only package of the library that imports Ray.

tag            the tagging job on Ray Data (the stage graph of `musiscene_core.tagging.graph` as actor pools)
train          adapter fine-tuning on Ray Train
sequential     the same stage graph run in this process, without Ray (`caption`, training's feature
               preparation, tests and benchmark baselines)
build_dataset  the dataset recipe on Ray Data (video + music captions fused into scene captions)
soundtrack     batch soundtracks on Ray Data
ray_init       the one way the jobs start or join Ray
"""
