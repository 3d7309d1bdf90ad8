"""Design documents from ddocs/ are installed at start-up and rewritten only when their content changed."""
from sentinel.core import ddocs


def test_ddocs_are_installed_once_and_rewritten_only_when_changed(main, sentinel_db, tmp_path):
    sentinel_db.create()
    first = ddocs.install(main, sentinel_db)
    assert set(first) == {"_design/sentinel"}
    assert ddocs.install(main, sentinel_db) == []  # same content: nothing written
    rev = main.get("_design/sentinel")["_rev"]
    edited = main.get("_design/sentinel")
    edited["views"]["lookups"]["map"] = "function (doc) {}"
    main.put(edited)
    assert ddocs.install(main, sentinel_db) == ["_design/sentinel"]  # someone changed it: restored
    assert main.get("_design/sentinel")["views"]["lookups"]["map"] != "function (doc) {}"
    assert main.get("_design/sentinel")["_rev"] != rev


def test_every_ddoc_folder_says_where_it_belongs_and_has_map_functions():
    for database, ddoc in ddocs.all_ddocs():
        assert database in ("main", "sentinel")
        assert ddoc["views"] and all(v["map"].startswith("function") for v in ddoc["views"].values())


def test_design_documents_of_earlier_versions_are_removed(main, sentinel_db):
    # every design document slows PouchDB Server's writes to the database: Sentinel keeps one
    sentinel_db.create()
    main.put({"_id": "_design/sentinel-reports", "views": {"old": {"map": "function (doc) {}"}}})
    ddocs.install(main, sentinel_db)
    assert main.get("_design/sentinel-reports") is None
    assert main.get("_design/sentinel") is not None
