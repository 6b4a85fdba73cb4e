"""Bad [[elections]], switch and deal_end input is refused naming the key; what cannot be
combined with elections is refused; an election outside the horizon is ignored with a
note. No kernel is compiled here."""

from __future__ import annotations

import pytest

from riskengine.config import config_from_dict
from riskengine.elections import calendar
from riskengine.errors import ConfigError

from .common import BASE, config, raw_config


def _regimes(calm_switch=None, rough_switch=None):
    r = [dict(x) for x in BASE["regimes"]]
    if calm_switch is not None:
        r[0]["switch"] = calm_switch
    if rough_switch is not None:
        r[1]["switch"] = rough_switch
    return r


@pytest.mark.parametrize("switch, words", [
    ({"stormy": 0.3}, "'calm' switch names 'stormy', which is not a regime"),
    ({"rough": 0.7, "calm": 0.0}, "switch names itself"),
    ({"rough": -0.1}, "switch.rough"),
    ({"rough": 1.2}, "switch.rough"),
])
def test_bad_switch_is_refused(switch, words):
    with pytest.raises(ConfigError, match="regimes") as e:
        config(regimes=_regimes(calm_switch=switch))
    assert words in str(e.value)
    assert "<elections test>" in str(e.value)  # the file (here the dict's source)


def test_switch_probabilities_above_one_are_refused():
    raw = raw_config(regimes=[
        {"name": "a", "probability": 0.5, "switch": {"b": 0.6, "c": 0.5}},
        {"name": "b", "probability": 0.5}, {"name": "c", "probability": 0.0}])
    with pytest.raises(ConfigError, match=r"'a' switch probabilities sum to 1.1, above 1"):
        config_from_dict(raw, "x.toml")


def test_deal_end_prob_outside_0_1_is_refused():
    r = _regimes()
    r[0]["deal_end_prob"] = 1.5
    with pytest.raises(ConfigError, match="deal_end_prob"):
        config(regimes=r)


@pytest.mark.parametrize("section, body, key", [
    ("importance_sampling", {"enabled": True}, "importance_sampling.enabled"),
    ("dependence", {"sectors": ["s"], "correlation": [[1.0]], "factor_dynamics": "ar1"},
     "dependence.factor_dynamics"),
])
def test_unsupported_combinations_are_refused(section, body, key):
    with pytest.raises(ConfigError, match=r"\[\[elections\]\]: not available with") as e:
        config(**{section: body})
    assert key in str(e.value)
    config(**{section: body}, elections=None)  # (fine without elections)


def test_renegotiated_split_needs_a_share_per_tier():
    with pytest.raises(ConfigError, match="deal_end.japan_shares: 1 shares for 2"):
        config(deal_end={"profit_split": "renegotiated", "japan_shares": [0.5]})
    with pytest.raises(ConfigError, match="deal_end.tariff"):
        config(deal_end={"tariff": "maybe"})
    with pytest.raises(ConfigError, match="deal_end.japan_shares"):
        config(deal_end={"profit_split": "renegotiated", "japan_shares": [0.0, 0.5]})


def test_duplicate_and_badly_named_elections_are_refused():
    with pytest.raises(ConfigError, match="elections: duplicate names"):
        config(elections=[{"name": "x", "date": "2027-11-02"},
                          {"name": "x", "date": "2028-11-07"}])
    with pytest.raises(ConfigError, match="elections.0.name"):
        config(elections=[{"name": "two words", "date": "2027-11-02"}])


def test_elections_outside_the_horizon_are_ignored_with_a_note():
    cfg = config(elections=[{"name": "late", "date": "2031-11-04"},
                            {"name": "early", "date": "2025-11-04"},
                            {"name": "p2028", "date": "2028-11-07"},
                            {"name": "m2026", "date": "2026-11-03"}])
    cal = calendar(cfg)
    assert cal.names == ("m2026", "p2028")  # by date
    assert list(cal.step) == [4, 12]  # the first quarter starting after each
    assert len(cal.ignored) == 2 and "'early'" in cal.ignored[0] + cal.ignored[1]
    assert cfg.deal_end_labels == ("none", "m2026", "p2028")
