"""Ray entry point of `build-dataset`: `ray job submit --working-dir . -- python jobs/build_dataset.py SRC --out DST ...`.

The runner is `musiscene_core.pipelines.build_dataset`; this script only parses the same options as
`musiscene build-dataset`.
"""

import sys

from musiscene_core.cli import main

if __name__ == "__main__":
    main(["build-dataset", *sys.argv[1:]])
