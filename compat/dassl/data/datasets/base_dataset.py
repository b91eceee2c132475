"""``Datum`` and ``DatasetBase`` at Dassl's module path.

Few-shot caches and ImageNet's ``preprocessed.pkl`` pickle lists of ``Datum`` under the class path
``dassl.data.datasets.base_dataset.Datum`` with the attributes ``_impath``, ``_label``,
``_domain`` and ``_classname``; keeping both lets caches move between this engine and real Dassl.
"""
import os.path as osp
import random
from collections import defaultdict
from typing import Dict, List, Sequence, Tuple, Union

__all__ = ["Datum", "DatasetBase"]


class Datum:
    """One labelled image. The image file must exist when the item is created."""

    def __init__(self, impath: str = "", label: int = 0, domain: int = 0, classname: str = ""):
        if not isinstance(impath, str):
            raise TypeError(f"Datum.impath must be a str, got {type(impath).__name__}")
        if not osp.isfile(impath):
            raise FileNotFoundError(
                f'Image listed in the split does not exist: "{impath}"; check DATASET.ROOT, '
                "or run `python -m toolkit.data check` to list every missing file"
            )
        self._impath = impath
        self._label = label
        self._domain = domain
        self._classname = classname

    @property
    def impath(self) -> str:
        return self._impath

    @property
    def label(self) -> int:
        return self._label

    @property
    def domain(self) -> int:
        return self._domain

    @property
    def classname(self) -> str:
        return self._classname

    def __repr__(self) -> str:
        return f"Datum(impath={self._impath!r}, label={self._label}, classname={self._classname!r})"


class DatasetBase:
    """Holds the train_x / train_u / val / test splits of one dataset.

    ``num_classes``, ``lab2cname`` and ``classnames`` come from ``train_x`` only, as in Dassl:
    a base/new subsample therefore builds its classifier over the selected classes only.
    """

    dataset_dir = ""
    domains: List[str] = []

    def __init__(self, train_x=None, train_u=None, val=None, test=None):
        self._train_x = train_x
        self._train_u = train_u
        self._val = val
        self._test = test
        self._num_classes = self.get_num_classes(train_x)
        self._lab2cname, self._classnames = self.get_lab2cname(train_x)

    @property
    def train_x(self):
        return self._train_x

    @property
    def train_u(self):
        return self._train_u

    @property
    def val(self):
        return self._val

    @property
    def test(self):
        return self._test

    @property
    def lab2cname(self) -> Dict[int, str]:
        return self._lab2cname

    @property
    def classnames(self) -> List[str]:
        return self._classnames

    @property
    def num_classes(self) -> int:
        return self._num_classes

    @staticmethod
    def get_num_classes(data_source: Sequence[Datum]) -> int:
        """Max label + 1 (not the number of distinct labels)."""
        return max(item.label for item in data_source) + 1

    @staticmethod
    def get_lab2cname(data_source: Sequence[Datum]) -> Tuple[Dict[int, str], List[str]]:
        """Label -> class name, and the names ordered by label."""
        mapping = {item.label: item.classname for item in data_source}
        labels = sorted(mapping)
        return mapping, [mapping[label] for label in labels]

    def check_input_domains(self, source_domains: Sequence[str], target_domains: Sequence[str]) -> None:
        assert len(source_domains) > 0, "source_domains (list) is empty"
        assert len(target_domains) > 0, "target_domains (list) is empty"
        self.is_input_domain_valid(source_domains)
        self.is_input_domain_valid(target_domains)

    def is_input_domain_valid(self, input_domains: Sequence[str]) -> None:
        for domain in input_domains:
            if domain not in self.domains:
                raise ValueError(f"Input domain must belong to {self.domains}, but got [{domain}]")

    def generate_fewshot_dataset(
        self, *data_sources: Sequence[Datum], num_shots: int = -1, repeat: bool = False
    ) -> Union[List[Datum], List[List[Datum]]]:
        """Sample ``num_shots`` items per class with Python's global ``random``.

        Classes are visited in order of first appearance and items keep their order within a
        class, so the same seed and input order give the same sample as Dassl.
        """
        if num_shots < 1:
            if len(data_sources) == 1:
                return data_sources[0]
            return data_sources

        print(f"Creating a {num_shots}-shot dataset")
        output = []
        for data_source in data_sources:
            tracker = self.split_dataset_by_label(data_source)
            dataset = []
            for items in tracker.values():
                if len(items) >= num_shots:
                    sampled = random.sample(items, num_shots)
                elif repeat:
                    sampled = random.choices(items, k=num_shots)
                else:
                    sampled = items
                dataset.extend(sampled)
            output.append(dataset)

        if len(output) == 1:
            return output[0]
        return output

    def split_dataset_by_label(self, data_source: Sequence[Datum]) -> Dict[int, List[Datum]]:
        output = defaultdict(list)
        for item in data_source:
            output[item.label].append(item)
        return output

    def split_dataset_by_domain(self, data_source: Sequence[Datum]) -> Dict[int, List[Datum]]:
        output = defaultdict(list)
        for item in data_source:
            output[item.domain].append(item)
        return output
