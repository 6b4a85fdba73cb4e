"""Run configuration: TOML file -> validated, frozen pydantic model.

A user's config is merged key by key over the shipped default program
(``data/program/program.toml``: its sectors and their correlation), so keys left out
take the shipped values, and every other key its default below (written only here); unknown
keys are an error. Validation happens once, here; everything downstream trusts the model.
"""

from __future__ import annotations

import copy
import datetime as _dt
import tomllib
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    field_validator,
    model_validator,
)

from .dates import calendar
from .errors import ConfigError, naming_read_errors


def default_program_dir() -> Path:
    """The folder holding the shipped default program (``program.toml``,
    ``portfolio.csv``): the package's ``riskengine/program`` in an installed wheel, the
    repository's ``data/program`` in a source checkout or an editable install."""
    packaged = Path(str(resources.files("riskengine") / "program"))
    for d in (packaged, Path(__file__).resolve().parent.parent / "data" / "program"):
        if (d / "program.toml").is_file():
            return d
    raise ConfigError("cannot find the shipped default program (program.toml) in the "
                      "installed package; reinstall riskengine, or pass --config and "
                      "--portfolio")


def default_config_path() -> Path:
    """The shipped default program's config."""
    return default_program_dir() / "program.toml"


def default_portfolio_path() -> Path:
    """The shipped default program's portfolio."""
    return default_program_dir() / "portfolio.csv"


#: every float of the config: an integer is taken as a float, a boolean is refused (TOML's
#: ``true`` is not 1.0), and so are NaN and infinity (``_Strict``)
Number = Annotated[float, Strict()]
#: every switch of the config: ``true`` or ``false``, never a number or a string
Flag = Annotated[bool, Strict()]


class _Strict(BaseModel):
    # no unknown keys, no NaN or infinity, and whole numbers must be whole numbers
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Simulation(_Strict):
    paths: int = Field(100_000, gt=0, strict=True, description="number of Monte Carlo paths")
    seed: int = Field(20250904, ge=0, strict=True, lt=2**63,
                      description="random seed (default: the MOU's signing date, 4 Sep 2025)")
    horizon_years: Number = Field(30.0, gt=0, le=200,
                                   description="simulation horizon in years (at most 200)")
    steps_per_year: int = Field(4, gt=0, strict=True, le=52, description="time steps per year (4 = quarterly)")
    as_of: _dt.date = Field(_dt.date(2025, 10, 1),
                            description="start of quarter 0 (default: the opening of JBIC's facility)")
    chunk_paths: int = Field(
        65_536, gt=0, strict=True, description="paths simulated per chunk (bounds memory; results do not depend on it)"
    )
    threads: int = Field(0, ge=0, strict=True, description="worker threads, 0 = all cores")
    regime: str | None = Field(
        None, description="pin every path to this regime of [[regimes]] (a stress test); "
                          "empty: each path draws its regime")
    scenarios: Flag = Field(
        False, description="run the base case and every [[scenarios]] table side by side, "
                           "on the same paths")
    scenario: str | None = Field(None, description="run only this scenario of [[scenarios]]")
    parameter_batches: int | None = Field(
        None, ge=1, le=10_000, strict=True,
        description="with [[uncertainty]]: parameter sets drawn, each run on a contiguous "
                    "batch of paths (empty: 20, or one per 1,024 paths when fewer)")

    @property
    def n_quarters(self) -> int:
        return int(round(self.horizon_years * self.steps_per_year))

    @model_validator(mode="after")
    def _whole_steps(self) -> Simulation:
        steps = self.horizon_years * self.steps_per_year
        if abs(steps - round(steps)) > 1e-9:
            raise ValueError(
                f"horizon_years * steps_per_year must be a whole number of steps, got {steps}"
            )
        return self


class Dependence(_Strict):
    copula: Literal["gaussian", "t"] = "gaussian"
    dof: Number = Field(8.0, gt=2.0, le=1000.0,
                        description="degrees of freedom of the t copula, in (2, 1000] "
                                    "(beyond that it is the gaussian copula)")
    sectors: tuple[str, ...]
    correlation: tuple[tuple[Number, ...], ...]
    correlation_repair: Literal["none", "higham"] = "none"
    factor_dynamics: Literal["static", "ar1"] = Field(
        "static", description="sector factors: one draw per path (static) or a yearly AR(1)")
    factor_persistence: Number = Field(
        0.9, ge=0.0, lt=1.0, description="yearly AR(1) persistence of the sector factors")

    @field_validator("sectors")
    @classmethod
    def _unique(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(v) == 0:
            raise ValueError("at least one sector is required")
        dup = sorted({s for s in v if v.count(s) > 1})
        if dup:
            raise ValueError(f"duplicate sector names: {dup}")
        return v

    @model_validator(mode="after")
    def _shape(self) -> Dependence:
        k = len(self.sectors)
        if len(self.correlation) != k or any(len(r) != k for r in self.correlation):
            shape = f"{len(self.correlation)}x{[len(r) for r in self.correlation]}"
            raise ValueError(
                f"dependence.correlation must be a {k}x{k} matrix in the order of `sectors`, got {shape}"
            )
        return self


class Rates(_Strict):
    base_rate: Number = Field(
        0.036, gt=-0.5, lt=1.0,
        description="6-month SOFR stand-in, annual: EFFR 3.64%, 2-year UST 3.40% in Feb 2026 "
                    "(data/DATA_FACTS.md 4.1)")
    discount_rate: Number = Field(
        0.045, gt=-0.5, lt=1.0,
        description="annual rate for NPVs: JBIC's USD funding, 10-year UST 4.04-4.22% plus its "
                    "guaranteed-bond spread of 33-43bp (data/DATA_FACTS.md 4.1, 4.2)")
    model: Literal["deterministic", "vasicek"] = Field(
        "deterministic", description="base rate path: constant, or a one-factor Vasicek short rate")
    mean_reversion: Number = Field(0.15, gt=0.0, le=10.0, description="Vasicek kappa, per year")
    long_run_rate: Number | None = Field(None, gt=-0.5, lt=1.0,
                                        description="Vasicek theta (default: base_rate)")
    volatility: Number = Field(0.01, ge=0.0, lt=1.0, description="Vasicek sigma, per sqrt(year)")
    factor_correlation: Number = Field(
        0.3, ge=-1.0, le=1.0,
        description="correlation of rate shocks with the common sector cash innovation")


class Tier(_Strict):
    japan_share: Number = Field(ge=0.0, le=1.0)
    until: Literal["deemed_allocation"] | None = None
    extra_spread: Number = Field(
        0.0, ge=0.0, lt=1.0, description="hurdle spread added to the deemed rate for this tier"
    )


def _default_tiers() -> tuple[Tier, ...]:
    """The MOU: 50/50 until Japan's deemed allocation is repaid, then 90% US / 10% Japan
    (data/DATA_FACTS.md 7.1)."""
    return (Tier(japan_share=0.5, until="deemed_allocation"), Tier(japan_share=0.1))


class Waterfall(_Strict):
    tiers: tuple[Tier, ...] = Field(default_factory=_default_tiers)

    @model_validator(mode="after")
    def _ordered(self) -> Waterfall:
        if not self.tiers:
            raise ValueError("at least one tier is required")
        if self.tiers[-1].until is not None:
            raise ValueError("the last tier must have no `until` (it takes everything after)")
        for i, t in enumerate(self.tiers[:-1]):
            if t.until is None:
                raise ValueError(f"tier {i + 1} is not the last, so it needs `until`")
        spreads = [t.extra_spread for t in self.tiers[:-1]]
        if any(b < a for a, b in zip(spreads, spreads[1:])):
            raise ValueError("hurdle tiers must have non-decreasing extra_spread")
        return self


class Cashflows(_Strict):
    factor_persistence: Number = Field(
        0.9, ge=0.0, lt=1.0,
        description="quarterly AR(1) persistence of the sector cash index")
    sector_share: Number = Field(
        0.5, ge=0.0, le=1.0,
        description="share of the log-cash variance driven by the sector index")
    performance_sd: Number = Field(
        0.0, ge=0.0, le=2.0,
        description="sd of an equity vehicle's log performance level, drawn at financial "
                    "close and kept for its life (0: none)")
    performance_sector_share: Number = Field(
        0.5, ge=0.0, le=1.0,
        description="share of the performance level's variance from the sector factor")
    performance_drift_sd: Number = Field(
        0.0, ge=0.0, le=2.0,
        description="long-run sd of a vehicle's slowly mean-reverting log performance, "
                    "starting at 0 at financial close (0: none)")
    performance_drift_persistence: Number = Field(
        0.98, ge=0.0, lt=1.0,
        description="its quarterly AR(1) persistence (0.98: half-life about 8.6 years)")


class Outputs(_Strict):
    timeline_paths: int = Field(
        20_000, ge=1, strict=True,
        description="paths (every n/N-th) used for the cash timeline quantiles")
    irr_paths: int = Field(
        10_000, ge=1, strict=True,
        description="paths (every n/N-th) on which Japan's equity IRR is computed")
    checkpoint: Flag = Field(
        True, description="save each finished chunk in the run directory's parts/ as the "
                          "run goes, so a killed run can be resumed (--resume)")
    contributions: Flag = Field(
        True, description="replay the tail paths for the Euler risk contributions "
                          "(contributions.parquet)")
    fiscal_year_start_month: int = Field(
        4, ge=1, le=12, strict=True,
        description="first month of the fiscal years of annual.parquet (4: Japan's, April)")


class ImportanceSampling(_Strict):
    enabled: Flag = Field(False, description="Glasserman-Li importance sampling of the tail")
    target_level: Number = Field(0.999, gt=0.5, lt=1.0,
                                description="tail level the shift and the twist aim at")
    pilot_paths: int = Field(20_000, ge=1024, strict=True, description="plain paths used to locate that level")
    shift: Flag = Field(True, description="shift the mean of the systematic factors")
    twist: Flag = Field(True, description="twist default probabilities given the factors")
    defensive_share: Number | None = Field(
        None, ge=0.0, lt=1.0,
        description="share of paths drawn from the model itself, untilted (defensive mixture), "
                    "which bounds the weights and keeps the body of the distribution usable; "
                    "unset: 0.3, the measured best for a book of independent exposures "
                    "and for the shipped program")


class Program(_Strict):
    """How the pipeline is selected and funded (MODEL.md section 6)."""

    selection_deadline: _dt.date = Field(
        _dt.date(2029, 1, 19),
        description="last day the US may select a project (MOU: 19 Jan 2029, DATA_FACTS 7.1)")
    funding_window_days: int = Field(
        45, ge=0, le=365, strict=True,
        description="Japan funds this many days after the notice (MOU: 45, DATA_FACTS 7.1)")
    funding_days: Literal["calendar", "business"] = Field(
        "calendar", description="how the funding window counts days (business: Monday to "
                                "Friday, no holiday calendar)")
    decline_rule: Literal["none", "pd_above"] = Field(
        "none", description="policy rule: none, or decline every selected project whose "
                            "pd_annual exceeds decline_pd_threshold")
    decline_pd_threshold: Number = Field(
        0.02, ge=0.0, le=1.0, description="pd_annual above which the pd_above rule declines")
    selection_correlation: Number = Field(
        0.0, ge=-1.0, le=1.0,
        description="adverse selection: correlation of a pipeline unit's selection draw "
                    "with its obligor's latent credit variable (Gaussian copula; > 0: the "
                    "selected units are worse credits; at most sqrt(1 - factor_loading^2))")


class Tariff(_Strict):
    """The tariff "boomerang": what a declined project costs Japan."""

    penalty_usd_per_year: Number = Field(
        0.0107, ge=0.0, le=10.0,
        description="tariff cost per year per declined US$ of commitment: about $5.9bn a "
                    "year over the $550bn program, the Section 232 car tariff back to 27.5% "
                    "(the lever the IEEPA ruling of 20 Feb 2026 left; DATA_FACTS 10.3, "
                    "11.4.2)")
    duration_years: Number = Field(
        3.0, ge=0.0, le=100.0,
        description="years the penalty lasts from the decline (judgement: about to the end "
                    "of the current US administration)")
    form: Literal["proportional", "trigger"] = Field(
        "proportional",
        description="proportional: each declined US$ costs penalty_usd_per_year; trigger: "
                    "the whole threat, trigger_penalty_usd_per_year, from the first funding "
                    "step at which the declined share of the path's selected commitments "
                    "exceeds trigger_share")
    trigger_penalty_usd_per_year: Number = Field(
        5.9e9, ge=0.0, le=1e13,
        description="trigger form: the whole threat per year, the car tariff back to 27.5% "
                    "(about $5.9bn a year after the IEEPA ruling; $15bn with every product "
                    "back to 25%, DATA_FACTS 10.3, 11.4.2)")
    trigger_share: Number = Field(
        0.0, ge=0.0, le=1.0,
        description="trigger form: the penalty starts once the declined commitments exceed "
                    "this share of the commitments selected so far on the path (0: any "
                    "decline; 1: never)")


class Regime(_Strict):
    """A political trajectory drawn once per path (MODEL.md section 6)."""

    name: str = Field(min_length=1)
    probability: Number = Field(ge=0.0, le=1.0)

    @field_validator("name")
    @classmethod
    def _not_all(cls, v: str) -> str:
        if v == "all":
            raise ValueError("\"all\" names the mixture of the regimes in the summary; "
                             "choose another name")
        return v
    pd_multiplier: Number = Field(1.0, ge=0.0, le=100.0,
                                 description="multiplies every pd_annual and pd_construction")
    yield_multiplier: Number = Field(1.0, ge=0.0, le=100.0,
                                    description="multiplies equity operating cash")
    selection_multiplier: Number = Field(1.0, ge=0.0, le=100.0,
                                        description="multiplies the pipeline's selection_prob")
    decline_multiplier: Number = Field(1.0, ge=0.0, le=100.0,
                                      description="multiplies decline_prob")
    switch: dict[str, Number] = Field(
        default_factory=dict,
        description="other regime's name -> the probability of moving to it at each election "
                    "of [[elections]] held in this regime (the rest stays); each in [0, 1], "
                    "summing to at most 1")
    deal_end_prob: Number = Field(
        0.0, ge=0.0, le=1.0,
        description="the probability that the deal ends at an election held in this regime "
                    "([[elections]]; deal_end says what ends)")


class Election(_Strict):
    """A date at which the path's regime may switch ([[regimes]] ``switch``) and the deal
    may end (``deal_end_prob``)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$",
                      description="a label (letters, digits, '_', '-', '.'): the column "
                                  "regime_at_<name> of paths.parquet")
    date: _dt.date = Field(description="the election day (a TOML date); the new regime is in "
                                       "force from the first quarter that starts after it")


class DealEnd(_Strict):
    """What the deal's end at an election changes (docs/model.md "Elections and the deal's
    end"): no pipeline unit is selected with a notice after the election, and these."""

    tariff: Literal["ends", "stays"] = Field(
        "ends", description="\"ends\": the tariff penalties of declines stop from the first "
                            "quarter after the election; \"stays\": they run their course")
    profit_split: Literal["kept", "renegotiated"] = Field(
        "kept", description="\"kept\": the vehicles keep the waterfall's tiers; "
                            "\"renegotiated\": from the first quarter after the election "
                            "Japan's share of each tier is japan_shares'")
    japan_shares: tuple[Annotated[Number, Field(gt=0.0, le=1.0)], ...] | None = Field(
        None, description="renegotiated: Japan's share of each [waterfall] tier, in order (one "
                        "per tier, each in (0, 1]); the hurdles stay")


#: a scenario's shift of a sector factor's mean: within 10 standard deviations (a
#: probability of about 1e-23 either way; a larger shift is not a stress but an overflow)
SectorShift = Annotated[Number, Field(ge=-10.0, le=10.0)]


class Scenario(_Strict):
    """A deterministic stress, run on the same paths as the base case."""

    name: str = Field(min_length=1)
    pd_multiplier: Number = Field(1.0, ge=0.0, le=100.0)
    description: str | None = Field(
        None, description="what the scenario does, in a line (left out: one is generated "
                          "from its fields)")
    sector_shift: dict[str, SectorShift] = Field(
        default_factory=dict,
        description="sector name -> shift of that sector factor's mean, in standard "
                    "deviations, within [-10, 10]")
    propagate: bool = Field(
        True, description="a sector_shift or sector_value moves every other sector by its "
                          "conditional mean given the named ones (the factor correlation); "
                          "false: the other sectors keep their distribution")
    sector_value: dict[str, SectorShift] = Field(
        default_factory=dict,
        description="sector name -> the value the sector factor is fixed at on every path "
                    "(and every year), in standard deviations, within [-10, 10]: a "
                    "conditional stress")
    regime: str | None = None
    selection_multiplier: Number = Field(1.0, ge=0.0, le=100.0)
    base_rate: Number | None = Field(None, gt=-0.5, lt=1.0)

    @field_validator("name")
    @classmethod
    def _not_base(cls, v: str) -> str:
        if v == "base":
            raise ValueError("\"base\" names the unstressed run; choose another name")
        return v


class FX(_Strict):
    """USD/JPY: losses in yen as well as dollars."""

    usd_jpy: Number = Field(153.5, gt=1.0, lt=10_000.0,
                            description="spot, yen per dollar, in (1, 10000) (18 Feb 2026: "
                                        "153.5, DATA_FACTS 4.3)")
    volatility: Number = Field(0.094, ge=0.0, le=2.0,
                              description="annual volatility of log USD/JPY (1-year implied "
                                          "9.4%, DATA_FACTS 10.4)")
    factor_correlation: Number = Field(
        0.3, ge=-1.0, le=1.0,
        description="correlation of log USD/JPY with the path's common default factor "
                    "(positive: the yen strengthens when the US economy weakens, "
                    "DATA_FACTS 10.4)")
    view: Literal["funding_matched", "unhedged"] = Field(
        "funding_matched",
        description="what economic_loss_jpy converts at each step's USD/JPY "
                    "(riskengine/yen_views.py): funding_matched, what Japan bears on a "
                    "book funded in dollars (credit losses, net income over the funding "
                    "cost, the tariff, each when it occurs; not the principal); unhedged, "
                    "every gross dollar flow, principal included")


class InstitutionCapital(_Strict):
    """What absorbs one institution's losses before the state is called ([capital.JBIC],
    [capital.NEXI]; each key left out takes the institution's sourced default)."""

    capital_jpy: Number = Field(0.0, ge=0.0, lt=1e16,
                                description="loss-absorbing capital at the start of the "
                                            "horizon, yen (depleted by losses, not rebuilt)")
    earnings_jpy_per_year: Number = Field(
        0.0, ge=0.0, lt=1e16, description="earnings of a fiscal year that absorb its losses "
                                          "first, yen (a partial year pro rata; not carried "
                                          "over)")


class JbicCapital(InstitutionCapital):
    capital_jpy: Number = Field(2.949394e12, ge=0.0, lt=1e16,
                                description="JBIC's net assets, 2.949 trn yen (FY2022, "
                                            "DATA_FACTS 11.1.1)")
    earnings_jpy_per_year: Number = Field(
        77.5872e9, ge=0.0, lt=1e16,
        description="JBIC's mean net income FY2018-FY2022, 77.6 bn yen (DATA_FACTS 11.1.1)")


class NexiCapital(InstitutionCapital):
    capital_jpy: Number = Field(3.1e12, ge=0.0, lt=1e16,
                                description="NEXI's capital support for the US program: up "
                                            "to 3 trn yen of grant bonds and 100 bn yen of "
                                            "equity (DATA_FACTS 11.2)")
    earnings_jpy_per_year: Number = Field(
        0.0, ge=0.0, lt=1e16, description="NEXI's earnings: 0 (its net income was not found, "
                                          "DATA_FACTS 11.2)")


class Capital(_Strict):
    """The taxpayer's backstop: each institution's capital and earnings, and Japan's budget
    and GDP the capital calls are compared with (backstop.parquet; sources in
    data/README.md, "The taxpayer's backstop")."""

    JBIC: JbicCapital = Field(default_factory=JbicCapital)
    NEXI: NexiCapital = Field(default_factory=NexiCapital)
    general_account_jpy: Number = Field(
        122.3092e12, gt=0.0, lt=1e16,
        description="Japan's General Account, yen (FY2026 budget, DATA_FACTS 11.3)")
    gdp_jpy: Number = Field(615.9e12, gt=0.0, lt=1e17,
                            description="Japan's nominal GDP, yen (FY2024, DATA_FACTS 11.3)")

    def of(self, institution: str) -> InstitutionCapital:
        """The table of ``institution`` (``"JBIC"`` or ``"NEXI"``)."""
        return getattr(self, institution)


#: the parameters each [[uncertainty]] distribution takes
DISTRIBUTION_PARAMETERS = {
    "lognormal": ("sd",), "normal": ("mean", "sd"), "beta": ("a", "b"),
    "uniform": ("low", "high"), "choice": ("values", "probabilities"),
    "dirichlet": ("concentration",)}
#: the key a Dirichlet distribution draws: every regime's probability at once
DIRICHLET_KEY = "regimes.probability"


class Uncertainty(_Strict):
    """One judgement input with a distribution: each parameter batch of a run draws its
    value (riskengine/uncertainty.py; the key syntax of riskengine/keys.py)."""

    name: str = Field(min_length=1)
    key: str = Field(min_length=1)
    how: Literal["value", "scale"] | None = Field(
        None, description="value: the draw sets the key; scale: it multiplies it "
                          "(lognormal: scale; dirichlet: value)")
    distribution: Literal["lognormal", "normal", "beta", "uniform", "choice", "dirichlet"]
    sd: Number | None = Field(None, ge=0.0, le=10.0)
    mean: Number | None = None
    a: Number | None = Field(None, gt=0.0)
    b: Number | None = Field(None, gt=0.0)
    low: Number | None = None
    high: Number | None = None
    values: tuple[Number, ...] | None = None
    probabilities: tuple[Number, ...] | None = None
    concentration: Number | None = Field(None, gt=0.0)
    why: str | None = Field(None, description="the source or judgement behind the "
                                              "distribution")

    @model_validator(mode="after")
    def _parameters(self) -> Uncertainty:
        d = self.distribution
        need = DISTRIBUTION_PARAMETERS[d]
        given = {k for ps in DISTRIBUTION_PARAMETERS.values() for k in ps
                 if getattr(self, k) is not None}
        missing = [k for k in need if k not in given]
        if missing:
            raise ValueError(f"{self.name!r}: distribution {d!r} needs {', '.join(need)} "
                             f"(missing {', '.join(missing)})")
        extra = sorted(given - set(need))
        if extra:
            raise ValueError(f"{self.name!r}: {', '.join(extra)} not a parameter of {d!r} "
                             f"(it takes {', '.join(need)})")
        if d == "dirichlet":
            if self.key != DIRICHLET_KEY or self.how == "scale":
                raise ValueError(f"{self.name!r}: a dirichlet draws every regime's "
                                 f"probability: key = {DIRICHLET_KEY!r}, how = \"value\"")
        elif self.how is None:
            raise ValueError(f"{self.name!r}: how is missing (\"value\" or \"scale\")")
        if d == "lognormal" and self.how != "scale":
            raise ValueError(f"{self.name!r}: a lognormal (mean one) multiplies its key: "
                             "how = \"scale\"")
        if d == "uniform" and not self.low <= self.high:  # type: ignore[operator]
            raise ValueError(f"{self.name!r}: uniform needs low <= high")
        if d == "choice":
            v, p = self.values or (), self.probabilities or ()
            if not v or len(v) != len(p):
                raise ValueError(f"{self.name!r}: choice needs as many probabilities as "
                                 f"values (one at least), got {len(v)} and {len(p)}")
            if min(p) < 0 or abs(sum(p) - 1.0) > 1e-9:
                raise ValueError(f"{self.name!r}: choice probabilities must be >= 0 and sum "
                                 f"to 1, got {sum(p):.12g}")
        return self


class Measures(_Strict):
    levels: tuple[Number, ...] = (0.95, 0.99, 0.995, 0.999)

    @field_validator("levels")
    @classmethod
    def _levels(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if not v:
            raise ValueError("is empty: list at least one confidence level, e.g. levels = "
                             "[0.99, 0.999] (or leave the key out for 0.95, 0.99, 0.995, "
                             "0.999)")
        if any(not (0.0 < a < 1.0) for a in v):
            raise ValueError("levels must lie strictly between 0 and 1")
        return tuple(sorted(set(v)))


class Config(_Strict):
    simulation: Simulation = Field(default_factory=Simulation)
    dependence: Dependence
    rates: Rates = Field(default_factory=Rates)
    waterfall: Waterfall = Field(default_factory=Waterfall)
    cashflows: Cashflows = Field(default_factory=Cashflows)
    measures: Measures = Field(default_factory=Measures)
    outputs: Outputs = Field(default_factory=Outputs)
    importance_sampling: ImportanceSampling = Field(default_factory=ImportanceSampling)
    program: Program = Field(default_factory=Program)
    tariff: Tariff = Field(default_factory=Tariff)
    regimes: tuple[Regime, ...] = ()
    elections: tuple[Election, ...] = ()
    deal_end: DealEnd = Field(default_factory=DealEnd)
    scenarios: tuple[Scenario, ...] = ()
    fx: FX | None = None
    capital: Capital | None = None
    uncertainty: tuple[Uncertainty, ...] = ()

    @model_validator(mode="after")
    def _uncertainty(self) -> Config:
        names = [u.name for u in self.uncertainty]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"uncertainty: duplicate names {dup}")
        for u in self.uncertainty:  # (the keys are checked as the parameter sets are made)
            if u.distribution == "dirichlet" and len(self.regimes) < 2:
                raise ValueError(f"uncertainty: {u.name!r}: a dirichlet over the regime "
                                 "probabilities needs two [[regimes]] at least")
        batches = self.simulation.parameter_batches
        if not self.uncertainty and batches not in (None, 1):
            raise ValueError(f"simulation.parameter_batches = {batches} without "
                             "[[uncertainty]]: there is no parameter to draw")
        if self.uncertainty and self.importance_sampling.enabled:
            raise ValueError("importance_sampling.enabled: not with [[uncertainty]] (the "
                             "tilt is fitted to one parameter set; run the uncertainty "
                             "with plain Monte Carlo)")
        return self

    @model_validator(mode="after")
    def _adverse_selection(self) -> Config:
        rho = self.program.selection_correlation
        if rho == 0.0:
            return self
        refused = (("dependence.copula", self.dependence.copula == "t",
                    "the copula is Gaussian: \"t\" is not available with it"),
                   ("dependence.factor_dynamics", self.dependence.factor_dynamics == "ar1",
                    "the latent variable is one draw: \"ar1\" is not available with it"))
        for key, on, why in refused:
            if on:
                raise ValueError(f"program.selection_correlation = {rho:g} is not "
                                 f"available with {key} = {getattr_key(self, key)!r} "
                                 f"({why}); set one of them back")
        return self

    @model_validator(mode="after")
    def _program_tables(self) -> Config:
        names = [r.name for r in self.regimes]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"regimes: duplicate names {dup}")
        if self.regimes:
            total = sum(r.probability for r in self.regimes)
            if abs(total - 1.0) > 1e-9:
                raise ValueError(f"regimes: probabilities must sum to 1, got {total:.12g}")
        pin = self.simulation.regime
        if pin is not None and pin not in names:
            raise ValueError(f"simulation.regime: {pin!r} is not a regime of [[regimes]] "
                             f"({names or 'none defined'})")
        sc_names = [s.name for s in self.scenarios]
        dup = sorted({n for n in sc_names if sc_names.count(n) > 1})
        if dup:
            raise ValueError(f"scenarios: duplicate names {dup}")
        for s in self.scenarios:
            if s.regime is not None and s.regime not in names:
                raise ValueError(f"scenarios: {s.name!r} pins regime {s.regime!r}, which is "
                                 f"not in [[regimes]] ({names or 'none defined'})")
            for key, named in (("sector_shift", s.sector_shift),
                               ("sector_value", s.sector_value)):
                unknown = sorted(set(named) - set(self.dependence.sectors))
                if unknown:
                    raise ValueError(f"scenarios: {s.name!r} {key} names unknown sectors "
                                     f"{unknown} (dependence.sectors: "
                                     f"{list(self.dependence.sectors)})")
            both = sorted(set(s.sector_shift) & set(s.sector_value))
            if both:
                raise ValueError(f"scenarios: {s.name!r} names {both} in both sector_shift "
                                 "and sector_value: a sector is either shifted or fixed")
        one = self.simulation.scenario
        if one is not None and one != "base" and one not in sc_names:
            raise ValueError(f"simulation.scenario: {one!r} is not a scenario of [[scenarios]] "
                             f"({sc_names or 'none defined'})")
        steps = self.tariff.duration_years * self.simulation.steps_per_year
        if abs(steps - round(steps)) > 1e-9:
            raise ValueError(f"tariff.duration_years must be a whole number of steps "
                             f"({1 / self.simulation.steps_per_year:g} years), got "
                             f"{self.tariff.duration_years}")
        if self.simulation.scenarios and not self.scenarios:
            raise ValueError("simulation.scenarios: true, but the config has no [[scenarios]]")
        return self

    @model_validator(mode="after")
    def _elections(self) -> Config:
        names = [r.name for r in self.regimes]
        for r in self.regimes:
            for other, prob in r.switch.items():
                if other not in names:
                    raise ValueError(f"regimes: {r.name!r} switch names {other!r}, which is "
                                     f"not a regime of [[regimes]] ({names})")
                if other == r.name:
                    raise ValueError(f"regimes: {r.name!r} switch names itself; its "
                                     "probability of staying is what the others leave")
                if not 0.0 <= prob <= 1.0:
                    raise ValueError(f"regimes: {r.name!r} switch.{other} = {prob}: a "
                                     "probability must lie in [0, 1]")
            total = sum(r.switch.values())
            if total > 1.0 + 1e-12:
                raise ValueError(f"regimes: {r.name!r} switch probabilities sum to "
                                 f"{total:.12g}, above 1")
        e_names = [e.name for e in self.elections]
        dup = sorted({n for n in e_names if e_names.count(n) > 1})
        if dup:
            raise ValueError(f"elections: duplicate names {dup}")
        dates = [e.date for e in self.elections]
        if len(set(dates)) < len(dates):
            raise ValueError("elections: two elections on one date")
        de = self.deal_end
        n_shares = len(de.japan_shares or ())
        if de.profit_split == "renegotiated" and n_shares != len(self.waterfall.tiers):
            raise ValueError(f"deal_end.japan_shares: {n_shares} shares for "
                             f"{len(self.waterfall.tiers)} [waterfall] tiers (renegotiated "
                             "needs one per tier)")
        if self.elections:
            unsupported = (
                (self.importance_sampling.enabled, "importance_sampling.enabled",
                 "the tilt draws today's regime alone"),
                (self.dependence.factor_dynamics == "ar1", "dependence.factor_dynamics = "
                 "\"ar1\"", "its yearly thresholds are calibrated per regime, not per "
                 "regime history"),
                (bool(self.uncertainty), "[[uncertainty]]", "not combined yet"),
            )
            for on, key, why in unsupported:
                if on:
                    raise ValueError(f"[[elections]]: not available with {key} ({why}); "
                                     "drop one of the two")
        return self

    @property
    def election_names(self) -> tuple[str, ...]:
        """The elections whose new regime takes effect inside the horizon, by date
        (:func:`riskengine.dates.calendar`)."""
        return calendar(self).names

    @property
    def deal_end_labels(self) -> tuple[str, ...]:
        """The labels of paths.parquet's ``deal_end``: "none", then each election's name."""
        return ("none", *self.election_names)

    @property
    def regime_names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.regimes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the resolved config (for the manifest)."""
        return self.model_dump(mode="json")


#: top-level tables a user's config does not inherit from the shipped one
PROGRAM_CONTENT = ("regimes", "elections", "scenarios")
#: keys a user's config does not inherit either: the shipped program's political judgement
#: (adverse selection) rather than an engine default, left at the engine's 0 unless set
PROGRAM_CONTENT_KEYS = ("program.selection_correlation",)


def _deep_merge(base: dict, over: dict, where: str = "") -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        key = f"{where}{k}"
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v, key + ".")
        elif isinstance(v, dict) and out.get(k) is not None:
            raise ConfigError(f"config key {key}: must be a table ([{key}]), got {out[k]!r}")
        else:
            out[k] = copy.deepcopy(v)
    return out


def _read_toml(path: Path) -> dict:
    with naming_read_errors(ConfigError, path, "a TOML file", "TOML files are UTF-8",
                            prefix="config "):
        try:
            with open(path, "rb") as f:
                return tomllib.load(f)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"config {path}: not valid TOML: {e}") from None


def getattr_key(config: Any, key: str) -> Any:
    """The value of a dotted config key (``section.key``)."""
    section, name = key.split(".")
    return getattr(getattr(config, section), name)


def _format_validation(path: str, err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        if isinstance(e.get("input"), bool) and e["type"] in ("float_type", "int_type"):
            msg = f"{str(e['input']).lower()} is a boolean, not a number"
        elif e["type"] in ("greater_than", "greater_than_equal", "less_than",
                           "less_than_equal"):
            msg = f"{e['input']!r} must be {msg.removeprefix('Input should be ')}"
        elif e["type"] == "extra_forbidden":
            msg = "unknown key"
        elif e["type"] == "missing":
            msg = "required key is missing"
        lines.append(f"  - key {key}: {msg}")
    return f"invalid config {path}:\n" + "\n".join(lines)


def config_from_dict(raw: dict, source: str = "<dict>") -> Config:
    """Validate a config dict (already merged over the shipped defaults if wanted)."""
    try:
        return Config.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(_format_validation(source, e)) from None


def run_overrides(*, paths=None, seed=None, threads=None, chunk_paths=None,
                  importance_sampling=None, regime=None, scenario=None,
                  scenarios=None) -> dict:
    """The nested overrides of the run options shared by ``simulate()`` and the command
    line (None leaves the config's value)."""
    out: dict = {}
    for key, val in (("paths", paths), ("seed", seed), ("threads", threads),
                     ("chunk_paths", chunk_paths), ("regime", regime),
                     ("scenario", scenario), ("scenarios", scenarios)):
        if val is not None:
            out.setdefault("simulation", {})[key] = val
    if importance_sampling is not None:
        out["importance_sampling"] = {"enabled": bool(importance_sampling)}
    return out


def apply_overrides(config: Config | dict, overrides: dict | None,
                    source: str = "<config>",
                    given_by: str = "the command-line options") -> Config:
    """The one way to change a config: merge the nested ``overrides`` key by key over it
    and validate the result (the command line, ``simulate()`` and the pilot use it).

    Raises
    ------
    ConfigError
        Naming the key of an invalid or unknown value.
    """
    raw = config.to_dict() if isinstance(config, Config) else config
    if not overrides:
        return config if isinstance(config, Config) else config_from_dict(raw, source)
    return config_from_dict(_deep_merge(raw, overrides), f"{source} with {given_by}")


def load_config(path: str | Path | dict | None = None, overrides: dict | None = None,
                given_by: str = "the command-line options") -> Config:
    """Load the config: shipped defaults, then the file at ``path`` (or a dict written like
    one), then ``overrides``.

    Parameters
    ----------
    path
        A TOML file or a dict of its tables; None uses the shipped ``program.toml`` alone.
    overrides
        Nested dict applied last (the command line's ``--paths``, ``--seed``, ...).
    given_by
        Who gave the overrides, for an error about them.
    """
    try:
        shipped = default_config_path()
        raw = _read_toml(shipped)
        source = str(shipped)
    except ConfigError:
        if path is None:
            raise
        raw, source = {}, "<none>"
    if path is not None:
        # [[regimes]] and [[scenarios]] are the shipped program's content, not engine
        # defaults: a user's config has only its own (MODEL.md section 8)
        raw = {k: v for k, v in raw.items() if k not in PROGRAM_CONTENT}
        for key in PROGRAM_CONTENT_KEYS:
            section, name = key.split(".")
            raw[section] = {k: v for k, v in raw.get(section, {}).items() if k != name}
        if isinstance(path, dict):
            raw, source = _deep_merge(raw, path), "<dict>"
        else:
            path = Path(path)
            raw, source = _deep_merge(raw, _read_toml(path)), str(path)
    # the file is checked as written: an invalid value is an error even where an option
    # replaces it
    config = config_from_dict(raw, source)
    return apply_overrides(config, overrides, source, given_by)


def read_uncertainty(path: str | Path) -> dict:
    """An ``--uncertainty`` file (TOML: ``[[uncertainty]]`` tables and optionally
    ``[simulation] parameter_batches``) as overrides of the run's config: it gives the
    program being run (the shipped one, or a ``--config``) its distributions.

    Raises
    ------
    ConfigError
        Naming the file and any other table or key in it.
    """
    raw = _read_toml(Path(path))
    extra = sorted(set(raw) - {"uncertainty", "simulation"})
    sim = raw.get("simulation", {})
    if extra or not isinstance(sim, dict) or set(sim) - {"parameter_batches"}:
        raise ConfigError(f"uncertainty file {path}: only [[uncertainty]] tables and "
                          f"[simulation] parameter_batches, not {extra or sorted(sim)}")
    if not isinstance(raw.get("uncertainty"), list) or not raw["uncertainty"]:
        raise ConfigError(f"uncertainty file {path}: no [[uncertainty]] tables")
    return raw


_COUNTS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def _count(n: int) -> str:
    return _COUNTS[n] if n < len(_COUNTS) else str(n)


def config_notes(config: Config, path: str | Path | dict | None = None,
                 given_as: str = "--config") -> list[str]:
    """What an analyst should hear before a run of ``config`` (one line each), though the
    run is valid: the shipped program's ``[[regimes]]`` and ``[[scenarios]]`` not inherited
    by a config of one's own (``path`` the file or dict it was loaded from, ``given_as``
    how the user gave it: ``--config``, ``simulate(config=...)``), a selection deadline
    before the first quarter, a regime no path draws. ``riskengine run`` and ``validate``
    print them on standard error, :func:`riskengine.simulate` issues them as warnings."""
    notes = []
    if path is not None:
        try:
            shipped = _read_toml(default_config_path())
        except ConfigError:
            shipped = {}
        for key in PROGRAM_CONTENT:
            n_shipped, n_own = len(shipped.get(key) or ()), len(getattr(config, key))
            if n_shipped and not n_own:
                one = {"regimes": "one regime", "elections": "no elections"}.get(
                    key, "the base case alone")
                notes.append(f"{one}: the shipped program's {_count(n_shipped)} {key} are "
                             f"not inherited by {given_as}; copy its [[{key}]] tables to keep "
                             "them")
        own = path if isinstance(path, dict) else _read_toml(Path(path))
        for key in PROGRAM_CONTENT_KEYS:
            section, name = key.split(".")
            value = (shipped.get(section) or {}).get(name)
            if value and name not in (own.get(section) or {}):
                notes.append(f"no adverse selection: the shipped program's {key} = {value:g} "
                             f"is not inherited by {given_as}; set it to keep it")
    prog, sim = config.program, config.simulation
    if prog.selection_deadline < sim.as_of:
        notes.append(f"program.selection_deadline {prog.selection_deadline} is before "
                     f"simulation.as_of {sim.as_of}: every pipeline project "
                     "(selection_prob < 1) gets its notice in its approval quarter")
    notes += list(calendar(config).ignored)
    for r in config.regimes:
        if r.probability == 0.0 and sim.regime != r.name:
            notes.append(f"regimes: {r.name!r} has probability 0, so no path draws it (its "
                         "rows of the summary are empty); pin it with --regime to stress it")
    return notes
