"""WordNet for METEOR comes from the system's WordNet 3.0 files, copied with a generated lexnames file."""

import pytest

from musiscene_core.errors import UserError
from musiscene_core.metrics import wordnet


def test_lexnames_table_has_wordnet_30_layout():
    lines = wordnet.lexnames_text().splitlines()
    assert len(lines) == 45
    assert lines[0] == "00\tadj.all\t3"
    assert lines[3] == "03\tnoun.Tops\t1"
    assert lines[29] == "29\tverb.body\t2"
    assert lines[44] == "44\tadj.ppl\t3"


def test_installed_wordnet_loads_in_nltk():
    wordnet.ensure_wordnet()
    from nltk.corpus import wordnet as wn

    assert wn.get_version() == "3.0"
    assert "ocean" in {lemma for synset in wn.synsets("sea") for lemma in synset.lemma_names()}


def test_missing_source_is_one_sentence(tmp_path):
    with pytest.raises(UserError, match="wordnet-base"):
        wordnet.install(tmp_path / "nowhere", tmp_path / "data")
