"""The published numbers checked against themselves and against the toolkit's names."""
import pytest

import toolkit.published as published
from runtime import catalogue
from toolkit.protocols.methods import METHODS, ZERO_SHOT
from toolkit.published.data import NOT_PUBLISHED

TABLES = published.tables()


def harmonic_mean(base, new):
    return 2 * base * new / (base + new)


@pytest.mark.parametrize("table", TABLES, ids=lambda t: f"{t.protocol}-{t.label or t.trainer}")
def test_per_dataset_rows_average_to_the_published_average(table):
    if not table.rows or not table.average:
        return
    for column, published_average in table.average.items():
        if column == "HM":
            continue  # the papers' average HM is the HM of the average Base and New (below)
        values = [table.rows[d][column] for d in table.average_over]
        assert sum(values) / len(values) == pytest.approx(published_average, abs=0.011), column


@pytest.mark.parametrize("table", [t for t in TABLES if t.protocol == "base2new"], ids=lambda t: t.label or t.trainer)
def test_each_hm_is_the_harmonic_mean_of_its_base_and_new(table):
    for dataset, row in [*table.rows.items(), ("average", table.average)]:
        assert harmonic_mean(row["Base"], row["New"]) == pytest.approx(row["HM"], abs=0.011), dataset


def test_names_are_the_catalogues_and_the_trainer_registrys():
    import trainers as _  # noqa: F401  (registers every trainer)
    from dassl.engine import TRAINER_REGISTRY

    datasets = set(catalogue.BENCHMARKS) | set(catalogue.DG_TARGETS)
    trainers = set(TRAINER_REGISTRY.registered_names()) & (set(METHODS) | set(ZERO_SHOT))
    for table in TABLES:
        assert table.trainer in trainers
        assert set(table.rows) <= datasets and set(table.average_over) <= datasets
        assert table.protocol in ("base2new", "fewshot", "xd", "dg")
        assert table.source and table.setting.backbone == "ViT-B/16"


def test_configs_select_the_matching_table_and_plpp_says_it_has_none():
    assert published.find("base2new", "IVLP", "vit_b16_c2_ep5_batch4_2+2ctx").average["HM"] == 77.90
    assert published.find("base2new", "IVLP", "vit_b16_c2_ep20_batch4_4+4ctx").average["HM"] == 77.51
    assert published.find("base2new", "CoOp", "vit_b16_c4_ep10_batch1_ctxv1") is None  # another recipe
    assert published.find("base2new", "PLPP", "vit_b16_ctxv1") is None
    # DePT's runs: the host as DePT ran it and the host with DePT, on DePT's config only
    assert published.find("base2new", "CoOp", "vit_b16_ep10_bs4_lr35").average["HM"] == 75.18
    assert published.find("base2new", "CoOp_DePT", "vit_b16_ep10_bs4_lr35").average["HM"] == 77.29
    assert published.find("base2new", "MaPLe", "vit_b16_c2_ep5_batch4_2ctx").average["HM"] == 78.55  # MaPLe's paper
    assert published.find("base2new", "CoOp_DePT", "vit_b16_ctxv1") is None
    assert published.not_published("PLPP") and published.not_published("MaPLe_PLPP") and published.not_published("CoOp_PLPP_DePT")
    assert published.not_published("CoOp_DePT") is None
    assert published.not_published("MaPLe") is None and set(NOT_PUBLISHED) == {"PLPP"}
    assert published.count() == {"base2new": 210, "xd": 48, "dg": 25}  # 189 + DePT's 7 averages


def test_the_data_is_torch_free():
    import subprocess
    import sys

    code = "import sys, toolkit.published as p; p.tables(); assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=__file__.rsplit("/tests/", 1)[0])
