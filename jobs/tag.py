"""Ray job entry point of the tagging job, with the options of `musiscene tag`:

    ray job submit --address http://head:8265 --working-dir . -- \
        python jobs/tag.py s3://label/masters --out s3://label/musiscene --model musiscene --ray-address auto

The job itself is `musiscene_core.pipelines.tag` (installed on every node).
"""

import sys

from musiscene_core.cli import main

if __name__ == "__main__":
    main(["tag", *sys.argv[1:]])
