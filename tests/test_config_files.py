"""One YAML reader for every job's configuration: the same checks and messages for tag and train."""

import pytest

from musiscene_core.errors import UserError
from musiscene_core.tagging.config import TagConfig
from musiscene_core.train.config import TrainConfig


@pytest.mark.parametrize("config_class, known", [(TagConfig, "shard_rows: 8"), (TrainConfig, "epochs: 2")])
def test_unknown_keys_missing_files_and_non_mappings_are_one_sentence(tmp_path, config_class, known):
    path = tmp_path / "job.yaml"
    path.write_text(f"{known}\nshard_rowz: 3\nbatchsize: 2\n")
    with pytest.raises(UserError, match=r"config file '.*job.yaml' has unknown options: batchsize, shard_rowz$"):
        config_class.from_yaml(path, src="a", dst="b") if config_class is TagConfig else config_class.from_yaml(path)
    with pytest.raises(UserError, match="does not exist"):
        config_class.from_yaml(tmp_path / "missing.yaml")
    path.write_text("- a list\n")
    with pytest.raises(UserError, match="must hold a mapping"):
        config_class.from_yaml(path)


def test_yaml_values_and_overrides(tmp_path):
    path = tmp_path / "tag.yaml"
    path.write_text("shard_rows: 8\nmodel: tiny\n")
    config = TagConfig.from_yaml(path, src="in", dst="out", shard_rows=16, model=None)
    assert (config.shard_rows, config.model, config.src) == (16, "tiny", "in")
    train = tmp_path / "train.yaml"
    train.write_text("data: rows.parquet\nbase: tiny\nout: run\nepochs: 2\n")
    assert TrainConfig.from_yaml(train, epochs=5).epochs == 5
