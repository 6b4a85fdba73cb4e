"""Integer codes of instruments and institutions: the only place their numbers are defined.

The portfolio's text labels map to these codes; the kernels compare against the enums.
"""

from __future__ import annotations

from enum import IntEnum


class Instrument(IntEnum):
    """What an exposure is (portfolio column ``instrument``)."""

    LOAN = 0
    GUARANTEE = 1
    EQUITY = 2

    @property
    def label(self) -> str:
        return self.name.lower()


class Institution(IntEnum):
    """Who carries an exposure (portfolio column ``institution``)."""

    JBIC = 0
    NEXI = 1

    @property
    def label(self) -> str:
        return self.name


class TariffForm(IntEnum):
    """How declines cost Japan tariffs (config ``tariff.form``)."""

    PROPORTIONAL = 0
    TRIGGER = 1

    @property
    def label(self) -> str:
        return self.name.lower()


#: labels in code order, as they appear in the portfolio and in the outputs
INSTRUMENTS: tuple[str, ...] = tuple(m.label for m in Instrument)
INSTITUTIONS: tuple[str, ...] = tuple(m.label for m in Institution)
