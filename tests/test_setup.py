import pytest

from tagstream.errors import SetupError
from tagstream.setup import Setup


def test_toml_round_trip(tmp_path):
    s = Setup(sync=5, spad_a=1, spad_b=2, frame=3, markers=(100,), sync_divider=1000, sync_filtered=True,
              delays_ps={1: 120, 2: -40})
    p = tmp_path / "setup.toml"
    p.write_text(s.to_toml())
    assert Setup.from_toml(p) == s


def test_channel_given_twice_is_an_error():
    with pytest.raises(SetupError, match="channel 1 is given twice"):
        Setup(sync=1, spad_a=1, spad_b=2)


def test_missing_channel_lists_present_ones():
    with pytest.raises(SetupError, match=r"frame=3.*only channel\(s\) \[1, 2, 5\]"):
        Setup(frame=3).check_channels([1, 2, 5, 5])


def test_unknown_key_is_named(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text("[channels]\nsnyc = 5\n")
    with pytest.raises(SetupError, match="snyc"):
        Setup.from_toml(p)


def test_replace_ignores_none():
    assert Setup().replace(sync=None, spad_a=7).spad_a == 7
    assert Setup().replace(sync=None).sync == 5
