"""WordNet for nltk's METEOR, from the operating system's WordNet 3.0 files: never a download.

Debian/Ubuntu ship the WordNet 3.0 database as `wordnet-base` (+ `wordnet-sense-index`) in
/usr/share/wordnet. nltk reads the same files from `<nltk data dir>/corpora/wordnet`, plus a `lexnames`
file that Debian does not ship (its table is only in the lexnames(5WN) man page), so `install` copies
the files and writes `lexnames` from the table below. The data directory is `$NLTK_DATA` when set, else
`<python prefix>/share/nltk_data` (the virtualenv's; nltk also searches it by default).

    python -m musiscene_core.metrics.wordnet [--source /usr/share/wordnet] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import sys
from pathlib import Path

from musiscene_core.errors import UserError

DEBIAN_SOURCE = Path("/usr/share/wordnet")
# The files nltk's WordNetCorpusReader opens (index.sense and cntlist.rev for sense keys and counts).
_FILES = (
    [f"{kind}.{pos}" for kind in ("data", "index") for pos in ("adj", "adv", "noun", "verb")]
    + [f"{pos}.exc" for pos in ("adj", "adv", "noun", "verb")]
    + ["index.sense", "cntlist.rev"]
)

# WordNet 3.0's lexicographer files (lexnames(5WN)): number, name; the syntactic category follows from
# the name's prefix (1 noun, 2 verb, 3 adjective, 4 adverb).
_LEXNAMES = (
    "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute noun.body "
    "noun.cognition noun.communication noun.event noun.feeling noun.food noun.group noun.location "
    "noun.motive noun.object noun.person noun.phenomenon noun.plant noun.possession noun.process "
    "noun.quantity noun.relation noun.shape noun.state noun.substance noun.time verb.body verb.change "
    "verb.cognition verb.communication verb.competition verb.consumption verb.contact verb.creation "
    "verb.emotion verb.motion verb.perception verb.possession verb.social verb.stative verb.weather adj.ppl"
).split()
_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}


def data_dir() -> Path:
    """The project's nltk data directory: the first entry of $NLTK_DATA, else the environment's share/nltk_data."""
    configured = os.environ.get("NLTK_DATA", "").split(os.pathsep)[0]
    return Path(configured) if configured else Path(sys.prefix) / "share" / "nltk_data"


def lexnames_text() -> str:
    return "".join(f"{number:02d}\t{name}\t{_CATEGORY[name.split('.')[0]]}\n" for number, name in enumerate(_LEXNAMES))


def install(source: Path = DEBIAN_SOURCE, target: Path | None = None) -> Path:
    """Copy the WordNet 3.0 files from `source` into `<target>/corpora/wordnet` and write `lexnames`; returns that folder."""
    folder = (target or data_dir()) / "corpora" / "wordnet"
    missing = [name for name in _FILES if not (source / name).is_file()]
    if missing:
        raise UserError(
            f"{source} lacks the WordNet 3.0 files {', '.join(missing)}; install Debian's wordnet-base and wordnet-sense-index"
        )
    folder.mkdir(parents=True, exist_ok=True)
    for name in _FILES:
        # Copies, not links: nltk seeks in these files and some readers reject symlinked corpora.
        shutil.copyfile(source / name, folder / name)
    (folder / "lexnames").write_text(lexnames_text())
    return folder


@functools.cache
def ensure_wordnet() -> None:
    """Make nltk find the installed WordNet (without ever downloading it), or raise a one-sentence error."""
    import nltk

    root = data_dir()
    if str(root) not in nltk.data.path:
        nltk.data.path.insert(0, str(root))
    try:
        nltk.data.find("corpora/wordnet/lexnames")
    except LookupError:
        raise UserError(
            f"WordNet (needed by METEOR) is not installed in {root / 'corpora' / 'wordnet'}; run `make setup` "
            "or `apt-get install wordnet-base wordnet-sense-index && python -m musiscene_core.metrics.wordnet`"
        ) from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Install WordNet 3.0 for nltk from the system's WordNet files (offline).")
    parser.add_argument("--source", type=Path, default=DEBIAN_SOURCE)
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="nltk data directory [default: $NLTK_DATA or <prefix>/share/nltk_data]"
    )
    args = parser.parse_args(argv)
    try:
        print(install(args.source, args.data_dir))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
