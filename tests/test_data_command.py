"""``python -m toolkit.data``: downloads (against a local HTTP server and a fake gdown), the
unpacking and renames, ``check`` on fixtures, and ImageNet val re-foldering. No network."""
import dataclasses
import hashlib
import http.server
import os
import os.path as osp
import pickle
import shutil
import subprocess
import sys
import tarfile
import threading
import zipfile

import gdown
import pytest

import datasets
from dassl.config import get_cfg_default
from dassl.data.datasets import DATASET_REGISTRY, build_dataset
from runtime import catalogue
from toolkit import data
from toolkit.data import fetching
from testing.dataset_fixtures import BENCHMARK_NAMES, build_fixture

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


def make_cfg(name, root, num_shots=-1):
    cfg = get_cfg_default()
    datasets.extend_cfg(cfg)
    cfg.merge_from_file(osp.join(REPO, "configs", "datasets", f"{name}.yaml"))
    cfg.DATASET.ROOT = str(root)
    cfg.DATASET.NUM_SHOTS = num_shots
    cfg.SEED = 1
    cfg.VERBOSE = False
    return cfg


class FileServer:
    """Serves files from a dict on 127.0.0.1, with HTTP Range support; records the requests."""

    def __init__(self, files, honour_range=True):
        self.files, self.honour_range, self.requests = files, honour_range, []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append((self.path, self.headers.get("Range")))
                body = server.files.get(self.path.lstrip("/"))
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                start = 0
                range_header = self.headers.get("Range")
                if range_header and server.honour_range:
                    start = int(range_header.split("=")[1].split("-")[0])
                    if start >= len(body):
                        self.send_error(416, "Range Not Satisfiable")
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                self.wfile.write(body[start:])

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def url(self, name):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def md5(content):
    return hashlib.md5(content).hexdigest()


def tar_gz(folder, arcname, dest):
    with tarfile.open(dest, "w:gz") as tf:
        tf.add(folder, arcname=arcname)
    with open(dest, "rb") as f:
        return f.read()


@pytest.fixture
def fake_gdown(monkeypatch):
    """gdown.download replaced by a copy from a dict of Drive ids -> local files; records the ids."""
    files, calls = {}, []

    def download(id=None, output=None, quiet=False, resume=False, **kwargs):
        calls.append(id)
        if id not in files:
            raise gdown.exceptions.FileURLRetrievalError("Too many users have viewed or downloaded this file recently")
        shutil.copyfile(files[id], output)
        return output

    monkeypatch.setattr(gdown, "download", download)
    return files, calls


# ---------------------------------------------------------------------------------------------
# Catalogue and names
# ---------------------------------------------------------------------------------------------


def test_catalogue_agrees_with_the_dataset_classes_and_configs():
    assert [record.name for record in catalogue.RECORDS] == BENCHMARK_NAMES
    for record in catalogue.RECORDS:
        cls = DATASET_REGISTRY.get(record.dataset_name)
        assert cls.dataset_dir == record.dataset_dir
        assert make_cfg(record.name, "/x").DATASET.NAME == record.dataset_name
        if getattr(cls, "split_file", ""):
            assert cls.split_file == record.split_file and record.split_file in record.required
        assert all(osp.normpath(path) == path for path in record.required)


def test_names_resolve_by_config_name_dataset_name_or_all():
    assert [s.name for s in catalogue.resolve(["oxford_pets", "DescribableTextures", "IMAGENET_A"])] == [
        "oxford_pets",
        "dtd",
        "imagenet_a",
    ]
    assert len(catalogue.resolve(["all"])) == 15
    with pytest.raises(ValueError, match='unknown dataset "oxford_pet" \\(did you mean "oxford_pets"\\?\\)'):
        catalogue.resolve(["oxford_pet"])


def test_unknown_names_are_an_error_without_traceback(capsys):
    assert data.main(["check", "cifar", "--root", "/tmp"]) == 2
    assert capsys.readouterr().err.startswith('error: unknown dataset "cifar"')


TORCH_FREE_RUN = """
import sys
from toolkit import data
assert data.main(["list"]) == 0
assert data.main(["fold-imagenet-val", "--root", sys.argv[1], "--labels", sys.argv[2]]) == 0
print("before check:", sorted({m.split(".")[0] for m in sys.modules} & {"torch", "dassl", "datasets"}))
import datasets  # what check imports when it runs: proves the probe above sees torch
print("after check:", sorted({m.split(".")[0] for m in sys.modules} & {"torch", "dassl", "datasets"}))
"""


@pytest.mark.slow
def test_the_package_list_and_fold_imagenet_val_import_no_torch(tmp_path):
    info = build_fixture("imagenet", tmp_path, flat_imagenet_val=True)
    run = subprocess.run(
        [sys.executable, "-c", TORCH_FREE_RUN, str(tmp_path), info.extra["val_solution"]],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert "imagenet_sketch  ImageNetSketch" in run.stdout and f"moved {info.sizes['test']} images" in run.stdout
    assert "before check: []" in run.stdout  # importing the package (download included), list, fold
    assert "after check: ['dassl', 'datasets', 'torch']" in run.stdout


def test_python_dash_m_runs_the_command():
    run = subprocess.run([sys.executable, "-m", "toolkit.data", "list"], cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0].split()[:3] == ["imagenet", "ImageNet", "imagenet/"]


# ---------------------------------------------------------------------------------------------
# HTTP downloads: resume, checksum, errors
# ---------------------------------------------------------------------------------------------


def test_http_download_verifies_the_checksum(tmp_path):
    with FileServer({"a.bin": PAYLOAD}) as server:
        fetching.http_download(server.url("a.bin"), str(tmp_path / "a.bin"), md5=md5(PAYLOAD))
    assert (tmp_path / "a.bin").read_bytes() == PAYLOAD
    assert not (tmp_path / "a.bin.part").exists()


def test_http_download_resumes_a_partial_file(tmp_path):
    (tmp_path / "a.bin.part").write_bytes(PAYLOAD[:300000])
    with FileServer({"a.bin": PAYLOAD}) as server:
        fetching.http_download(server.url("a.bin"), str(tmp_path / "a.bin"), md5=md5(PAYLOAD))
    assert server.requests == [("/a.bin", "bytes=300000-")]
    assert (tmp_path / "a.bin").read_bytes() == PAYLOAD


def test_http_download_finishes_a_complete_partial_file(tmp_path):
    (tmp_path / "a.bin.part").write_bytes(PAYLOAD)
    with FileServer({"a.bin": PAYLOAD}) as server:
        fetching.http_download(server.url("a.bin"), str(tmp_path / "a.bin"), md5=md5(PAYLOAD))
    assert (tmp_path / "a.bin").read_bytes() == PAYLOAD


def test_http_download_restarts_when_the_server_ignores_range(tmp_path):
    (tmp_path / "a.bin.part").write_bytes(b"x" * 1000)
    with FileServer({"a.bin": PAYLOAD}, honour_range=False) as server:
        fetching.http_download(server.url("a.bin"), str(tmp_path / "a.bin"), md5=md5(PAYLOAD))
    assert (tmp_path / "a.bin").read_bytes() == PAYLOAD


def test_http_download_rejects_a_bad_checksum_and_drops_the_partial_file(tmp_path):
    with FileServer({"a.bin": PAYLOAD}) as server:
        with pytest.raises(fetching.DownloadError, match="checksum mismatch for a.bin"):
            fetching.http_download(server.url("a.bin"), str(tmp_path / "a.bin"), md5="0" * 32)
    assert os.listdir(tmp_path) == []


def test_http_download_reports_dead_links_in_one_line(tmp_path):
    with FileServer({}) as server:
        with pytest.raises(fetching.DownloadError, match="HTTP 404"):
            fetching.http_download(server.url("gone.tar"), str(tmp_path / "gone.tar"))
    with pytest.raises(fetching.DownloadError, match="cannot reach"):
        fetching.http_download("http://127.0.0.1:9/nothing", str(tmp_path / "x"), timeout=5)


def test_unpack_refuses_members_outside_the_folder_and_damaged_archives(tmp_path):
    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tf:
        payload = tmp_path / "payload.txt"
        payload.write_text("x")
        tf.add(payload, arcname="../outside.txt")
    os.makedirs(tmp_path / "into")
    with pytest.raises(fetching.DownloadError, match="cannot unpack .*evil.tar"):
        fetching.unpack(str(evil), str(tmp_path / "into"))
    assert not (tmp_path / "outside.txt").exists()
    damaged = tmp_path / "damaged.tar.gz"
    damaged.write_bytes(tar_gz(str(tmp_path / "into"), "into", str(tmp_path / "ok.tar.gz"))[:30])
    with pytest.raises(fetching.DownloadError):
        fetching.unpack(str(damaged), str(tmp_path / "into"))


# ---------------------------------------------------------------------------------------------
# download: archives, Drive files, renames, manual steps
# ---------------------------------------------------------------------------------------------


def record_with_urls(name, server, **md5s):
    """The catalogue's record for ``name`` with its HTTP sources pointed at the local server."""
    record = catalogue.record(name)
    sources = []
    for source in record.sources:
        if source.urls:
            source = dataclasses.replace(source, urls=(server.url(source.filename),), md5=md5s.get(source.filename, ""))
        sources.append(source)
    return dataclasses.replace(record, sources=tuple(sources))


def test_download_unpacks_the_archive_and_fetches_the_split_file(tmp_path, fake_gdown, capsys):
    origin = build_fixture("dtd", tmp_path / "origin")
    archive = tar_gz(origin.dataset_dir + "/images", "dtd/images", str(tmp_path / "dtd.tar.gz"))
    drive_files, drive_calls = fake_gdown
    drive_files["1u3_QfB467jqHgNXC00UIzbLZRQCg2S7x"] = osp.join(
        origin.dataset_dir, "split_zhou_DescribableTextures.json"
    )
    root = tmp_path / "data"
    with FileServer({"dtd-r1.0.1.tar.gz": archive}) as server:
        record = record_with_urls("dtd", server, **{"dtd-r1.0.1.tar.gz": md5(archive)})
        assert fetching.download(record, str(root)) is True
        assert sorted(os.listdir(root / "dtd")) == [
            "images",
            "split_zhou_DescribableTextures.json",
        ]  # archive deleted, dtd/ merged
        dataset = build_dataset(make_cfg("dtd", root))
        assert len(dataset.train_x) == origin.sizes["train"] and dataset.classnames == origin.classnames

        requests = len(server.requests)
        assert fetching.download(record, str(root)) is True  # everything there: nothing fetched again
        assert len(server.requests) == requests and drive_calls == ["1u3_QfB467jqHgNXC00UIzbLZRQCg2S7x"]
    assert "already there" in capsys.readouterr().out


def test_download_renames_fgvc_aircraft_data_folder(tmp_path, fake_gdown):
    origin = build_fixture("fgvc_aircraft", tmp_path / "origin")
    archive = tar_gz(origin.dataset_dir, "fgvc-aircraft-2013b/data", str(tmp_path / "fgvc.tar.gz"))
    root = tmp_path / "data"
    with FileServer({"fgvc-aircraft-2013b.tar.gz": archive}) as server:
        assert fetching.download(record_with_urls("fgvc_aircraft", server), str(root)) is True
    assert not (root / "fgvc_aircraft" / "fgvc-aircraft-2013b").exists()
    dataset = build_dataset(make_cfg("fgvc_aircraft", root))
    assert dataset.classnames == origin.classnames


def test_download_renames_sketch_to_images_and_copies_imagenet_classnames(tmp_path, fake_gdown):
    origin = build_fixture("imagenet_sketch", tmp_path / "origin")
    zip_path = tmp_path / "sketch.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        for folder, _, files in os.walk(osp.join(origin.dataset_dir, "images")):
            for f in files:
                zf.write(
                    osp.join(folder, f),
                    osp.join("sketch", osp.relpath(osp.join(folder, f), osp.join(origin.dataset_dir, "images"))),
                )
    root = tmp_path / "data"
    os.makedirs(root / "imagenet")
    shutil.copy(osp.join(origin.dataset_dir, "classnames.txt"), root / "imagenet" / "classnames.txt")
    drive_files, drive_calls = fake_gdown
    with FileServer({"ImageNet-Sketch.zip": zip_path.read_bytes()}) as server:
        assert fetching.download(record_with_urls("imagenet_sketch", server), str(root)) is True
    assert drive_calls == []  # classnames.txt was copied from imagenet/, the zip came over HTTP
    assert build_dataset(make_cfg("imagenet_sketch", root)).classnames == origin.classnames


def test_download_flattens_doubled_stanford_cars_folders(tmp_path):
    dataset_dir = tmp_path / "stanford_cars"
    for split in ("cars_train", "cars_test"):
        os.makedirs(dataset_dir / split / split)
        (dataset_dir / split / split / "00001.jpg").write_bytes(b"jpeg")
    record = dataclasses.replace(catalogue.record("stanford_cars"), sources=())
    fetching.download(record, str(tmp_path))
    assert sorted(os.listdir(dataset_dir / "cars_train")) == ["00001.jpg"]
    assert sorted(os.listdir(dataset_dir / "cars_test")) == ["00001.jpg"]


def test_an_archive_placed_by_hand_is_unpacked(tmp_path, fake_gdown):
    origin = build_fixture("eurosat", tmp_path / "origin")
    root = tmp_path / "data"
    os.makedirs(root / "eurosat")
    with zipfile.ZipFile(root / "eurosat" / "EuroSAT.zip", "w") as zf:
        for folder, _, files in os.walk(osp.join(origin.dataset_dir, "2750")):
            for f in files:
                zf.write(osp.join(folder, f), osp.relpath(osp.join(folder, f), origin.dataset_dir))
    record = catalogue.record("eurosat")
    record = dataclasses.replace(
        record, sources=record.sources[:1] + (dataclasses.replace(record.sources[2], drive_id="unknown"),)
    )
    assert fetching.download(record, str(root)) is False  # the split file cannot be had: manual steps
    assert (root / "eurosat" / "2750" / "AnnualCrop" / "AnnualCrop_1.jpg").exists()


def test_a_truncated_archive_leaves_nothing_in_place_and_is_never_ready(tmp_path, fake_gdown, capsys):
    origin = build_fixture("dtd", tmp_path / "origin")
    archive = tar_gz(origin.dataset_dir + "/images", "dtd/images", str(tmp_path / "dtd.tar.gz"))
    drive_files, _ = fake_gdown
    drive_files["1u3_QfB467jqHgNXC00UIzbLZRQCg2S7x"] = osp.join(origin.dataset_dir, "split_zhou_DescribableTextures.json")
    root = tmp_path / "data"
    os.makedirs(root / "dtd")
    (root / "dtd" / "dtd-r1.0.1.tar.gz").write_bytes(archive[: len(archive) * 2 // 3])  # placed by hand, cut short
    record = catalogue.record("dtd")
    for _ in range(2):
        assert fetching.download(record, str(root)) is False
        out = capsys.readouterr().out
        assert "cannot unpack" in out and "nothing of it was put in place: delete it and rerun" in out
        assert "DescribableTextures: ready" not in out and "images: already there" not in out
        assert sorted(os.listdir(root / "dtd")) == ["dtd-r1.0.1.tar.gz", "split_zhou_DescribableTextures.json"]


def test_dead_sources_print_the_manual_steps_not_a_traceback(tmp_path, fake_gdown, monkeypatch, capsys):
    with FileServer({}) as server:
        dead = record_with_urls("oxford_pets", server)
        monkeypatch.setattr(
            "runtime.catalogue.RECORDS", tuple(dead if r.name == dead.name else r for r in catalogue.RECORDS)
        )
        assert data.main(["download", "oxford_pets", "--root", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "could not get images.tar.gz: HTTP 404" in out
    assert "could not get split_zhou_OxfordPets.json" in out and "Too many users" in out
    assert "OxfordPets: still missing images, split_zhou_OxfordPets.json. Manual steps:" in out
    assert f"into {tmp_path}/oxford_pets" in out
    assert "Traceback" not in out


def test_imagenet_download_gets_classnames_and_prints_the_manual_steps(tmp_path, fake_gdown, capsys):
    drive_files, _ = fake_gdown
    origin = build_fixture("imagenet", tmp_path / "origin")
    drive_files["1-61f_ol79pViBFDG_IDlUQSwoLcn2XXF"] = osp.join(origin.dataset_dir, "classnames.txt")
    assert data.main(["download", "imagenet", "--root", str(tmp_path / "data")]) == 1
    assert (tmp_path / "data" / "imagenet" / "classnames.txt").exists()
    out = capsys.readouterr().out
    assert "image-net.org" in out and "fold-imagenet-val" in out and "images/train, images/val" in out


# ---------------------------------------------------------------------------------------------
# check
# ---------------------------------------------------------------------------------------------


def test_check_passes_an_intact_fixture(tmp_path, capsys):
    build_fixture("oxford_pets", tmp_path)
    build_fixture("imagenet_a", tmp_path)
    assert data.main(["check", "oxford_pets", "ImageNetA", "--root", str(tmp_path), "--skip-sizes"]) == 0
    out = capsys.readouterr().out
    assert "OxfordPets: train 36, val 12, test 24 images: ok" in out and out.rstrip().endswith("no problems found")


def test_check_reports_a_deleted_and_a_corrupt_image(tmp_path, capsys):
    info = build_fixture("oxford_pets", tmp_path)
    missing = osp.join(info.dataset_dir, "images", "beagle_2.jpg")
    corrupt = osp.join(info.dataset_dir, "images", "Bengal_10.jpg")
    os.remove(missing)
    with open(corrupt, "wb") as f:
        f.write(b"not a jpeg at all")
    assert data.main(["check", "oxford_pets", "--root", str(tmp_path), "--skip-sizes"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert f"OxfordPets: missing image (train): {missing}" in lines
    assert any(
        line.startswith(f"OxfordPets: unreadable image (test): {corrupt} (UnidentifiedImageError") for line in lines
    )
    assert lines[-1] == "2 problems found"

    # --no-decode finds the missing file only.
    assert data.main(["check", "oxford_pets", "--root", str(tmp_path), "--skip-sizes", "--no-decode"]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == "1 problem found"


def test_check_compares_sizes_with_coops(tmp_path, capsys):
    build_fixture("eurosat", tmp_path)
    assert data.main(["check", "eurosat", "--root", str(tmp_path), "--no-decode"]) == 1
    out = capsys.readouterr().out
    assert "EuroSAT: train lists 30 images, CoOp's has 13500" in out
    assert "EuroSAT: train has 5 classes, CoOp's has 10" in out


def test_check_reports_missing_folders_and_split_files_in_one_line_each(tmp_path, capsys):
    info = build_fixture("sun397", tmp_path, split_file=False)
    assert data.main(["check", "sun397", "dtd", "--root", str(tmp_path), "--skip-sizes"]) == 1
    lines = capsys.readouterr().out.splitlines()
    split_path = osp.join(info.dataset_dir, "split_zhou_SUN397.json")
    assert any(
        line.startswith(f"SUN397: split file not found: {split_path}") and "will not match CoOp's" in line
        for line in lines
    )
    assert any(line.startswith(f"DescribableTextures: dataset folder not found: {tmp_path}/dtd;") for line in lines)


def test_check_reports_a_stale_fewshot_cache(tmp_path, capsys):
    build_fixture("food101", tmp_path / "old")
    build_dataset(make_cfg("food101", tmp_path / "old", num_shots=1))
    # A moved dataset keeps a valid cache: it lists its images relative to the dataset folder.
    shutil.move(str(tmp_path / "old"), str(tmp_path / "new"))
    assert data.main(["check", "food101", "--root", str(tmp_path / "new"), "--skip-sizes"]) == 0
    capsys.readouterr()
    cache = os.path.join(tmp_path, "new", "food-101", "split_fewshot", "shot_1-seed_1.pkl")
    with open(cache, "rb") as f:
        first = pickle.load(f)["relative"]["train"][0][0]
    os.remove(os.path.join(tmp_path, "new", "food-101", *first.split("/")))
    assert data.main(["check", "food101", "--root", str(tmp_path / "new"), "--skip-sizes"]) == 1
    out = capsys.readouterr().out
    assert "shot_1-seed_1.pkl lists 1 missing images" in out and "delete it" in out


def test_check_points_at_fold_imagenet_val_for_a_flat_val_folder(tmp_path, capsys):
    build_fixture("imagenet", tmp_path, flat_imagenet_val=True)
    assert data.main(["check", "imagenet", "--root", str(tmp_path), "--skip-sizes"]) == 1
    assert "python -m toolkit.data fold-imagenet-val" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------
# fold-imagenet-val
# ---------------------------------------------------------------------------------------------


def test_fold_imagenet_val_with_kaggles_solution_file(tmp_path, capsys):
    info = build_fixture("imagenet", tmp_path, flat_imagenet_val=True)
    assert data.main(["fold-imagenet-val", "--root", str(tmp_path), "--labels", info.extra["val_solution"]]) == 0
    assert f"moved {info.sizes['test']} images" in capsys.readouterr().out
    dataset = build_dataset(make_cfg("imagenet", tmp_path))
    assert len(dataset.test) == info.sizes["test"] and dataset.classnames == info.classnames
    by_label = {item.label: item.impath.split("/")[-2] for item in dataset.test}
    assert by_label == {
        label: wnid for label, wnid in enumerate(sorted(os.listdir(osp.join(info.dataset_dir, "images", "train"))))
    }


def test_fold_imagenet_val_with_a_plain_list_reports_unlabelled_images(tmp_path, capsys):
    info = build_fixture("imagenet", tmp_path, flat_imagenet_val=True)
    rows = open(info.extra["val_solution"]).read().splitlines()[1:]
    labels = tmp_path / "val_labels.txt"
    labels.write_text(
        "".join(f"{stem}.JPEG {prediction.split()[0]}\n" for stem, prediction in (row.split(",") for row in rows[1:]))
    )
    assert data.main(["fold-imagenet-val", "--root", str(tmp_path), "--labels", str(labels)]) == 1
    out = capsys.readouterr().out
    assert f"moved {len(rows) - 1} images" in out
    assert "ImageNet: no label for val image" in out and "ILSVRC2012_val_00000001.JPEG" in out


def test_fold_imagenet_val_rejects_a_file_that_is_not_a_label_list(tmp_path, capsys):
    build_fixture("imagenet", tmp_path, flat_imagenet_val=True)
    bogus = tmp_path / "bogus.txt"
    bogus.write_text("hello world\n")
    assert data.main(["fold-imagenet-val", "--root", str(tmp_path), "--labels", str(bogus)]) == 2
    assert "neither Kaggle's LOC_val_solution.csv nor lines" in capsys.readouterr().err


def test_fold_imagenet_val_mentions_a_stale_preprocessed_pkl(tmp_path, capsys):
    info = build_fixture("imagenet", tmp_path, flat_imagenet_val=True)
    with open(osp.join(info.dataset_dir, "preprocessed.pkl"), "wb") as f:
        pickle.dump({"train": [], "test": []}, f)
    data.main(["fold-imagenet-val", "--root", str(tmp_path), "--labels", info.extra["val_solution"]])
    assert f"delete {info.dataset_dir}/preprocessed.pkl" in capsys.readouterr().out
