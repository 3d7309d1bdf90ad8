"""The cross-batch lookup cache forgets exactly what a change makes stale."""
from sentinel.core.cache import LookupCache

CHW = {"_id": "chw", "type": "person", "phone": "+1555", "patient_id": "12348"}


def cached_chw() -> LookupCache:
    cache = LookupCache()
    cache.put_doc(CHW)
    cache.put_key(("phone", "+1555"), ["chw"])
    cache.put_key(("phone", "+1999"), [])
    return cache


def test_a_change_that_keeps_the_same_keys_keeps_the_lookups():
    cache = cached_chw()
    cache.observe({**CHW, "name": "renamed"})
    assert cache.get_key(("phone", "+1555")) == ["chw"]
    assert cache.get_doc("chw")["name"] == "renamed"


def test_a_new_phone_forgets_both_the_old_and_the_new_answers():
    cache = cached_chw()
    cache.observe({**CHW, "phone": "+1999"})
    assert cache.get_key(("phone", "+1555")) is None
    assert cache.get_key(("phone", "+1999")) is None


def test_a_contact_seen_for_the_first_time_forgets_answers_for_its_keys():
    cache = cached_chw()
    cache.observe({"_id": "new", "type": "person", "phone": "+1999"})
    assert cache.get_key(("phone", "+1999")) is None
    assert cache.get_key(("phone", "+1555")) == ["chw"]


def test_a_deleted_contact_forgets_every_answer_that_named_it():
    cache = cached_chw()
    cache.forget(["chw"])
    assert cache.get_key(("phone", "+1555")) is None and cache.get_doc("chw") is None
    assert cache.get_key(("phone", "+1999")) == []


def test_documents_come_back_as_private_copies():
    cache = cached_chw()
    copy = cache.get_doc("chw")
    copy["phone"] = "changed"
    assert cache.get_doc("chw")["phone"] == "+1555"


def test_the_cache_is_bounded():
    cache = LookupCache(max_docs=2, max_keys=2)
    for i in range(5):
        cache.put_doc({"_id": f"d{i}"})
        cache.put_key(("phone", str(i)), [f"d{i}"])
    assert cache.get_doc("d0") is None and cache.get_doc("d4") is not None
    assert cache.get_key(("phone", "0")) is None and cache.get_key(("phone", "4")) == ["d4"]
