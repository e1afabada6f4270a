"""Files ssl-ecg reads back or reads in: damaged, truncated, transposed or of the wrong kind,
each is one error line naming the file (and what is wrong), never a traceback from torch, numpy,
wfdb or scipy and never a silently wrong result.

Every bad file is made in ``tmp_path`` from a small good one: a 3-step run and its export, a
tiny prepared cache, WFDB / Challenge ``.mat`` records and ``.npy`` arrays written here.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.io
import torch
import wfdb
from typer.testing import CliRunner

from ssl_ecg.checkpoint import load_checkpoint, load_state
from ssl_ecg.cli import app
from ssl_ecg.config import PreprocessConfig
from ssl_ecg.data.preprocess import check_signal, process
from ssl_ecg.data.record import DatasetContext, Record, RecordSource
from ssl_ecg.data.store import Store
from ssl_ecg.data.wfdb_io import read_record
from ssl_ecg.errors import DataError, SslEcgError
from ssl_ecg.export import export, load_encoder
from ssl_ecg.recipe import load_recipe
from ssl_ecg.registry import Registry
from ssl_ecg.sources import prepare
from ssl_ecg.train import train

REPO = Path(__file__).resolve().parents[1]
HYBRID = REPO / "recipes" / "hybrid.toml"
SETS = [
    "data.n_records=3", "data.duration_s=20.0", "encoder.dim=32", "encoder.depth=1",
    "encoder.heads=2", "train.batch_size=16", "train.steps=3", "train.device=cpu",
]  # fmt: skip
runner = CliRunner()


# ------------------------------------------------------------------ helpers
def one_line(err: pytest.ExceptionInfo[Exception], cls: type[Exception], file: Path) -> str:
    """The message of an expected error: exactly ``cls``, one line, naming ``file``."""
    assert type(err.value) is cls, f"{type(err.value).__name__}: {err.value}"
    msg = str(err.value)
    assert "\n" not in msg, msg
    assert str(file) in msg, msg
    return msg


def cli_fails(args: list[str], file: Path) -> str:
    """Run the CLI: exit status 2, exactly one ``error:`` line naming ``file``, no traceback."""
    result = runner.invoke(app, args)
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert str(file) in errors[0], errors[0]
    assert "Traceback" not in result.output + result.stderr
    return errors[0]


def dataset(name: str, recipe_dir: Path, **settings: Any) -> RecordSource:
    """A dataset built through the registry, as a recipe builds it."""
    spec = Registry.load().get("dataset", name)
    return spec.factory(spec.config(**settings), DatasetContext(recipe_dir=recipe_dir, seed=0))


def write_recipe(folder: Path, data: str) -> Path:
    """A minimal recipe whose [data] table is ``data`` (TOML lines)."""
    path = folder / "recipe.toml"
    path.write_text(
        f"[data]\n{data}\nfs = 250\nwindow_s = 2.0\n"
        '[encoder]\nname = "resnet1d"\n[objective]\nname = "simclr"\n'
    )
    return path


# ------------------------------------------------------------------ a tiny run and its export
@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("run")
    train(load_recipe(HYBRID, SETS), run_dir, progress=False)
    return run_dir


@pytest.fixture(scope="module")
def exported(run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("export")
    export(run, folder)
    return folder


@pytest.fixture
def run_copy(run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run, tmp_path / "run"))


@pytest.fixture
def export_copy(exported: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(exported, tmp_path / "exp"))


def resave(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    state = torch.load(path, weights_only=True)
    change(state)
    torch.save(state, path)


# ------------------------------------------------------------------ checkpoints
def test_a_text_file_as_checkpoint_is_named(run_copy: Path, tmp_path: Path) -> None:
    last = run_copy / "checkpoints" / "last.pt"
    last.write_text("step = 3\nthis is not a checkpoint\n")
    with pytest.raises(SslEcgError) as err:
        load_checkpoint(last)
    assert "not a readable checkpoint" in one_line(err, SslEcgError, last)
    cli_fails(["export", str(run_copy), "-o", str(tmp_path / "out")], last)
    assert not (tmp_path / "out" / "encoder.json").exists()


def test_a_text_file_as_checkpoint_fails_evaluate_with_one_line(
    run_copy: Path, tmp_path: Path
) -> None:
    last = run_copy / "checkpoints" / "last.pt"
    last.write_bytes(b"\x00\x01 garbage " * 100)
    args = ["evaluate", str(run_copy), "--task", "labels", "--out", str(tmp_path / "res")]
    line = cli_fails(args, last)
    assert "not a readable checkpoint" in line and "ssl-ecg train" in line
    assert not (tmp_path / "res" / "results.json").exists(), "no result from a broken model"


@pytest.mark.parametrize("key", ["optimizer", "objective", "rng", "step"])
def test_a_checkpoint_missing_a_key_is_named(run_copy: Path, key: str) -> None:
    last = run_copy / "checkpoints" / "last.pt"
    resave(last, lambda s: s.pop(key))
    with pytest.raises(SslEcgError) as err:
        load_checkpoint(last)
    assert f"missing key(s) {key}" in one_line(err, SslEcgError, last)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda s: s.update(step="3"), "'step' is str '3', expected a step number"),
        (lambda s: s.update(objective=[1, 2]), "'objective' is a list, expected the model's"),
        (lambda s: s.update(format=7), "not an ssl-ecg checkpoint of format 1 ('format' is int 7)"),
        (lambda s: s.update(pos=10**6), "'pos' 1000000 is past the end of 'order'"),
        (lambda s: s["rng"].update(data=torch.zeros(3)), "'rng' is a dict, expected random"),
    ],
)
def test_a_checkpoint_of_the_wrong_kind_is_named(
    run_copy: Path, change: Callable[[dict[str, Any]], None], problem: str
) -> None:
    last = run_copy / "checkpoints" / "last.pt"
    resave(last, change)
    with pytest.raises(SslEcgError) as err:
        load_checkpoint(last)
    assert problem in one_line(err, SslEcgError, last)


def test_a_non_dict_checkpoint_is_named(tmp_path: Path) -> None:
    path = tmp_path / "list.pt"
    torch.save([torch.zeros(2)], path)
    with pytest.raises(SslEcgError) as err:
        load_checkpoint(path)
    assert "holds a list" in one_line(err, SslEcgError, path)


def test_weights_of_the_wrong_shape_name_the_key_and_both_shapes(
    run_copy: Path, tmp_path: Path
) -> None:
    last = run_copy / "checkpoints" / "last.pt"
    state = torch.load(last, weights_only=True)
    key = next(k for k, v in state["objective"].items() if v.ndim >= 2)
    want = tuple(state["objective"][key].shape)
    state["objective"][key] = torch.zeros(3, 3)
    torch.save(state, last)
    with pytest.raises(SslEcgError) as err:
        export(run_copy, tmp_path / "out")
    msg = one_line(err, SslEcgError, last)
    assert f"'{key}' has shape (3, 3) in the file but {want} in the model" in msg
    cli_fails(["export", str(run_copy), "-o", str(tmp_path / "out2")], last)


def test_load_state_names_shape_mismatches_and_missing_keys(tmp_path: Path) -> None:
    path = tmp_path / "w.pt"
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    state = model.state_dict()
    with pytest.raises(SslEcgError) as err:
        load_state(model, {**state, "0.weight": torch.zeros(5, 4)}, path)
    assert "'0.weight' has shape (5, 4) in the file but (3, 4)" in one_line(err, SslEcgError, path)
    partial = {k: v for k, v in state.items() if k != "1.bias"}
    with pytest.raises(SslEcgError) as err:
        load_state(model, {**partial, "extra": torch.zeros(1)}, path)
    msg = one_line(err, SslEcgError, path)
    assert "'1.bias' is missing from the file" in msg and "'extra' is not in the model" in msg
    load_state(model, state, path)  # a fitting state loads


# ------------------------------------------------------------------ exports
def edit_json(folder: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    path = folder / "encoder.json"
    meta = json.loads(path.read_text())
    change(meta)
    path.write_text(json.dumps(meta))
    return path


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda m: m.pop("data"), "key 'data' is missing"),
        (lambda m: m.pop("encoder"), "key 'encoder' is missing"),
        (lambda m: m["data"].update(fs="abc"), "'data.fs': input should be a valid number"),
        (lambda m: m["data"].update(fs=-250.0), "'data.fs': input should be greater than 0"),
        (lambda m: m["data"].update(leads="II"), "'data.leads': input should be a valid list"),
        (lambda m: m["data"].update(n_samples=625), "n_samples 625 is not window_s 2 s x fs 250"),
        (lambda m: m["data"].update(fs=500.0), "fs 500 differs from preprocessing.fs 250"),
        (lambda m: m.update(format=2), "unknown export format 2"),
        (lambda m: m.update(embed_dim=64), "embed_dim 64 but the encoder it describes embeds"),
    ],
)
def test_a_damaged_encoder_json_is_named(
    export_copy: Path, change: Callable[[dict[str, Any]], None], problem: str
) -> None:
    path = edit_json(export_copy, change)
    with pytest.raises(SslEcgError) as err:
        load_encoder(export_copy)
    msg = one_line(err, SslEcgError, path)
    assert problem in msg and "export it again: ssl-ecg export" in msg


def test_encoder_json_that_is_not_json_is_named(export_copy: Path, tmp_path: Path) -> None:
    path = export_copy / "encoder.json"
    path.write_text('{"format": 1, "data": ')
    with pytest.raises(SslEcgError) as err:
        load_encoder(export_copy)
    assert "not valid JSON" in one_line(err, SslEcgError, path)
    cli_fails(
        ["evaluate", str(export_copy), "--task", "labels", "--out", str(tmp_path / "r")], path
    )


def test_evaluate_of_an_export_with_fs_abc_is_one_line(export_copy: Path, tmp_path: Path) -> None:
    path = edit_json(export_copy, lambda m: m["data"].update(fs="abc"))
    msg = cli_fails(
        ["evaluate", str(export_copy), "--task", "labels", "--out", str(tmp_path / "r")], path
    )
    assert "data.fs" in msg and "'abc'" in msg


def test_a_changed_dim_does_not_fit_the_weights(export_copy: Path) -> None:
    edit_json(export_copy, lambda m: m["encoder"].update(dim=64))
    weights = export_copy / "encoder.safetensors"
    with pytest.raises(SslEcgError) as err:
        load_encoder(export_copy)
    msg = one_line(err, SslEcgError, weights)
    assert "in the file but" in msg and "(64" in msg and "encoder.json describes" in msg


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda f: f.unlink(), "encoder.safetensors: not found"),
        (lambda f: f.write_bytes(b""), "not a readable safetensors file"),
        (lambda f: f.write_bytes(b"garbage!" * 64), "not a readable safetensors file"),
        (lambda f: f.write_bytes(f.read_bytes()[:200]), "not a readable safetensors file"),
    ],
)
def test_a_missing_or_garbage_safetensors_is_named(
    export_copy: Path, damage: Callable[[Path], Any], problem: str
) -> None:
    weights = export_copy / "encoder.safetensors"
    damage(weights)
    with pytest.raises(SslEcgError) as err:
        load_encoder(export_copy)
    assert problem in one_line(err, SslEcgError, weights)


def test_evaluate_of_an_export_without_weights_is_one_line(
    export_copy: Path, tmp_path: Path
) -> None:
    weights = export_copy / "encoder.safetensors"
    weights.unlink()
    args = ["evaluate", str(export_copy), "--task", "labels", "--out", str(tmp_path / "r")]
    line = cli_fails(args, weights)
    assert "not found" in line and "ssl-ecg export" in line  # the fix: export again
    assert not (tmp_path / "r" / "results.json").exists()


def test_export_refuses_a_damaged_data_json(run_copy: Path, tmp_path: Path) -> None:
    data = run_copy / "data.json"
    doc = json.loads(data.read_text())
    doc["contract"]["fs"] = "abc"
    data.write_text(json.dumps(doc))
    with pytest.raises(SslEcgError) as err:
        export(run_copy, tmp_path / "out")
    assert "'contract.fs'" in one_line(err, SslEcgError, data)
    data.write_text("{")
    cli_fails(["export", str(run_copy), "-o", str(tmp_path / "out")], data)


def test_export_refuses_a_data_json_that_does_not_match_the_checkpoint(
    run_copy: Path, tmp_path: Path
) -> None:
    data = run_copy / "data.json"
    doc = json.loads(data.read_text())
    doc["contract"].update(fs=500.0, n_samples=1000)  # consistent in itself, not with training
    doc["contract"]["preprocessing"]["fs"] = 500.0
    data.write_text(json.dumps(doc))
    with pytest.raises(SslEcgError) as err:
        export(run_copy, tmp_path / "out")
    msg = one_line(err, SslEcgError, data)
    assert "1000-sample windows at 500 Hz, but last.pt was trained on 500 samples at 250" in msg


# ------------------------------------------------------------------ prepared caches
CACHE_SETS = ["data.n_records=3", "data.duration_s=12.0", "data.seed=5"]


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache root holding one small prepared dataset (its own folder, not the session's)."""
    root = tmp_path_factory.mktemp("cache-root")
    prepare(load_recipe(HYBRID, [*CACHE_SETS, f'data.cache_dir="{root}"']), workers=1)
    return root


@pytest.fixture
def cache(cache_root: Path, tmp_path: Path) -> Path:
    """A private copy of the cache root; returns the dataset's folder inside it."""
    root = Path(shutil.copytree(cache_root, tmp_path / "root"))
    (folder,) = [p for p in root.iterdir() if p.is_dir()]
    return folder


def _edit_meta(key: str, value: Any) -> Callable[[Path], Path]:
    def damage(folder: Path) -> Path:
        meta = json.loads((folder / "meta.json").read_text())
        if value is None:
            meta.pop(key)
        else:
            meta[key] = value
        (folder / "meta.json").write_text(json.dumps(meta))
        return folder / "meta.json"

    return damage


def _write(name: str, data: bytes) -> Callable[[Path], Path]:
    def damage(folder: Path) -> Path:
        (folder / name).write_bytes(data)
        return folder / name

    return damage


def _truncate(name: str, keep: int) -> Callable[[Path], Path]:
    def damage(folder: Path) -> Path:
        file = folder / name
        file.write_bytes(file.read_bytes()[:keep])
        return file

    return damage


def _drop_index_array(folder: Path) -> Path:
    with np.load(folder / "index.npz") as archive:
        arrays = {k: archive[k] for k in archive.files if k != "present"}
    np.savez(folder / "index.npz", **arrays)
    return folder / "index.npz"


def _short_index_array(folder: Path) -> Path:
    with np.load(folder / "index.npz") as archive:
        arrays = {k: archive[k] for k in archive.files}
    arrays["start"] = arrays["start"][:1]
    np.savez(folder / "index.npz", **arrays)
    return folder / "index.npz"


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (_write("meta.json", b'{"fs": 250'), "not valid JSON"),
        (_edit_meta("fs", None), "key 'fs' is missing"),
        (_edit_meta("fs", "abc"), "'fs': input should be a valid number"),
        (_edit_meta("leads", "II"), "'leads': input should be a valid list"),
        (_edit_meta("shards", [5]), "do not add up to 'n_samples'"),
        (_write("index.npz", b"PK\x03\x04 not really a zip"), "not a readable numpy archive"),
        (_truncate("index.npz", 100), "not a readable numpy archive"),
        (_drop_index_array, "has no array 'present'"),
        (_short_index_array, "array 'start' is int64 of shape (1,), expected 3 entries"),
        (_truncate("signal_0000.bin", 4000), "bytes, but meta.json says"),
        (lambda f: (f / "signal_0000.bin").unlink() or f / "signal_0000.bin", "shard not found"),
        (_write("rpeaks.npy", b"\x93NUMPY garbage"), "not a readable .npy array"),
    ],
)
def test_a_damaged_cache_is_named(
    cache: Path, damage: Callable[[Path], Path], problem: str
) -> None:
    file = damage(cache)
    with pytest.raises(DataError) as err:
        Store(cache)
    msg = one_line(err, DataError, file)
    assert problem in msg, msg
    assert f"delete the folder {cache} and run ssl-ecg data prepare again" in msg


def test_a_corrupt_records_json_is_named_when_read(cache: Path) -> None:
    store = Store(cache)  # records.json is read on first use
    (cache / "records.json").write_text('[{"record_id": 1}]')
    with pytest.raises(DataError) as err:
        store.records  # noqa: B018
    assert "'0.record_id'" in one_line(err, DataError, cache / "records.json")
    (cache / "records.json").write_text("[{")
    with pytest.raises(DataError) as err:
        Store(cache).records  # noqa: B018
    assert "not valid JSON" in one_line(err, DataError, cache / "records.json")


@pytest.mark.parametrize(
    "damage", [_truncate("signal_0000.bin", 4000), _write("meta.json", b"\x00\x01")]
)
def test_data_info_of_a_damaged_cache_is_one_line(
    cache: Path, damage: Callable[[Path], Path]
) -> None:
    file = damage(cache)
    sets = [*CACHE_SETS, f'data.cache_dir="{cache.parent}"']
    args = ["data", "info", str(HYBRID)] + [x for s in sets for x in ("--set", s)]
    line = cli_fails(args, file)
    assert "the cache is damaged: delete the folder" in line and str(cache) in line


def test_the_undamaged_cache_copy_opens(cache: Path) -> None:  # guards the tests above
    store = Store(cache)
    assert len(store.records) == 3 and store.fs == 250.0


# ------------------------------------------------------------------ WFDB records
def write_wfdb(folder: Path, name: str = "r", fs: float = 360) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    x = np.random.default_rng(0).normal(size=(2000, 2))  # (T, C) mV
    wfdb.wrsamp(name, fs=fs, units=["mV", "mV"], sig_name=["I", "II"], p_signal=x,
                fmt=["16", "16"], write_dir=str(folder))  # fmt: skip
    return folder / name


def set_fs(record: Path, field: str) -> Path:
    hea = Path(f"{record}.hea")
    lines = hea.read_text().splitlines()
    parts = lines[0].split()
    parts[2] = field
    hea.write_text("\n".join([" ".join(parts), *lines[1:]]) + "\n")
    return hea


@pytest.mark.parametrize("field", ["abc", "nan", "-5", "360abc", "0"])
def test_a_wfdb_header_fs_that_is_not_a_number_is_refused(tmp_path: Path, field: str) -> None:
    hea = set_fs(write_wfdb(tmp_path), field)
    with pytest.raises(DataError) as err:
        read_record(tmp_path / "r")
    assert f"sampling frequency '{field}'" in one_line(err, DataError, hea)


def test_a_wfdb_header_fs_is_read_as_written(tmp_path: Path) -> None:
    set_fs(write_wfdb(tmp_path), "3.6e2")
    assert wfdb.rdheader(str(tmp_path / "r")).fs != 360  # guard: wfdb reads it wrongly
    assert read_record(tmp_path / "r").fs == 360.0
    set_fs(tmp_path / "r", "500/1000(0)")
    assert read_record(tmp_path / "r").fs == 500.0


def test_prepare_of_a_wfdb_folder_with_fs_abc_is_one_line(tmp_path: Path) -> None:
    hea = set_fs(write_wfdb(tmp_path / "db"), "abc")
    recipe = write_recipe(tmp_path, 'name = "wfdb"\nroot = "db"')
    line = cli_fails(["data", "prepare", str(recipe)], hea)
    assert "sampling frequency 'abc'" in line and "--skip-bad" in line


# ------------------------------------------------------------------ Challenge .mat records
LEADS = ["I", "II", "V1"]


def write_challenge(
    folder: Path, name: str = "A0001", *, val: np.ndarray | None = None, var: str = "val",
    mat_format: str = "4",
) -> tuple[Path, np.ndarray]:  # fmt: skip
    """A PhysioNet-Challenge-style record: ``<name>.hea`` + ``<name>.mat`` (3 leads x 1000)."""
    folder.mkdir(parents=True, exist_ok=True)
    good = (np.random.default_rng(1).normal(size=(3, 1000)) * 1000).astype(np.int16)
    scipy.io.savemat(folder / f"{name}.mat", {var: good if val is None else val},
                     format=mat_format)  # fmt: skip
    lines = [f"{name} 3 500 1000"] + [f"{name}.mat 16+24 1000/mV 16 0 0 0 0 {n}" for n in LEADS]
    lines += ["# Age: 60", "# Sex: Female", "# Dx: 426783006"]
    (folder / f"{name}.hea").write_text("\n".join(lines) + "\n")
    return folder / name, good


@pytest.mark.parametrize("mat_format", ["4", "5"])
def test_a_good_challenge_mat_is_read_by_name(tmp_path: Path, mat_format: str) -> None:
    path, good = write_challenge(tmp_path, mat_format=mat_format)
    rec = read_record(path)
    assert rec.fs == 500.0 and rec.leads == LEADS
    assert np.allclose(rec.signal, good / 1000.0, atol=1e-6)  # a v5 file is not raw-read


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"val": "T"}, "'val' is 1000x3 (samples x leads)"),
        ({"var": "data"}, "holds no 'val' matrix (it holds data)"),
        ({"val": "float64"}, "'val' holds float64 values but A0001.hea says format 16"),
        ({"val": "int32"}, "'val' holds int32 values"),
        ({"val": "short"}, "holds 900 samples per signal but A0001.hea says 1000"),
    ],
)
def test_a_wrong_challenge_mat_is_refused(
    tmp_path: Path, kwargs: dict[str, Any], problem: str
) -> None:
    _, good = write_challenge(tmp_path / "ok")
    kind = kwargs.get("val")
    values = {"T": good.T, "float64": good / 1000.0, "int32": good.astype(np.int32),
              "short": good[:, :900], None: None}  # fmt: skip
    path, _ = write_challenge(tmp_path, **{**kwargs, "val": values[kind]})
    mat = Path(f"{path}.mat")
    with pytest.raises(DataError) as err:
        read_record(path)
    assert problem in one_line(err, DataError, mat)
    with pytest.raises(DataError) as err:  # the same through the dataset plugin
        dataset("physionet-challenge", tmp_path, root=str(tmp_path), records=["A0001"]).load(
            "A0001"
        )
    one_line(err, DataError, mat)


def test_prepare_of_a_transposed_challenge_mat_is_one_line(tmp_path: Path) -> None:
    _, good = write_challenge(tmp_path / "db")
    path, _ = write_challenge(tmp_path / "db", val=np.ascontiguousarray(good.T))
    recipe = write_recipe(tmp_path, 'name = "physionet-challenge"\nroot = "db"')
    msg = cli_fails(["data", "prepare", str(recipe)], Path(f"{path}.mat"))
    assert "transposed" in msg


# ------------------------------------------------------------------ non-finite samples
@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_an_infinite_sample_is_refused_naming_the_lead(value: float) -> None:
    x = np.random.default_rng(0).normal(size=(3, 500))
    x[1, 42] = value
    with pytest.raises(DataError) as err:
        check_signal(x, LEADS, "rec.dat")
    msg = one_line(err, DataError, Path("rec.dat"))
    assert "lead II contains infinite values" in msg and "sample 42" in msg
    record = Record(x.astype(np.float32), 250.0, LEADS, "rec", "p", source="rec.dat")
    with pytest.raises(DataError) as err:
        process(record, PreprocessConfig(leads=LEADS), LEADS)
    assert "lead II contains infinite" in one_line(err, DataError, Path("rec.dat"))


def test_nan_is_still_named() -> None:
    x = np.zeros((3, 100)) + np.arange(100)
    x[2, 7] = np.nan
    with pytest.raises(DataError) as err:
        check_signal(x, LEADS, "rec.dat")
    assert "lead V1 contains NaN" in one_line(err, DataError, Path("rec.dat"))


# ------------------------------------------------------------------ numpy arrays
def write_arrays(folder: Path, x: np.ndarray, leads: list[str] | None = None) -> Path:
    np.save(folder / "ecg.npy", x)
    n_leads = x.shape[1] if x.ndim == 3 else 2
    (folder / "ecg.json").write_text(json.dumps({"fs": 250, "leads": leads or LEADS[:n_leads]}))
    return folder / "ecg.npy"


def good_arrays() -> np.ndarray:
    return np.random.default_rng(2).normal(size=(3, 2, 750)).astype(np.float32)  # (N, C, T)


@pytest.mark.parametrize(
    ("x", "problem"),
    [
        (good_arrays()[0], "expected shape (records, leads, samples), got (2, 750)"),
        (good_arrays()[..., None], "expected shape (records, leads, samples), got (3, 2, 750, 1)"),
        (good_arrays()[:, :, :0], "has an empty axis"),
        (good_arrays().astype(np.complex64), "holds complex64 values, not real numbers"),
        (good_arrays() > 0, "holds bool values, not real numbers"),
        (np.full((3, 2, 5), "a"), "holds <U1 values, not real numbers"),
    ],
)
def test_numpy_arrays_of_the_wrong_shape_or_dtype_are_named(
    tmp_path: Path, x: np.ndarray, problem: str
) -> None:
    path = write_arrays(tmp_path, x)
    with pytest.raises(DataError) as err:
        dataset("numpy", tmp_path, path="ecg.npy")
    assert problem in one_line(err, DataError, path)


def test_a_file_that_is_not_npy_is_named(tmp_path: Path) -> None:
    path = write_arrays(tmp_path, good_arrays())
    path.write_text("0.1, 0.2, 0.3\n")
    with pytest.raises(DataError) as err:
        dataset("numpy", tmp_path, path="ecg.npy")
    assert "not a readable .npy array" in one_line(err, DataError, path)


@pytest.mark.parametrize(
    ("value", "dtype", "problem"),
    [
        (np.inf, np.float32, "lead II contains infinite values (inf)"),
        (-np.inf, np.float64, "lead II contains infinite values (-inf)"),
        (np.nan, np.float32, "lead II contains NaN"),
        (1e300, np.float64, "(beyond the float32 range): lead II contains infinite"),
    ],
)
def test_non_finite_numpy_samples_are_named(
    tmp_path: Path, value: float, dtype: type, problem: str
) -> None:
    x = good_arrays().astype(dtype)
    x[1, 1, 10] = value
    path = write_arrays(tmp_path, x)
    ds = dataset("numpy", tmp_path, path="ecg.npy")
    assert np.array_equal(ds.load("0").signal, x[0].astype(np.float32))  # good records load
    with pytest.raises(DataError) as err:
        ds.load("1")
    msg = one_line(err, DataError, path)
    assert f"{path}[1]" in msg and problem in msg


def test_prepare_of_numpy_arrays_with_inf_is_one_line(tmp_path: Path) -> None:
    x = good_arrays()
    x[2, 0, 3] = np.inf
    path = write_arrays(tmp_path, x)
    recipe = write_recipe(tmp_path, 'name = "numpy"\npath = "ecg.npy"')
    msg = cli_fails(["data", "prepare", str(recipe)], path)
    assert "lead I contains infinite values" in msg


# ------------------------------------------------------------------ flat leads: masked, reported
def test_a_flat_lead_is_masked_and_listed_by_data_info(tmp_path: Path) -> None:
    x = good_arrays() * 0.5
    x[1, 1] = 0.25  # record 1's lead II is flat (disconnected)
    write_arrays(tmp_path, x)
    recipe = write_recipe(
        tmp_path, f'name = "numpy"\npath = "ecg.npy"\ncache_dir = "{tmp_path / "cache"}"'
    )
    assert runner.invoke(app, ["data", "prepare", str(recipe)]).exit_code == 0
    info = runner.invoke(app, ["data", "info", str(recipe), "--json"])
    assert info.exit_code == 0, info.output
    assert json.loads(info.stdout)["flat_leads_masked"] == {"1": ["II"]}
