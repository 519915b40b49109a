"""Ray job entry point of batch soundtracks, with the options of `musiscene soundtrack` (a folder or manifest of videos):

    ray job submit --address http://head:8265 --working-dir . -- \
        python jobs/soundtrack.py videos/ --out soundtracks/ --ray-address auto

The job itself is `musiscene_core.pipelines.soundtrack` (installed on every node).
"""

import sys

from musiscene_core.cli import main

if __name__ == "__main__":
    main(["soundtrack", *sys.argv[1:]])
