from .support import drain, report


def test_a_report_from_a_known_phone_gets_its_contact_and_sender_name(main, hierarchy, make_runner):
    runner = make_runner({"transitions": {"update_clinics": True, "update_sent_by": True}})
    main.put(report("r1", **{"from": "+254700000001"}))
    drain(runner)
    doc = main.get("r1")
    assert doc["contact"] == {"_id": "chw", "parent": {"_id": "clinic", "parent": {"_id": "health_center", "parent": {"_id": "district"}}}}
    assert doc["sent_by"] == "Chloe CHW"
