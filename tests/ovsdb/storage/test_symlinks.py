"""Database paths that are symlinks, as Debian leaves /etc/openvswitch/conf.db: the file and
its lock live where the link points, and compaction replaces the target, not the link."""

import os

from pyvswitch.ovsdb.storage import Storage, follow_symlinks
from pyvswitch.ovsdb.schema import DatabaseSchema

SCHEMA = {"name": "s", "version": "1.0.0",
          "tables": {"T": {"columns": {"n": {"type": "integer"}}, "isRoot": True}}}


def test_create_through_dangling_link_then_open_and_compact(tmp_path):
    link = tmp_path / "conf.db"
    os.symlink("real/target.db", link)
    (tmp_path / "real").mkdir()
    assert follow_symlinks(str(link)) == str(tmp_path / "real" / "target.db")
    Storage.create(str(link), DatabaseSchema.from_json(SCHEMA))
    assert (tmp_path / "real" / "target.db").is_file()
    assert (tmp_path / "real" / ".target.db.~lock~").exists()
    st = Storage.open(str(link))
    try:
        st.compact()
    finally:
        st.close()
    assert os.path.islink(link) and (tmp_path / "real" / "target.db").is_file()
