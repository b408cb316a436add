"""sphmask.io.archive: scene folders as one deterministic tar archive, extracted safely."""
import io
import os
import tarfile

import pytest

from sphmask.io import DataFormatError, extract_scene_archive, write_scene_archive


@pytest.fixture
def folder(tmp_path):
    src = tmp_path / "src"
    (src / "scans" / "a").mkdir(parents=True)
    (src / "scans" / "a" / "a.ply").write_bytes(bytes(range(256)) * 40)
    (src / "scans" / "b").mkdir()
    (src / "scans" / "b" / "b.json").write_text('{"b": 1}\n')
    (src / "labels.tsv").write_text("id\tname\n")
    (src / "empty.txt").write_bytes(b"")
    return src


def tree(root):
    return {os.path.relpath(os.path.join(top, f), root): open(os.path.join(top, f), "rb").read()
            for top, _, files in os.walk(root) for f in files}


@pytest.mark.parametrize("suffix", [".tar.xz", ".tar.gz", ".tar"])
def test_round_trip_gives_the_folder_back(folder, tmp_path, suffix):
    names = write_scene_archive(str(folder), str(tmp_path / f"s{suffix}"))
    assert names == sorted(names) and "scans/a/a.ply" in names and "scans" in names
    assert extract_scene_archive(str(tmp_path / f"s{suffix}"), str(tmp_path / "out")) == names
    assert tree(tmp_path / "out") == tree(folder)


@pytest.mark.parametrize("suffix", [".tar.xz", ".tar.gz", ".tar"])
def test_two_writes_are_identical_whatever_the_times_and_modes(folder, tmp_path, suffix):
    first, second = tmp_path / f"1{suffix}", tmp_path / f"2{suffix}"
    write_scene_archive(str(folder), str(first))
    for path in (folder / "labels.tsv", folder / "scans" / "a" / "a.ply"):
        os.utime(path, (1.5e9, 1.5e9))
        os.chmod(path, 0o600)
    write_scene_archive(str(folder), str(second))
    assert first.read_bytes() == second.read_bytes()
    with tarfile.open(first) as tar:
        for m in tar.getmembers():
            assert (m.mtime, m.uid, m.gid, m.uname, m.gname) == (0, 0, 0, "", ""), m.name
            assert m.mode == (0o755 if m.isdir() else 0o644), m.name


def test_write_refuses_a_link_and_leaves_no_archive(folder, tmp_path):
    os.symlink(folder / "labels.tsv", folder / "link.tsv")
    with pytest.raises(DataFormatError, match="link.tsv: is a link or a special file"):
        write_scene_archive(str(folder), str(tmp_path / "s.tar.xz"))
    assert sorted(os.listdir(tmp_path)) == ["src"]


def test_write_refuses_a_name_without_archive_suffix(folder, tmp_path):
    with pytest.raises(ValueError, match=r"must end in one of \.tar\.xz, \.tar\.gz, \.tar, got '.*s\.zip'"):
        write_scene_archive(str(folder), str(tmp_path / "s.zip"))


def unsafe_archive(path, member):
    with tarfile.open(path, "w") as tar:
        ok = tarfile.TarInfo("scans/fine.txt")
        ok.size = 2
        tar.addfile(ok, io.BytesIO(b"ok"))
        tar.addfile(member, io.BytesIO(b"x" * member.size))


def info(name, kind=tarfile.REGTYPE, size=1, link=""):
    m = tarfile.TarInfo(name)
    m.type, m.size, m.linkname = kind, (size if kind == tarfile.REGTYPE else 0), link
    return m


@pytest.mark.parametrize("member, problem", [
    (info("/etc/evil"), "points outside the archive's folder"),
    (info("scans/../../evil"), "points outside the archive's folder"),
    (info("scans/link", tarfile.SYMTYPE, link="/etc/passwd"), "is a link or a special file"),
    (info("scans/hard", tarfile.LNKTYPE, link="scans/fine.txt"), "is a link or a special file"),
    (info("scans/dev", tarfile.CHRTYPE), "is a link or a special file"),
    (info("scans/fifo", tarfile.FIFOTYPE), "is a link or a special file"),
], ids=["absolute", "dotdot", "symlink", "hardlink", "device", "fifo"])
def test_extract_refuses_unsafe_members_before_writing_anything(tmp_path, member, problem):
    path = tmp_path / "bad.tar"
    unsafe_archive(path, member)
    with pytest.raises(DataFormatError, match=f"bad.tar: member '{member.name}' {problem}"):
        extract_scene_archive(str(path), str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("damage", ["text", "truncated", "empty"])
def test_extract_refuses_a_corrupt_file_in_one_line(folder, tmp_path, damage):
    path = tmp_path / "s.tar.xz"
    write_scene_archive(str(folder), str(path))
    data = {"text": b"scans/a/a.ply\nnot an archive\n", "truncated": path.read_bytes()[:300], "empty": b""}[damage]
    path.write_bytes(data)
    with pytest.raises(DataFormatError) as exc:
        extract_scene_archive(str(path), str(tmp_path / "out"))
    message = str(exc.value)
    assert message.startswith(f"{path}: not a readable .tar.xz, .tar.gz or .tar archive (") and "\n" not in message


def test_extract_names_a_missing_file(tmp_path):
    with pytest.raises(DataFormatError, match="nothing.tar.xz: file not found"):
        extract_scene_archive(str(tmp_path / "nothing.tar.xz"), str(tmp_path / "out"))
