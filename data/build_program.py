#!/usr/bin/env python3
"""Build the shipped default program of `riskengine`: data/program/portfolio.csv and
data/program/program.toml.

ILLUSTRATIVE INPUTS. Nothing here is JBIC or NEXI data. The numbers are public figures
(see data/DATA_FACTS.md, cited below as "DF §x"; "MODEL" is data/DEAL_FACTS.md) turned into engine inputs with
stated judgement. data/README.md lists every assumption with its source and tag
(S = seen in source, S2 = seen in a transcription, D = derived by arithmetic,
GK = general knowledge not confirmed).

Deterministic: no random numbers. Running it again rewrites both files byte for byte.

    python data/build_program.py          # writes the files, prints the summary tables
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from riskengine.config import Rates

HERE = Path(__file__).resolve().parent


class ProgramError(ValueError):
    """The generated program breaks one of the checks below."""


def require(condition, message: str) -> None:
    """Raise :class:`ProgramError` with ``message`` unless ``condition`` holds (a real
    error, unlike ``assert``, which ``python -O`` removes)."""
    if not bool(condition):
        raise ProgramError(message)

PORTFOLIO_CSV = HERE / "program" / "portfolio.csv"
PROGRAM_TOML = HERE / "program" / "program.toml"
ELECTIONS_TOML = HERE / "program" / "elections.toml"

# ---------------------------------------------------------------------------------------
# 1. Program size, instrument mix, sector shares
# ---------------------------------------------------------------------------------------
PROGRAM_TOTAL_USD = 550_000_000_000  # DF §7.1 (S): $550bn by 19 Jan 2029
ROUND_TO_USD = 1_000_000  # every row is rounded to $1m; the residue goes on RESIDUE_ROW
RESIDUE_ROW = "PIPE-SEMI-001-LOAN"

# Instrument mix of the whole program (commitment_usd; for a guarantee that is the
# underlying bank loan, NEXI's exposure is coverage x that). MODEL "Deal facts" and
# seed 001 (one estimate): loans 60-65%, guarantees 25-30%, equity 5-10%; Akazawa (DF §7.1,
# S): only 1-2% direct equity. Brief: equity 3-5%. 31% of underlying loans guaranteed at
# ~90% coverage is ~28% of the program in covered amount, inside the 25-30% range.
TARGET_MIX = {"loan": 0.65, "guarantee": 0.31, "equity": 0.04}

# Reported sector shares (MODEL "Deal facts", estimates): semis & advanced manufacturing
# 35-40%, pharma 15-20%, clean energy & critical minerals 15-20%, shipbuilding &
# infrastructure 10-15%, other 10%. They are applied to the UNALLOCATED PIPELINE (the
# total minus the named projects below), taking the upper end for buckets without named
# projects and the lower end for energy, which the named nuclear and gas projects already
# dominate (White House energy sub-envelope up to $332bn, DF §7.1, S).
PIPELINE_BUCKET_SHARES = {
    "semis_adv_mfg": 0.40,
    "pharma": 0.20,
    "energy_minerals": 0.15,
    "ship_infra": 0.15,
    "other": 0.10,
}
# How each reported bucket maps onto engine sectors (judgement).
BUCKET_TO_SECTORS = {
    "semis_adv_mfg": {"semiconductors": 0.75, "advanced_manufacturing": 0.25},
    "pharma": {"pharmaceuticals": 1.0},
    "energy_minerals": {"critical_minerals": 0.40, "energy_midstream": 0.35, "power_gas": 0.25},
    "ship_infra": {"shipbuilding_infra": 1.0},
    "other": {"advanced_manufacturing": 1.0},  # AI/quantum hardware, electronics, batteries
}

# ---------------------------------------------------------------------------------------
# 2. Sectors and the sector-factor correlation matrix (DF §3; judgement, D/GK)
# ---------------------------------------------------------------------------------------
SECTORS = [
    "semiconductors",
    "advanced_manufacturing",
    "pharmaceuticals",
    "power_gas",
    "nuclear",
    "energy_midstream",
    "critical_minerals",
    "shipbuilding_infra",
]
# A common US macro/policy driver puts every pair at >= 0.30 (pharma, the defensive
# sector, at the floor). Energy sectors move together (gas price, power demand): power_gas
# with nuclear 0.65 (same power-demand / data-centre load story), with midstream 0.60
# (gas). Chips with displays/electronics 0.65 (electronics cycle); chips with power 0.50
# (AI build-out). Commodities link minerals with midstream and manufacturing (0.50).
# Cross-sector asset correlation = w_i * w_j * C_ij, e.g. 0.5*0.5*0.4 = 0.10, in the
# practitioner inter-sector range 0.1-0.2 (DF §3, GK).
CORRELATION = np.array([
    # semi  adv   pharm gas   nuc   mid   min   ship
    [1.00, 0.65, 0.35, 0.50, 0.40, 0.35, 0.45, 0.40],  # semiconductors
    [0.65, 1.00, 0.35, 0.45, 0.35, 0.35, 0.50, 0.50],  # advanced_manufacturing
    [0.35, 0.35, 1.00, 0.30, 0.30, 0.30, 0.30, 0.30],  # pharmaceuticals
    [0.50, 0.45, 0.30, 1.00, 0.65, 0.60, 0.45, 0.45],  # power_gas
    [0.40, 0.35, 0.30, 0.65, 1.00, 0.45, 0.40, 0.40],  # nuclear
    [0.35, 0.35, 0.30, 0.60, 0.45, 1.00, 0.50, 0.45],  # energy_midstream
    [0.45, 0.50, 0.30, 0.45, 0.40, 0.50, 1.00, 0.45],  # critical_minerals
    [0.40, 0.50, 0.30, 0.45, 0.40, 0.45, 0.45, 1.00],  # shipbuilding_infra
])
MIN_EIGENVALUE = 0.05

# ---------------------------------------------------------------------------------------
# 3. Rates
# ---------------------------------------------------------------------------------------
# The engine's default base rate (riskengine/config.py, the one place it is written, with
# its source: DF §4.1): fixed loan rates below are this base plus each class's margin.
BASE_RATE = Rates.model_fields["base_rate"].default

# ---------------------------------------------------------------------------------------
# 4. Risk classes: one parameter set per kind of project (placeholders cycle through the
#    classes of their sector; named projects pick one).
#    pd_c / pd_a  annual PD in construction / operations  (DF §1.2, §2.1 derived hazards, §8)
#    lgd, lgd_sd  loans and guarantees                    (DF §1.1-1.2 recoveries, §2.2, §8)
#    eq_lgd       equity: share of unreturned capital lost (DF §2.3 VC Summer, Wolfspeed)
#    w            factor loading, within-sector asset correlation w^2 (DF §3)
#    cy, life     construction years, asset life          (DF §5)
#    fq           funding (drawdown) quarters; tenor in years; amortization
#    margin       loan margin over BASE_RATE (GK: JBIC pricing not public, DF §9)
#    premium      NEXI guarantee premium, % a year of the covered balance (GK, DF §9)
#    coverage     NEXI credit-risk coverage by rating tier: 95% / 90% / 80% (DF §4.2, S)
#    yld, vol     equity target unlevered project IRR (DF §5 quotes IRRs) and cash-multiplier
#                 volatility; the CSV's expected_yield is the level annual cash yield on the
#                 commitment that earns that IRR over `life` years after `cy` build years
#                 (see cash_yield_for_irr; D)
#    dspread      deemed-allocation spread over 6M SOFR by project length and risk (DF §7.1)
# ---------------------------------------------------------------------------------------
CLASS_FIELDS = ("pd_c", "pd_a", "lgd", "lgd_sd", "eq_lgd", "w", "cy", "life", "fq", "tenor",
                "amort", "margin", "premium", "coverage", "yld", "vol", "dspread")
RISK_CLASSES = {
    #                       pd_c    pd_a    lgd   sd    eqLGD w     cy life fq tenor amort    margin  prem   cov   yld   vol   dspread
    # semiconductors: Intel BBB (S), BBB hazard 0.29%/yr, BB 1.10%/yr (D); fab 3 yrs; 10-15 yr life (GK)
    "fab_bbb":            (0.0080, 0.0040, 0.35, 0.15, 0.80, 0.50, 3, 15, 10, 12, "bullet", 0.0150, 0.0030, 0.95, 0.12, 0.25, 0.020),
    "fab_bb":             (0.0150, 0.0110, 0.45, 0.20, 0.85, 0.55, 3, 15, 10, 10, "linear", 0.0275, 0.0070, 0.90, 0.12, 0.30, 0.025),
    # advanced manufacturing, electronics, displays, other (AI/quantum hardware): BBB-/BB
    "electronics_bbb":    (0.0080, 0.0050, 0.40, 0.15, 0.80, 0.45, 2, 15, 8, 10, "linear", 0.0175, 0.0050, 0.90, 0.11, 0.25, 0.020),
    "display_bb":         (0.0150, 0.0110, 0.45, 0.20, 0.85, 0.50, 3, 15, 10, 10, "linear", 0.0250, 0.0070, 0.90, 0.12, 0.30, 0.025),
    # pharmaceuticals: no sector study (DF §2.3); large-pharma plant ~BBB, CDMO/biotech ~BB
    "pharma_bbb":         (0.0050, 0.0030, 0.35, 0.15, 0.70, 0.40, 3, 20, 8, 10, "bullet", 0.0125, 0.0030, 0.95, 0.09, 0.15, 0.015),
    "pharma_bb":          (0.0140, 0.0110, 0.45, 0.20, 0.85, 0.45, 2, 15, 8, 8, "linear", 0.0250, 0.0070, 0.90, 0.11, 0.25, 0.025),
    # power_gas: PF construction 1.0-1.4%/yr, operations 0.3-0.5%/yr; recoveries 72.5%/80.8% (DF §1.2, §8)
    "gas_pf":             (0.0140, 0.0050, 0.25, 0.15, 0.65, 0.45, 5, 30, 16, 20, "linear", 0.0275, 0.0015, 0.90, 0.08, 0.15, 0.020),
    "power_infra_pf":     (0.0120, 0.0040, 0.22, 0.15, 0.65, 0.45, 3, 25, 12, 18, "linear", 0.0225, 0.0015, 0.90, 0.08, 0.15, 0.020),
    # nuclear: B-like 2.5-4%/yr in an ~10-yr FOAK build (Vogtle, VC Summer); LGD 30-50% (DF §2.3, §5, §8)
    # a high loading (w^2 = 0.42) stands in for the common first-of-a-kind factor (DF §3)
    "ap1000":             (0.0300, 0.0040, 0.40, 0.20, 0.90, 0.65, 10, 60, 28, 27, "linear", 0.0300, 0.0090, 0.80, 0.07, 0.15, 0.030),
    "smr_foak":           (0.0350, 0.0050, 0.45, 0.20, 0.90, 0.65, 5, 60, 20, 25, "linear", 0.0300, 0.0090, 0.80, 0.08, 0.20, 0.030),
    # energy_midstream: PF BBB-like 0.3%/yr after a 3-4-yr build; LGD ~20% (DF §8); LNG IRR 5-6% (DF §5)
    "crude_terminal_pf":  (0.0120, 0.0040, 0.22, 0.15, 0.65, 0.45, 4, 30, 12, 20, "linear", 0.0200, 0.0015, 0.90, 0.08, 0.15, 0.020),
    "lng_pipeline_pf":    (0.0100, 0.0030, 0.20, 0.15, 0.65, 0.45, 4, 30, 12, 20, "linear", 0.0200, 0.0005, 0.90, 0.07, 0.12, 0.015),
    # critical_minerals: BB to B, 1.1-2.5%/yr (DF §2.1 D, §8); LGD 30-45%
    "processing_bb":      (0.0150, 0.0110, 0.40, 0.20, 0.80, 0.50, 2, 20, 8, 12, "linear", 0.0250, 0.0070, 0.90, 0.10, 0.30, 0.025),
    "smelter_b":          (0.0250, 0.0180, 0.45, 0.20, 0.85, 0.55, 3, 25, 12, 15, "linear", 0.0300, 0.0090, 0.80, 0.11, 0.30, 0.030),
    # shipbuilding_infra: shipyards BB/B (Hanwha Philly, DF §2.3, §5); infrastructure PF 0.35%/yr (DF §2.1 D)
    "shipyard_b":         (0.0250, 0.0150, 0.45, 0.20, 0.85, 0.50, 3, 25, 12, 15, "linear", 0.0300, 0.0090, 0.80, 0.09, 0.25, 0.025),
    "infra_pf":           (0.0080, 0.0035, 0.22, 0.15, 0.65, 0.40, 3, 30, 12, 25, "linear", 0.0175, 0.0030, 0.95, 0.07, 0.10, 0.010),
}
RISK_CLASSES = {k: dict(zip(CLASS_FIELDS, v)) for k, v in RISK_CLASSES.items()}

# Pricing (DF 10.1). Loan margins over BASE_RATE (6M SOFR): JBIC's standard foreign-currency
# rate is 6M SOFR + 0.7875% plus a borrower risk premium (S); where a market margin for the
# project type is sourced the class takes it: gas power 2.75% (operating gas-power bank
# debt SOFR + 275-300, S), power infrastructure 2.25% (renewables, total fees over SOFR
# 2.25-3.00%, S), crude terminals and LNG/pipelines 2.00% (Port Arthur LNG, SOFR + 200 in
# construction, S). Nuclear, fabs, manufacturing, pharma, minerals, shipyards: no sourced
# margin (DF 10.1 "not found"); their 1.25-3.00% is JBIC's 0.7875% plus a judgement risk
# premium rising with the class's rating (GK).
# NEXI premiums, % a year of the covered balance: the four credit tiers 0.3 / 0.5 / 0.7 /
# 0.9% (NEXI 2001, S) by rating (BBB 0.3, BBB- 0.5, BB 0.7, B-like 0.9; the mapping is
# judgement), and NEXI's resources/energy terms for energy project finance (credit 0.05%
# lowest risk, 0.15% next tier, NEXI 2007, S): 0.05% LNG/pipelines, 0.15% gas, power
# infrastructure and terminals. Nuclear's B-like construction risk takes the top general
# tier (0.9%), not the energy terms (judgement; the alternative is 0.15%).

# Construction cost overruns of the capital Japan funds (the equity vehicles' capital
# calls; loans and guarantees have fixed commitments): a lognormal multiplier with mean
# 1 + mean and log-sd sd, by project type (DF 10.2): nuclear +120% (Flyvbjerg & Gardner, S;
# 102.5% in BU IGS's 662 energy megaprojects, S), fossil thermal +16% (S) for gas and power
# infrastructure. Log-sd 0.8 for nuclear (the nearest sourced dispersion: hydro's 0.89, D),
# 0.4 for gas (judgement). Fabs, manufacturing, pharma, minerals, shipyards and terminals
# have no type-specific figure: 0 (the alternative: BU IGS's 40% for all energy
# megaprojects, Sovacool's 66% for electricity projects).
OVERRUN = {"ap1000": (1.20, 0.80), "smr_foak": (1.20, 0.80), "gas_pf": (0.16, 0.40),
           "power_infra_pf": (0.16, 0.40)}
# Cyclical LGD (DF 10.5): every row's LGD mean follows its sector factor with loading 0.25
# (`lgd_factor_loading`), so a 25% LGD reaches 53% at the factor's 0.999 quantile (45% at
# 0.99) and averages 25% over the cycle: Frye's downturn illustration, LGD 25% -> 50%
# (S, a worked illustration, not data), at Basel's confidence level. PF recoveries are "less
# tied to the economic cycle" (S2, DF 3): the alternative is a lower loading for PF rows.
LGD_FACTOR_LOADING = 0.25

# ---------------------------------------------------------------------------------------
# 5. Named projects (DF §7.2, §7.3). split = (loan, guarantee, equity) shares: the real
#    project-level split was not disclosed (DF §9), so these are judgement.
#    approval_quarter: quarters from 2025-10-01 (Q0 = Oct-Dec 2025, Q1 = Jan-Mar 2026).
# ---------------------------------------------------------------------------------------
# Selection and decline probabilities (judgement, D; data/README.md "Selection, declines,
# regimes"). The first tranche is selected (DF 7.2, 11.6, S). Round 2's candidates of the
# 19 Mar 2026 summit (DF 11.6, S) are "still to be vetted for profitability in the
# Consultation Committee": 0.85. The 8 Mar 2026 candidates that did not appear on the 19 Mar
# list (Westinghouse reactors, LCD/OLED, copper; DF 11.6, S) fall back to 0.6, as the
# unallocated pipeline. A selected project's notice comes at a uniformly drawn quarter from
# its approval quarter to the deadline (MODEL.md 6).
SELECTION = {"first_tranche": 1.0, "second_round": 0.85, "candidate": 0.6, "pipeline": 0.6}
# No case of Japan declining a project was found (DF 10.3, 11.4.3): a small 5% per selected
# project outside the first tranche (judgement, D); the regimes scale it.
DECLINE = {"first_tranche": 0.0, "other": 0.05}
# Adverse selection: rho of a pipeline unit's selection draw with its obligor's latent
# credit variable, for a ratio of 1.5 of the selected units' 5-year default rate to the
# unselected ones' (`python data/calibrate_selection.py --years 5 1.5`; data/README.md 3.7)
SELECTION_CORRELATION = 0.149

NAMED_PROJECTS = [
    # Round 1, announced 17 Feb 2026 (DF 11.6, S): $33.3bn, $2.1bn and $0.6bn; JBIC and
    # banks signed loans of more than Y340bn for the three on 1 May 2026 (S) -> quarter 1
    dict(prefix="PORTSMOUTH", sector="power_gas", cls="gas_pf", total=33.3e9, units=1,
         split=(0.60, 0.32, 0.08), approval=[1], selection=1.0,
         name="Portsmouth Powered Land OH, 9.2 GW gas plant (SB Energy)"),
    dict(prefix="GULFLINK", sector="energy_midstream", cls="crude_terminal_pf", total=2.1e9, units=1,
         split=(0.60, 0.30, 0.10), approval=[1], selection=1.0,
         name="Texas GulfLink deepwater crude export terminal (Sentinel Midstream)"),
    dict(prefix="DIAMOND-GRIT", sector="critical_minerals", cls="processing_bb", total=0.6e9, units=1,
         split=(0.60, 0.30, 0.10), approval=[1], selection=1.0,
         name="Georgia synthetic diamond grit plant (Element Six)"),
    # Round 2's candidates, announced at the 19 Mar 2026 summit (DF 11.6, S): GE Vernova
    # Hitachi BWRX-300 SMRs in Tennessee and Idaho and gas-fired plants in Pennsylvania and
    # Texas, "up to $73bn" in all -> quarter 2. The split between them was not given: the
    # SMRs take the "$40bn" of a press-conference report (S, low), the two gas plants the
    # remaining $33bn (D), half each (judgement); two units a site, staggered.
    dict(prefix="GEVH-SMR-TN", sector="nuclear", cls="smr_foak", total=20.0e9, units=2,
         split=(0.5700, 0.3800, 0.0500), approval=[2, 4], selection=SELECTION["second_round"],
         name="GE Vernova Hitachi BWRX-300 SMR, Tennessee (round 2)"),
    dict(prefix="GEVH-SMR-ID", sector="nuclear", cls="smr_foak", total=20.0e9, units=2,
         split=(0.5700, 0.3800, 0.0500), approval=[3, 5], selection=SELECTION["second_round"],
         name="GE Vernova Hitachi BWRX-300 SMR, Idaho (round 2)"),
    dict(prefix="GAS-PA", sector="power_gas", cls="gas_pf", total=16.5e9, units=1,
         split=(0.60, 0.32, 0.08), approval=[2], selection=SELECTION["second_round"],
         name="Gas-fired power plant, Pennsylvania (round 2)"),
    dict(prefix="GAS-TX", sector="power_gas", cls="gas_pf", total=16.5e9, units=1,
         split=(0.60, 0.32, 0.08), approval=[2], selection=SELECTION["second_round"],
         name="Gas-fired power plant, Texas (round 2)"),
    # The 8 Mar 2026 candidates (S) that the 19 Mar list left out (DF 11.6): LCD/OLED "a few
    # trillion yen" ~ Y3trn / 153 ~ $20bn (D); copper smelting "a few hundred billion yen"
    # ~ Y300bn ~ $2bn (D); Westinghouse AP1000, >= $80bn, about 8 units (DF 7.3, S; "10
    # reactors" in DF 11.6). Not selected by the summit -> quarter 2 at the earliest. AP1000
    # units carry loan + guarantee; JBIC equity sits in one program-level vehicle row.
    dict(prefix="DISPLAY-OLED", sector="advanced_manufacturing", cls="display_bb", total=20.0e9, units=1,
         split=(0.60, 0.35, 0.05), approval=[2], selection=SELECTION["candidate"],
         name="LCD/OLED display manufacturing (8 Mar 2026 candidate)"),
    dict(prefix="COPPER-SMELT", sector="critical_minerals", cls="smelter_b", total=2.0e9, units=1,
         split=(0.60, 0.30, 0.10), approval=[2], selection=SELECTION["candidate"],
         name="Copper smelting and refining (8 Mar 2026 candidate, US-led)"),
    dict(prefix="AP1000", sector="nuclear", cls="ap1000", total=80.0e9, units=8,
         split=(0.5850, 0.3900, 0.0250), approval=[2] * 8, selection=SELECTION["candidate"],
         name="Westinghouse AP1000 reactor"),
    # The Oct 2025 fact sheet's SoftBank power infrastructure ($25bn) and its modest slice of
    # the GE Vernova Hitachi SMR line ($20bn) gave way to round 2's named sites above, which
    # are their concrete form (judgement: not counted twice).
]

# ---------------------------------------------------------------------------------------
# 6. Pipeline placeholders: project counts, risk classes, size pattern, timing
# ---------------------------------------------------------------------------------------
PIPELINE = {
    # sector:                (code,   n projects, classes cycled in order)
    "semiconductors":         ("SEMI",  16, ["fab_bbb", "fab_bb"]),
    "advanced_manufacturing": ("AMFG",  14, ["electronics_bbb", "display_bb"]),
    "pharmaceuticals":        ("PHARM", 14, ["pharma_bbb", "pharma_bbb", "pharma_bb"]),
    "power_gas":              ("POWER",  4, ["power_infra_pf"]),
    "energy_midstream":       ("MID",    5, ["lng_pipeline_pf"]),
    "critical_minerals":      ("MIN",    8, ["processing_bb", "smelter_b"]),
    "shipbuilding_infra":     ("SHIP",  10, ["shipyard_b", "infra_pf"]),
}
# Relative project sizes inside a sector, cycled (deterministic stand-in for size dispersion).
SIZE_PATTERN = (2.0, 1.0, 0.6, 1.4, 0.8, 1.2)
# Placeholders that also carry a JBIC equity row: the large ones (pattern position 0),
# at most two per sector.
EQUITY_EVERY, EQUITY_MAX_PER_SECTOR = len(SIZE_PATTERN), 2
# Pipeline approvals: the first possible notice quarter is 2 (after the second round); the
# engine draws each selected placeholder's notice quarter uniformly from there to the
# quarter of the 19 Jan 2029 deadline (quarter 13), so the pace is spread as before.
PIPE_FIRST_Q, PIPE_LAST_Q = 2, 13
MAX_FUNDED_QUARTER = 30  # approval_quarter + funding_quarters <= 30 (funded within 7.5 years)

COLUMNS = ["project_id", "name", "sector", "institution", "instrument", "commitment_usd",
           "pd_annual", "pd_construction", "lgd", "lgd_sd", "factor_loading",
           "approval_quarter", "funding_quarters", "tenor_years", "amortization", "rate",
           "coverage", "expected_yield", "cf_vol", "construction_years", "life_years",
           "deemed_spread", "obligor", "selection_prob", "decline_prob",
           "lgd_factor_loading", "overrun_mean", "overrun_sd"]


def exposure_rows(pid: str, name: str, sector: str, cls: str, approval: int,
                  amounts: dict[str, float], selection: float = 1.0,
                  obligor: str | None = None) -> list[dict]:
    """Rows (loan, guarantee, equity) of one project; zero amounts are skipped."""
    c = RISK_CLASSES[cls]
    rows = []
    for instrument, suffix in (("loan", "LOAN"), ("guarantee", "GTE"), ("equity", "EQ")):
        amount = amounts.get(instrument, 0.0)
        if amount <= 0:
            continue
        eq = instrument == "equity"
        rows.append(dict(
            project_id=f"{pid}-{suffix}",
            name={"loan": "JBIC loan: ", "guarantee": "NEXI guarantee: ",
                  "equity": "JBIC equity (MOU vehicle): "}[instrument] + name,
            sector=sector,
            institution="NEXI" if instrument == "guarantee" else "JBIC",
            instrument=instrument,
            commitment_usd=amount,
            pd_annual=c["pd_a"],
            pd_construction=c["pd_c"],
            lgd=c["eq_lgd"] if eq else c["lgd"],
            lgd_sd=0.10 if eq else c["lgd_sd"],
            factor_loading=c["w"],
            approval_quarter=approval,
            funding_quarters=c["fq"],
            tenor_years=c["cy"] + c["life"] if eq else c["tenor"],
            amortization="bullet" if eq else c["amort"],
            rate={"loan": round(BASE_RATE + c["margin"], 6), "guarantee": c["premium"],
                  "equity": 0.0}[instrument],
            coverage=c["coverage"] if instrument == "guarantee" else 1.0,
            expected_yield=cash_yield_for_irr(c["yld"], c["cy"], c["life"]) if eq else 0.0,
            cf_vol=c["vol"] if eq else 0.0,
            construction_years=c["cy"],
            life_years=c["life"],
            deemed_spread=c["dspread"] if eq else 0.0,
            obligor=obligor or pid,  # a project's rows default together
            selection_prob=selection,  # ... and are selected and declined together
            decline_prob=DECLINE["first_tranche" if selection == 1.0 else "other"],
            lgd_factor_loading=LGD_FACTOR_LOADING,
            overrun_mean=OVERRUN.get(cls, (0.0, 0.0))[0] if eq else 0.0,
            overrun_sd=OVERRUN.get(cls, (0.0, 0.0))[1] if eq else 0.0,
        ))
    return rows


def cash_yield_for_irr(irr: float, build_years: float, life_years: float) -> float:
    """Level annual cash yield y on capital invested at the start that earns `irr`:
    y * annuity(irr, life) * (1 + irr)^-build = 1 (D: standard annuity arithmetic)."""
    annuity = (1 - (1 + irr) ** -life_years) / irr
    return round((1 + irr) ** build_years / annuity, 4)


def build_named() -> list[dict]:
    rows = []
    for p in NAMED_PROJECTS:
        loan_s, gte_s, eq_s = p["split"]
        per_unit = p["total"] * (1.0 - eq_s) / p["units"]
        for u in range(p["units"]):
            pid = p["prefix"] if p["units"] == 1 else f"{p['prefix']}-U{u + 1}"
            name = p["name"] if p["units"] == 1 else f"{p['name']} unit {u + 1}"
            amounts = {"loan": per_unit * loan_s / (loan_s + gte_s),
                       "guarantee": per_unit * gte_s / (loan_s + gte_s)}
            if p["units"] == 1:
                amounts["equity"] = p["total"] * eq_s
            rows += exposure_rows(pid, name, p["sector"], p["cls"], p["approval"][u], amounts,
                                  p["selection"])
        if p["units"] > 1 and eq_s > 0:
            # one program-level equity vehicle, with the first unit as its obligor: funded
            # (selected, timed, declined) with it and defaulting with it
            rows += exposure_rows(p["prefix"], f"{p['name']} program", p["sector"], p["cls"],
                                  p["approval"][0], {"equity": p["total"] * eq_s},
                                  p["selection"], obligor=f"{p['prefix']}-U1")
    return rows


def build_pipeline(named: pd.DataFrame) -> list[dict]:
    remainder = PROGRAM_TOTAL_USD - named["commitment_usd"].sum()
    sector_total = {s: 0.0 for s in PIPELINE}
    for bucket, share in PIPELINE_BUCKET_SHARES.items():
        for sector, sub in BUCKET_TO_SECTORS[bucket].items():
            sector_total[sector] += remainder * share * sub

    # projects: (sector, k, size, class, approval quarter, carries equity)
    projects = []
    for sector, (code, n, classes) in PIPELINE.items():
        weights = np.array([SIZE_PATTERN[k % len(SIZE_PATTERN)] for k in range(n)])
        sizes = sector_total[sector] * weights / weights.sum()
        for k in range(n):
            q = PIPE_FIRST_Q  # the notice quarter is drawn per path up to the deadline
            has_eq = k % EQUITY_EVERY == 0 and k // EQUITY_EVERY < EQUITY_MAX_PER_SECTOR
            projects.append((sector, code, k, sizes[k], classes[k % len(classes)], q, has_eq))

    # instrument amounts left for the pipeline so that the program hits TARGET_MIX
    by_instr = named.groupby("instrument")["commitment_usd"].sum()
    eq_left = TARGET_MIX["equity"] * PROGRAM_TOTAL_USD - by_instr.get("equity", 0.0)
    gte_left = TARGET_MIX["guarantee"] * PROGRAM_TOTAL_USD - by_instr.get("guarantee", 0.0)
    eq_base = sum(p[3] for p in projects if p[6])
    eq_frac = eq_left / eq_base  # equity share of each equity-carrying placeholder
    debt_total = remainder - eq_left
    gte_frac = gte_left / debt_total  # guarantee share of every placeholder's debt
    require(0 < eq_frac < 0.25 and 0 < gte_frac < 0.5, f"check failed: 0 < eq_frac < 0.25 and 0 < gte_frac < 0.5: {(eq_frac, gte_frac)}")

    rows = []
    for sector, code, k, size, cls, q, has_eq in projects:
        equity = size * eq_frac if has_eq else 0.0
        debt = size - equity
        label = cls.replace("_", " ")
        rows += exposure_rows(f"PIPE-{code}-{k + 1:03d}",
                              f"pipeline placeholder {sector} #{k + 1:03d} ({label})",
                              sector, cls, q,
                              {"loan": debt * (1 - gte_frac), "guarantee": debt * gte_frac,
                               "equity": equity}, SELECTION["pipeline"])
    return rows


def round_amounts(df: pd.DataFrame) -> pd.DataFrame:
    units = [int(round(x / ROUND_TO_USD)) for x in df["commitment_usd"]]
    df["commitment_usd"] = [float(u * ROUND_TO_USD) for u in units]
    residue = PROGRAM_TOTAL_USD - sum(u * ROUND_TO_USD for u in units)
    df.loc[df["project_id"] == RESIDUE_ROW, "commitment_usd"] += float(residue)
    return df


def check_correlation() -> float:
    c = CORRELATION
    require(c.shape == (len(SECTORS), len(SECTORS)), f"correlation matrix shape {c.shape}")
    require(np.array_equal(c, c.T), "correlation matrix not symmetric")
    require(np.all(np.diag(c) == 1.0), "diagonal must be 1")
    require(np.all(np.abs(c) <= 1.0), 'check failed: np.all(np.abs(c) <= 1.0)')
    require(np.array_equal(c, np.round(c, 2)), "write the matrix with 2-decimal entries")
    lam_min = float(np.linalg.eigvalsh(c).min())
    require(lam_min > MIN_EIGENVALUE, f"smallest eigenvalue {lam_min:.4f} <= {MIN_EIGENVALUE}")
    return lam_min


def check_portfolio(df: pd.DataFrame) -> None:
    require(list(df.columns) == COLUMNS, 'check failed: list(df.columns) == COLUMNS')
    require(df["project_id"].is_unique, "duplicate project_id")
    require(150 <= len(df) <= 250, f"check failed: 150 <= len(df) <= 250: {len(df)!r}")
    total = df["commitment_usd"].sum()
    require(total == PROGRAM_TOTAL_USD, f"total commitment {total!r} is not {PROGRAM_TOTAL_USD}")
    require((df["commitment_usd"] > 0).all(), 'check failed: (df["commitment_usd"] > 0).all()')
    require(df["sector"].isin(SECTORS).all(), 'check failed: df["sector"].isin(SECTORS).all()')
    require(set(df["sector"]) == set(SECTORS), "every sector should hold exposures")
    require(df["institution"].isin(["JBIC", "NEXI"]).all(), "institution not JBIC or NEXI")
    require(df["instrument"].isin(["loan", "guarantee", "equity"]).all(), "unknown instrument")
    require(((df["instrument"] == "guarantee") == (df["institution"] == "NEXI")).all(),
            "guarantees are NEXI, loans and equity JBIC")
    for col in ["pd_annual", "pd_construction", "lgd", "lgd_sd", "factor_loading", "coverage"]:
        require(df[col].between(0, 1).all() and df[col].notna().all(), f"{col} outside [0, 1] or missing")
    require((df["pd_construction"] >= df["pd_annual"]).all(), 'check failed: (df["pd_construction"] >= df["pd_annual"]).all()')
    require(df["lgd_sd"].pow(2).lt(df["lgd"] * (1 - df["lgd"])).all(), "beta LGD needs sd^2 < m(1-m)")
    require((df["approval_quarter"] >= 0).all() and (df["funding_quarters"] >= 1).all(), 'check failed: (df["approval_quarter"] >= 0).all() and (df["funding_quarters"] >= 1).all()')
    require((df["approval_quarter"] + df["funding_quarters"] <= MAX_FUNDED_QUARTER).all(), 'check failed: (df["approval_quarter"] + df["funding_quarters"] <= MAX_FUNDED_QUARTER).all()')
    require((df["tenor_years"] * 4 > df["funding_quarters"]).all(), "tenor must cover drawdown")
    require(df["amortization"].isin(["linear", "bullet"]).all(), "unknown amortization")
    eq = df["instrument"] == "equity"
    gte = df["instrument"] == "guarantee"
    require((df.loc[eq, "tenor_years"] == df.loc[eq, "construction_years"] + df.loc[eq, "life_years"]).all(),
            "equity tenor must equal construction plus life")
    require((df.loc[eq, "rate"] == 0).all() and (df.loc[~eq, "rate"] > 0).all(),
            "equity pays no rate; loans and guarantees do")
    require(df.loc[gte, "coverage"].between(0.80, 0.95).all(), "NEXI coverage outside 80-95%")
    require((df.loc[~gte, "coverage"] == 1.0).all(), "coverage of a non-guarantee is not 1")
    require(df.loc[eq, "expected_yield"].between(0.06, 0.30).all(), "equity yield outside 6-30%")
    require(df.loc[eq, "cf_vol"].between(0.10, 0.30).all(), "equity cf_vol outside 0.10-0.30")
    require(df.loc[eq, "deemed_spread"].between(0.01, 0.03).all(), "deemed spread outside 1-3%")
    require((df.loc[~eq, ["expected_yield", "cf_vol", "deemed_spread"]] == 0).all().all(),
            "equity cash-flow columns set on debt rows")
    require(10 <= eq.sum() <= 25, f"check failed: 10 <= eq.sum() <= 25: {eq.sum()!r}")
    mix = df.groupby("instrument")["commitment_usd"].sum() / PROGRAM_TOTAL_USD
    for instrument, target in TARGET_MIX.items():
        require(abs(mix[instrument] - target) < 0.001, f"check failed: abs(mix[instrument] - target) < 0.001: {(instrument, mix[instrument])}")


# ---------------------------------------------------------------------------------------
# program.toml (generated so that sectors and matrix always match the portfolio)
# ---------------------------------------------------------------------------------------
REGIMES = [
    # overcommitment: more selected (x1.3), projects underperform (PD x1.5, cash x0.8),
    # Japan declines less (x0.5); dilution: fewer selected (x0.5), more declines (x4)
    dict(name="modest selective success", probability=0.55),
    dict(name="overcommitment and misexecution", probability=0.30, pd_multiplier=1.5,
         yield_multiplier=0.8, selection_multiplier=1.3, decline_multiplier=0.5),
    dict(name="strategic dilution", probability=0.15, selection_multiplier=0.5,
         decline_multiplier=4.0),
]
# The program with its politics over time (data/program/elections.toml, data/README.md
# 3.8): the regimes switch at US federal elections inside the horizon (a Markov chain; the
# new regime is in force from the first quarter after the election) and the deal may end
# at one. SWITCH: the probability of moving to each other regime at an election
# (judgement), chosen so that the chain is reversible with the regimes' probabilities as
# its stationary law (p_i s_ij = p_j s_ji): switching adds the chance of a change of
# course without drifting the odds the seed analysis rates. DEAL_END_PROB: the chance the
# deal ends at an election held in that regime (judgement, DF 11.4.3).
SWITCH = {
    "modest selective success": {"overcommitment and misexecution": 0.06,
                                 "strategic dilution": 0.03},
    "overcommitment and misexecution": {"modest selective success": 0.11,
                                        "strategic dilution": 0.05},
    "strategic dilution": {"modest selective success": 0.11,
                           "overcommitment and misexecution": 0.10},
}
DEAL_END_PROB = {"modest selective success": 0.03, "overcommitment and misexecution": 0.10,
                 "strategic dilution": 0.25}
# US federal elections (DF 11.4.1): the 2026 midterms (GK, date by statute), the 2028
# presidential election (S; the allocation deadline, 19 Jan 2029, is the day before the
# next inauguration), the 2030 midterms and the 2032 presidential election (GK, computed).
# Later elections are not modelled: the selection window closed in 2029.
ELECTIONS = [
    dict(name="midterm2026", date="2026-11-03"),
    dict(name="president2028", date="2028-11-07"),
    dict(name="midterm2030", date="2030-11-05"),
    dict(name="president2032", date="2032-11-02"),
]
# What the deal's end changes: the decline clause is the MOU's, so its tariff lever ends
# with it; the vehicles already funded keep their profit split (their contracts stand).
DEAL_END = dict(tariff="ends", profit_split="kept")

SCENARIOS = [
    dict(name="us_recession", pd_multiplier=1.5,
         sector_shift={s: -1.0 for s in SECTORS}),
    dict(name="energy_bust", sector_shift={"power_gas": -2.0, "energy_midstream": -2.0,
                                           "nuclear": -1.0}),
    dict(name="tariff_standoff", regime="strategic dilution"),
    dict(name="rates_plus_200bp", base_rate=round(BASE_RATE + 0.02, 6)),
]


def _toml_value(v) -> str:
    if isinstance(v, str):
        return v if re.fullmatch(r"\d{4}-\d{2}-\d{2}", v) else f'"{v}"'  # a TOML date
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    return repr(v)


def _toml_key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else f'"{k}"'


def _tables(name: str, rows: list[dict]) -> str:
    return "\n".join(f"[[{name}]]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in r.items())
                     for r in rows)


def program_toml() -> str:
    regimes_toml = _tables("regimes", REGIMES)
    scenarios_toml = _tables("scenarios", SCENARIOS)
    sector_lines = "\n".join(f'  "{s}",' for s in SECTORS)
    matrix_lines = "\n".join(
        "  [" + ", ".join(f"{x:.2f}" for x in row) + f"],  # {s}"
        for s, row in zip(SECTORS, CORRELATION))
    header = "#  " + " ".join(f"{s[:5]:>5}" for s in SECTORS)
    return f"""\
# riskengine default program configuration. GENERATED by data/build_program.py (edit there).
# ILLUSTRATIVE inputs, not JBIC/NEXI data. Sources: data/DATA_FACTS.md ("DF"), tags
# S/S2/D/GK as in data/README.md.
#
# Here: the program's sectors and their correlation, its political regimes and stress
# scenarios (a user's own config does not inherit these two), [fx] and [capital]. Every other key
# takes the engine default written once in riskengine/config.py (the README's config table
# lists them, with the sources of the sourced ones: base rate, discount rate, MOU tiers,
# seed, tariff penalty, USD/JPY).

[dependence]
# Order of the correlation rows/columns. Portfolio sectors must be among these.
sectors = [
{sector_lines}
]
# Sector-factor correlation C (judgement, D/GK; see README "Correlation matrix").
# Common US macro/policy driver: every pair >= 0.30; energy sectors 0.45-0.65 with each
# other; nuclear-gas 0.65 through power demand; chips-electronics 0.65. Cross-sector asset
# correlation is w_i * w_j * C_ij (about 0.05-0.19), within-sector w^2 (0.16-0.42), against
# Basel IRB 0.12-0.24 (DF §3, S) and Lopez (2004) US 0.16 / Japan 0.26 / >$1bn 0.20 (DF §3, S).
# Smallest eigenvalue {float(np.linalg.eigvalsh(CORRELATION).min()):.4f} (checked > {MIN_EIGENVALUE} in build_program.py).
{header}
correlation = [
{matrix_lines}
]

# Losses in yen too: USD/JPY spot, volatility and factor correlation take the sourced
# defaults of riskengine/config.py (DF 4.3, 10.4).
[fx]

# Adverse selection (data/README.md 3.7): selected pipeline units default 1.5 times as often
# as those the US leaves out over 5 years (Khwaja and Mian 2005, DF 11.5, S; calibrated by
# data/calibrate_selection.py, D). Like the regimes, a user's own config does not inherit it.
[program]
selection_correlation = {SELECTION_CORRELATION}

# The taxpayer's backstop (backstop.parquet): JBIC's net assets and earnings, NEXI's capital
# support, the General Account and GDP take the sourced defaults of riskengine/config.py
# (DF 11.1-11.3; data/README.md "The taxpayer's backstop").
[capital]

# The seed analysis's three political trajectories (seeds/002: "most likely", "significant
# risk", "less likely but possible"); probabilities and multipliers are judgement (D),
# reasoned in data/README.md "Selection, declines, regimes".
{regimes_toml}
# Stress scenarios, run side by side with `riskengine run --scenarios` (D).
{scenarios_toml}"""



def elections_toml() -> str:
    """data/program/elections.toml: the shipped program with its politics over time (a
    config of its own, so it carries the program content a config does not inherit)."""
    regimes = [dict(r, switch=SWITCH[r["name"]], deal_end_prob=DEAL_END_PROB[r["name"]])
               for r in REGIMES]
    deal_end = "".join(f"{k} = {_toml_value(v)}\n" for k, v in DEAL_END.items())
    return f"""\
# The shipped program with its politics over time. GENERATED by data/build_program.py (edit
# there). Run it with `riskengine run --config data/program/elections.toml`; every key it
# leaves out is the shipped program's. Judgement, argued in data/README.md 3.8.
#
# A config of its own: the shipped regimes, scenarios and adverse selection are program
# content that a config does not inherit, so they are repeated here, each regime with its
# switching probabilities at an election and the chance the deal ends at one.
# Not (yet) with importance sampling, [[uncertainty]] or AR(1) factors (refused).

[program]
selection_correlation = {SELECTION_CORRELATION}

# US federal elections inside the horizon (DF 11.4.1)
{_tables("elections", ELECTIONS)}
# What ends with the deal
[deal_end]
{deal_end}
{_tables("regimes", regimes)}
{_tables("scenarios", SCENARIOS)}"""


def summary_tables(df: pd.DataFrame) -> str:
    out = io.StringIO()
    total = df["commitment_usd"].sum()

    def block(key: str, order: list[str]) -> None:
        out.write(f"| {key} | rows | commitment $bn | share | PD constr. | PD oper. | LGD |\n")
        out.write("|---|---:|---:|---:|---:|---:|---:|\n")
        for k in order + ["TOTAL"]:
            g = df if k == "TOTAL" else df[df[key] == k]
            c = g["commitment_usd"]
            wavg = lambda col: (g[col] * c).sum() / c.sum()
            out.write(f"| {k} | {len(g)} | {c.sum() / 1e9:,.2f} | {c.sum() / total:.1%} | "
                      f"{wavg('pd_construction'):.2%} | {wavg('pd_annual'):.2%} | {wavg('lgd'):.2f} |\n")
        out.write("\n")

    out.write("Commitment-weighted PD and LGD (for guarantees the commitment is the underlying bank loan).\n\n")
    block("sector", SECTORS)
    block("instrument", ["loan", "guarantee", "equity"])
    block("institution", ["JBIC", "NEXI"])
    pivot = (df.pivot_table(index="sector", columns="instrument", values="commitment_usd",
                            aggfunc="sum", fill_value=0.0)
             .reindex(index=SECTORS, columns=["loan", "guarantee", "equity"], fill_value=0.0) / 1e9)
    out.write("| sector | loan $bn | guarantee $bn | equity $bn | named $bn | pipeline $bn |\n")
    out.write("|---|---:|---:|---:|---:|---:|\n")
    named = ~df["project_id"].str.startswith("PIPE-")
    for s in SECTORS:
        r = pivot.loc[s]
        n = df.loc[named & (df["sector"] == s), "commitment_usd"].sum() / 1e9
        p = df.loc[~named & (df["sector"] == s), "commitment_usd"].sum() / 1e9
        out.write(f"| {s} | {r['loan']:,.2f} | {r['guarantee']:,.2f} | {r['equity']:,.2f} | {n:,.2f} | {p:,.2f} |\n")
    g = df["instrument"] == "guarantee"
    covered = (df.loc[g, "commitment_usd"] * df.loc[g, "coverage"]).sum()
    out.write(f"\nNEXI covered amount (coverage x underlying loan): ${covered / 1e9:,.2f}bn "
              f"({covered / total:.1%} of the program); named projects ${df.loc[named, 'commitment_usd'].sum() / 1e9:,.2f}bn, "
              f"pipeline placeholders ${df.loc[~named, 'commitment_usd'].sum() / 1e9:,.2f}bn; "
              f"equity rows: {(df['instrument'] == 'equity').sum()}; "
              f"smallest eigenvalue of C: {np.linalg.eigvalsh(CORRELATION).min():.4f}.\n")
    return out.getvalue()


def class_table() -> str:
    """The risk classes as a markdown table (pasted into README.md)."""
    out = io.StringIO()
    out.write("| class | PD constr. | PD oper. | LGD (sd) | equity LGD | w | w^2 | build yrs | life | "
              "funding q | tenor | amort. | loan rate | NEXI premium | coverage | eq. yield | cf_vol | deemed spread |\n")
    out.write("|---|" + "---:|" * 10 + "---|" + "---:|" * 6 + "\n")
    for name, c in RISK_CLASSES.items():
        out.write(f"| {name} | {c['pd_c']:.2%} | {c['pd_a']:.2%} | {c['lgd']:.2f} ({c['lgd_sd']:.2f}) | "
                  f"{c['eq_lgd']:.2f} | {c['w']:.2f} | {c['w'] ** 2:.2f} | {c['cy']} | {c['life']} | {c['fq']} | "
                  f"{c['tenor']} | {c['amort']} | {BASE_RATE + c['margin']:.2%} | {c['premium']:.2%} | "
                  f"{c['coverage']:.0%} | {c['yld']:.0%} | {c['vol']:.2f} | {c['dspread']:.2%} |\n")
    return out.getvalue()


def main() -> None:
    check_correlation()
    named = pd.DataFrame(build_named(), columns=COLUMNS)
    df = pd.concat([named, pd.DataFrame(build_pipeline(named), columns=COLUMNS)], ignore_index=True)
    df = round_amounts(df)
    check_portfolio(df)
    df.to_csv(PORTFOLIO_CSV, index=False, lineterminator="\n")
    PROGRAM_TOML.write_text(program_toml(), encoding="utf-8", newline="\n")
    ELECTIONS_TOML.write_text(elections_toml(), encoding="utf-8", newline="\n")

    # read back what was written and check it again
    back = pd.read_csv(PORTFOLIO_CSV)
    check_portfolio(back)
    try:
        import tomllib
    except ModuleNotFoundError:  # Python < 3.11: skip the round-trip check
        tomllib = None  # type: ignore[assignment]
    if tomllib is not None:
        cfg = tomllib.loads(PROGRAM_TOML.read_text(encoding="utf-8"))
        require(cfg["dependence"]["sectors"] == SECTORS, 'check failed: cfg["dependence"]["sectors"] == SECTORS')
        require(np.array_equal(np.array(cfg["dependence"]["correlation"]), CORRELATION), 'check failed: np.array_equal(np.array(cfg["dependence"]["correlation"]), CORRELATION)')
        require(set(back["sector"]) <= set(cfg["dependence"]["sectors"]), 'check failed: set(back["sector"]) <= set(cfg["dependence"]["sectors"])')

    print(f"wrote {PORTFOLIO_CSV.name} ({len(df)} rows) and {PROGRAM_TOML.name}\n")
    print(summary_tables(back))
    print(class_table())


if __name__ == "__main__":
    main()
