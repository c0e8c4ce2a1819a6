from pathlib import Path

import pytest

from common.data.object_store import LocalStore


def test_put_get_list_exists(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "bucket")
    src = tmp_path / "f.bin"
    src.write_bytes(b"abc")
    uri = store.put_file(src, "raw/a.parquet")
    store.put_bytes(b'{"k": 1}', "raw/latest.json")
    store.put_bytes(b"x", "other/b")
    assert uri.startswith("file://") and uri.endswith("raw/a.parquet")
    assert store.list("raw/") == ["raw/a.parquet", "raw/latest.json"]
    assert store.exists("raw/a.parquet") and not store.exists("raw/nope")
    assert store.get_bytes("raw/latest.json") == b'{"k": 1}'
    assert store.get_file("raw/a.parquet", tmp_path / "back.bin").read_bytes() == b"abc"


def test_a_key_cannot_escape_the_store(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="escapes"):
        LocalStore(tmp_path / "bucket").put_bytes(b"x", "../outside")


def test_partial_uploads_are_never_listed(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "bucket")
    (tmp_path / "bucket" / "raw").mkdir(parents=True)
    (tmp_path / "bucket" / "raw" / ".a.parquet.123.tmp").write_bytes(b"half")
    assert store.list() == []
