"""Ray job entry point of adapter fine-tuning, with the options of `musiscene train`:

    ray job submit --address http://head:8265 --working-dir . -- \
        python jobs/train.py --data s3://label/captions.parquet --base musiscene --out s3://label/runs/scenes \
        --workers 4 --ray-address auto

The job itself is `musiscene_core.pipelines.train` (installed on every node).
"""

import sys

from musiscene_core.cli import main

if __name__ == "__main__":
    main(["train", *sys.argv[1:]])
