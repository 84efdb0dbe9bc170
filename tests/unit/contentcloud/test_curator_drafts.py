"""Draft chains: the draft replaces the mapping steps of the profile's chain and keeps the rest."""

from __future__ import annotations

from contentcloud.curator.workbench import draft_steps


def test_a_draft_x3ml_replaces_the_mapping_and_inherits_policy_and_uuid_options(tmp_path):
    draft = tmp_path / "draft.x3ml"
    draft.write_text("<x3ml/>")
    profile = [
        {"type": "vocabulary", "vocabulary": "languages", "xpath": "//dc:language"},
        {"type": "x3ml", "mapping": "oai_dc2pe.x3ml", "policy": "policies/p.xml", "uuid_mode": "test"},
        {"type": "validate", "rdf": True},
    ]
    assert draft_steps(profile, [draft]) == [
        {"type": "vocabulary", "vocabulary": "languages", "xpath": "//dc:language"},
        {"type": "x3ml", "mapping": [str(draft)], "policy": "policies/p.xml", "uuid_mode": "test"},
        {"type": "validate", "rdf": True},
    ]


def test_explicit_policy_wins_and_standalone_drops_the_profile(tmp_path):
    draft = tmp_path / "d.x3ml"
    draft.write_text("<x3ml/>")
    policy = tmp_path / "mine.xml"
    profile = [{"type": "x3ml", "mapping": "m.x3ml", "policy": "policies/p.xml"}, {"type": "validate"}]
    [step, validate] = draft_steps(profile, [draft], policy=policy)
    assert step["policy"] == str(policy)
    assert validate == {"type": "validate"}
    assert draft_steps(profile, [draft], standalone=True) == [{"type": "x3ml", "mapping": [str(draft)]}]


def test_a_draft_stylesheet_takes_the_place_of_all_mapping_steps_and_their_params(tmp_path):
    draft = tmp_path / "d.xsl"
    draft.write_text("<xsl:stylesheet/>")
    profile = [
        {"type": "xslt", "mapping": "a.xsl", "params": {"base": "https://x/"}},
        {"type": "xslt", "mapping": "b.xsl"},
    ]
    assert draft_steps(profile, [draft]) == [
        {"type": "xslt", "mapping": str(draft), "params": {"base": "https://x/"}}
    ]
